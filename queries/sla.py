"""The SLA metrics per agency, field or commune, or for the whole selection. The metrics' definitions are the
registry's (queries/metrics.py): this module chooses which counts to read, from the record or the analytics
copy, and computes the stages' medians and p90s (the stages and their policies: queries/policies.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import (
    case,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)

from queries import analytics, metrics, rollup
from queries.config import settings
from queries.db import Database
from queries.filters import Filter, local_to_utc
from queries.metrics import Clock
from queries.rollup import duration_buckets, handoff_counts, handoffs
from queries.schema import (
    admin_units,
    agencies,
    categories,
    report_events,
    reports,
)
from queries.sql import (
    bucketed_percentiles,
    is_overdue,
    is_pending,
    percentiles,
    quantiles,
    report_conditions,
)
from queries.workcalendar import WorkCalendar

r = reports.c
DIMENSIONS = ("agency", "category", "commune")
# The whole selection's row (by=None): its key and name.
WHOLE_KEY, WHOLE_NAME = "ALL", "Toàn tỉnh"
def _group(by: str | None, source=reports, base=None):
    """(key column, label column, the FROM with the join) for a dimension; None = the whole selection.
    `source`: the table with the report's columns (another than `reports` on the copy), `base`: the FROM to
    join to (default `source`)."""
    c, base = source.c, source if base is None else base
    if by is None:
        # Inline constants: DuckDB refuses bound parameters in GROUP BY.
        return literal_column(f"'{WHOLE_KEY}'"), literal_column(f"'{WHOLE_NAME}'"), base
    if by == "agency":
        return agencies.c.code, agencies.c.short_name, base.join(agencies, agencies.c.id == c.agency_id)
    if by == AGENCY_ID:
        return c.agency_id, c.agency_id, base
    if by == "category":
        return categories.c.code, categories.c.short_name, base.join(categories, categories.c.id == c.category_id)
    if by == "commune":
        return admin_units.c.code, admin_units.c.name, base.join(admin_units, admin_units.c.code == c.commune_code)
    raise ValueError(f"by must be one of {DIMENSIONS} or None")


# Grouped by the report's agency id, no agency (NULL) included: the whole selection's counts are then the sums of
# the groups' counts, with no statement of their own (sla_metrics_with_total). _with_agency_codes names the groups.
AGENCY_ID = "agency_id"


def _with_agency_codes(stmt):
    """A statement grouped by AGENCY_ID, with the agency's code as `key` (NULL for no agency) and, where it has a
    `name`, the agency's short name: joined after grouping, to a few dozen rows instead of every row."""
    grouped = stmt.subquery()
    name = [agencies.c.short_name.label("name")] if "name" in grouped.c else []
    counts = [column for column in grouped.c if column.name not in ("key", "name")]
    return (select(agencies.c.code.label("key"), *name, *counts)
            .select_from(grouped.outerjoin(agencies, agencies.c.id == grouped.c.key)))


@dataclass(frozen=True)
class Split:
    """Two periods side by side: the second starts on the local day `at`; the first ends the day before, or,
    with `gap`, the day before `gap` (the days from `gap` to `at` are counted in neither)."""

    at: date
    gap: date | None = None


def _part(since: Split | None, source=reports):
    """For two periods side by side: 1 for a report of the second, 0 for one of the first, NULL for one in the
    gap between them; None when there is one period. `source`: a table with the report's created_at, or the
    daily counts' day."""
    if since is None:
        return None
    c = source.c

    def from_day(day: date):
        return c.day >= day if "day" in c else c.created_at >= local_to_utc(day)

    if since.gap is None:
        return case((from_day(since.at), 1), else_=0)
    return case((from_day(since.at), 1), (from_day(since.gap), None), else_=0)


def _first_day(since: Split | None) -> date | None:
    """The day from which a period's monthly tables cannot serve the split: the gap's or the second's."""
    return None if since is None else since.gap or since.at


