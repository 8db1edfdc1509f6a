"""Administration (queries/admin.py), run-time settings (queries/settings.py), the password policy and sign-in
throttling (queries/users.py), on SQLite and PostgreSQL: only admins may change anything, every refusal leaves
the tables as they were, and every change writes its audit row.
"""

from __future__ import annotations

import math
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from queries import admin, audit, users
from queries import settings as app_settings
from queries.access import AccessDenied, Viewer, WorkflowError
from queries.filters import utc_now
from queries.schema import admin_units, agencies, categories, login_failures, routing_rules
from queries.schema import app_settings as settings_table
from queries.schema import users as users_table
from tests import casework
from tests.casework import VIETNAMESE, audit_since, ids, last_audit_id, user_row
from tests.conftest import PASSWORD

STRONG = "Hoa-Sen-2026"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory, pg_server_url):
    db, viewers, drop = casework.private_database(request.param, tmp_path_factory, pg_server_url, "admin")
    try:
        yield SimpleNamespace(db=db, v=viewers, kind=request.param)
    finally:
        drop()


def table_rows(db, table) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()]


def state(db) -> dict:
    """Everything administration may write."""
    return {name: table_rows(db, table) for name, table in (
        ("users", users_table), ("agencies", agencies), ("categories", categories), ("routing", routing_rules),
        ("settings", settings_table))} | {"audit": last_audit_id(db)}


def one_audit_row(db, last: int) -> dict:
    rows = audit_since(db, last)
    assert len(rows) == 1, rows
    return rows[0]


# --- only admins ------------------------------------------------------------------------------------------------

ADMIN_CALLS = {
    "list_users": lambda v, db: admin.list_users(v, db=db),
    "add_user": lambda v, db: admin.add_user(v, "nguoi.moi", STRONG, "leader", None, db=db),
    "set_user_active": lambda v, db: admin.set_user_active(v, "operator2", False, db=db),
    "reset_password": lambda v, db: admin.reset_password(v, "operator2", STRONG, db=db),
    "set_role": lambda v, db: admin.set_role(v, "operator2", "leader", None, db=db),
    "list_agencies": lambda v, db: admin.list_agencies(v, db=db),
    "save_agency": lambda v, db: admin.save_agency(v, "DVMOI", "Đơn vị mới", "ĐV mới", "other", None, True, db=db),
    "list_categories": lambda v, db: admin.list_categories(v, db=db),
    "save_category": lambda v, db: admin.save_category(v, "MOI", "Lĩnh vực mới", "Mới", "#123456", db=db),
    "list_routing": lambda v, db: admin.list_routing(v, db=db),
    "set_route": lambda v, db: admin.set_route(v, "GT", None, "SXD", db=db),
    "delete_route": lambda v, db: admin.set_route(v, "GT", None, None, db=db),
    "settings.set_value": lambda v, db: app_settings.set_value(v, "duplicate_days", 7, db=db),
    "audit.entries": lambda v, db: audit.entries(v, db=db),
}


@pytest.mark.parametrize("who", ["operator", "leader", "agency_a"])
@pytest.mark.parametrize("call", list(ADMIN_CALLS))
def test_non_admins_are_refused_everything(env, who, call):
    before = state(env.db)
    with pytest.raises(AccessDenied) as err:
        ADMIN_CALLS[call](env.v[who], env.db)
    assert VIETNAMESE.search(str(err.value)) and "quản trị viên" in str(err.value)
    assert state(env.db) == before


def test_an_admin_may_read_the_lists(env):
    v, db = env.v["admin"], env.db
    listed = admin.list_users(v, db=db)
    assert set(listed["username"]) == {u["username"] for u in table_rows(db, users_table)}
    assert "password_hash" not in listed.columns
    assert listed.set_index("username").loc["agency_b", "agency_code"] == "CAT"
    assert set(admin.list_agencies(v, db=db)["code"]) == {a["code"] for a in table_rows(db, agencies)}
    assert set(admin.list_categories(v, db=db)["code"]) == {c["code"] for c in table_rows(db, categories)}
    assert len(admin.list_routing(v, db=db)) == len(table_rows(db, routing_rules))


