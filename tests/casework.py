"""Shared set-up for the workflow, case and administration tests: a private seeded database per test module
(so the writes here never reach the session databases other test files compare against), one user per role,
reports inserted as plain rows, and plain reads of what an action wrote.

Reads go straight to the tables (SQLAlchemy Core over queries.schema's table definitions); nothing here calls
a function from queries/ to compute an expected value.
"""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from queries.access import Viewer
from queries.db import Database
from queries.schema import agencies, audit_log, categories, media, report_events, reports, sla_policies, users
from queries.users import create_user
from tests.conftest import PASSWORD, _seed, create_pg_database, settings_changed

SEED_REPORTS = 1500
VIETNAMESE = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)
# One account per role; two agency heads of different agencies.
ACCOUNTS = {
    "admin": ("admin", None),
    "operator": ("operator", None),
    "operator2": ("operator", None),
    "leader": ("leader", None),
    "agency_a": ("agency", "SXD"),
    "agency_b": ("agency", "CAT"),
}
_serial = itertools.count(1)


def private_database(kind: str, tmp_path_factory, pg_server_url: str, name: str):
    """A freshly seeded database of its own, with the accounts above. Returns (db, viewers by username, drop)."""
    folder = tmp_path_factory.mktemp(name)
    # The demo seed writes its illustration pictures under MEDIA_DIR: keep them out of the working tree.
    with settings_changed(media_dir=folder / "media"):
        if kind == "sqlite":
            db = _seed(Database(f"sqlite:///{folder / 'private.sqlite3'}"), n=SEED_REPORTS)

            def drop():
                db.dispose()
        else:
            url, drop_database = create_pg_database(pg_server_url)
            db = _seed(Database(url), n=SEED_REPORTS)

            def drop():
                db.dispose()
                drop_database()
    viewers = {}
    for username, (role, agency) in ACCOUNTS.items():
        user = create_user(username, PASSWORD, role, agency, full_name=f"Cán bộ {username}", db=db)
        viewers[username] = Viewer(user_id=user.id, username=username, role=role, agency_code=agency,
                                   display_name=user.full_name, ip="10.0.0.1")
    return db, viewers, drop


def ids(db: Database, table, key: str = "code") -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(table.c[key], table.c.id)).all())


def insert_report(db: Database, *, category: str | None = "MT", status: str = "received", agency: str | None = None,
                  created_at: datetime = datetime(2026, 11, 23, 2, 0), phone: str | None = "0912345123",
                  lat: float | None = 16.75, lon: float | None = 107.19, title: str | None = None,
                  description: str = "Rác thải tồn đọng ven đường", commune: str | None = None,
                  **columns) -> dict:
    """A report row as the intake would leave it (or in any status), with a unique code. Returns the row."""
    code = f"TW-{next(_serial):04d}-{secrets.token_hex(3)}"
    values = {
        "code": code, "title": title or f"Phản ánh thử {code}", "description": description,
        "category_id": ids(db, categories)[category] if category else None,
        "agency_id": ids(db, agencies)[agency] if agency else None,
        "commune_code": commune, "channel": "app", "lat": lat, "lon": lon, "reporter_phone": phone,
        "phone_tail": re.sub(r"\D", "", phone)[::-1] if phone else None,  # as every write path stores it
        "status": status, "created_at": created_at, "updated_at": created_at, "urgent": 0, "version": 1,
        **columns,
    }
    with db.begin() as conn:
        conn.execute(insert(reports).values(**values))
    return report(db, code)


def report(db: Database, code: str) -> dict:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(reports).where(reports.c.code == code)).mappings().one())


def events_of(db: Database, report_id: int) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(report_events).where(report_events.c.report_id == report_id)
                                                  .order_by(report_events.c.id)).mappings()]


def audit_since(db: Database, last_id: int) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(audit_log).where(audit_log.c.id > last_id)
                                                  .order_by(audit_log.c.id)).mappings()]


def last_audit_id(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar()


def count(db: Database, table, *conditions) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar()


def media_of(db: Database, report_id: int) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(media).where(media.c.report_id == report_id)).mappings()]


def snapshot(db: Database, code: str) -> dict:
    """Everything an action on `code` may write: the row, its events, its media, and the audit log size."""
    row = report(db, code)
    return {"report": row, "events": events_of(db, row["id"]), "media": media_of(db, row["id"]),
            "audit": last_audit_id(db), "all_events": count(db, report_events)}


def policy_rows(db: Database) -> list[dict]:
    """Every SLA policy version with its category code, read from the table."""
    with db.engine.connect() as conn:
        return [dict(row) for row in conn.execute(
            select(sla_policies, categories.c.code.label("category_code"))
            .join_from(sla_policies, categories, categories.c.id == sla_policies.c.category_id)).mappings()]


def policy_in_force(db: Database, category: str, urgent: bool, at: datetime) -> dict:
    """The newest version for the field and urgency that started at or before `at`."""
    rows = [p for p in policy_rows(db) if p["category_code"] == category and p["urgent"] == int(urgent)
            and p["valid_from"] <= at]
    return max(rows, key=lambda p: p["valid_from"])


def user_row(db: Database, username: str) -> dict | None:
    with db.engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
    return dict(row) if row else None


def local(utc: datetime) -> datetime:
    return utc + timedelta(hours=7)


def utc(local_time: datetime) -> datetime:
    return local_time - timedelta(hours=7)
