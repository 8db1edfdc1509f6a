"""Tables derived inside the analytics copy: daily counts, which the count panels and the SLA pages' counts
read instead of every report; the open reports, for the counts that depend on the clock; and hand-offs, which
the bounce-back counts read instead of joining events to reports.

Each store of the copy holds, beside `reports`, a table `daily_counts`: per local day of arrival, field,
agency, channel, status and local month of resolution, how many reports arrived and the sums the count panels
show (resolved on time, ratings, located). It is built with the store from the store's own reports, so it is
exactly as fresh as the copy, and it exists only there, never in the system of record.

What it cannot answer, the reports still do:
- a filter or a breakdown by commune (a table by day and commune would be nearly as large as the reports);
- what depends on the clock: overdue (open and past its deadline *now*) is counted from the open reports;
- medians and percentiles (the SLA pages), which need every value: their statement reads the reports, and
  the SLA pages' counts come from here. Over a large period, `duration_buckets` (below) spares them the first
  of their two steps.

`open_reports` holds the open reports, which every count that depends on the clock reads (overdue, due
soon).

`handoffs` holds every forwarding and return (the copy keeps no other event) with its report's dimensions
written beside it, so the filter applies to the events alone, without joining every event to its report on
each SLA call.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb_engine
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    func,
    literal_column,
    select,
    union_all,
)

from queries import metrics
from queries.db import Database
from queries.filters import Filter
from queries.localtime import LOCAL_OFFSET_MINUTES
from queries.schema import OPEN_STATUSES, reports
from queries.sql import bucket_start, day_bucket

r = reports.c
# Besides the local day of arrival.
DIMENSIONS = {"category_id": r.category_id, "agency_id": r.agency_id, "channel": r.channel, "status": r.status}
# The summed columns: every count and sum of the registry that the copy holds, under its copy column.
SUMS = {m.copy_column: metrics.aggregate(m.name, reports)
        for m in metrics.DECLARATIONS if m.copy_column is not None and m.source == "reports"}

daily_counts = Table(
    "daily_counts", MetaData(),
    Column("day", Date), Column("category_id", Integer), Column("agency_id", Integer), Column("channel", String),
    Column("status", String), *[Column(name, BigInteger) for name in SUMS],
)


def _local_day():
    return literal_column(f"CAST(created_at + INTERVAL {LOCAL_OFFSET_MINUTES} MINUTE AS DATE)")


# The daily counts summed per local month (`day` is the month's first day), which a period's whole months read
# instead of every day, far fewer rows. A period with days at its edges reads the daily counts (counts_source).
monthly_counts = Table("monthly_counts", MetaData(), *[Column(c.name, c.type) for c in daily_counts.columns])


def monthly_counts_sql() -> str:
    """The SELECT that a store's monthly_counts is created from, over its daily counts."""
    d = daily_counts.c
    month = cast(day_bucket(d.day, "month"), Date)
    dimensions = [d[name] for name in DIMENSIONS]
    return _duckdb_sql(select(month.label("day"), *dimensions, *[func.sum(d[name]).label(name) for name in SUMS])
                       .group_by(month, *dimensions))


def whole_months(f: Filter, since: date | None = None) -> tuple[date | None, date | None] | None:
    """The local months wholly inside f's period, as [first, after) (None: unbounded), which the monthly tables
    (monthly_counts, duration_buckets) can answer; None when there is no such month, or when `since` (two
    periods side by side) falls within one."""
    first = f.start if f.start is None or f.start.day == 1 else _next_month(f.start)
    after = None if f.end is None else f.end + timedelta(days=1)
    if after is not None and after.day != 1:
        after = after.replace(day=1)
    if first is not None and after is not None and first >= after:
        return None
    if since is not None and since.day != 1 and (first is None or first < since) and (after is None or since < after):
        return None
    return first, after


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def counts_source(f: Filter, since: date | None = None):
    """What a count over f reads on the copy: the monthly counts when f's period is whole months (and `since`,
    if any, a month's first day), else the daily counts. Not for a count by day or week. A period with days at
    its edges reads the daily counts alone: summing the edges' days to the whole months' rows costs more than it
    saves (bench/README.md)."""
    months = whole_months(f, since)
    after = None if f.end is None else f.end + timedelta(days=1)
    return monthly_counts if months == (f.start, after) else daily_counts


def build_sql() -> str:
    """The SELECT that a store's daily_counts is created from (DuckDB SQL, values written in)."""
    day = _local_day()
    stmt = (select(day.label("day"), *[e.label(name) for name, e in DIMENSIONS.items()],
                   # BIGINT, not the HUGEINT DuckDB gives a sum: every panel sums these again, quicker so.
                   *[cast(e, BigInteger).label(name) for name, e in SUMS.items()])
            .group_by(day, *DIMENSIONS.values()))
    return _duckdb_sql(stmt)


def _duckdb_sql(stmt) -> str:
    return str(stmt.compile(dialect=duckdb_engine.Dialect(), compile_kwargs={"literal_binds": True}))