def _grouped(stmt, by: str | None, *columns, split=None):
    """GROUP BY the group's columns. `split` (an expression of 0 or 1) groups each side apart too, in a column
    `part`. None groups nothing (its key is a constant, which PostgreSQL refuses to group by and DuckDB refuses
    as a parameter)."""
    if split is not None:
        # Grouped by its alias: DuckDB refuses the expression's bound parameter in GROUP BY.
        stmt = stmt.add_columns(split.label("part"))
        return stmt.group_by(*(columns if by is not None else ()), literal_column("part"))
    return stmt.group_by(*columns) if by is not None else stmt


# The open reports' counts that depend on the clock.
CLOCK_COUNTS = metrics.require("overdue", "open_no_sla", "due_today", "due_soon")
AGING_COUNTS = metrics.require("overdue_1_5", "overdue_6_10", "overdue_over_10")
# The counts that do not depend on the clock, which the copy's counted tables hold.
REPORT_COUNTS = metrics.require("received", "resolved", "pending", "rejected", "ioc_judged", "ioc_on_time",
                                "agency_judged", "agency_on_time", "resolved_no_sla", "rating_count", "rating_sum",
                                "r1", "r2", "r3", "r4", "r5")
# What every metric row derives from its counts.
DERIVED = metrics.require("not_yet_due", "ioc_on_time_rate", "agency_on_time_rate", "bounce_back_rate", "share_low",
                          "satisfaction_mean")


def _clock_counts(clock: Clock, source=reports) -> list:
    return metrics.columns(CLOCK_COUNTS, source, clock)


DURATION_STAGES = tuple(rollup.DURATION_STAGE_COLUMNS.items())  # (stage, its duration column)
STAGES = tuple(stage for stage, _column in DURATION_STAGES)


def _chosen(stages: tuple[str, ...]) -> list:
    return [(stage, column) for stage, column in DURATION_STAGES if stage in stages]


def _counts(f: Filter, by, clock: Clock, db: Database, since=None, durations: tuple[str, ...] = STAGES
            ) -> pd.DataFrame:
    key, label, joined = _group(by)
    stmt = select(
        key.label("key"), label.label("name"),
        *metrics.columns(REPORT_COUNTS, reports),
        *_clock_counts(clock),
        *(_duration_columns(durations) if db.dialect in PERCENTILE_AGGREGATES else ()),
    ).select_from(joined).where(*report_conditions(f))
    stmt = _grouped(stmt, by, key, label, split=_part(since))
    if by is None:  # no rows selected: no row out, as with a grouping
        stmt = stmt.having(func.count() > 0)
    frame = db.read_frame(stmt)
    return _split_quantiles(frame, durations) if db.dialect in PERCENTILE_AGGREGATES else frame


def _rolled_up_counts(f: Filter, by, db: Database, since=None) -> pd.DataFrame:
    """The counts that do not depend on the clock, from the analytics copy's daily counts, so that the SLA
    statement does not test some forty conditions on every report."""
    source = rollup.counts_source(f, _first_day(since))
    key, label, joined = _group(by, source)
    stmt = (select(key.label("key"), label.label("name"), *metrics.columns(REPORT_COUNTS, source))
            .select_from(joined).where(*report_conditions(f, source)))
    stmt = _grouped(stmt, by, key, label, split=_part(since, source))
    if by is None:
        stmt = stmt.having(func.sum(source.c.total) > 0)
    return db.read_frame(_with_agency_codes(stmt) if by == AGENCY_ID else stmt)


# DuckDB's sort-based percentile aggregate holds every duration of the period at once, in one growing array
# per group. Where a group holds more than ANALYTICS_SORTED_PERCENTILE_ROWS reports, or all groups together
# three times as many, the copy's percentiles are computed in bounded memory (bucketed_percentiles) instead. A
# server with memory to spare may raise it together with ANALYTICS_MEMORY. Where the copy's duration buckets
# can count the period's whole months, bounded memory is the quicker from one and a half times as many in all
# (bench/README.md).


