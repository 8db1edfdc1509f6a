"""The leaders' overview: headline counts and the breakdowns behind each panel.

A report belongs to the period in which it was received, whatever its status now. The figures are the
registry's (queries/metrics.py); resolution time is resolved_at - created_at in calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

import pandas as pd
from sqlalchemy import func, select

from queries import analytics, metrics, rollup
from queries.config import settings
from queries.db import Database, get_db
from queries.filters import Filter
from queries.metrics import Clock
from queries.rollup import daily_counts
from queries.schema import admin_units, agencies, categories, report_deletions, reports
from queries.sql import (
    bucket_start,
    bucket_text,
    day_bucket,
    days_between,
    is_pending,
    percentiles,
    report_conditions,
    where,
)

r = reports.c
IOC_QUEUE_NAME = "Trung tâm IOC (chưa chuyển xử lý)"
DIMENSIONS = ("category", "channel", "commune", "agency")


# Every count the overview's panels read, as the registry names them; `total` is the registry's `received`.
AGENCY_COUNTS = ["total", *metrics.require("resolved", "pending", "overdue", "rejected", "agency_on_time",
                                           "agency_judged", "rating_count", "rating_sum", "located",
                                           "r1", "r2", "r3", "r4", "r5")]
RECORD_COUNTS = [name for name in AGENCY_COUNTS[1:] if name != "overdue"]
HEADLINE_DERIVED = metrics.require("agency_on_time_rate", "satisfaction_mean")


def agency_counts(f: Filter, db: Database | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Per agency, every count the overview's headline, backlog and satisfaction read (one scan serves the
    three); reports not yet forwarded form one row with agency_code None (the IOC's own queue). On the
    analytics copy the counts come from its daily counts, and only `overdue` (which depends on the clock)
    from its open reports."""
    clock = Clock.at(now)
    db = analytics.reader(db)
    if not rollup.usable(f, db):
        stmt = (select(*_agency_names(), metrics.aggregate("received", reports).label("total"),
                       *metrics.columns(AGENCY_COUNTS[1:], reports, clock))
                .select_from(reports.outerjoin(agencies, agencies.c.id == r.agency_id))
                .where(where(f)).group_by(agencies.c.code, agencies.c.short_name))
        return _typed_counts(db.read_frame(stmt))
    d = daily_counts.c
    stmt = (select(*_agency_names(), metrics.aggregate("received", daily_counts).label("total"),
                   *metrics.columns(RECORD_COUNTS, daily_counts))
            .select_from(daily_counts.outerjoin(agencies, agencies.c.id == d.agency_id))
            .where(*report_conditions(f, daily_counts)).group_by(agencies.c.code, agencies.c.short_name))
    o = rollup.open_reports
    overdue = (select(agencies.c.code.label("agency_code"), metrics.sql("overdue", o, clock))
               .select_from(o.outerjoin(agencies, agencies.c.id == o.c.agency_id))
               .where(*report_conditions(f, o), is_pending(o)).group_by(agencies.c.code))
    counts = db.read_frame(stmt)
    late = db.read_frame(overdue).set_index("agency_code")["overdue"]
    counts["overdue"] = counts["agency_code"].map(late.to_dict()).fillna(0)
    return _typed_counts(counts)


def _typed_counts(df: pd.DataFrame) -> pd.DataFrame:
    df = df[["agency_code", "agency_name", *AGENCY_COUNTS]].copy()
    df[AGENCY_COUNTS] = df[AGENCY_COUNTS].astype("float64").fillna(0).astype("int64")
    return df


