"""SLA policy versions: the defaults from config/sla.yaml, the refusals, versioning by arrival time, and the
admin page's save callback (as the browser posts it), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import func, insert, select, text

from queries import deadlines, policies
from queries.db import Database
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import sla_policies, users
from tests.conftest import ROOT, create_pg_database
from tests.dash_calls import callback_spec, post_callback
from tests.test_workcalendar import UTC_OFFSET, ref_calendar

VIETNAMESE = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)


def fresh(url: str) -> Database:
    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    return db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pdb(request, tmp_path_factory, pg_server_url):
    """A database with reference data and no reports; the tests here add versions to it."""
    if request.param == "sqlite":
        db = fresh(f"sqlite:///{tmp_path_factory.mktemp('policies') / 'policies.sqlite3'}")
        yield db
        db.dispose()
        return
    url, drop = create_pg_database(pg_server_url)
    db = fresh(url)
    try:
        yield db
    finally:
        db.dispose()
        drop()


def raw_policies(db: Database) -> pd.DataFrame:
    with db.engine.connect() as conn:
        frame = pd.read_sql(text("SELECT p.*, c.code AS category_code FROM sla_policies p "
                                 "JOIN categories c ON c.id = p.category_id"), conn)
    frame["valid_from"] = pd.to_datetime(frame["valid_from"])
    return frame


def category_ids(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(conn.execute(text("SELECT code, id FROM categories")).all())


def count_policies(db: Database) -> int:
    return db.scalar(select(func.count()).select_from(sla_policies))


def yaml_policies() -> dict:
    return yaml.safe_load((ROOT / "config" / "sla.yaml").read_text(encoding="utf-8"))["policies"]


# --- defaults -----------------------------------------------------------------------------------------

def test_defaults_are_version_one_from_the_yaml(pdb):
    want = yaml_policies()
    raw = raw_policies(pdb)
    first = raw.sort_values("valid_from").groupby(["category_code", "urgent"]).first().reset_index()
    assert set(first["category_code"]) == set(want)
    assert len(first) == 2 * len(want)
    for row in first.itertuples():
        limits = want[row.category_code]
        if row.urgent:
            assert (row.ioc_limit, row.agency_limit, row.unit) == (
                limits["urgent_ioc_hours"], limits["urgent_agency_hours"], "hours"), row.category_code
        else:
            assert (row.ioc_limit, row.agency_limit, row.unit) == (
                limits["ioc_days"], limits["agency_days"], "days"), row.category_code
        assert row.created_by == "config/sla.yaml"
        assert row.valid_from == pd.Timestamp("2000-01-01")
    # policy_versions shows the same rows; loading again adds nothing.
    versions = policies.policy_versions(pdb)
    assert len(versions) == len(raw)
    before = count_policies(pdb)
    policies.ensure_default_policies(pdb)
    load_reference_data(pdb)
    assert count_policies(pdb) == before


def test_policies_in_force_are_the_defaults_before_any_new_version(pdb):
    want = yaml_policies()
    in_force = policies.policies_in_force(datetime(2001, 6, 1), pdb)
    assert len(in_force) == 2 * len(want)
    for row in in_force.itertuples():
        key = ("urgent_ioc_hours", "urgent_agency_hours") if row.urgent else ("ioc_days", "agency_days")
        assert (row.ioc_limit, row.agency_limit) == tuple(want[row.category_code][k] for k in key)


# --- refusals -------------------------------------------------------------------------------------------

REFUSALS = {
    "negative ioc": ({"category_code": "MT", "ioc_limit": -1, "agency_limit": 5}, "âm"),
    "negative agency": ({"category_code": "MT", "ioc_limit": 1, "agency_limit": -0.5}, "âm"),
    "too long": ({"category_code": "MT", "ioc_limit": 1, "agency_limit": 400}, "365"),
    "not a number": ({"category_code": "MT", "ioc_limit": "một", "agency_limit": 5}, "số"),
    "unknown category": ({"category_code": "ZZ", "ioc_limit": 1, "agency_limit": 5}, "ZZ"),
    "leader": ({"category_code": "MT", "ioc_limit": 1, "agency_limit": 5, "actor_role": "leader"}, "quản trị viên"),
    "operator": ({"category_code": "MT", "ioc_limit": 1, "agency_limit": 5, "actor_role": "operator"},
                 "quản trị viên"),
    "agency head": ({"category_code": "MT", "ioc_limit": 1, "agency_limit": 5, "actor_role": "agency"},
                    "quản trị viên"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_add_policy_version_refuses_with_a_vietnamese_message(pdb, case):
    kwargs, keyword = REFUSALS[case]
    args = {"urgent": False, "valid_from": datetime(2030, 1, 1), "actor": "tester", "actor_role": "admin",
            **kwargs}
    before = count_policies(pdb)
    with pytest.raises(policies.PolicyError) as err:
        policies.add_policy_version(**args, db=pdb)
    message = str(err.value)
    assert keyword in message
    assert VIETNAMESE.search(message), message
    assert count_policies(pdb) == before


def test_a_duplicate_valid_from_is_refused(pdb):
    start = datetime(2031, 5, 1, 1, 0)
    policies.add_policy_version("GT", False, 1, 6, start, "admin", "admin", "lần 1", db=pdb)
    before = count_policies(pdb)
    with pytest.raises(policies.PolicyError) as err:
        policies.add_policy_version("GT", False, 2, 8, start, "admin", "admin", "lần 2", db=pdb)
    assert "phiên bản" in str(err.value) and VIETNAMESE.search(str(err.value))
    assert count_policies(pdb) == before
    # The same instant for the other urgency, or a minute later, is a different version.
    policies.add_policy_version("GT", True, 1, 6, start, "admin", "admin", db=pdb)
    policies.add_policy_version("GT", False, 2, 8, start + timedelta(minutes=1), "admin", "admin", db=pdb)
    assert count_policies(pdb) == before + 2


def test_a_saved_version_is_stored_as_given(pdb):
    start = datetime(2032, 2, 3, 4, 5)
    new_id = policies.add_policy_version("DV", True, 3, 20, start, "quan.tri", "admin", "Ghi chú " * 60, db=pdb)
    row = raw_policies(pdb).set_index("id").loc[new_id]
    assert (row.category_code, row.urgent, row.ioc_limit, row.agency_limit, row.unit) == ("DV", 1, 3, 20, "hours")
    assert row.valid_from == pd.Timestamp(start) and row.created_by == "quan.tri"
    assert len(row.note) == 300  # trimmed to the column


# --- versioning: the version in force at arrival ------------------------------------------------------------

NEW_FROM = datetime(2026, 3, 2, 1, 0)  # 08:00 local, Monday 2 March 2026


@pytest.fixture(scope="module")
def mt_version(pdb):
    """A new MT (normal) version from NEW_FROM: IOC 2 days, agency 3 days (the default is 1 and 5)."""
    new_id = policies.add_policy_version("MT", False, 2, 3, NEW_FROM, "admin", "admin", "Rút ngắn", db=pdb)
    raw = raw_policies(pdb)
    old_id = int(raw[(raw["category_code"] == "MT") & (raw["urgent"] == 0)
                     & (raw["valid_from"] == pd.Timestamp("2000-01-01"))]["id"].iloc[0])
    return {"new": new_id, "old": old_id}


def local(utc: datetime) -> datetime:
    return utc + UTC_OFFSET


def utc(local_time: datetime) -> datetime:
    return local_time - UTC_OFFSET


def test_stage_times_use_the_version_in_force_at_arrival(pdb, mt_version):
    ref = ref_calendar()
    ids = category_ids(pdb)
    created = [NEW_FROM - timedelta(minutes=1), NEW_FROM, NEW_FROM + timedelta(minutes=1), NEW_FROM - timedelta(days=3)]
    # Every report forwarded after the new version started, to show the agency limit follows arrival.
    forwarded = [NEW_FROM + timedelta(hours=5)] * 4
    n = len(created)
    got = deadlines.stage_times(np.array(created, dtype="datetime64[s]"), np.full(n, ids["MT"]), np.zeros(n, bool),
                                np.array(forwarded, dtype="datetime64[s]"), np.array(forwarded, dtype="datetime64[s]"),
                                np.full(n, np.datetime64("NaT"), dtype="datetime64[s]"), db=pdb)
    limits = [(1, 5), (2, 3), (2, 3), (1, 5)]
    assert list(got.policy_id) == [mt_version["old"], mt_version["new"], mt_version["new"], mt_version["old"]]
    for i, (ioc_days, agency_days) in enumerate(limits):
        want_ioc = utc(ref.add_days(local(created[i]), days=ioc_days))
        want_agency = utc(ref.add_days(local(forwarded[i]), days=agency_days))
        assert got.ioc_deadline[i].astype("datetime64[s]").item() == want_ioc, i
        assert got.agency_deadline[i].astype("datetime64[s]").item() == want_agency, i
    # Other fields and urgent MT reports are untouched by the new version.
    urgent = deadlines.stage_times(np.array(created[1:2], dtype="datetime64[s]"), np.array([ids["MT"]]),
                                   np.array([True]), np.array(forwarded[:1], dtype="datetime64[s]"),
                                   np.array(forwarded[:1], dtype="datetime64[s]"),
                                   np.array([np.datetime64("NaT")], dtype="datetime64[s]"), db=pdb)
    hours = yaml_policies()["MT"]["urgent_ioc_hours"]
    assert urgent.ioc_deadline[0].astype("datetime64[s]").item() == utc(ref.add_days(local(created[1]), hours=hours))


def test_deadline_for_on_both_sides_of_valid_from(pdb, mt_version):
    ref = ref_calendar()
    before, after = NEW_FROM - timedelta(seconds=1), NEW_FROM
    assert deadlines.deadline_for("MT", "agency", False, before, db=pdb) == utc(ref.add_days(local(before), days=5))
    assert deadlines.deadline_for("MT", "agency", False, after, db=pdb) == utc(ref.add_days(local(after), days=3))
    assert deadlines.deadline_for("MT", "ioc", False, before, db=pdb) == utc(ref.add_days(local(before), days=1))
    assert deadlines.deadline_for("MT", "ioc", False, after, db=pdb) == utc(ref.add_days(local(after), days=2))
    in_force_before = policies.policies_in_force(before, pdb).set_index(["category_code", "urgent"])
    in_force_after = policies.policies_in_force(after, pdb).set_index(["category_code", "urgent"])
    assert in_force_before.loc[("MT", 0), "id"] == mt_version["old"]
    assert in_force_after.loc[("MT", 0), "id"] == mt_version["new"]
    assert in_force_after.loc[("MT", 1), "id"] == in_force_before.loc[("MT", 1), "id"]
    with pytest.raises(policies.PolicyError):
        deadlines.deadline_for("NOPE", "agency", False, after, db=pdb)
    with pytest.raises(policies.PolicyError):
        deadlines.deadline_for("MT", "both", False, after, db=pdb)


# --- the admin page's callback --------------------------------------------------------------------------

@pytest.fixture
def page_db(tmp_path, server):
    """Swap the app onto a fresh database holding only the signed-in users, as tests/test_callbacks.py does."""
    import queries.db as qdb

    working = qdb.get_db()
    db = fresh(f"sqlite:///{tmp_path / 'sla-page.sqlite3'}")
    rows = working.read_rows(select(users).where(users.c.username.in_(["admin", "leader"])))
    with db.begin() as conn:
        conn.execute(insert(users), rows)
    qdb._current = db
    try:
        yield db
    finally:
        qdb._current = working
        db.dispose()


def form_values(category="HC", urgent=None, ioc=1.5, agency=7, valid_from="2027-01-04 08:00", note="Theo QĐ mới"):
    return {"sla-save.n_clicks": 1, "sla-category.value": category, "sla-urgent.value": urgent or [],
            "sla-ioc.value": ioc, "sla-agency.value": agency, "sla-valid-from.value": valid_from,
            "sla-note.value": note}


def test_admin_saves_a_version_through_the_callback(client_for, page_db):
    client = client_for("admin")
    spec = callback_spec(client, "sla-message.children")
    before = count_policies(page_db)
    resp = post_callback(client, spec, form_values())
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    assert response["sla-message"]["children"] == "Đã lưu phiên bản mới cho lĩnh vực HC."
    assert response["sla-message"]["className"] == "form-message ok"
    assert count_policies(page_db) == before + 1
    raw = raw_policies(page_db)
    row = raw[raw["valid_from"] == pd.Timestamp("2027-01-04 01:00")].iloc[0]  # 08:00 local is 01:00 UTC
    assert (row.category_code, row.urgent, row.ioc_limit, row.agency_limit, row.created_by, row.note) == (
        "HC", 0, 1.5, 7, "admin", "Theo QĐ mới")
    # The table in the response now lists the new version too.
    assert len(response["sla-table"]["data"]) == before + 1
    # The same form again is a duplicate: refused, nothing added, the table left as it is.
    again = post_callback(client, spec, form_values()).get_json()["response"]
    assert "phiên bản" in again["sla-message"]["children"]
    assert again["sla-message"]["className"] == "form-message error"
    assert "sla-table" not in again
    assert count_policies(page_db) == before + 1


@pytest.mark.parametrize("values,keyword", [
    (form_values(valid_from="04/01/2027 08:00"), "YYYY-MM-DD HH:MM"),
    (form_values(ioc=-2), "âm"),
    (form_values(agency=None), "số"),
])
def test_admin_form_errors_are_shown_not_saved(client_for, page_db, values, keyword):
    client = client_for("admin")
    before = count_policies(page_db)
    response = post_callback(client, callback_spec(client, "sla-message.children"), values).get_json()["response"]
    assert keyword in response["sla-message"]["children"]
    assert response["sla-message"]["className"] == "form-message error"
    assert count_policies(page_db) == before


def test_a_leader_posting_the_callback_is_refused(client_for, page_db):
    client = client_for("leader")
    before = count_policies(page_db)
    resp = post_callback(client, callback_spec(client, "sla-message.children"), form_values(category="XD"))
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    assert response["sla-message"]["children"] == "Chỉ quản trị viên được sửa quy định SLA."
    assert response["sla-message"]["className"] == "form-message error"
    assert count_policies(page_db) == before


def _page(client, path: str) -> dict:
    spec = callback_spec(client, "_pages_content.children")
    resp = post_callback(client, spec, {"_pages_location.pathname": path, "_pages_location.search": ""})
    assert resp.status_code == 200
    return resp.get_json()["response"]["_pages_content"]["children"]


def _find(node, predicate, found=None):
    found = [] if found is None else found
    if isinstance(node, dict):
        if predicate(node):
            found.append(node)
        for value in node.values():
            _find(value, predicate, found)
    elif isinstance(node, list):
        for value in node:
            _find(value, predicate, found)
    return found


@pytest.mark.parametrize("username", ["leader", "operator", "agency_a"])
def test_the_page_shows_the_forbidden_message_to_non_admins(client_for, username):
    layout = _page(client_for(username), "/admin/sla")
    forbidden = _find(layout, lambda n: n.get("props", {}).get("className") == "not-found")[0]["props"]
    assert forbidden["hidden"] is False
    assert _find(forbidden, lambda n: n.get("props", {}).get("children") == "Chỉ quản trị viên được xem và sửa "
                                                                           "quy định SLA.")
    form = _find(layout, lambda n: n.get("props", {}).get("className") == "sla-admin")[0]["props"]
    assert form["hidden"] is True
    table = _find(layout, lambda n: n.get("props", {}).get("id") == "sla-table")[0]["props"]
    assert table["data"] == []


def test_the_page_shows_the_versions_to_an_admin(client_for):
    layout = _page(client_for("admin"), "/admin/sla")
    assert _find(layout, lambda n: n.get("props", {}).get("className") == "not-found")[0]["props"]["hidden"] is True
    assert _find(layout, lambda n: n.get("props", {}).get("className") == "sla-admin")[0]["props"]["hidden"] is False
    table = _find(layout, lambda n: n.get("props", {}).get("id") == "sla-table")[0]["props"]
    assert len(table["data"]) >= 2 * len(yaml_policies())