# --- the password policy ---------------------------------------------------------------------------------------

WEAK = {
    "too short": ("Ab1-xyz", "ít nhất 10"),
    "empty": ("", "ít nhất 10"),
    "too long": ("Aa1-" * 51, "tối đa 200"),
    "common": ("Password123", "phổ biến"),
    "common, lower case": ("matkhau123", "phổ biến"),
    "three characters repeated": ("abcabcabcabc", "phổ biến"),
    "holds the username": ("Xin-chao-thu.nghiem-1", "tên đăng nhập"),
    "holds the username in capitals": ("THU.NGHIEM-2026x", "tên đăng nhập"),
    "lower case only": ("songhuongxanh", "3 trong 4"),
    "two kinds, short": ("songhuong2026", "3 trong 4"),
}
STRONG_PASSWORDS = {
    "three kinds": "Song-huong-7",
    "upper, lower, digits": "SongHuong2026",
    "passphrase of 16": "song huong xanh mai",
    "exactly 10 characters": "Ab1-Ab1-Ab",
    "unicode letters": "Sông-Hương-9",
}


@pytest.mark.parametrize("case", list(WEAK))
def test_weak_passwords_are_refused(env, case):
    password, phrase = WEAK[case]
    problem = users.password_problem(password, "thu.nghiem")
    assert problem is not None and phrase in problem, problem
    before = state(env.db)
    with pytest.raises(WorkflowError) as err:
        admin.add_user(env.v["admin"], "thu.nghiem", password, "operator", None, db=env.db)
    assert str(err.value) == problem
    assert state(env.db) == before
    assert users.authenticate("thu.nghiem", password, db=env.db) is None


@pytest.mark.parametrize("case", list(STRONG_PASSWORDS))
def test_strong_passwords_are_accepted(env, case):
    password = STRONG_PASSWORDS[case]
    assert users.password_problem(password, "moi") is None
    username = f"moi.{list(STRONG_PASSWORDS).index(case)}"
    last = last_audit_id(env.db)
    admin.add_user(env.v["admin"], username, password, "operator", None, full_name="Người mới", db=env.db)
    row = user_row(env.db, username)
    assert (row["role"], row["agency_id"], row["active"], row["full_name"]) == ("operator", None, 1, "Người mới")
    assert password not in row["password_hash"]
    assert users.authenticate(username, password, db=env.db).username == username
    assert users.authenticate(username, password + "x", db=env.db) is None
    entry = one_audit_row(env.db, last)
    assert (entry["action"], entry["target"], entry["username"], entry["role"]) == (
        "user.create", username, "admin", "admin")
    assert "operator" in entry["detail"]


def test_add_user_refusals_other_than_the_password(env):
    v, db = env.v["admin"], env.db
    for args, phrase in ((("admin", STRONG, "operator", None), "đã tồn tại"),
                         (("don.vi", STRONG, "agency", None), "đúng một đơn vị"),
                         (("don.vi", STRONG, "agency", "KHONGCO"), "KHONGCO"),
                         (("lanh.dao", STRONG, "leader", "SXD"), "đúng một đơn vị"),
                         (("ai.do", STRONG, "superuser", None), "Vai trò"),
                         (("   ", STRONG, "leader", None), "Tên đăng nhập")):
        before = state(db)
        with pytest.raises(WorkflowError) as err:
            admin.add_user(v, *args, db=db)
        assert phrase in str(err.value), (args, str(err.value))
        assert state(db) == before
    last = last_audit_id(db)
    admin.add_user(v, "don.vi.xd", STRONG, "agency", "SXD", db=db)
    assert user_row(db, "don.vi.xd")["agency_id"] == ids(db, agencies)["SXD"]
    assert one_audit_row(db, last)["detail"] == "vai trò agency, đơn vị SXD"


def policy_holds(password: str) -> bool:
    """The policy of queries/users.py's docstring, written again."""
    kinds = sum(any(test(c) for c in password) for test in (str.islower, str.isupper, str.isdigit,
                                                            lambda c: not c.isalnum()))
    return 10 <= len(password) <= 200 and (kinds >= 3 or len(password) >= 16) and len(set(password)) >= 4