def _percentile_plan(received: pd.Series, f: Filter, by, stage: str, column, since=None) -> tuple[bool, object]:
    """How the copy computes a stage's percentiles, from the reports per group (and part): (True, None) by
    DuckDB's sorting aggregate, else (False, counted) in bounded memory, `counted` being the first step from the
    duration buckets (_bucket_counts) or None to count it from the reports."""
    largest, total = (received.max(), received.sum()) if len(received) else (0, 0)
    sorted_rows = settings().analytics_sorted_percentile_rows
    if largest <= sorted_rows and total <= sorted_rows * 3 // 2:
        return True, None
    counted = _bucket_counts(f, by, stage, column, since)
    if counted is None and largest <= sorted_rows and total <= 3 * sorted_rows:
        return True, None
    return False, counted


def _bucket_counts(f: Filter, by, stage: str, column, since=None):
    """The first step of a stage's exact percentiles (bucketed_percentiles' `counted`): the durations counted per
    group (and part, when split at `since`) and bucket, the whole months' from the copy's duration_buckets and
    the days at the period's edges from the reports. None where the buckets cannot serve: no whole month in the
    period, a filter on a channel, status or commune (which they do not hold), or `since` within a month."""
    if since is not None and since.gap is not None:
        return None  # a gap within a month: the buckets count whole months
    months = rollup.whole_months(f, _first_day(since))
    if months is None or f.communes or f.channels or f.statuses or by == "commune":
        return None
    first, after = months
    b = duration_buckets.c
    key, _label, joined = _group(by, duration_buckets)
    in_months = [b.stage == stage, *report_conditions(replace(f, start=None, end=None), duration_buckets),
                 *([b.month >= first] if first else []), *([b.month < after] if after else [])]
    side = [] if since is None else [case((b.month >= since.at, 1), else_=0).label("part")]
    bucket = rollup.duration_bucket(column)
    parts = [select(key.label("key"), *side, b.bucket.label("b"), b.n.label("c"))
             .select_from(joined).where(*in_months)]
    edges = [*([r.created_at < local_to_utc(first)] if first else []),
             *([r.created_at >= local_to_utc(after)] if after else [])]
    if edges:
        key, _label, joined = _group(by)
        split = _part(since)
        parts.append(select(key.label("key"), *([] if split is None else [split.label("part")]), bucket.label("b"),
                            literal_column("1").label("c"))
                     .select_from(joined).where(*report_conditions(f), column.isnot(None), or_(*edges)))
    rows = union_all(*parts).subquery("bucketed")
    on = [rows.c.key, *([rows.c.part] if side else [])]
    return select(*on, rows.c.b, func.sum(rows.c.c).label("c")).group_by(*on, rows.c.b)


def _bucketed(inner, on: list[str], levels: tuple[float, ...], counted, total_of: str | None = None):
    """bucketed_percentiles over `inner` (key, days, part), its first step `counted` from the duration buckets
    (with their bucket width) when given."""
    per_unit = rollup.BUCKETS_PER_DAY if counted is not None else 100
    return bucketed_percentiles(inner, "days", on, levels, per_unit=per_unit, total_of=total_of, counted=counted)


def _percentile_durations(f: Filter, by, db: Database, received: pd.Series, since=None,
                          stages: tuple[str, ...] = STAGES) -> pd.DataFrame:
    """The `stages`' duration counts, medians and p90s on the copy, a statement per stage (one stage at a time
    holds half the durations), as _percentile_plan chooses from the reports per group (`received`)."""
    key, _label, joined = _group(by)
    split = _part(since)
    on = ["key"] if split is None else ["key", "part"]
    frames = []
    for stage, column in _chosen(stages):
        sort, counted = _percentile_plan(received, f, by, stage, column, since)
        if not sort:
            inner, _index = _known_durations(f, by, since, column)
            frame = _named(db.read_frame(_bucketed(inner, on, (0.5, 0.9), counted)), stage)
        else:
            stmt = (select(key.label("key"), func.count(column).label(f"{stage}_n"),
                           quantiles(column).label(f"{stage}_quantiles"))
                    .select_from(joined).where(*report_conditions(f)))
            frame = _split_quantiles(db.read_frame(_grouped(stmt, by, key, split=split)), (stage,))
        frames.append(frame)
    return functools.reduce(lambda a, b: a.merge(b, on=on, how="outer"), frames)


