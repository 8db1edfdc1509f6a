"""User accounts: creation, lookup and password checks. Passwords are stored as scrypt hashes."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from werkzeug.security import check_password_hash, generate_password_hash

from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import ROLES, agencies, login_failures, users

MIN_PASSWORD_LENGTH = 10
PASSPHRASE_LENGTH = 16  # long passphrases need no character mix
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "0123456789", "1234567890a", "password123", "password1234", "matkhau123",
    "matkhau1234", "abc1234567", "qwertyuiop", "qwerty12345", "admin12345", "administrator", "iloveyou123",
    "anhyeuem123", "vietnam123", "quangtri123", "1111111111", "a123456789", "123456789a",
})
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
    with db.begin() as conn:
        insert_user(conn, username, password, role, agency_code, full_name)
    return get_user_by_name(username.strip(), db)


def insert_user(conn, username: str, password: str, role: str, agency_code: str | None = None,
                full_name: str = "") -> int:
    """Check and insert an account inside the caller's transaction; returns its id."""
    username = (username or "").strip()
    if not username or len(username) > 80:
        raise UserError("Tên đăng nhập không được để trống và dài tối đa 80 ký tự.")
    if role not in ROLES:
        raise UserError(f"Vai trò phải là một trong: {', '.join(ROLES)}.")
    problem = password_problem(password, username)
    if problem:
        raise UserError(problem)
    if (role == "agency") != bool(agency_code):
        raise UserError("Tài khoản đơn vị (agency) phải gắn với đúng một đơn vị (--agency MÃ); vai trò khác thì không.")
    if conn.execute(select(users.c.id).where(users.c.username == username)).first():
        raise UserError(f"Tên đăng nhập '{username}' đã tồn tại.")
    agency_id = None
    if agency_code:
        agency_id = conn.execute(select(agencies.c.id).where(agencies.c.code == agency_code)).scalar()
        if agency_id is None:
            raise UserError(f"Không có đơn vị mã '{agency_code}'.")
    return conn.execute(users.insert().values(
        username=username, full_name=full_name or username, password_hash=generate_password_hash(password),
        role=role, agency_id=agency_id, active=1, created_at=utc_now(),
    ).returning(users.c.id)).scalar_one()


def password_problem(password: str | None, username: str = "") -> str | None:
    """Why a password is too weak, or None. At least 10 characters with three of: lower case, upper case,
    digits, symbols; or a passphrase of 16 or more. Never a common password or one containing the username."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự."
    if len(password) > 200:
        return "Mật khẩu dài tối đa 200 ký tự."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        return "Mật khẩu quá phổ biến hoặc quá đơn giản; hãy chọn mật khẩu khác."
    if username and len(username) >= 3 and username.lower() in lowered:
        return "Mật khẩu không được chứa tên đăng nhập."
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if classes < 3 and len(password) < PASSPHRASE_LENGTH:
        return ("Mật khẩu cần ít nhất 3 trong 4 loại ký tự (chữ thường, chữ hoa, chữ số, ký hiệu), "
                f"hoặc dài từ {PASSPHRASE_LENGTH} ký tự trở lên.")
    return None


def generate_password() -> str:
    """A random password that meets the policy (demo accounts, admin resets)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        if password_problem(candidate) is None:
            return candidate


def get_user(user_id: int, db: Database | None = None) -> UserRecord | None:
    rows = get_db(db).read_rows(_select_user().where(users.c.id == user_id))
    return _record(rows[0]) if rows else None


def get_user_by_name(username: str, db: Database | None = None) -> UserRecord | None:
    rows = get_db(db).read_rows(_select_user().where(users.c.username == username))
    return _record(rows[0]) if rows else None


def authenticate(username: str, password: str, db: Database | None = None) -> UserRecord | None:
    """The user if the credentials are right and the account is active, else None."""
    verified = verify_password(username, password, db)
    return verified[0] if verified else None


def verify_password(username: str, password: str, db: Database | None = None) -> tuple[UserRecord, str] | None:
    """The user and the password hash the password matched, if right and the account is active. A session
    is started only while the hash is still the user's (queries/sessions.start): a reset meanwhile wins."""
    username = (username or "").strip()
    # A name no account can have (too long, a NUL, which PostgreSQL refuses to compare) is just unknown.
    rows = [] if len(username) > 80 or "\x00" in username else get_db(db).read_rows(
        _select_user().where(users.c.username == username))
    if not rows:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    row = rows[0]
    if not check_password_hash(row["password_hash"], password or "") or not row["active"]:
        return None
    return _record(row), row["password_hash"]


# --- sign-in throttling ---------------------------------------------------------------------------------
# Failures live in the database so every gunicorn worker sees the same count. The rule slows a guesser down
# without letting anyone lock a real user out: only addresses that have failed are ever refused, so the
# right password from an address with no failures always gets in.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_IP = 30  # an address failing this often is refused for every name
MAX_FAILURES_PER_NAME_AND_IP = 5  # an address failing this often on one name is refused for that name
# A name guessed at this often, from any addresses, is refused to every address that has failed on it:
# a guesser rotating addresses gets one try per address while the name is under attack.
MAX_FAILURES_PER_NAME = 20


def _name(username: str) -> str:
    return (username or "").replace("\x00", "").strip().lower()[:80]


def address_key(ip: str | None) -> str:
    """Whom failures count against: an IPv4 address, or an IPv6 address's /64 (one subscriber's whole block,
    which a guesser could otherwise walk address by address)."""
    ip = (ip or "").strip()
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def locked_out(username: str, ip: str, db: Database | None = None, now: datetime | None = None) -> int:
    """Minutes until this address may try this name again; 0 when it may try now."""
    now = now or utc_now()
    since = now - FAILURE_WINDOW
    f = login_failures.c
    db = get_db(db)
    name, ip = _name(username), address_key(ip)

    def newest(limit: int, *conditions) -> list:
        return [row["at"] for row in db.read_rows(select(f.at).where(f.at >= since, *conditions)
                                                  .order_by(f.at.desc()).limit(limit))]

    waits = []
    for times, limit in ((newest(MAX_FAILURES_PER_IP, f.ip == ip), MAX_FAILURES_PER_IP),
                         (newest(MAX_FAILURES_PER_NAME_AND_IP, f.ip == ip, f.username == name),
                          MAX_FAILURES_PER_NAME_AND_IP)):
        if len(times) >= limit:
            waits.append(times[-1] + FAILURE_WINDOW - now)  # free when the oldest counted leaves the window
    if newest(1, f.ip == ip, f.username == name):
        times = newest(MAX_FAILURES_PER_NAME, f.username == name)
        if len(times) >= MAX_FAILURES_PER_NAME:
            waits.append(times[-1] + FAILURE_WINDOW - now)
    if not waits:
        return 0
    return max(1, -(-int(max(waits).total_seconds()) // 60))


def record_failure(username: str, ip: str, db: Database | None = None) -> None:
    db = get_db(db)
    f = login_failures.c
    with db.begin() as conn:
        conn.execute(insert(login_failures).values(username=_name(username), ip=address_key(ip), at=utc_now()))
        conn.execute(delete(login_failures).where(f.at < utc_now() - 4 * FAILURE_WINDOW))


def clear_failures(username: str, ip: str | None = None, db: Database | None = None) -> int:
    """Forget a name's failures: from one address (its right password came), or from all (an admin unlocking
    the name); returns how many there were."""
    f = login_failures.c
    conditions = [f.username == _name(username)] + ([f.ip == address_key(ip)] if ip is not None else [])
    with get_db(db).begin() as conn:
        return conn.execute(delete(login_failures).where(*conditions)).rowcount