def test_generated_passwords_meet_the_policy_and_differ():
    made = [users.generate_password() for _ in range(40)]
    assert all(policy_holds(p) for p in made), [p for p in made if not policy_holds(p)]
    assert len(set(made)) == len(made)


# --- accounts ------------------------------------------------------------------------------------------------------

def test_a_disabled_account_cannot_sign_in(env):
    v, db = env.v["admin"], env.db
    assert users.authenticate("operator2", PASSWORD, db=db) is not None
    last = last_audit_id(db)
    admin.set_user_active(v, "operator2", False, db=db)
    try:
        entry = one_audit_row(db, last)
        assert (entry["action"], entry["target"]) == ("user.disable", "operator2")
        assert user_row(db, "operator2")["active"] == 0
        assert users.authenticate("operator2", PASSWORD, db=db) is None
    finally:
        last = last_audit_id(db)
        admin.set_user_active(v, "operator2", True, db=db)
    assert (one_audit_row(db, last)["action"]) == "user.enable"
    assert users.authenticate("operator2", PASSWORD, db=db).username == "operator2"


def test_set_user_active_refusals(env):
    v, db = env.v["admin"], env.db
    for username, phrase in (("admin", "tự khoá"), ("khong.co.ai", "khong.co.ai")):
        before = state(db)
        with pytest.raises(WorkflowError) as err:
            admin.set_user_active(v, username, False, db=db)
        assert phrase in str(err.value)
        assert state(db) == before
    assert users.authenticate("admin", PASSWORD, db=db) is not None


def test_reset_password(env):
    v, db = env.v["admin"], env.db
    admin.add_user(v, "dat.lai", STRONG, "leader", None, db=db)
    before = state(db)
    with pytest.raises(WorkflowError) as err:
        admin.reset_password(v, "dat.lai", "ngan", db=db)
    assert "ít nhất 10" in str(err.value)
    with pytest.raises(WorkflowError) as err:
        admin.reset_password(v, "dat.lai", "Mat-khau-dat.lai-1", db=db)
    assert "tên đăng nhập" in str(err.value)
    with pytest.raises(WorkflowError):
        admin.reset_password(v, "khong.co.ai", "Mat-khau-Moi-9", db=db)
    assert state(db) == before
    assert users.authenticate("dat.lai", STRONG, db=db) is not None

    admin.reset_password(v, "dat.lai", "Mat-khau-Moi-9", db=db)
    assert users.authenticate("dat.lai", STRONG, db=db) is None
    assert users.authenticate("dat.lai", "Mat-khau-Moi-9", db=db).username == "dat.lai"
    entry = one_audit_row(db, before["audit"])
    assert (entry["action"], entry["target"]) == ("user.reset_password", "dat.lai")
    assert "Mat-khau-Moi-9" not in entry["detail"]


def test_set_role(env):
    v, db = env.v["admin"], env.db
    admin.add_user(v, "doi.vai", STRONG, "leader", None, db=db)
    for args, phrase in ((("doi.vai", "agency", None), "đúng một đơn vị"),
                         (("doi.vai", "agency", ""), "đúng một đơn vị"),
                         (("doi.vai", "operator", "SXD"), "đúng một đơn vị"),
                         (("doi.vai", "agency", "KHONGCO"), "KHONGCO"),
                         (("doi.vai", "chief", None), "Vai trò"),
                         (("khong.co.ai", "leader", None), "khong.co.ai"),
                         (("admin", "leader", None), "quản trị")):
        before = state(db)
        with pytest.raises(WorkflowError) as err:
            admin.set_role(v, *args, db=db)
        assert phrase in str(err.value), (args, str(err.value))
        assert state(db) == before
    last = last_audit_id(db)
    admin.set_role(v, "doi.vai", "agency", "CAT", db=db)
    row = user_row(db, "doi.vai")
    assert (row["role"], row["agency_id"]) == ("agency", ids(db, agencies)["CAT"])
    entry = one_audit_row(db, last)
    assert (entry["action"], entry["target"], entry["detail"]) == ("user.role", "doi.vai", "agency, CAT")
    assert users.authenticate("doi.vai", STRONG, db=db).agency_code == "CAT"
    admin.set_role(v, "doi.vai", "operator", None, db=db)
    assert (user_row(db, "doi.vai")["role"], user_row(db, "doi.vai")["agency_id"]) == ("operator", None)