# Dialects with an ordered-set percentile aggregate (which skips NULLs): there the durations come with the
# counts, in the same scan. SQLite ranks rows by hand, one query per stage (_durations).
PERCENTILE_AGGREGATES = ("postgresql", "duckdb")


def _duration_columns(stages: tuple[str, ...]) -> list:
    columns = []
    for stage, column in _chosen(stages):
        columns += [func.count(column).label(f"{stage}_n"), quantiles(column).label(f"{stage}_quantiles")]
    return columns


def _split_quantiles(frame: pd.DataFrame, stages: tuple[str, ...] = STAGES) -> pd.DataFrame:
    for stage in stages:
        # A list of two (median, p90) or of one (the median alone); no list for a group with no durations.
        pairs = [(q[0], q[1] if len(q) > 1 else None) if isinstance(q, (list, tuple, np.ndarray)) else (None, None)
                 for q in frame.pop(f"{stage}_quantiles")]
        at = frame.columns.get_loc(f"{stage}_n") + 1  # the same column order as _durations gives
        frame.insert(at, f"{stage}_median_days", [float(a) if a is not None else np.nan for a, _ in pairs])
        frame.insert(at + 1, f"{stage}_p90_days", [float(b) if b is not None else np.nan for _, b in pairs])
    return frame


def _known_durations(f: Filter, by, since, column) -> tuple:
    """One stage's known durations in the filter, as a subquery (key, days, and part when split at `since`),
    and the columns that group them."""
    key, _label, joined = _group(by)
    split = _part(since)
    side, index = ([], ["key"]) if split is None else ([split.label("part")], ["key", "part"])
    inner = (select(key.label("key"), column.label("days"), *side)
             .select_from(joined).where(*report_conditions(f), column.isnot(None)).subquery())
    return inner, index


def _named(frame: pd.DataFrame, stage: str) -> pd.DataFrame:
    """percentiles()' n, p50 and p90 named for the stage."""
    return frame.rename(columns={"n": f"{stage}_n", "p50": f"{stage}_median_days", "p90": f"{stage}_p90_days"})


def _durations(f: Filter, by, db: Database, since=None, stages: tuple[str, ...] = STAGES) -> pd.DataFrame:
    frames = []
    for stage, column in _chosen(stages):
        inner, index = _known_durations(f, by, since, column)
        frame = db.read_frame(percentiles(db.dialect, inner.c.days, [inner.c[c] for c in index], []))
        frames.append(_named(frame, stage).set_index(index))
    return functools.reduce(lambda a, b: a.join(b, how="outer"), frames).reset_index()


def _open_counts(f: Filter, by, clock: Clock, db: Database, since=None, clock_counts: bool = True,
                 aging: bool = True) -> pd.DataFrame:
    """Counts over the open reports only: the clock's (overdue, due today, ...; _clock_counts) and the
    overdue-age bands (overdue by 1–5, 6–10, more than 10 working days). On the copy they read its table
    of open reports."""
    source = rollup.open_source(db)
    key, _label, joined = _group(by, source)
    is_open, late = is_pending(source), is_overdue(clock.now, source)
    columns = _clock_counts(clock, source) if clock_counts else []
    if aging:
        # Working days over = today's count through minus the deadline day's, which only grows with the day:
        # each band is a range of deadlines (Clock), no join to the calendar.
        columns += metrics.columns(AGING_COUNTS, source, clock)
    stmt = (select(key.label("key"), *columns).select_from(joined)
            .where(*report_conditions(f, source), is_open if clock_counts else late))
    stmt = _grouped(stmt, by, key, split=_part(since, source))
    return db.read_frame(_with_agency_codes(stmt) if by == AGENCY_ID else stmt)


