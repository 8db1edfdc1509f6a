"""The audit log: one row per write, phone reveal, sign-in and refusal. Rows are written inside the
transaction of the change they describe, so a change and its audit row stand or fall together."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from queries.access import Viewer, require
from queries.db import Database, get_db
from queries.filters import local_to_utc, utc_now
from queries.schema import audit_log

a = audit_log.c


def record(conn: Connection, viewer: Viewer, action: str, target: str = "", detail: str = "") -> None:
    conn.execute(insert(audit_log).values(
        at=utc_now(), user_id=viewer.user_id, username=viewer.username[:80], role=viewer.role[:20],
        action=action[:40], target=(target or "")[:100], detail=detail or "", ip=(viewer.ip or "")[:64]))


def write(viewer: Viewer, action: str, target: str = "", detail: str = "", db: Database | None = None) -> None:
    """An audit row on its own (sign-ins, refusals)."""
    with get_db(db).begin() as conn:
        record(conn, viewer, action, target, detail)


def entries(viewer: Viewer, start: date | None = None, end: date | None = None, username: str = "",
            action: str = "", target: str = "", limit: int = 1000, db: Database | None = None) -> pd.DataFrame:
    """Newest first: at, username, role, action, target, detail, ip. Admins only. Dates are local days."""
    require(viewer.is_admin, "Chỉ quản trị viên được xem nhật ký.")
    stmt = select(a.id, a.at, a.username, a.role, a.action, a.target, a.detail, a.ip)
    if start:
        stmt = stmt.where(a.at >= local_to_utc(start))
    if end:
        stmt = stmt.where(a.at < local_to_utc(end) + pd.Timedelta(days=1).to_pytimedelta())
    if username.strip():
        stmt = stmt.where(a.username == username.strip())
    if action.strip():
        stmt = stmt.where(a.action.startswith(action.strip(), autoescape=True))
    if target.strip():
        stmt = stmt.where(a.target == target.strip())
    return get_db(db).read_frame(stmt.order_by(a.at.desc(), a.id.desc()).limit(limit))


def action_names(db: Database | None = None) -> list[str]:
    return sorted(get_db(db).read_frame(select(a.action).distinct())["action"].tolist())