# --- agencies and fields ----------------------------------------------------------------------------------------

def agency(db, code: str) -> dict | None:
    return next((a for a in table_rows(db, agencies) if a["code"] == code), None)


def test_save_agency_creates_then_updates(env):
    v, db = env.v["admin"], env.db
    with db.engine.connect() as conn:
        commune = conn.execute(select(admin_units.c.code).where(admin_units.c.level == "commune").limit(1)).scalar()
    last = last_audit_id(db)
    outcome = admin.save_agency(v, "  ub-thu_1 ", " UBND xã Thử ", " UB Thử ", "commune", commune, True, db=db)
    assert outcome == "created"
    row = agency(db, "UB-THU_1")
    assert (row["name"], row["short_name"], row["kind"], row["commune_code"], row["active"]) == (
        "UBND xã Thử", "UB Thử", "commune", commune, 1)
    entry = one_audit_row(db, last)
    assert (entry["action"], entry["target"]) == ("agency.create", "UB-THU_1")
    last = last_audit_id(db)
    assert admin.save_agency(v, "UB-THU_1", "UBND xã Thử nghiệm", "UB TN", "other", "", False, db=db) == "updated"
    row = agency(db, "UB-THU_1")
    assert (row["name"], row["short_name"], row["kind"], row["commune_code"], row["active"]) == (
        "UBND xã Thử nghiệm", "UB TN", "other", None, 0)
    assert (one_audit_row(db, last)["action"]) == "agency.update"
    assert sum(a["code"] == "UB-THU_1" for a in table_rows(db, agencies)) == 1


def _province(db) -> str:
    with db.engine.connect() as conn:
        return conn.execute(select(admin_units.c.code).where(admin_units.c.level == "province")).scalar()


AGENCY_REFUSALS = {
    "one-letter code": (dict(code="A"), "Mã đơn vị"),
    "code with a space": (dict(code="MA DV"), "Mã đơn vị"),
    "code with Vietnamese letters": (dict(code="ĐVXD"), "Mã đơn vị"),
    "code too long": (dict(code="X" * 31), "Mã đơn vị"),
    "empty name": (dict(name="  "), "không được để trống"),
    "name too long": (dict(name="n" * 201), "tối đa 200"),
    "empty short name": (dict(short_name=""), "không được để trống"),
    "short name too long": (dict(short_name="s" * 81), "tối đa 80"),
    "unknown kind": (dict(kind="ministry"), "Loại đơn vị"),
    "unknown commune": (dict(commune_code="99999"), "99999"),
    "the province is not a commune": (dict(commune_code="<province>"), "xã/phường"),
}


@pytest.mark.parametrize("case", list(AGENCY_REFUSALS))
def test_save_agency_refusals(env, case):
    changes, phrase = AGENCY_REFUSALS[case]
    args = {"code": "DV-LOI", "name": "Đơn vị lỗi", "short_name": "ĐV lỗi", "kind": "other", "commune_code": None,
            "active": True} | changes
    if args["commune_code"] == "<province>":
        args["commune_code"] = _province(env.db)
    before = state(env.db)
    with pytest.raises(WorkflowError) as err:
        admin.save_agency(env.v["admin"], db=env.db, **args)
    assert phrase in str(err.value), str(err.value)
    assert state(env.db) == before