def _bounces(f: Filter, by, db: Database, since=None) -> pd.DataFrame:
    """Forwardings and returns, per the agency that received / returned them (or per report group). The copy
    counts them per day (handoff_counts), or keeps them with their report's columns (handoffs) for a filter of
    communes; the record joins its events to the reports."""
    if rollup.usable(f, db, by):
        source = base = e = handoff_counts
    elif db.dialect == "duckdb":
        source = base = e = handoffs
    else:
        source, base, e = reports, report_events.join(reports, r.id == report_events.c.report_id), report_events
    forwardings, bounce_backs = (metrics.aggregate(name, e) for name in ("forwardings", "bounce_backs"))
    event_agency = e.c.event_agency_id if "event_agency_id" in e.c else e.c.agency_id
    conditions = report_conditions(f, source)
    if by == "agency":
        # Returns count against the agency that returned the report, wherever the report went next.
        key = agencies.c.code
        joined = base.join(agencies, agencies.c.id == event_agency)
        conditions = report_conditions(replace(f, agencies=(), scope_agency=None), source)
        if f.agencies:
            conditions.append(agencies.c.code.in_(f.agencies))
        if f.scope_agency is not None:
            conditions.append(agencies.c.code == f.scope_agency)
    else:
        key, _label, joined = _group(by, source, base)
    stmt = (select(key.label("key"), forwardings.label("forwardings"), bounce_backs.label("bounce_backs"))
            .select_from(joined).where(*conditions))
    return db.read_frame(_grouped(stmt, by, key, split=_part(since, source)))


def _parts(f: Filter, by, clock: Clock, db: Database, aging: bool, since=None,
           durations: tuple[str, ...] = STAGES) -> list[pd.DataFrame]:
    """The metric queries' frames, each with a `key` column (and `part` when split at `since`), counts first."""
    if rollup.usable(f, db, by):
        counts = _rolled_up_counts(f, by, db, since)
        parts = [counts, _open_counts(f, by, clock, db, since, aging=aging)]
        if durations:
            parts.append(_percentile_durations(f, by, db, counts["received"], since,
                                               stages=durations))
    else:
        parts = [_counts(f, by, clock, db, since, durations)]
        if durations and db.dialect not in PERCENTILE_AGGREGATES:
            parts.append(_durations(f, by, db, since, durations))
        if aging:
            parts.append(_open_counts(f, by, clock, db, since, clock_counts=False))
    parts.append(_bounces(f, by, db, since))
    return parts


INT_METRICS = [*REPORT_COUNTS, *CLOCK_COUNTS, "ioc_n", "agency_n"]
AGING_METRICS = list(AGING_COUNTS)
FLOAT_METRICS = list(metrics.require("ioc_median_days", "ioc_p90_days", "agency_median_days", "agency_p90_days"))


def _metric_rows(parts: list[pd.DataFrame], aging: bool, on: tuple[str, ...] = ("key",)) -> pd.DataFrame:
    """The parts joined on the counts' keys (`on`), typed, with the derived rates; most received first. Built as
    arrays and one frame: pandas' joins and column-by-column frames cost more here than DuckDB's queries."""
    counts = parts[0]
    n = len(counts)
    keys = _keys(counts, on)
    found: dict[str, np.ndarray] = {}  # every part's numbers, as float64 in the counts' row order (NaN: no row)
    for part in parts:
        rows = None if part is counts else _keys(part, on).get_indexer(keys)
        for col in part.columns.difference([*on, "name"], sort=False):
            values = part[col].to_numpy(dtype="float64", na_value=np.nan)
            if rows is not None:
                values = np.where(rows >= 0, values[rows] if len(values) else np.nan, np.nan)
            found[col] = values

    def numbers(col: str) -> np.ndarray:
        return found[col] if col in found else np.full(n, np.nan)

    ints = {col: np.nan_to_num(numbers(col)).astype("int64")
            for col in [*INT_METRICS, *(AGING_METRICS if aging else []), "forwardings", "bounce_backs"]}
    columns = {**{name: counts[name].to_numpy() for name in on},
               "name": counts["name"].to_numpy(), **ints, **{col: numbers(col) for col in FLOAT_METRICS}}
    for name in DERIVED:
        columns[name] = metrics.value(name, ints)
    columns["not_yet_due"] = columns["not_yet_due"].astype("int64")
    out = pd.DataFrame(columns)
    return out.sort_values(["received", "key"], ascending=[False, True], ignore_index=True)