def headline_counts(f: Filter, db: Database | None = None, now: datetime | None = None,
                    counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row: every count of AGENCY_COUNTS summed, with agency_on_time_rate and satisfaction_mean. From
    `counts` = agency_counts(f) when the caller has them already."""
    counts = counts if counts is not None else agency_counts(f, db, now)
    df = pd.DataFrame([counts[AGENCY_COUNTS].sum().astype("int64")])
    return metrics.derive(df, HEADLINE_DERIVED)


def _agency_names() -> list:
    return [agencies.c.code.label("agency_code"), agencies.c.short_name.label("agency_name")]


def backlog_by_agency(f: Filter, db: Database | None = None, now: datetime | None = None,
                      counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per agency: total, resolved, pending, overdue, rejected; reports not yet forwarded form one
    row with agency_code None (the IOC's own queue). Sorted by pending, then overdue."""
    counts = counts if counts is not None else agency_counts(f, db, now)
    df = counts[["agency_code", "agency_name", "total", "resolved", "pending", "overdue", "rejected"]].copy()
    df["agency_name"] = df["agency_name"].fillna(IOC_QUEUE_NAME)
    return df.sort_values(["pending", "overdue", "agency_name"], ascending=[False, False, True],
                          ignore_index=True)


def _resolution_time(f: Filter, db: Database | None, label_cols: list, joined) -> pd.DataFrame:
    db = analytics.reader(db)
    resolved = (
        select(*label_cols, days_between(r.created_at, r.resolved_at).label("days"))
        .select_from(joined)
        .where(*report_conditions(f), r.status == "resolved")
        .subquery()
    )
    stmt = percentiles(db.dialect, resolved.c.days, [resolved.c[c.name] for c in label_cols], [])
    df = db.read_frame(stmt).rename(columns={"p50": "median_days", "p90": "p90_days"})
    df["n"] = df["n"].astype("int64")
    df[["median_days", "p90_days"]] = df[["median_days", "p90_days"]].astype("float64")
    return df.sort_values(["median_days", df.columns[0]], ignore_index=True)


def resolution_time_by_agency(f: Filter, db: Database | None = None) -> pd.DataFrame:
    """Per agency: n resolved, median_days and p90_days from receipt to resolution."""
    return _resolution_time(f, db, _agency_names(), reports.join(agencies, agencies.c.id == r.agency_id))


def resolution_time_by_category(f: Filter, db: Database | None = None) -> pd.DataFrame:
    """Per category: n resolved, median_days and p90_days from receipt to resolution."""
    cols = [categories.c.code.label("category_code"), categories.c.short_name.label("category_name")]
    return _resolution_time(f, db, cols, reports.join(categories, categories.c.id == r.category_id))


def satisfaction_by_agency(f: Filter, db: Database | None = None, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per agency with ratings: rating_count, satisfaction_mean, share_low (ratings <= 2) and the
    distribution r1..r5."""
    counts = counts if counts is not None else agency_counts(f, db)
    dist = [f"r{k}" for k in range(1, 6)]
    df = counts.loc[counts["agency_code"].notna() & (counts["rating_count"] > 0),
                    ["agency_code", "agency_name", "rating_count", "rating_sum", *dist]]
    df.insert(3, "satisfaction_mean", metrics.value("satisfaction_mean", df))
    df = df.drop(columns="rating_sum")
    df["share_low"] = metrics.value("share_low", df)
    return df.sort_values(["satisfaction_mean", "agency_name"], ascending=[False, True], ignore_index=True)


def _dimension(by: str, source=reports):
    """(key column, label column, join) for a breakdown dimension of `source` (the reports, or the copy's
    daily counts)."""
    c = source.c
    if by == "category":
        return (categories.c.code, categories.c.short_name,
                source.outerjoin(categories, categories.c.id == c.category_id))
    if by == "agency":
        return agencies.c.code, agencies.c.short_name, source.outerjoin(agencies, agencies.c.id == c.agency_id)
    if by == "commune":
        return (admin_units.c.code, admin_units.c.name,
                source.outerjoin(admin_units, admin_units.c.code == c.commune_code))
    if by == "channel":
        return c.channel, c.channel, source
    raise ValueError(f"by must be one of {DIMENSIONS}")


def _counted(f: Filter, db: Database, by: str | None = None) -> tuple:
    """(source, its count of reports, its WHERE conditions): the copy's daily counts where they can answer,
    else the reports."""
    if rollup.usable(f, db, by):
        return daily_counts, metrics.aggregate("received", daily_counts), report_conditions(f, daily_counts)
    return reports, metrics.aggregate("received", reports), report_conditions(f)


def _period_start(source, grain: str):
    """The local day / week / month of arrival, on the reports or on the daily counts."""
    return day_bucket(source.c.day, grain) if source is daily_counts else bucket_start(r.created_at, grain)


def counts_over_time(f: Filter, grain: str = "month", by: str = "category",
                     db: Database | None = None) -> pd.DataFrame:
    """Tidy counts: period ('YYYY-MM-DD', start of the local day/week/month), key, name, n."""
    db = analytics.reader(db)
    source, n, conds = _counted(f, db, by)
    key, label, joined = _dimension(by, source)
    start = _period_start(source, grain)
    per_period = (
        select(start.label("start"), key.label("key"), label.label("name"), n.label("n"))
        .select_from(joined)
        .where(*conds)
        .group_by(start, key, label)
        .subquery()
    )
    stmt = select(bucket_text(per_period.c.start).label("period"), per_period.c.key, per_period.c.name,
                  per_period.c.n).order_by(per_period.c.start, per_period.c.key)
    df = db.read_frame(stmt)
    df["n"] = df["n"].astype("int64")
    return df


def counts_by(f: Filter, by: str, db: Database | None = None) -> pd.DataFrame:
    """Tidy totals per dimension value: key, name, n, sorted by n descending."""
    db = analytics.reader(db)
    source, n, conds = _counted(f, db, by)
    key, label, joined = _dimension(by, source)
    stmt = select(key.label("key"), label.label("name"), n.label("n")).select_from(joined).where(*conds).group_by(
        key, label)
    df = db.read_frame(stmt)
    df["n"] = df["n"].astype("int64")
    return df.sort_values(["n", "key"], ascending=[False, True], ignore_index=True)


def totals(per_period: pd.DataFrame) -> pd.DataFrame:
    """counts_by's answer from counts_over_time's for the same filter and dimension, its periods summed: a page
    that shows both reads the reports once."""
    summed = per_period.groupby(["key", "name"], dropna=False, as_index=False, sort=False)["n"].sum()
    return summed.astype({"n": "int64"}).sort_values(["n", "key"], ascending=[False, True], ignore_index=True)


def commune_counts(f: Filter, db: Database | None = None, now: datetime | None = None) -> pd.DataFrame:
    """Per commune with reports: code, name, lat, lon (centroid), n, pending, overdue."""
    clock = Clock.at(now)
    per_commune = (
        select(r.commune_code.label("code"), metrics.aggregate("received", reports).label("n"),
               *metrics.columns(("pending", "overdue"), reports, clock))
        .where(where(f), r.commune_code.isnot(None))
        .group_by(r.commune_code)
        .subquery()
    )
    stmt = select(
        per_commune.c.code, admin_units.c.name, admin_units.c.lat, admin_units.c.lon,
        per_commune.c.n, per_commune.c.pending, per_commune.c.overdue,
    ).join_from(per_commune, admin_units, admin_units.c.code == per_commune.c.code)
    df = analytics.reader(db).read_frame(stmt)
    df[["n", "pending", "overdue"]] = df[["n", "pending", "overdue"]].astype("int64")
    return df.sort_values(["n", "code"], ascending=[False, True], ignore_index=True)


# A view over more reports than VIEW_ROW_LIMIT is narrowed to its newest months, and the page says so: a
# 20-year view of a national roll-up would otherwise scan every report ever received on each refresh.
LONG_VIEW_DAYS = 400  # shorter periods are never narrowed, so they cost no extra query


@dataclass(frozen=True)
class Narrowing:
    start: date  # the view now starts on this local day (the first of a month)
    total: int  # reports the chosen period holds
    shown: int  # reports from `start` on


def narrow_to_limit(f: Filter, db: Database | None = None, limit: int | None = None
                    ) -> tuple[Filter, Narrowing | None]:
    """The filter, with its start moved to the first of a month when the period holds more than `limit`
    reports, so that the view keeps the newest months up to that many (at least the newest one)."""
    limit = limit or settings().view_row_limit
    if f.start is not None and f.end is not None and (f.end - f.start).days <= LONG_VIEW_DAYS:
        return f, None
    db = analytics.reader(db)
    source, n, conds = _counted(f, db)
    start = _period_start(source, "month")
    per_month = select(start.label("start"), n.label("n")).select_from(source).where(*conds).group_by(start).subquery()
    months = db.read_rows(
        select(bucket_text(per_month.c.start).label("month"), per_month.c.n).order_by(per_month.c.start.desc()))
    total = sum(int(m["n"]) for m in months)
    if total <= limit:
        return f, None
    shown, first = 0, None
    for m in months:
        if first is not None and shown + int(m["n"]) > limit:
            break
        shown, first = shown + int(m["n"]), date.fromisoformat(str(m["month"])[:10])
    return replace(f, start=first), Narrowing(start=first, total=total, shown=shown)


def data_version(db: Database | None = None) -> str:
    """A cheap marker that changes whenever reports are added, changed or deleted: three index lookups
    (newest id, newest change, newest deletion), never a count over the table."""
    # One scalar subquery each: SQLite answers a lone max() from the index, but scans for two in one SELECT.
    row = get_db(db).read_rows(select(select(func.max(r.id)).scalar_subquery().label("id"),
                                      select(func.max(r.updated_at)).scalar_subquery().label("last"),
                                      select(func.max(report_deletions.c.id)).scalar_subquery().label("gone")))[0]
    last = row["last"]
    stamp = last.strftime("%Y%m%d%H%M%S%f") if hasattr(last, "strftime") else str(last or "0")
    return f"{row['id'] or 0}-{stamp}-{row['gone'] or 0}"


def overview_summary(f: Filter, db: Database | None = None, now: datetime | None = None,
                     counts: pd.DataFrame | None = None) -> dict:
    """The numbers the overview page shows, as plain JSON-ready values (the page's JSON twin). `counts` is
    agency_counts(f) when the caller has it already."""
    counts = agency_counts(f, db, now) if counts is None else counts
    head = headline_counts(f, counts=counts).iloc[0]
    backlog = backlog_by_agency(f, counts=counts)

    def num(v):
        return None if pd.isna(v) else float(v)

    return {
        "total": int(head["total"]),
        "resolved": int(head["resolved"]),
        "pending": int(head["pending"]),
        "overdue": int(head["overdue"]),
        "rejected": int(head["rejected"]),
        "agency_on_time_rate": num(head["agency_on_time_rate"]),
        "agency_judged": int(head["agency_judged"]),
        "satisfaction_mean": num(head["satisfaction_mean"]),
        "rating_count": int(head["rating_count"]),
        "backlog_by_agency": [
            {"code": row.agency_code if isinstance(row.agency_code, str) else None, "name": row.agency_name,
             "resolved": int(row.resolved), "pending": int(row.pending), "overdue": int(row.overdue)}
            for row in backlog.itertuples()
        ],
    }