def test_save_category(env):
    v, db = env.v["admin"], env.db
    last = last_audit_id(db)
    assert admin.save_category(v, "cay_xanh", "Cây xanh đô thị", "Cây xanh", "#22aa44", db=db) == "created"
    row = next(c for c in table_rows(db, categories) if c["code"] == "CAY_XANH")
    assert (row["name"], row["short_name"], row["color"]) == ("Cây xanh đô thị", "Cây xanh", "#22aa44")
    assert row["sort_order"] == max(c["sort_order"] for c in table_rows(db, categories))
    assert (one_audit_row(db, last)["action"]) == "category.create"
    assert admin.save_category(v, "CAY_XANH", "Cây xanh", "CX", "#000000", db=db) == "updated"
    for args, phrase in ((("CAY-XANH", "Tên", "T", "#000000"), "Mã lĩnh vực"), (("CX2", "", "T", "#000000"), "Tên"),
                         (("CX2", "Tên", "T", "xanh"), "#RRGGBB"), (("CX2", "Tên", "T", "#12345"), "#RRGGBB")):
        before = state(db)
        with pytest.raises(WorkflowError) as err:
            admin.save_category(v, *args, db=db)
        assert phrase in str(err.value)
        assert state(db) == before


# --- routing --------------------------------------------------------------------------------------------------------

def rules(db, category: str) -> dict:
    codes = {i: c for c, i in ids(db, agencies).items()}
    with db.engine.connect() as conn:
        found = conn.execute(select(routing_rules.c.commune_code, routing_rules.c.agency_id)
                             .where(routing_rules.c.category_id == ids(db, categories)[category])).all()
    return {commune: codes[agency_id] for commune, agency_id in found}


def test_set_route_sets_replaces_and_deletes(env):
    v, db = env.v["admin"], env.db
    with db.engine.connect() as conn:
        commune = conn.execute(select(admin_units.c.code).where(admin_units.c.level == "commune")
                               .order_by(admin_units.c.code.desc()).limit(1)).scalar()
    others = {k: a for k, a in rules(db, "DV").items() if k not in (None, commune)}
    last = last_audit_id(db)
    assert admin.set_route(v, "DV", commune, "SXD", db=db) == "set"
    entry = one_audit_row(db, last)
    assert (entry["action"], entry["target"], entry["detail"]) == ("routing.set", f"DV @ {commune}", "SXD")
    assert rules(db, "DV")[commune] == "SXD"
    admin.set_route(v, "DV", commune, "CAT", db=db)
    assert rules(db, "DV")[commune] == "CAT"
    admin.set_route(v, "DV", None, "SXD", db=db)
    assert rules(db, "DV")[None] == "SXD"
    listed = admin.list_routing(v, db=db)
    assert len(listed[(listed["category_code"] == "DV") & (listed["commune_code"] == commune)]) == 1

    # Refused changes keep the rule that was there, even though a change starts by deleting it.
    admin.save_agency(v, "DONG", "Đơn vị đã đóng", "Đã đóng", "other", None, False, db=db)
    for args, phrase in ((("DV", commune, "DONG"), "DONG"), (("DV", commune, "KHONGCO"), "KHONGCO"),
                         (("KHONGCO", None, "SXD"), "KHONGCO"), (("DV", "99999", "SXD"), "99999")):
        before = state(db)
        with pytest.raises(WorkflowError) as err:
            admin.set_route(v, *args, db=db)
        assert phrase in str(err.value)
        assert state(db) == before
    assert rules(db, "DV")[commune] == "CAT"

    last = last_audit_id(db)
    assert admin.set_route(v, "DV", commune, None, db=db) == "deleted"
    assert commune not in rules(db, "DV") and rules(db, "DV")[None] == "SXD"
    entry = one_audit_row(db, last)
    assert (entry["action"], entry["target"]) == ("routing.delete", f"DV @ {commune}")
    # Other communes' rules are untouched throughout.
    assert {k: a for k, a in rules(db, "DV").items() if k not in (None, commune)} == others


# --- settings ----------------------------------------------------------------------------------------------------

def stored_settings(db) -> dict:
    return {r["key"]: r["value"] for r in table_rows(db, settings_table)}


