"""Signed-in sessions, kept on the server: one row per sign-in, named by a random token that the session and
remember-me cookies carry (only its sha256 is stored).

A cookie is worth nothing once its row has ended, so signing out, the idle timeout and an admin's change to
the account (password, role, disabling) end the session everywhere at the next request, whatever copies of
the cookie exist, on every worker. Wall screens sign in with display tokens instead (queries/display_tokens.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from queries.config import settings
from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import agencies, user_sessions, users
from queries.users import UserRecord

# last_active_at is written at most this often per session: the idle timeout is counted in minutes, and a page
# sends a dozen callbacks at once.
ACTIVITY_EVERY = timedelta(seconds=60)
KEEP_ENDED = timedelta(days=90)  # a user's old sessions are deleted at their next sign-in; the audit log keeps sign-ins
END_REASONS = ("logout", "idle", "password", "role", "disabled", "admin")
s = user_sessions.c


@dataclass(frozen=True)
class SessionCheck:
    """What a request's session token is worth: the user when it holds, else why not."""

    user: UserRecord | None
    username: str | None = None
    session_id: int | None = None
    last_active_at: datetime | None = None
    refused: str | None = None  # unknown, ended, idle, inactive


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(user_id: int, remember: bool, ip: str = "", user_agent: str = "", db: Database | None = None,
          now: datetime | None = None, password_hash: str | None = None) -> str | None:
    """A new session for the user; returns its token (kept only in the cookies). With `password_hash` (the one
    the sign-in matched), None instead when the password changed meanwhile or the account was disabled: the
    user's row is locked first, so an admin's reset either comes after (and ends this session) or before (and
    this sign-in fails)."""
    token = secrets.token_urlsafe(32)
    now = now or utc_now()
    with get_db(db).begin() as conn:
        if password_hash is not None:
            current = conn.execute(select(users.c.password_hash, users.c.active).where(users.c.id == user_id)
                                   .with_for_update()).first()
            if current is None or current.password_hash != password_hash or not current.active:
                return None
        conn.execute(user_sessions.delete().where(s.user_id == user_id, s.last_active_at < now - KEEP_ENDED))
        conn.execute(insert(user_sessions).values(
            token_hash=_hash(token), user_id=user_id, created_at=now, last_active_at=now, remember=int(remember),
            ip=(ip or "")[:64], user_agent=(user_agent or "")[:200]))
    return token


def check(user_id: int, token: str, db: Database | None = None, now: datetime | None = None) -> SessionCheck:
    """The user behind a session token, if the session holds now; one indexed read. An idle session is ended
    here, so its remember-me cookie dies with it."""
    now = now or utc_now()
    stmt = (select(s.id, s.user_id, s.last_active_at, s.ended_at, users.c.username, users.c.full_name,
                   users.c.role, users.c.active, agencies.c.code.label("agency_code"),
                   agencies.c.short_name.label("agency_name"))
            .select_from(user_sessions.join(users, users.c.id == s.user_id)
                         .outerjoin(agencies, agencies.c.id == users.c.agency_id))
            .where(s.token_hash == _hash(token or "")))
    db = get_db(db)
    rows = db.read_rows(stmt)
    if not rows or rows[0]["user_id"] != user_id:
        return SessionCheck(None, refused="unknown")
    row = rows[0]
    if row["ended_at"] is not None:
        return SessionCheck(None, row["username"], session_id=row["id"], refused="ended")
    if not row["active"]:
        return SessionCheck(None, row["username"], session_id=row["id"], refused="inactive")
    if now - row["last_active_at"] > settings().idle_timeout:
        try:
            with db.begin() as conn:
                _end(conn, s.id == row["id"], "idle", now)
        except SQLAlchemyError:  # not recorded (the database busy): refused all the same, and ended next time
            pass
        return SessionCheck(None, row["username"], session_id=row["id"], last_active_at=row["last_active_at"],
                            refused="idle")
    user = UserRecord(id=row["user_id"], username=row["username"], full_name=row["full_name"], role=row["role"],
                      agency_code=row["agency_code"], agency_name=row["agency_name"], active=bool(row["active"]))
    return SessionCheck(user, user.username, session_id=row["id"], last_active_at=row["last_active_at"])


def note_activity(checked: SessionCheck, db: Database | None = None, now: datetime | None = None) -> None:
    """The person did something: their idle time starts again (written at most once a minute)."""
    now = now or utc_now()
    if checked.session_id is None or (checked.last_active_at and now - checked.last_active_at < ACTIVITY_EVERY):
        return
    with get_db(db).begin() as conn:
        conn.execute(update(user_sessions).where(s.id == checked.session_id, s.ended_at.is_(None))
                     .values(last_active_at=now))


def _end(conn: Connection, condition, reason: str, now: datetime) -> int:
    assert reason in END_REASONS, reason
    return conn.execute(update(user_sessions).where(condition, s.ended_at.is_(None))
                        .values(ended_at=now, end_reason=reason)).rowcount


def end(token: str, reason: str = "logout", db: Database | None = None) -> bool:
    """End one session (signing out); False when it had ended already or never existed."""
    with get_db(db).begin() as conn:
        return bool(_end(conn, s.token_hash == _hash(token or ""), reason, utc_now()))


def end_all(conn: Connection, user_id: int, reason: str, now: datetime | None = None) -> int:
    """End every session of a user, inside the caller's transaction (an admin's change to the account)."""
    return _end(conn, s.user_id == user_id, reason, now or utc_now())


def open_sessions(user_id: int, db: Database | None = None, now: datetime | None = None) -> int:
    """How many of the user's sessions still hold (not ended, not idle)."""
    now = now or utc_now()
    rows = get_db(db).read_rows(select(s.id).where(and_(
        s.user_id == user_id, s.ended_at.is_(None), s.last_active_at >= now - settings().idle_timeout)))
    return len(rows)