def _keys(frame: pd.DataFrame, on: tuple[str, ...]) -> pd.Index:
    """A part's rows by their keys, to find each counts row's match (every group once per part)."""
    if len(on) == 1:
        return pd.Index(frame[on[0]])
    return pd.MultiIndex.from_arrays([frame[name] for name in on])


def sla_metrics(f: Filter, by: str | None = "agency", db: Database | None = None, now: datetime | None = None,
                calendar: WorkCalendar | None = None, aging: bool = True,
                durations: tuple[str, ...] = STAGES, p90: bool = True) -> pd.DataFrame:
    """One row per agency / category / commune (or one 'ALL' row for by=None) with every SLA metric; without
    the overdue-age bands (overdue_1_5, ...) when `aging` is False, which saves a query per call, and with the
    durations of the `durations` stages only ("ioc", "agency"; a stage left out has n 0, median and p90 NaN):
    the percentiles are the costliest part. With `p90` False, the p90 columns are NaN."""
    db = analytics.reader(db)
    return _without_p90(_metric_rows(_parts(f, by, Clock.at(now, calendar), db, aging, durations=durations), aging),
                        p90)


def _without_p90(frame: pd.DataFrame, p90: bool) -> pd.DataFrame:
    """The frame with its p90 columns NaN unless `p90`: one answer whichever path computed it."""
    if not p90:
        frame[[f"{stage}_p90_days" for stage in STAGES]] = np.nan
    return frame