def test_settings_are_saved_validated_and_audited(env):
    v, db = env.v["admin"], env.db
    assert app_settings.get_int("duplicate_days", db) == 14  # the default while nothing is stored
    for key, value, saved in (("duplicate_days", " 30 ", "30"), ("duplicate_radius_m", 10, "10"),
                              ("duplicate_radius_m", "5000", "5000"), ("agency_sees_phone", True, "1"),
                              ("agency_sees_phone", False, "0"), ("agency_sees_phone", "1", "1"),
                              ("duplicate_days", 365, "365")):
        last = last_audit_id(db)
        assert app_settings.set_value(v, key, value, db=db) == saved
        assert stored_settings(db)[key] == saved
        entry = one_audit_row(db, last)
        assert (entry["action"], entry["target"], entry["detail"]) == ("settings.set", key, saved)
    assert app_settings.get_flag("agency_sees_phone", db) is True and app_settings.get_int("duplicate_days", db) == 365
    for key, value, phrase in (("khong_co", 1, "khong_co"), ("duplicate_days", "mười", "số nguyên"),
                               ("duplicate_days", 1.5, "số nguyên"), ("duplicate_days", "", "số nguyên"),
                               ("duplicate_days", 0, "từ 1 đến 365"), ("duplicate_days", 366, "từ 1 đến 365"),
                               ("duplicate_radius_m", 9, "từ 10 đến 5000"), ("duplicate_radius_m", -300, "từ 10"),
                               ("agency_sees_phone", 2, "từ 0 đến 1"), ("agency_sees_phone", "có", "số nguyên")):
        before = state(db)
        with pytest.raises(WorkflowError) as err:
            app_settings.set_value(v, key, value, db=db)
        assert phrase in str(err.value), (key, value, str(err.value))
        assert state(db) == before
    app_settings.set_value(v, "agency_sees_phone", 0, db=db)
    app_settings.set_value(v, "duplicate_days", 14, db=db)


def test_several_settings_are_saved_all_or_none(env):
    v, db = env.v["admin"], env.db
    before = state(db)
    with pytest.raises(WorkflowError) as err:
        app_settings.set_values(v, {"duplicate_days": 20, "duplicate_radius_m": 1}, db=db)
    assert "duplicate_radius_m" in str(err.value)
    assert state(db) == before
    assert app_settings.set_values(v, {"duplicate_days": "20", "duplicate_radius_m": 250}, db=db) == {
        "duplicate_days": "20", "duplicate_radius_m": "250"}
    assert {k: stored_settings(db)[k] for k in ("duplicate_days", "duplicate_radius_m")} == {
        "duplicate_days": "20", "duplicate_radius_m": "250"}
    assert sorted((a["action"], a["target"], a["detail"]) for a in audit_since(db, before["audit"])) == [
        ("settings.set", "duplicate_days", "20"), ("settings.set", "duplicate_radius_m", "250")]
    with pytest.raises(AccessDenied):
        app_settings.set_values(env.v["operator"], {"duplicate_days": 3}, db=db)
    app_settings.set_values(v, {"duplicate_days": 14, "duplicate_radius_m": 300}, db=db)


# A signed-in admin whose account row is gone: the audit row cannot be written (foreign key on audit_log.user_id),
# which shows whether the change and its audit row share one transaction.
GHOST = Viewer(user_id=987654, username="bong.ma", role="admin")


def test_a_change_and_its_audit_row_stand_or_fall_together(env):
    db = env.db
    before = state(db)
    with pytest.raises(IntegrityError):
        admin.set_user_active(GHOST, "operator2", False, db=db)
    with pytest.raises(IntegrityError):
        admin.save_agency(GHOST, "MA", "Đơn vị ma", "Ma", "other", None, True, db=db)
    with pytest.raises(IntegrityError):
        app_settings.set_value(GHOST, "duplicate_days", 9, db=db)
    assert state(db) == before


def test_add_user_and_its_audit_row_stand_or_fall_together(env):
    db = env.db
    before = state(db)
    with pytest.raises(IntegrityError):
        admin.add_user(GHOST, "khong.nhat.ky", STRONG, "leader", None, db=db)
    assert state(db) == before


def test_the_audit_log_lists_the_changes_for_an_admin(env):
    v, db = env.v["admin"], env.db
    admin.add_user(v, "nhat.ky", STRONG, "leader", None, db=db)
    admin.set_user_active(v, "nhat.ky", False, db=db)
    listed = audit.entries(v, target="nhat.ky", db=db)
    assert listed["action"].tolist() == ["user.disable", "user.create"]  # newest first
    assert set(audit.entries(v, action="user.", db=db)["action"]) <= {
        "user.create", "user.disable", "user.enable", "user.reset_password", "user.role"}


