"""Administration: users, agencies, fields (categories) and the routing table. Admins only; every change
is one transaction with its audit row."""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import delete, insert, select, update
from werkzeug.security import generate_password_hash

from queries import audit, sessions
from queries.access import Viewer, WorkflowError, require
from queries.db import Database, get_db
from queries.schema import ROLES, admin_units, agencies, categories, routing_rules, users
from queries.users import UserError, insert_user, password_problem

AGENCY_KINDS = ("department", "police", "commune", "utility", "other")
_CODE = re.compile(r"^[A-Z0-9_\-]{2,30}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _admin(viewer: Viewer) -> None:
    require(viewer.is_admin, "Chỉ quản trị viên được thực hiện thao tác này.")


# --- users --------------------------------------------------------------------------------------------

def list_users(viewer: Viewer, db: Database | None = None) -> pd.DataFrame:
    _admin(viewer)
    stmt = (select(users.c.id, users.c.username, users.c.full_name, users.c.role, users.c.active,
                   users.c.created_at, agencies.c.code.label("agency_code"),
                   agencies.c.short_name.label("agency_name"))
            .select_from(users.outerjoin(agencies, agencies.c.id == users.c.agency_id))
            .order_by(users.c.role, users.c.username))
    return get_db(db).read_frame(stmt)


def add_user(viewer: Viewer, username: str, password: str, role: str, agency_code: str | None,
             full_name: str = "", db: Database | None = None) -> None:
    _admin(viewer)
    try:
        with get_db(db).begin() as conn:
            insert_user(conn, username, password, role, agency_code or None, full_name)
            audit.record(conn, viewer, "user.create", (username or "").strip(),
                         f"vai trò {role}" + (f", đơn vị {agency_code}" if agency_code else ""))
    except UserError as err:
        raise WorkflowError(str(err)) from None


def _user_id(conn, username: str) -> int:
    user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
    if user_id is None:
        raise WorkflowError(f"Không có tài khoản '{username}'.")
    return user_id


def set_user_active(viewer: Viewer, username: str, active: bool, db: Database | None = None) -> None:
    _admin(viewer)
    if username == viewer.username and not active:
        raise WorkflowError("Không thể tự khoá tài khoản đang dùng.")
    with get_db(db).begin() as conn:
        user_id = _user_id(conn, username)
        conn.execute(update(users).where(users.c.id == user_id).values(active=int(active)))
        if not active:
            sessions.end_all(conn, user_id, "disabled")
        audit.record(conn, viewer, "user.enable" if active else "user.disable", username)


def reset_password(viewer: Viewer, username: str, password: str, db: Database | None = None) -> None:
    _admin(viewer)
    problem = password_problem(password, username)
    if problem:
        raise WorkflowError(problem)
    with get_db(db).begin() as conn:
        user_id = _user_id(conn, username)
        conn.execute(update(users).where(users.c.id == user_id).values(password_hash=generate_password_hash(password)))
        ended = sessions.end_all(conn, user_id, "password")
        audit.record(conn, viewer, "user.reset_password", username, f"kết thúc {ended} phiên đăng nhập")


def set_role(viewer: Viewer, username: str, role: str, agency_code: str | None, db: Database | None = None) -> None:
    _admin(viewer)
    if role not in ROLES:
        raise WorkflowError(f"Vai trò phải là một trong: {', '.join(ROLES)}.")
    if (role == "agency") != bool(agency_code):
        raise WorkflowError("Tài khoản đơn vị phải gắn với đúng một đơn vị; vai trò khác thì không.")
    if username == viewer.username and role != "admin":
        raise WorkflowError("Không thể tự bỏ quyền quản trị của tài khoản đang dùng.")
    with get_db(db).begin() as conn:
        agency_id = None
        if agency_code:
            agency_id = conn.execute(select(agencies.c.id).where(agencies.c.code == agency_code)).scalar()
            if agency_id is None:
                raise WorkflowError(f"Không có đơn vị mã '{agency_code}'.")
        user_id = _user_id(conn, username)
        before = conn.execute(select(users.c.role, users.c.agency_id).where(users.c.id == user_id)).one()
        conn.execute(update(users).where(users.c.id == user_id).values(role=role, agency_id=agency_id))
        if tuple(before) != (role, agency_id):  # what they may see changed: they sign in again to get it
            sessions.end_all(conn, user_id, "role")
        audit.record(conn, viewer, "user.role", username, role + (f", {agency_code}" if agency_code else ""))


# --- agencies -----------------------------------------------------------------------------------------

def list_agencies(viewer: Viewer, db: Database | None = None) -> pd.DataFrame:
    _admin(viewer)
    stmt = (select(agencies.c.code, agencies.c.name, agencies.c.short_name, agencies.c.kind,
                   agencies.c.commune_code, agencies.c.active).order_by(agencies.c.kind, agencies.c.code))
    return get_db(db).read_frame(stmt)


def save_agency(viewer: Viewer, code: str, name: str, short_name: str, kind: str, commune_code: str | None,
                active: bool, db: Database | None = None) -> str:
    """Create the agency, or update it when the code exists. Returns 'created' or 'updated'."""
    _admin(viewer)
    code, name, short_name = (code or "").strip().upper(), (name or "").strip(), (short_name or "").strip()
    if not _CODE.match(code):
        raise WorkflowError("Mã đơn vị gồm 2–30 chữ in hoa, chữ số, '-' hoặc '_'.")
    if not name or len(name) > 200 or not short_name or len(short_name) > 80:
        raise WorkflowError("Tên đơn vị (tối đa 200 ký tự) và tên ngắn (tối đa 80) không được để trống.")
    if kind not in AGENCY_KINDS:
        raise WorkflowError(f"Loại đơn vị phải là một trong: {', '.join(AGENCY_KINDS)}.")
    with get_db(db).begin() as conn:
        if commune_code and conn.execute(select(admin_units.c.code).where(
                admin_units.c.code == commune_code, admin_units.c.level == "commune")).first() is None:
            raise WorkflowError(f"Không có xã/phường mã '{commune_code}'.")
        values = {"name": name, "short_name": short_name, "kind": kind, "commune_code": commune_code or None,
                  "active": int(bool(active))}
        exists = conn.execute(select(agencies.c.id).where(agencies.c.code == code)).first()
        if exists:
            conn.execute(update(agencies).where(agencies.c.code == code).values(**values))
        else:
            conn.execute(insert(agencies).values(code=code, **values))
        outcome = "updated" if exists else "created"
        audit.record(conn, viewer, f"agency.{'update' if exists else 'create'}", code,
                     f"{short_name}; {'hoạt động' if active else 'ngừng'}")
    return outcome


# --- fields -------------------------------------------------------------------------------------------

def list_categories(viewer: Viewer, db: Database | None = None) -> pd.DataFrame:
    _admin(viewer)
    stmt = select(categories.c.code, categories.c.name, categories.c.short_name, categories.c.color,
                  categories.c.default_handling_days, categories.c.sort_order).order_by(categories.c.sort_order)
    return get_db(db).read_frame(stmt)


def save_category(viewer: Viewer, code: str, name: str, short_name: str, color: str,
                  db: Database | None = None) -> str:
    """Rename or recolour a field, or add one. Deadlines are SLA policies (the SLA page), not set here."""
    _admin(viewer)
    code, name, short_name, color = ((code or "").strip().upper(), (name or "").strip(),
                                     (short_name or "").strip(), (color or "").strip())
    if not re.match(r"^[A-Z0-9_]{1,20}$", code):
        raise WorkflowError("Mã lĩnh vực gồm 1–20 chữ in hoa, chữ số hoặc '_'.")
    if not name or len(name) > 200 or not short_name or len(short_name) > 60:
        raise WorkflowError("Tên lĩnh vực (tối đa 200 ký tự) và tên ngắn (tối đa 60) không được để trống.")
    if not _COLOR.match(color):
        raise WorkflowError("Màu dạng #RRGGBB, ví dụ #1f77b4.")
    with get_db(db).begin() as conn:
        exists = conn.execute(select(categories.c.id).where(categories.c.code == code)).first()
        if exists:
            conn.execute(update(categories).where(categories.c.code == code)
                         .values(name=name, short_name=short_name, color=color))
        else:
            order = conn.execute(select(categories.c.sort_order).order_by(categories.c.sort_order.desc())
                                 .limit(1)).scalar() or 0
            conn.execute(insert(categories).values(code=code, name=name, short_name=short_name, color=color,
                                                   default_handling_days=5, sort_order=order + 1))
        audit.record(conn, viewer, f"category.{'update' if exists else 'create'}", code, short_name)
    return "updated" if exists else "created"


# --- routing ------------------------------------------------------------------------------------------

def list_routing(viewer: Viewer, db: Database | None = None) -> pd.DataFrame:
    """category_code, category_name, commune_code, commune_name, agency_code, agency_name."""
    _admin(viewer)
    rr = routing_rules.c
    stmt = (select(categories.c.code.label("category_code"), categories.c.short_name.label("category_name"),
                   rr.commune_code, admin_units.c.name.label("commune_name"),
                   agencies.c.code.label("agency_code"), agencies.c.short_name.label("agency_name"))
            .select_from(routing_rules.join(categories, categories.c.id == rr.category_id)
                         .join(agencies, agencies.c.id == rr.agency_id)
                         .outerjoin(admin_units, admin_units.c.code == rr.commune_code))
            .order_by(categories.c.sort_order, rr.commune_code.is_not(None), admin_units.c.name))
    return get_db(db).read_frame(stmt)


def set_route(viewer: Viewer, category_code: str, commune_code: str | None, agency_code: str | None,
              db: Database | None = None) -> str:
    """Set the agency for a field (in a commune, or anywhere when commune is empty); no agency deletes
    the rule. Returns 'set' or 'deleted'."""
    _admin(viewer)
    commune_code = commune_code or None
    with get_db(db).begin() as conn:
        category_id = conn.execute(select(categories.c.id).where(categories.c.code == category_code)).scalar()
        if category_id is None:
            raise WorkflowError(f"Không có lĩnh vực mã '{category_code}'.")
        if commune_code and conn.execute(select(admin_units.c.code).where(
                admin_units.c.code == commune_code)).first() is None:
            raise WorkflowError(f"Không có xã/phường mã '{commune_code}'.")
        rr = routing_rules.c
        same = (rr.category_id == category_id) & (
            rr.commune_code.is_(None) if commune_code is None else rr.commune_code == commune_code)
        conn.execute(delete(routing_rules).where(same))
        where = f"{category_code} @ {commune_code or 'mọi xã'}"
        if not agency_code:
            audit.record(conn, viewer, "routing.delete", where)
            return "deleted"
        agency_id = conn.execute(select(agencies.c.id).where(agencies.c.code == agency_code,
                                                             agencies.c.active == 1)).scalar()
        if agency_id is None:
            raise WorkflowError(f"Không có đơn vị đang hoạt động mã '{agency_code}'.")
        conn.execute(insert(routing_rules).values(category_id=category_id, commune_code=commune_code,
                                                  agency_id=agency_id))
        audit.record(conn, viewer, "routing.set", where, agency_code)
    return "set"
