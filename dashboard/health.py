"""/healthz for load balancers and people: is the database reachable, the cache, the analytics copy,
how fresh the data is, and which version of the app answers. 200 when the database answers, else 503."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path

from flask import Blueprint, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dashboard.cache import ping as cache_ping
from queries import analytics
from queries.config import settings
from queries.db import get_db
from queries.filters import utc_now
from queries.schema import reports

bp = Blueprint("health", __name__)
ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def app_version() -> str:
    """APP_VERSION if set, else the git commit the code was deployed from, else 'unknown'."""
    if settings().app_version:
        return settings().app_version
    head = ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (ROOT / ".git" / ref[5:]).read_text().strip()
        return ref[:12]
    except OSError:
        return "unknown"



@bp.get("/healthz")
def healthz():
    body = {"version": app_version(), "time": datetime.now().astimezone().isoformat(timespec="seconds"),
            "cache": cache_ping(), **analytics.status()}
    try:
        db = get_db()
        db.ping()
        newest = db.scalar(select(func.max(reports.c.updated_at)))
        # While the analytics copy is rebuilt after a restore the pages read the database: served, but said.
        state = "rebuilding" if body.get("analytics") == "rebuilding" else "ok"
        body |= {"status": state, "database": "ok",
                 "last_change_seconds_ago": round((utc_now() - newest).total_seconds()) if newest else None}
        return jsonify(body)
    except SQLAlchemyError:
        return jsonify(body | {"status": "degraded", "database": "unreachable"}), 503
