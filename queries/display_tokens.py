"""Display tokens: one named, revocable, read-only credential per wall screen.

The token is shown once when it is created; only its sha256 is stored. A token never expires by itself.
Checking one costs the same whether it exists or not: one hash and one indexed lookup of the hash.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from queries import audit
from queries.access import Viewer
from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import display_tokens

MIN_REFRESH_SECONDS = 10
MIN_ROTATE_SECONDS = 8
MAX_SECONDS = 3600  # browsers' timers overflow past ~24 days and then fire continuously
DEFAULT_REFRESH_SECONDS = 30
DEFAULT_ROTATE_SECONDS = 20
PANELS = ("kpis", "ranking", "trends", "ticker", "alerts")
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-]{20,100}$")
LAST_SEEN_EVERY = timedelta(seconds=60)  # write last_seen_at at most this often per screen


class DisplayTokenError(ValueError):
    pass


@dataclass(frozen=True)
class ScreenSettings:
    refresh_seconds: int = DEFAULT_REFRESH_SECONDS
    rotate_seconds: int = DEFAULT_ROTATE_SECONDS
    panels: tuple[str, ...] = field(default=PANELS)

    @classmethod
    def parse(cls, raw: dict | None) -> ScreenSettings:
        """Unknown panels are dropped; intervals are kept between the minimum and an hour."""
        raw = raw or {}

        def seconds(key, default, minimum):
            try:
                value = int(float(raw.get(key, default)))
            except (TypeError, ValueError, OverflowError):  # None, "abc", "inf"
                value = default
            return min(max(value, minimum), MAX_SECONDS)

        panels = tuple(p for p in (raw.get("panels") or PANELS) if p in PANELS) or PANELS
        return cls(refresh_seconds=seconds("refresh_seconds", DEFAULT_REFRESH_SECONDS, MIN_REFRESH_SECONDS),
                   rotate_seconds=seconds("rotate_seconds", DEFAULT_ROTATE_SECONDS, MIN_ROTATE_SECONDS),
                   panels=panels)

    def to_json(self) -> str:
        return json.dumps({"refresh_seconds": self.refresh_seconds, "rotate_seconds": self.rotate_seconds,
                           "panels": list(self.panels)})


@dataclass(frozen=True)
class Screen:
    id: int
    name: str
    token_prefix: str
    settings: ScreenSettings
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_seen_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _screen(row: dict) -> Screen:
    try:
        settings = ScreenSettings.parse(json.loads(row["settings"] or "{}"))
    except (TypeError, ValueError):
        settings = ScreenSettings()
    return Screen(id=row["id"], name=row["name"], token_prefix=row["token_prefix"], settings=settings,
                  created_at=row["created_at"], created_by=row["created_by"], revoked_at=row["revoked_at"],
                  last_seen_at=row["last_seen_at"])


def create_token(name: str, created_by: str, settings: dict | None = None,
                 db: Database | None = None) -> tuple[Screen, str]:
    """A new screen and its token (shown once)."""
    db = get_db(db)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DisplayTokenError("Tên màn hình không được để trống và dài tối đa 100 ký tự.")
    token = secrets.token_urlsafe(32)
    with db.begin() as conn:
        if conn.execute(select(display_tokens.c.id).where(display_tokens.c.name == name)).first():
            raise DisplayTokenError(f"Đã có màn hình tên '{name}'.")
        conn.execute(display_tokens.insert().values(
            name=name, token_hash=_hash(token), token_prefix=token[:8],
            settings=ScreenSettings.parse(settings).to_json(), created_at=utc_now(), created_by=created_by))
        audit.record(conn, _actor(created_by), "screen.create", name, f"mã {token[:8]}…")
    return screen_by_name(name, db), token


def _actor(username: str) -> Viewer:
    """Screens are managed by admins (the page) or on the server's command line ('cli')."""
    return Viewer(user_id=None, username=username, role="admin")


def screen_by_name(name: str, db: Database | None = None) -> Screen | None:
    rows = get_db(db).read_rows(select(display_tokens).where(display_tokens.c.name == name))
    return _screen(rows[0]) if rows else None


def screen_by_id(screen_id: int, db: Database | None = None) -> Screen | None:
    rows = get_db(db).read_rows(select(display_tokens).where(display_tokens.c.id == screen_id))
    return _screen(rows[0]) if rows else None


def list_screens(db: Database | None = None) -> list[Screen]:
    rows = get_db(db).read_rows(select(display_tokens).order_by(display_tokens.c.name))
    return [_screen(row) for row in rows]


def revoke(name: str, db: Database | None = None, by: str = "cli") -> Screen:
    db = get_db(db)
    with db.begin() as conn:
        changed = conn.execute(update(display_tokens).where(
            display_tokens.c.name == name, display_tokens.c.revoked_at.is_(None)).values(revoked_at=utc_now()))
        if changed.rowcount:
            audit.record(conn, _actor(by), "screen.revoke", name)
    screen = screen_by_name(name, db)
    if screen is None:
        raise DisplayTokenError(f"Không có màn hình tên '{name}'.")
    if not changed.rowcount and screen.active:
        raise DisplayTokenError(f"Không thu hồi được màn hình '{name}'.")
    return screen


def delete(name: str, db: Database | None = None, by: str = "cli") -> None:
    """Remove a screen and its token for good (a revoked one stays listed; a deleted one does not). A screen
    still showing the wall gets the 'revoked' page at its next refresh."""
    with get_db(db).begin() as conn:
        if not conn.execute(display_tokens.delete().where(display_tokens.c.name == name)).rowcount:
            raise DisplayTokenError(f"Không có màn hình tên '{name}'.")
        audit.record(conn, _actor(by), "screen.delete", name)


def verify(token: str | None, db: Database | None = None) -> Screen | None:
    """The screen for a token that exists; revoked screens are returned too (callers check `active`)."""
    token = token or ""
    digest = _hash(token)  # always hash, so a malformed token costs what a real one does
    if not _TOKEN_SHAPE.match(token):
        return None
    rows = get_db(db).read_rows(select(display_tokens).where(display_tokens.c.token_hash == digest))
    return _screen(rows[0]) if rows else None


def mark_seen(screen: Screen, db: Database | None = None) -> None:
    now = utc_now()
    if screen.last_seen_at and now - screen.last_seen_at < LAST_SEEN_EVERY:
        return
    with get_db(db).begin() as conn:
        conn.execute(update(display_tokens).where(display_tokens.c.id == screen.id).values(last_seen_at=now))
