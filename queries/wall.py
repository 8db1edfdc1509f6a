"""What the leaders' wall screen shows: headline numbers, the newest reports (no personal data) and alerts.

Spike alert method: for each commune and each field, k = reports received in the last 24 hours and
λ = the average number per 24 hours over the 28 days before that. It is a spike when k ≥ 5, k ≥ 3λ and
P(X ≥ k) < 0.001 for X ~ Poisson(max(λ, 0.5)) — "far more than usual, and not by chance". The floor
of 0.5 keeps a place with no history from raising an alert on a couple of reports.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import and_, literal_column, or_, select, union_all

from queries import analytics, metrics, rollup
from queries.db import Database, get_db
from queries.filters import Filter, local_today, utc_now
from queries.metrics import Clock
from queries.rollup import daily_counts, open_reports
from queries.schema import admin_units, agencies, categories, reports
from queries.scorecard import Period, period_containing, period_ranking
from queries.sql import count_if, is_pending

r = reports.c
SPIKE_MIN_COUNT = 5
SPIKE_MIN_RATIO = 3.0
SPIKE_P_VALUE = 0.001
BASELINE_DAYS = 28


def headline(now: datetime | None = None, db: Database | None = None) -> dict:
    """Today's and this month's numbers for the whole province, and the open reports: one scan of the month's
    and the open reports (three headline_counts calls cost three scans and three round trips); on the
    analytics copy, its daily counts and its open reports."""
    now = now or utc_now()
    today = local_today(now)
    month = period_containing("month", today)
    db = analytics.reader(db)
    if rollup.usable(Filter(), db):
        row = {**db.read_rows(_month_from_daily_counts(today, month.start, month.end))[0],
               **db.read_rows(_open_now(now))[0]}
    else:
        row = db.read_rows(_month_and_open(now, today, month.start, month.end))[0]
    month_counts = {name: np.array([float(row[name] or 0)]) for name in MONTH_COUNTS}
    return {
        "today_received": int(row["today_received"] or 0),
        **{f"month_{name}": int(row[name] or 0) for name in ("received", "resolved")},
        **{name: int(row[name] or 0) for name in ("pending", "overdue")},
        **{f"month_{name}": _num(metrics.value(name, month_counts)[0]) for name in MONTH_DERIVED},
        "month_label": month.label,
    }


# This month's counts, and the rates the wall shows from them.
MONTH_COUNTS = metrics.require("received", "resolved", "agency_on_time", "agency_judged", "rating_sum",
                               "rating_count")
MONTH_DERIVED = metrics.require("agency_on_time_rate", "satisfaction_mean")


def _month_and_open(now: datetime, today: date, first: date, last: date):
    day_start, day_end = Filter(start=today, end=today).utc_bounds()
    month_start, month_end = Filter(start=first, end=last).utc_bounds()
    in_today = and_(r.created_at >= day_start, r.created_at < day_end)
    in_month = and_(r.created_at >= month_start, r.created_at < month_end)
    return select(
        metrics.aggregate("received", reports, only=in_today).label("today_received"),
        *metrics.columns(MONTH_COUNTS, reports, only=in_month),
        *metrics.columns(("pending", "overdue"), reports, Clock.at(now), only=is_pending()),
    ).where(or_(in_month, is_pending()))


def _month_from_daily_counts(today: date, first: date, last: date):
    d = daily_counts.c
    return select(metrics.aggregate("received", daily_counts, only=d.day == today).label("today_received"),
                  *metrics.columns(MONTH_COUNTS, daily_counts)).where(d.day >= first, d.day <= last)


def _open_now(now: datetime):
    return select(*metrics.columns(("pending", "overdue"), open_reports, Clock.at(now))).select_from(open_reports)


def month_ranking(today: date, db: Database | None = None, now: datetime | None = None) -> tuple[pd.DataFrame, Period]:
    """The agencies' ranking the wall shows: this month's, or last month's while no agency has resolved enough
    reports this month to be ranked (the first days of every month), so the screen is never left empty."""
    table, period = period_ranking(Filter(), "month", today, db, now)
    if not table["ranked"].any():
        table, period = period_ranking(Filter(), "month", period.previous().start, db, now)
    return table, period


def _num(value):
    return None if pd.isna(value) else float(value)


def _scoped(stmt, scope: str | None):
    """An agency head's wall lists only their own agency's reports; the province-wide counts stay."""
    if scope is None:
        return stmt
    return stmt.where(r.agency_id.in_(select(agencies.c.id).where(agencies.c.code == scope)))


def newest_reports(limit: int = 12, db: Database | None = None, scope: str | None = None) -> pd.DataFrame:
    """code, created_at, status, urgent, category, commune, agency: nothing about the citizen."""
    stmt = (
        select(r.code, r.created_at, r.status, r.urgent, categories.c.short_name.label("category"),
               admin_units.c.name.label("commune"), agencies.c.short_name.label("agency"))
        .select_from(reports.outerjoin(categories, categories.c.id == r.category_id)
                     .outerjoin(admin_units, admin_units.c.code == r.commune_code)
                     .outerjoin(agencies, agencies.c.id == r.agency_id))
        .order_by(r.created_at.desc(), r.id.desc()).limit(limit)
    )
    return get_db(db).read_frame(_scoped(stmt, scope))


def urgent_new(hours: int = 24, now: datetime | None = None, db: Database | None = None,
               scope: str | None = None) -> pd.DataFrame:
    """Urgent reports received in the last `hours` hours, newest first."""
    now = now or utc_now()
    stmt = (
        select(r.code, r.created_at, r.status, categories.c.short_name.label("category"),
               admin_units.c.name.label("commune"))
        .select_from(reports.outerjoin(categories, categories.c.id == r.category_id)
                     .outerjoin(admin_units, admin_units.c.code == r.commune_code))
        .where(r.urgent == 1, r.created_at >= now - timedelta(hours=hours), r.created_at <= now)
        .order_by(r.created_at.desc()).limit(20)
    )
    return get_db(db).read_frame(_scoped(stmt, scope))


def poisson_tail(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    term, below = math.exp(-lam), 0.0
    for i in range(k):
        below += term
        term *= lam / (i + 1)
    return max(0.0, 1.0 - below)


def spikes(now: datetime | None = None, db: Database | None = None) -> pd.DataFrame:
    """kind ('commune' or 'category'), key, name, count (last 24 h), usual (per 24 h), p_value."""
    now = now or utc_now()
    db = analytics.reader(db)
    day_ago, baseline_start = now - timedelta(hours=24), now - timedelta(hours=24) - timedelta(days=BASELINE_DAYS)
    # One statement for both kinds, each one pass over the 29 days: the last 24 hours and the 28 days before.
    per_kind = [select(literal_column(f"'{kind}'").label("kind"), key.label("key"), label.label("name"),
                       count_if(r.created_at >= day_ago).label("count"),
                       count_if(r.created_at < day_ago).label("baseline"))
                .select_from(joined).where(r.created_at >= baseline_start, r.created_at <= now).group_by(key, label)
                for kind, key, label, joined in (
                    ("commune", admin_units.c.code, admin_units.c.name,
                     reports.join(admin_units, admin_units.c.code == r.commune_code)),
                    ("category", categories.c.code, categories.c.short_name,
                     reports.join(categories, categories.c.id == r.category_id)))]
    out = db.read_frame(union_all(*per_kind))
    out = out[out["count"] > 0].reset_index(drop=True)
    if out.empty:
        return pd.DataFrame(columns=["kind", "key", "name", "count", "usual", "p_value"])
    out["usual"] = out["baseline"].astype(float) / BASELINE_DAYS
    out["count"] = out["count"].astype("int64")
    out["p_value"] = [poisson_tail(int(k), max(lam, 0.5)) for k, lam in zip(out["count"], out["usual"], strict=True)]
    flagged = out[(out["count"] >= SPIKE_MIN_COUNT) & (out["count"] >= SPIKE_MIN_RATIO * out["usual"])
                  & (out["p_value"] < SPIKE_P_VALUE)]
    return flagged[["kind", "key", "name", "count", "usual", "p_value"]].sort_values(
        ["p_value", "count"], ascending=[True, False], ignore_index=True)


def top_overdue_agencies(n: int = 5, now: datetime | None = None, db: Database | None = None) -> pd.DataFrame:
    """The agencies with the most overdue reports: agency_code, agency_name, overdue, pending."""
    # Only open reports can be overdue: one pass over those, whatever their age.
    db = analytics.reader(db)
    source = rollup.open_source(db)
    stmt = (select(agencies.c.code.label("agency_code"), agencies.c.short_name.label("agency_name"),
                   *metrics.columns(("overdue", "pending"), source, Clock.at(now)))
            .select_from(source.join(agencies, agencies.c.id == source.c.agency_id))
            .where(is_pending(source)).group_by(agencies.c.code, agencies.c.short_name))
    backlog = db.read_frame(stmt)
    backlog[["overdue", "pending"]] = backlog[["overdue", "pending"]].astype("int64")
    backlog = backlog[backlog["overdue"] > 0]
    return backlog.sort_values(["overdue", "pending"], ascending=False).head(n).reset_index(drop=True)