def sla_metrics_with_total(f: Filter, db: Database | None = None, now: datetime | None = None,
                           calendar: WorkCalendar | None = None, aging: bool = True,
                           durations: tuple[str, ...] = STAGES, p90: bool = True
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sla_metrics(f, None, ...), sla_metrics(f, "agency", ...)): the whole selection's row and every
    agency's. On the copy, one statement per stage gives the percentiles of both, so the durations are read
    once instead of twice. With `p90` False the p90 columns are NaN (the copy skips computing them)."""
    db = analytics.reader(db)
    if not (durations and rollup.usable(f, db, "agency")):
        return (sla_metrics(f, None, db, now, calendar, aging, durations, p90),
                sla_metrics(f, "agency", db, now, calendar, aging, durations, p90))
    clock = Clock.at(now, calendar)
    # The counts per agency id, no agency included; the whole selection's are their sums. Its bounce-backs are
    # counted apart: per agency they count against the agency that returned the report.
    counts = _rolled_up_counts(f, AGENCY_ID, db)
    open_counts = _open_counts(f, AGENCY_ID, clock, db, aging=aging)
    whole = [_total_row(counts), _total_row(open_counts), _bounces(f, None, db)]
    per_agency = [counts[counts["key"].notna()], open_counts[open_counts["key"].notna()], _bounces(f, "agency", db)]
    # The whole selection holds every duration: where it fits DuckDB's sort-based aggregate, so do the agencies'.
    frames = [_agency_and_total_durations(f, db, stage, column, whole[0]["received"], p90=p90)
              for stage, column in _chosen(durations)]
    for parts, total in ((whole, 1), (per_agency, 0)):
        mine = [frame[frame["total"] == total].drop(columns="total") for frame in frames]
        merged = functools.reduce(lambda a, b: a.merge(b, on="key", how="outer"), mine)
        parts.append(merged.assign(key=WHOLE_KEY) if total else merged)
    return _without_p90(_metric_rows(whole, aging), p90), _without_p90(_metric_rows(per_agency, aging), p90)


def _total_row(groups: pd.DataFrame) -> pd.DataFrame:
    """The whole selection's row ('ALL') from counts per group: the sums, and the mean rating from them. No row
    when there are no groups, as a statement over no rows with a HAVING gives none."""
    if groups.empty:
        return groups
    total = {"key": [WHOLE_KEY], **({"name": [WHOLE_NAME]} if "name" in groups else {})}
    for col in groups.columns.difference(["key", "name"], sort=False):
        total[col] = [np.nansum(groups[col].to_numpy(dtype="float64", na_value=np.nan))]
    return pd.DataFrame(total)


def _agency_and_total_durations(f: Filter, db: Database, stage: str, column, received: pd.Series,
                                p90: bool = True) -> pd.DataFrame:
    """key (agency code), total, and the stage's n, median and p90 (NaN unless `p90`): every agency's rows and the whole
    selection's (total 1, key NULL), where reports with no agency count in the whole only. As
    _percentile_plan chooses from the whole selection's reports (`received`): by DuckDB's aggregate over
    GROUPING SETS, else in bounded memory (bucketed_percentiles, from the duration buckets where they serve);
    either way one statement, quicker than two (bench/README.md). Grouped by the report's agency id, not the
    joined code: the outer join to the agencies that keeping the reports with none would need is slower."""
    conditions = [*report_conditions(f), column.isnot(None)]
    sort, counted = _percentile_plan(received, f, AGENCY_ID, stage, column)
    if sort:
        by_id = (select(r.agency_id.label("key"), func.grouping(r.agency_id).label("total"),
                        func.count(column).label("n"), quantiles(column, p90).label("q"))
                 .where(*conditions).group_by(func.grouping_sets(tuple_(r.agency_id), tuple_())).subquery())
        numbers = [by_id.c.n, by_id.c.q.label(f"{stage}_quantiles")]
    else:
        inner = select(r.agency_id.label("key"), column.label("days")).where(*conditions).subquery()
        levels = (0.5, 0.9) if p90 else (0.5,)  # each level's buckets are counted value by value
        by_id = _bucketed(inner, ["key"], levels, counted, total_of="key").subquery()
        numbers = [by_id.c.n, by_id.c.p50, by_id.c.p90 if p90 else literal_column("NULL").label("p90")]
    named = (select(agencies.c.code.label("key"), by_id.c.total, *numbers)
             .select_from(by_id.outerjoin(agencies, agencies.c.id == by_id.c.key))
             .where(or_(by_id.c.total == 1, agencies.c.code.isnot(None))))
    frame = db.read_frame(named)
    if sort:
        frame = _split_quantiles(frame.rename(columns={"n": f"{stage}_n"}), (stage,))
    return _named(frame, stage)


def sla_metrics_split(f: Filter, boundary: date, by: str | None = "agency", db: Database | None = None,
                      now: datetime | None = None, calendar: WorkCalendar | None = None,
                      aging: bool = True, first_until: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sla_metrics of f's reports that arrived before the local day `boundary`, or up to `first_until` when
    given, and of those from `boundary` on): two periods side by side, such as the scorecard's previous and
    current month, from one pass of each query."""
    db = analytics.reader(db)
    since = Split(boundary, None if first_until is None else first_until + timedelta(days=1))
    rows = _metric_rows(_parts(f, by, Clock.at(now, calendar), db, aging, since=since), aging, ("key", "part"))
    # One frame for both periods, split at the end: building one per period would double the pandas work.
    before, since = (rows[rows["part"] == side].drop(columns="part").reset_index(drop=True) for side in (0, 1))
    return before, since