# The report's columns a filter or a grouping reads, named as in `reports`; the event's agency (the one that
# received or returned the report) is `event_agency_id`.
HANDOFF_REPORT_COLUMNS = ("created_at", "category_id", "commune_code", "channel", "status", "agency_id")
handoffs = Table(
    "handoffs", MetaData(),
    Column("id", Integer), Column("report_id", Integer), Column("at", DateTime), Column("from_status", String),
    Column("to_status", String), Column("event_agency_id", Integer),
    Column("created_at", DateTime), Column("category_id", Integer), Column("commune_code", String),
    Column("channel", String), Column("status", String), Column("agency_id", Integer),
)


# The hand-offs counted per local day of the report's arrival, the report's dimensions (as in the daily counts)
# and the agency that received or returned it: the bounce-back counts read this instead of every hand-off.
HANDOFF_DIMENSIONS = ("category_id", "agency_id", "channel", "status", "event_agency_id")
handoff_counts = Table(
    "handoff_counts", MetaData(),
    Column("day", Date), Column("category_id", Integer), Column("agency_id", Integer), Column("channel", String),
    Column("status", String), Column("event_agency_id", Integer), Column("forwardings", BigInteger),
    Column("bounce_backs", BigInteger),
)


def handoff_counts_sql() -> str:
    """The SELECT that a store's handoff_counts is created from, over its handoffs."""
    h, day = handoffs.c, _local_day()
    dimensions = [h[name] for name in HANDOFF_DIMENSIONS]
    stmt = (select(day.label("day"), *dimensions,
                   *[cast(metrics.aggregate(name, handoffs), BigInteger).label(name)
                     for name in ("forwardings", "bounce_backs")])
            .group_by(day, *dimensions))
    return _duckdb_sql(stmt)


# The open reports (with the columns of `reports` that the copy holds): a few percent of all reports, and what
# every count that depends on the clock reads (overdue, due soon), so that they do not scan every report's
# status.
open_reports = Table("open_reports", MetaData(), *[Column(c.name, c.type) for c in reports.columns])
OPEN_REPORTS_SQL = "SELECT * FROM reports WHERE status IN ({}) ORDER BY created_at".format(
    ", ".join(f"'{s}'" for s in OPEN_STATUSES))


def open_source(db: Database):
    """Where the open reports are read from: their own table on the copy, the reports elsewhere."""
    return open_reports if db.dialect == "duckdb" else reports


def handoffs_sql(events: str, reports_from: str) -> str:
    """The SELECT that a store's handoffs rows come from: `events` (the copy's hand-off events) joined to
    `reports_from`, both DuckDB FROM items; ordered by arrival, so date filters skip blocks."""
    report = ", ".join(f"r.{c}" for c in HANDOFF_REPORT_COLUMNS)
    return (f"SELECT e.id, e.report_id, e.at, e.from_status, e.to_status, e.agency_id AS event_agency_id, {report} "
            f"FROM {events} AS e JOIN {reports_from} AS r ON r.id = e.report_id ORDER BY r.created_at")


# The durations counted per local month of arrival, field, agency, stage and bucket of a tenth of a working day:
# the first of the two steps of an exact percentile (sql.bucketed_percentiles), which otherwise reads every
# duration of the period. Whole months are read here, the days at a period's edges from the reports. No
# channel, status or commune: a filter on those reads the reports. Its rows barely grow with more reports (at
# most months x fields x agencies x buckets).
# Each stage's duration column, as the registry declares its median (`ioc_median_days`, `agency_median_days`).
DURATION_STAGE_COLUMNS = {stage: r[metrics.metric(f"{stage}_median_days").value] for stage in ("ioc", "agency")}
BUCKETS_PER_DAY = 10
duration_buckets = Table(
    "duration_buckets", MetaData(),
    Column("stage", String), Column("month", Date), Column("category_id", Integer), Column("agency_id", Integer),
    Column("bucket", BigInteger), Column("n", BigInteger),
)


def duration_bucket(value):
    """A duration's bucket: the same expression here and where a percentile reads the reports' edges."""
    return func.floor(value * literal_column(str(BUCKETS_PER_DAY)))


def duration_buckets_sql() -> str:
    """The SELECT that a store's duration_buckets is created from, ordered so a month filter skips blocks."""
    month = cast(bucket_start(r.created_at, "month"), Date)
    parts = [select(literal_column(f"'{stage}'").label("stage"), month.label("month"), r.category_id, r.agency_id,
                    cast(duration_bucket(column), BigInteger).label("bucket"),
                    cast(func.count(), BigInteger).label("n"))
             .where(column.isnot(None)).group_by(month, r.category_id, r.agency_id, duration_bucket(column))
             for stage, column in DURATION_STAGE_COLUMNS.items()]
    return f"SELECT * FROM ({_duckdb_sql(union_all(*parts))}) ORDER BY stage, month"


def usable(f: Filter, db: Database, by: str | None = None) -> bool:
    """Whether an aggregate of `f` (broken down `by`) can read the daily counts: on the copy only, and
    without communes."""
    return db.dialect == "duckdb" and not f.communes and by != "commune"
