"""User accounts: creation, lookup and password checks. Passwords are stored as scrypt hashes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import ROLES, agencies, users

MIN_PASSWORD_LENGTH = 8
# Checked against when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    full_name: str
    role: str
    agency_code: str | None
    agency_name: str | None
    active: bool


def _select_user():
    return select(
        users.c.id, users.c.username, users.c.full_name, users.c.role, users.c.active, users.c.password_hash,
        agencies.c.code.label("agency_code"), agencies.c.short_name.label("agency_name"),
    ).select_from(users.outerjoin(agencies, agencies.c.id == users.c.agency_id))


def _record(row: dict) -> UserRecord:
    return UserRecord(id=row["id"], username=row["username"], full_name=row["full_name"], role=row["role"],
                      agency_code=row["agency_code"], agency_name=row["agency_name"], active=bool(row["active"]))


def create_user(username: str, password: str, role: str, agency_code: str | None = None, full_name: str = "",
                db: Database | None = None) -> UserRecord:
    db = get_db(db)
    username = (username or "").strip()
    if not username or len(username) > 80:
        raise UserError("Tên đăng nhập không được để trống và dài tối đa 80 ký tự.")
    if role not in ROLES:
        raise UserError(f"Vai trò phải là một trong: {', '.join(ROLES)}.")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự.")
    if (role == "agency") != bool(agency_code):
        raise UserError("Tài khoản đơn vị (agency) phải gắn với đúng một đơn vị (--agency MÃ); vai trò khác thì không.")
    with db.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise UserError(f"Tên đăng nhập '{username}' đã tồn tại.")
        agency_id = None
        if agency_code:
            agency_id = conn.execute(select(agencies.c.id).where(agencies.c.code == agency_code)).scalar()
            if agency_id is None:
                raise UserError(f"Không có đơn vị mã '{agency_code}'.")
        conn.execute(users.insert().values(
            username=username, full_name=full_name or username, password_hash=generate_password_hash(password),
            role=role, agency_id=agency_id, active=1, created_at=utc_now(),
        ))
    return get_user_by_name(username, db)


def get_user(user_id: int, db: Database | None = None) -> UserRecord | None:
    rows = get_db(db).read_rows(_select_user().where(users.c.id == user_id))
    return _record(rows[0]) if rows else None


def get_user_by_name(username: str, db: Database | None = None) -> UserRecord | None:
    rows = get_db(db).read_rows(_select_user().where(users.c.username == username))
    return _record(rows[0]) if rows else None


def authenticate(username: str, password: str, db: Database | None = None) -> UserRecord | None:
    """The user if the credentials are right and the account is active, else None."""
    rows = get_db(db).read_rows(_select_user().where(users.c.username == (username or "").strip()))
    if not rows:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    row = rows[0]
    if not check_password_hash(row["password_hash"], password or "") or not row["active"]:
        return None
    return _record(row)
