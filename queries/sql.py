"""SQL building blocks shared by the read functions: the filter's WHERE clause, local-time buckets,
durations and percentiles, each compiled for SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import functions
from sqlalchemy.sql.expression import ColumnElement, FunctionElement, Over
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from queries import metrics
from queries.filters import Filter
from queries.localtime import LOCAL_OFFSET_MINUTES
from queries.schema import OPEN_STATUSES, agencies, categories, reports

GRAINS = ("day", "week", "month")
# A list counts its rows up to this many and then says "more than": an exact count of a word in nearly every
# report, or of a large agency's overdue reports, reads the whole index, and nobody pages through ten thousand
# rows.
COUNT_CAP = 10_000


def capped_count(db, stmt, cap: int = COUNT_CAP) -> int:
    """How many rows `stmt` (a SELECT) gives, or cap + 1 when more than cap."""
    return int(db.scalar(select(func.count()).select_from(stmt.limit(cap + 1).subquery())) or 0)


def count_if(cond) -> ColumnElement:
    """How many rows of the group meet `cond` (portable: SUM of CASE)."""
    return func.sum(case((cond, 1), else_=0))


def is_pending(source=reports) -> ColumnElement:
    return source.c.status.in_(OPEN_STATUSES)


def is_overdue(now: datetime, source=reports) -> ColumnElement:
    return metrics.late(source.c, now)


def status_in(statuses: tuple[str, ...]) -> ColumnElement:
    """reports.status IN (...) with the values written into the SQL: SQLite uses a partial index (the open
    reports by deadline, the IOC's waiting reports) only when it can see the very values of its WHERE."""
    return reports.c.status.in_(bindparam("statuses_" + "_".join(statuses), list(statuses), expanding=True,
                                          literal_execute=True))


def report_conditions(f: Filter, source=reports) -> list[ColumnElement]:
    """WHERE conditions on `reports` for a filter, the caller's scope included. `source` may be another table
    with the report's dimensions, such as the analytics copy's daily counts (`day`: the local day of arrival),
    which has no commune."""
    c = source.c
    conds = []
    if "day" in c:
        if f.start is not None:
            conds.append(c.day >= f.start)
        if f.end is not None:
            conds.append(c.day <= f.end)
    else:
        start, end = f.utc_bounds()
        if start is not None:
            conds.append(c.created_at >= start)
        if end is not None:
            conds.append(c.created_at < end)
    if f.categories:
        conds.append(c.category_id.in_(select(categories.c.id).where(categories.c.code.in_(f.categories))))
    if f.agencies:
        conds.append(c.agency_id.in_(select(agencies.c.id).where(agencies.c.code.in_(f.agencies))))
    if f.scope_agency is not None:
        conds.append(c.agency_id.in_(select(agencies.c.id).where(agencies.c.code == f.scope_agency)))
    if f.communes:
        conds.append(c.commune_code.in_(f.communes))
    if f.channels:
        conds.append(c.channel.in_(f.channels))
    if f.statuses:
        conds.append(c.status.in_(f.statuses))
    return conds


def where(f: Filter) -> ColumnElement:
    conds = report_conditions(f)
    return and_(*conds) if conds else and_(True)


class local_bucket(FunctionElement):
    """The local day, ISO week (Monday) or month a timestamp falls in, as 'YYYY-MM-DD'."""

    type = String()
    inherit_cache = True
    # The grain is rendered into the SQL, so it belongs in the compiled-statement cache's key.
    _traverse_internals = [*FunctionElement._traverse_internals, ("grain", InternalTraversal.dp_string)]

    def __init__(self, column, grain: str):
        if grain not in GRAINS:
            raise ValueError(f"grain must be one of {GRAINS}")
        self.grain = grain
        super().__init__(column)


@compiles(local_bucket, "sqlite")
def _bucket_sqlite(element, compiler, **kw):
    col = compiler.process(list(element.clauses)[0], **kw)
    shift = f"'{LOCAL_OFFSET_MINUTES:+d} minutes'"
    if element.grain == "day":
        return f"date({col}, {shift})"
    if element.grain == "week":
        return f"date({col}, {shift}, '-6 days', 'weekday 1')"
    return f"strftime('%Y-%m-01', {col}, {shift})"


@compiles(local_bucket, "postgresql")
def _bucket_postgresql(element, compiler, **kw):
    return f"to_char({_start_truncated(element, compiler, **kw)}, 'YYYY-MM-DD')"


@compiles(local_bucket, "duckdb")
def _bucket_duckdb(element, compiler, **kw):
    return f"strftime({_start_truncated(element, compiler, **kw)}, '%Y-%m-%d')"


class bucket_start(local_bucket):
    """The local period a timestamp falls in, in the cheapest form to GROUP BY: a truncated timestamp where
    the database has one (formatting every row as text costs DuckDB far more than the grouping), the text on
    SQLite. `bucket_text` turns it into 'YYYY-MM-DD' after the grouping."""

    type = NullType()
    inherit_cache = True


@compiles(bucket_start, "sqlite")
def _start_sqlite(element, compiler, **kw):
    return _bucket_sqlite(element, compiler, **kw)


@compiles(bucket_start, "postgresql")
@compiles(bucket_start, "duckdb")
def _start_truncated(element, compiler, **kw):
    col = compiler.process(list(element.clauses)[0], **kw)
    return f"date_trunc('{element.grain}', {col} + INTERVAL '{LOCAL_OFFSET_MINUTES} minutes')"


def day_bucket(day, grain: str) -> ColumnElement:
    """The day, ISO week (Monday) or month a local date falls in, as bucket_start gives it for a timestamp: for
    the analytics copy's daily counts (DuckDB), whose days are local already."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}")
    return func.date_trunc(literal_column(f"'{grain}'"), day)  # inline: DuckDB refuses parameters in GROUP BY


class bucket_text(FunctionElement):
    """'YYYY-MM-DD' of a `bucket_start`."""

    type = String()
    inherit_cache = True


@compiles(bucket_text, "sqlite")
def _text_sqlite(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(bucket_text, "postgresql")
def _text_postgresql(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD')"


@compiles(bucket_text, "duckdb")
def _text_duckdb(element, compiler, **kw):
    return f"strftime({compiler.process(element.clauses, **kw)}, '%Y-%m-%d')"


class days_between(FunctionElement):
    """(later - earlier) in fractional days."""

    type = Float()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(days_between, "postgresql")
def _days_postgresql(element, compiler, **kw):
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


@compiles(days_between, "duckdb")
def _days_duckdb(element, compiler, **kw):
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"((epoch({later}) - epoch({earlier})) / 86400.0)"


def percentiles(dialect: str, value: ColumnElement, group_cols: list[ColumnElement], conds: list,
                ps: tuple[float, ...] = (0.5, 0.9)):
    """SELECT group_cols, n, p50, p90 ... with linear interpolation between ranks (as pandas' default
    and PostgreSQL's percentile_cont). Rows where `value` is NULL are left out."""
    conds = [*conds, value.isnot(None)]
    labels = [f"p{round(p * 100)}" for p in ps]
    if dialect in ("postgresql", "duckdb"):
        cols = [func.percentile_cont(p).within_group(value).label(lbl) for p, lbl in zip(ps, labels, strict=True)]
        return select(*group_cols, func.count().label("n"), *cols).where(*conds).group_by(*group_cols)

    # SQLite has no percentile aggregate: number the rows per group and interpolate by hand.
    ranked = select(
        *group_cols,
        value.label("v"),
        func.row_number().over(partition_by=group_cols or None, order_by=value).label("rn"),
        func.count().over(partition_by=group_cols or None).label("cnt"),
    ).where(*conds).subquery()
    groups = [ranked.c[c.name] for c in group_cols]
    cols = []
    for p, lbl in zip(ps, labels, strict=True):
        pos = cast(p * (ranked.c.cnt - 1), Float)
        lo = cast(pos, Integer)  # truncation is floor here: pos >= 0
        frac = func.max(pos - lo)
        at_lo = func.sum(case((ranked.c.rn == lo + 1, ranked.c.v), else_=0.0))
        at_hi = func.sum(case((ranked.c.rn == lo + 2, ranked.c.v), else_=0.0))
        cols.append((at_lo * (1 - frac) + at_hi * frac).label(lbl))
    return select(*groups, func.count().label("n"), *cols).group_by(*groups)


def bucketed_percentiles(inner, value: str, groups: list[str], ps: tuple[float, ...] = (0.5, 0.9),
                         per_unit: int = 100, total_of: str | None = None, counted=None):
    """The same answer as percentiles() (group columns, n, p50, p90; exact, interpolated as percentile_cont),
    over the subquery `inner`, in memory bounded by the number of groups instead of the number of rows.

    A percentile aggregate holds every value of its group, which over a large period overruns DuckDB's memory
    limit. Here a first step counts the values per group and bucket (floor(value * per_unit)) and finds, from
    the running counts, the buckets that hold the ranks each percentile needs (floor(p * (n - 1)) and the one
    after); only those buckets' values are then counted per distinct value, to read the values at those ranks.
    PostgreSQL and DuckDB (SQLite's floor() is not always there); the copy uses it.

    With `total_of` (one of `groups`), the same two scans also give the total over all of that column's values
    (every agency together: the province), in rows with `total` = 1 and that column NULL; the groups' own rows
    have `total` = 0. A total's counts per bucket are the sums of its groups', and its chosen buckets' values
    are counted with theirs: one statement instead of two.

    `counted`, when given, is the first step's answer counted elsewhere (the groups' columns, `b` and `c`, with
    the same buckets), such as from the copy's duration_buckets: then only the second step reads `inner`."""
    v = inner.c[value]
    bucket = func.floor(v * literal_column(str(per_unit)))  # no bound parameter: DuckDB groups by it
    if counted is None:
        counted = (select(*(inner.c[name] for name in groups), bucket.label("b"), func.count().label("c"))
                   .where(v.isnot(None)).group_by(*(inner.c[name] for name in groups), bucket))
    own_groups, rest = groups, [name for name in groups if name != total_of]
    if total_of is None:
        hist = counted.subquery("hist")
    else:
        own = counted.cte("own")
        totals = select(*(null().label(name) if name == total_of else own.c[name] for name in groups), own.c.b,
                        func.sum(own.c.c).label("c"), literal_column("1").label("total")
                        ).group_by(*(own.c[name] for name in rest), own.c.b)
        hist = union_all(select(own, literal_column("0").label("total")), totals).subquery("hist")
        groups = [*groups, "total"]
    hist_keys = [hist.c[name] for name in groups]
    running = func.sum(hist.c.c).over(partition_by=hist_keys or None, order_by=hist.c.b)
    cum = select(*hist_keys, hist.c.b, hist.c.c, cast(running - hist.c.c, BigInteger).label("before"),
                 cast(func.sum(hist.c.c).over(partition_by=hist_keys or None), BigInteger).label("n")).subquery("cum")

    def needed_ranks(n):
        return [r for p in ps for r in (func.floor(p * (n - 1)), func.floor(p * (n - 1)) + 1)]

    holds_a_rank = or_(*(and_(cum.c.before <= r, r < cum.c.before + cum.c.c) for r in needed_ranks(cum.c.n)))
    chosen = select(cum).where(holds_a_rank)

    def same(a, b, names):
        return [a.c[name].is_not_distinct_from(b.c[name]) for name in names]

    # The chosen buckets' values are counted per distinct value, not ranked one by one: durations tie often
    # (whole working days), and sorting the many values of such buckets would be most of the statement's work.
    # Each distinct value spans the ranks [first, first + c).
    if total_of is None:
        chosen = chosen.subquery("chosen")
        tally = (select(*(chosen.c[name] for name in groups), chosen.c.b, chosen.c.before, chosen.c.n,
                        v.label("v"), func.count().label("c"))
                 .select_from(inner.join(chosen, and_(*same(inner, chosen, groups), bucket == chosen.c.b)))
                 .group_by(*(chosen.c[name] for name in groups), chosen.c.b, chosen.c.before, chosen.c.n, v))
    else:
        chosen = chosen.cte("chosen")
        mine, whole = (select(chosen).where(chosen.c.total == t).subquery(f"chosen_{t}") for t in (0, 1))
        # One pass over the rows counts the values of every (group, bucket) that a group's or a total's
        # percentile needs; joined on equalities only (an OR in the join condition matches every row of a
        # total's bucket against every group's).
        wanted = union(select(*(mine.c[name] for name in own_groups), mine.c.b),
                       select(*(own.c[name] for name in own_groups), own.c.b)
                       .select_from(own.join(whole, and_(*same(own, whole, rest), own.c.b == whole.c.b)))
                       ).subquery("wanted")
        values = (select(*(inner.c[name] for name in own_groups), wanted.c.b, v.label("v"), func.count().label("c"))
                  .select_from(inner.join(wanted, and_(*same(inner, wanted, own_groups), bucket == wanted.c.b)))
                  .group_by(*(inner.c[name] for name in own_groups), wanted.c.b, v)).cte("values_")
        their = select(*(mine.c[name] for name in groups), mine.c.b, mine.c.before, mine.c.n, values.c.v,
                       values.c.c).select_from(values.join(mine, and_(*same(values, mine, own_groups),
                                                                       values.c.b == mine.c.b)))
        summed = (select(*(whole.c[name] for name in groups), whole.c.b, whole.c.before, whole.c.n, values.c.v,
                         func.sum(values.c.c).label("c"))
                  .select_from(values.join(whole, and_(*same(values, whole, rest), values.c.b == whole.c.b)))
                  .group_by(*(whole.c[name] for name in groups), whole.c.b, whole.c.before, whole.c.n, values.c.v))
        tally = union_all(their, summed)
    tally = tally.subquery("tally")
    tally_keys = [tally.c[name] for name in groups]
    within = func.sum(tally.c.c).over(partition_by=[*tally_keys, tally.c.b], order_by=tally.c.v)
    spans = select(*tally_keys, tally.c.v, tally.c.n, tally.c.c,
                   cast(tally.c.before + within - tally.c.c, BigInteger).label("first")).subquery("spans")
    out_keys = [spans.c[name] for name in groups]

    def value_at(rank):
        return func.max(case((and_(spans.c.first <= rank, rank < spans.c.first + spans.c.c), spans.c.v)))

    cols = []
    for p in ps:
        pos = p * (spans.c.n - 1)
        low, high = value_at(func.floor(pos)), value_at(func.floor(pos) + 1)
        frac = func.max(pos - func.floor(pos))
        cols.append((low + frac * func.coalesce(high - low, 0.0)).label(f"p{round(p * 100)}"))
    return select(*out_keys, func.max(spans.c.n).label("n"), *cols).group_by(*out_keys)


class quantiles(FunctionElement):
    """The 50th and 90th percentiles of a column (linear interpolation, NULLs skipped) as one list, from one
    sort: two percentile_cont aggregates sort the group twice. With `p90` False, the median alone, as a list of
    one: the selection behind a second percentile costs DuckDB more. PostgreSQL and DuckDB only."""

    inherit_cache = True
    # Rendered into the SQL, so part of the compiled-statement cache's key.
    _traverse_internals = [*FunctionElement._traverse_internals, ("levels", InternalTraversal.dp_string)]

    def __init__(self, column, p90: bool = True):
        self.levels = "0.5, 0.9" if p90 else "0.5"
        super().__init__(column)


@compiles(quantiles, "postgresql")
def _quantiles_postgresql(element, compiler, **kw):
    return (f"percentile_cont(ARRAY[{element.levels}]) "
            f"WITHIN GROUP (ORDER BY {compiler.process(element.clauses, **kw)})")


@compiles(quantiles, "duckdb")
def _quantiles_duckdb(element, compiler, **kw):
    return f"quantile_cont({compiler.process(element.clauses, **kw)}, [{element.levels}])"


@compiles(functions.sum, "duckdb")
def _sum_duckdb(element, compiler, windowed: bool = False, **kw):
    """DuckDB sums integers as 128-bit integers, which its Python client turns into Python ints far more slowly
    than 64-bit ones. Counts of reports fit in 64 bits. A window's sum stays as it is: CAST(sum(x)) OVER (...)
    is no SQL."""
    text = compiler.visit_function(element, **kw)
    return f"CAST({text} AS BIGINT)" if isinstance(element.type, Integer) and not windowed else text


@compiles(Over, "duckdb")
def _over_duckdb(element, compiler, **kw):
    return compiler.visit_over(element, windowed=True, **kw)


class casefold(FunctionElement):
    """Lower case for any script. SQLite's own lower() folds only ASCII (Ánh stays Ánh), so there it calls
    unicode_lower, a Python function registered on every SQLite connection (queries/db.py)."""

    type = String()
    inherit_cache = True


@compiles(casefold, "sqlite")
def _casefold_sqlite(element, compiler, **kw):
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


@compiles(casefold, "postgresql")
@compiles(casefold, "duckdb")
def _casefold_pg(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"