# --- sign-in throttling ------------------------------------------------------------------------------------------

def failures(db, username: str) -> list:
    with db.engine.connect() as conn:
        return sorted(conn.execute(select(login_failures.c.at).where(login_failures.c.username == username)).scalars())


def test_five_failures_lock_the_name_for_the_failing_address_only(env):
    db = env.db
    for _ in range(4):
        users.record_failure("Nguoi.Thu ", "192.0.2.1", db=db)
    assert users.locked_out("nguoi.thu", "192.0.2.1", db=db) == 0
    users.record_failure("nguoi.thu", "192.0.2.1", db=db)
    times = failures(db, "nguoi.thu")
    assert len(times) == 5
    now = times[-1] + timedelta(minutes=1)
    want = math.ceil(((times[0] + timedelta(minutes=15)) - now).total_seconds() / 60)
    got = users.locked_out(" NGUOI.THU", "192.0.2.1", db=db, now=now)
    assert got == want and 0 < got <= 15
    # The right password from an address that has not failed always gets in: the real user is never locked out.
    assert users.locked_out("nguoi.thu", "192.0.2.99", db=db, now=now) == 0
    # Other names, even from the same address, may try.
    assert users.locked_out("nguoi.khac", "192.0.2.1", db=db, now=now) == 0
    # Once the oldest of the five leaves the 15-minute window the address may try the name again.
    assert users.locked_out("nguoi.thu", "192.0.2.1", db=db, now=times[0] + timedelta(minutes=15, seconds=1)) == 0
    users.clear_failures("NGUOI.THU", db=db)
    assert failures(db, "nguoi.thu") == []
    assert users.locked_out("nguoi.thu", "192.0.2.1", db=db, now=now) == 0


def test_a_name_guessed_from_twenty_addresses_is_refused_to_those_addresses(env):
    db = env.db
    for i in range(19):
        users.record_failure("nguoi.bi.do", f"203.0.113.{i}", db=db)
    assert users.locked_out("nguoi.bi.do", "203.0.113.3", db=db) == 0
    users.record_failure("nguoi.bi.do", "203.0.113.19", db=db)
    assert users.locked_out("nguoi.bi.do", "203.0.113.3", db=db) > 0  # it failed on the name
    assert users.locked_out("nguoi.bi.do", "203.0.113.200", db=db) == 0  # it did not
    assert users.clear_failures("nguoi.bi.do", db=db) == 20


def test_a_successful_sign_in_forgets_only_that_addresss_failures(env):
    db = env.db
    users.record_failure("nguoi.ba", "192.0.2.10", db=db)
    users.record_failure("nguoi.ba", "192.0.2.11", db=db)
    assert users.clear_failures("nguoi.ba", "192.0.2.10", db=db) == 1
    assert len(failures(db, "nguoi.ba")) == 1
    users.clear_failures("nguoi.ba", db=db)


def test_thirty_failures_lock_the_address(env):
    db = env.db
    for i in range(30):
        users.record_failure(f"ten.{i}", "198.51.100.7", db=db)
    now = utc_now()
    assert users.locked_out("ai.cung.duoc", "198.51.100.7", db=db, now=now) > 0
    assert users.locked_out("ai.cung.duoc", "198.51.100.8", db=db, now=now) == 0
    assert users.locked_out("ten.3", "198.51.100.8", db=db, now=now) == 0


def test_an_ipv6_subscribers_block_counts_as_one_address(env):
    """A guesser with an IPv6 /64 (one home connection) could otherwise take a fresh address for every try."""
    db = env.db
    for i in range(5):
        users.record_failure("nguoi.sau", f"2001:db8:1:2::{i + 1}", db=db)
    assert users.locked_out("nguoi.sau", "2001:db8:1:2::99", db=db) > 0  # the same /64
    assert users.locked_out("nguoi.sau", "2001:db8:1:3::1", db=db) == 0  # another subscriber
    assert users.address_key("::ffff:192.0.2.9") == users.address_key("192.0.2.9") == "192.0.2.9"
    users.clear_failures("nguoi.sau", db=db)
