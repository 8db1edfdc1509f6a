"""The analytics copy: a columnar, read-only copy of the report data that the heavy aggregate queries run
on, kept within seconds of the system of record (SQLite or PostgreSQL), which takes every write.

Why a DuckDB copy and not rollups: the SLA pages need medians and 90th percentiles over any filter, and
pre-aggregated rollups can only approximate those (histograms), or need one rollup per filter shape; and
DuckDB answers the heaviest overview query faster than rollups in SQLite do (bench/README.md). The copy
also runs the *same* SQLAlchemy statements as the system of record (duckdb-engine), so every KPI keeps one
definition, and the tests can compare the copy with the raw tables query by query. Rollups do have their
place *inside* the copy: plain counts (no percentiles, no clock) read its daily counts (queries/rollup.py)
instead of every report.

How it is kept:
- ANALYTICS_DIR (default instance/analytics) holds Parquet files, one per month of arrival for reports
  and for the hand-off events (forwardings and returns), one per reference table, and manifest.json,
  which names the current files. A file is never changed: a new generation writes new files and then
  replaces the manifest atomically, so a reader sees one whole generation or the one before.
- `sync` rebuilds only the months touched since the last run: rows whose `updated_at` moved (indexed), and
  reports deleted since (the `report_deletions` log, kept by a trigger on every delete path). A month with
  few changes is patched: its files are written anew from the previous ones, without the changed and deleted
  reports, plus the changed ones read by id; so a cycle's cost follows the writes, not the month's size.
  Rows read again within the safety margin (WATERMARK_MARGIN) that the copy already holds as they are, by
  `updated_at`, are no change: they make no new generation. Readers query two DuckDB files: a small store
  of the newest RECENT_MONTHS months, rebuilt whenever they change (nearly every write lands there), and an
  archive of the older months, kept as it is, or copied with only its changed months replaced when an older
  report changes, and rebuilt whole only when deletions have grown it by half.
- One process at a time syncs (a file lock). `start_background_sync` runs the loop in a daemon thread of
  whichever worker holds the lock; if it dies, another worker takes over.
- Each store also holds daily counts of its reports (queries/rollup.py), which the count panels read instead
  of the reports, and the same counts summed per month (`monthly_counts`), fewer rows again, for the period's
  whole months. Its hand-off events carry their report's dimensions (`handoffs`) and are counted per day like
  the reports (`handoff_counts`, which the bounce-back counts read); its open reports have a table of their
  own (`open_reports`), which the counts that depend on the clock read. Its durations are counted per month
  and bucket (`duration_buckets`), the first step of the SLA pages' exact percentiles.
- Readers (every worker) query DuckDB views over the current generation's files. When the manifest is
  missing, of an older schema, or older than ANALYTICS_MAX_LAG_SECONDS (the sync stopped), queries fall back
  to the system of record.
- The copy holds no personal data: no phone numbers, names or texts.

ANALYTICS=off turns it off; every query then reads the system of record.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import duckdb_engine
import pandas as pd
from sqlalchemy import Float, Integer, SmallInteger, and_, create_engine, func, or_, select, text
from sqlalchemy.dialects import registry

from queries import db as database
from queries import metrics, rollup
from queries.config import settings
from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import (
    admin_units,
    agencies,
    categories,
    report_deletions,
    report_events,
    reports,
    sla_policies,
    work_calendar,
)

log = logging.getLogger("paht.analytics")
r = reports.c
# Raised whenever the copy's files or stores change shape: readers ignore a copy of another schema, and the next
# sync rebuilds it whole.
SCHEMA_VERSION = 11
# Rows committed out of updated_at order (a long transaction) are caught by re-reading this far back.
WATERMARK_MARGIN = timedelta(seconds=60)
KEEP_OLD_FILES_SECONDS = 120
EXPORT_CHUNK_ROWS = 50_000
# A month the copy holds is patched, not exported again, when at most ANALYTICS_PATCH_ROWS of its reports
# changed: only those are read, by id, since exporting a large month whole takes longer than the copy may lag
# behind a write (one wall refresh).
ID_CHUNK = 5_000
# Deleted rows leave holes in a DuckDB file that is updated in place: past this growth it is rebuilt whole.
STORE_GROWTH_LIMIT = 1.5
# The newest months live in a small store of their own, rebuilt whenever they change (nearly every write lands
# there); the archive of older months is left alone unless one of them changes.
RECENT_MONTHS = 2

# What the aggregates read. No title, description, reply, comment or phone: they never leave the record.
REPORT_COLUMNS = ("id", "code", "category_id", "commune_code", "channel", "lat", "lon", "status", "agency_id",
                  "created_at", "classified_at", "forwarded_at", "first_response_at", "resolved_at", "rejected_at",
                  "deadline_at", "urgent", "sla_policy_id", "ioc_deadline_at", "first_forwarded_at",
                  "agency_deadline_at", "ioc_work_days", "agency_work_days", "rating", "source", "updated_at",
                  "version", "close_reason", "duplicate_of_id")
EVENT_COLUMNS = ("id", "report_id", "at", "from_status", "to_status", "agency_id")
# The tables each store holds, besides the reference tables (queries/rollup.py has the derived ones).
STORE_TABLES = ("reports", "open_reports", "handoffs", "daily_counts", "monthly_counts", "handoff_counts",
                "duration_buckets")
REFERENCE_TABLES = (agencies, categories, admin_units, sla_policies, work_calendar)


def enabled() -> bool:
    return settings().analytics_enabled


def analytics_dir() -> Path:
    return settings().resolved_analytics_dir


# --- writing the copy ---------------------------------------------------------------------------------

def _duck_type(column) -> str:
    kind = type(column.type)
    if kind in (Integer, SmallInteger):
        return "BIGINT"
    if kind is Float:
        return "DOUBLE"
    if kind.__name__ == "DateTime":
        return "TIMESTAMP"
    return "VARCHAR"


def _schema(table, names) -> str:
    return ", ".join(f'"{n}" {_duck_type(table.c[n])}' for n in names)


def _write_parquet(frames, table, names, path: Path, kept: tuple[Path, str, set] | None = None) -> int:
    """Write a frame, or an iterable of frames, with the table's column types (an all-empty column keeps
    its type); returns the number of rows. `kept`: an earlier file of the table, a column and ids: its rows
    other than those ids are written too."""
    con = _duckdb_for_writing(path.parent)
    try:
        con.execute(f"CREATE TABLE t ({_schema(table, names)})")
        for frame in [frames] if isinstance(frames, pd.DataFrame) else frames:
            if len(frame):
                con.register("frame", frame[list(names)])
                con.execute("INSERT INTO t SELECT * FROM frame")
                con.unregister("frame")
        rows = "t"
        if kept:
            earlier, column, dropped = kept
            con.register("dropped", pd.DataFrame({"id": sorted(dropped)}, dtype="int64"))
            rows = (f"(SELECT * FROM read_parquet('{earlier}') WHERE {column} NOT IN (SELECT id FROM dropped) "
                    "UNION ALL SELECT * FROM t)")
        tmp = path.with_suffix(".tmp")
        con.execute(f"COPY {rows} TO '{tmp}' (FORMAT parquet)")
        written = con.execute(f"SELECT count(*) FROM read_parquet('{tmp}')").fetchall()[0][0]
        os.replace(tmp, path)
    finally:
        con.close()
    return written


def _duckdb_for_writing(directory: Path, path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for building the copy, with bounded memory: the sync runs inside a web worker,
    and an unbounded sort of a large record would take more memory than it may. Beyond the limit DuckDB spills."""
    con = duckdb.connect(str(path) if path else ":memory:")
    con.execute(f"SET memory_limit = '{settings().analytics_sync_memory}'")
    con.execute(f"SET temp_directory = '{directory / 'spill'}'")
    con.execute("SET preserve_insertion_order = false")
    return con


# A month's hand-off events are a few per report: PostgreSQL is to look them up report by report. Its estimate
# of events per report, sampled from a large table, can be far too high; it then hashes every event ever
# written, and compiles the plan with JIT.
BY_REPORT = {"postgresql": ("SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off",
                            "SET LOCAL jit = off")}


def _frames(db: Database, stmt, size: int = EXPORT_CHUNK_ROWS, settings: dict | None = None):
    """The statement's rows as frames of at most `size` rows, streamed (a server-side cursor on PostgreSQL),
    so a month of a large record never sits in memory whole. `settings`: per dialect, statements
    run first in the same transaction."""
    with db.engine.connect() as conn:
        for setting in (settings or {}).get(db.dialect, ()):
            conn.exec_driver_sql(setting)
        result = conn.execute(stmt, execution_options={"stream_results": True, "max_row_buffer": size})
        columns = list(result.keys())
        for part in result.partitions(size):
            yield pd.DataFrame(part, columns=columns)


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m")
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _months_between(first: datetime, last: datetime) -> list[str]:
    months, cursor = [], first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while cursor <= last:
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return months


def _handoffs():
    """Forwardings and returns: the only events an aggregate reads (bounce-backs)."""
    return or_(*(metrics.condition(name, report_events) for name in ("forwardings", "bounce_backs")))


def _export_month(db: Database, month: str, directory: Path, tag: str) -> dict | None:
    start, end = _month_bounds(month)
    in_month = and_(r.created_at >= start, r.created_at < end)
    files = {"reports": f"reports-{month}-{tag}.parquet", "events": f"events-{month}-{tag}.parquet"}
    rows = _write_parquet(_frames(db, select(*[r[c] for c in REPORT_COLUMNS]).where(in_month)),
                          reports, REPORT_COLUMNS, directory / files["reports"])
    if not rows:
        (directory / files["reports"]).unlink(missing_ok=True)
        return None
    e = report_events.c
    _write_parquet(_frames(db, select(*[e[c] for c in EVENT_COLUMNS]).join_from(
        report_events, reports, reports.c.id == e.report_id).where(in_month, _handoffs()), settings=BY_REPORT),
        report_events, EVENT_COLUMNS, directory / files["events"])
    return {**files, "rows": rows}


def _by_ids(db: Database, stmt, column, ids: list[int], settings: dict | None = None):
    """The statement's rows for the given ids of `column`, as frames, a chunk of ids at a time."""
    for i in range(0, len(ids), ID_CHUNK):
        yield from _frames(db, stmt.where(column.in_(ids[i:i + ID_CHUNK])), settings=settings)


def _reports_up_to(db: Database, in_month, max_id: int) -> int:
    """The record's reports of the month with ids up to `max_id`: all of the month's (an index-only count)
    less those above it (a few, by the primary key), in one statement, so one snapshot. Filtering by both at
    once would read every row of the month from the table."""
    count = select(func.count()).select_from(reports)
    return db.scalar(select(count.where(in_month).scalar_subquery()
                            - count.where(in_month, r.id > max_id).scalar_subquery()))


def _patch_month(db: Database, month: str, entry: dict, directory: Path, tag: str, fresh: list[int],
                 dropped: set, max_id: int) -> tuple[dict | None, bool]:
    """The month's files anew: the earlier ones without the `dropped` reports (the changed and deleted ones
    the copy holds in this month) and with the `fresh` ones (the changed reports in this month now) read from
    the record, hand-offs included; (None when no report is left, True). When the result does not hold as
    many of the reports up to `max_id` as the record's month (a report written without moving its
    `updated_at`, or an id deleted and written again), or the earlier files are gone, the month is exported
    whole instead: (its entry, False)."""
    earlier = (directory / entry["reports"], directory / entry["events"])
    if not all(path.exists() for path in earlier):
        return _export_month(db, month, directory, tag), False
    start, end = _month_bounds(month)
    in_month = and_(r.created_at >= start, r.created_at < end)
    files = {"reports": f"reports-{month}-{tag}.parquet", "events": f"events-{month}-{tag}.parquet"}
    path = directory / files["reports"]
    # The month's filter again: a report moved to another month since it was listed stays out of this one.
    rows = _write_parquet(_by_ids(db, select(*[r[c] for c in REPORT_COLUMNS]).where(in_month), r.id, fresh),
                          reports, REPORT_COLUMNS, path, kept=(earlier[0], "id", dropped))
    with duckdb.connect() as con:
        held = con.execute(f"SELECT count(*) FROM read_parquet('{path}') WHERE id <= ?", [max_id]).fetchall()[0][0]
    if held != _reports_up_to(db, in_month, max_id):
        log.info("analytics sync: %s patched does not match the record; exporting it whole", month)
        path.unlink(missing_ok=True)
        return _export_month(db, month, directory, tag), False
    if not rows:
        path.unlink(missing_ok=True)
        return None, True
    e = report_events.c
    _write_parquet(_by_ids(db, select(*[e[c] for c in EVENT_COLUMNS]).join_from(
        report_events, reports, reports.c.id == e.report_id).where(in_month, _handoffs()), e.report_id, fresh,
        settings=BY_REPORT), report_events, EVENT_COLUMNS, directory / files["events"],
        kept=(earlier[1], "report_id", dropped))
    return {**files, "rows": rows}, True


def read_manifest(directory: Path | None = None) -> dict | None:
    path = (directory or analytics_dir()) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write_manifest(directory: Path, manifest: dict) -> None:
    tmp = directory / f"manifest.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, directory / "manifest.json")


def replica() -> Database | None:
    """DATABASE_READ_URL: a PostgreSQL read replica the sync reads from, sparing the primary."""
    global _replica
    url = settings().database_read_url
    if not url:
        return None
    if _replica is None or _replica.url != database._normalise(url):
        _replica = Database(url)
    return _replica


_replica: Database | None = None


def sync(db: Database | None = None, directory: Path | None = None, full: bool = False,
         source: Database | None = None) -> dict:
    """Bring the copy of `db` (the system of record) up to date, reading from `source` (a replica of it)
    when given; returns the new manifest, or the current one when nothing had changed."""
    record = get_db(db)
    db = source or record
    directory = directory or analytics_dir()
    directory.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(directory)
    old = previous
    if old is None or old.get("schema") != SCHEMA_VERSION or old.get("database") != record.url:
        old, full = None, True
    started = utc_now()
    bounds = db.read_rows(select(func.min(r.created_at).label("first"), func.max(r.created_at).label("last"),
                                 func.max(r.updated_at).label("updated"), func.max(r.id).label("max_id")))[0]
    last_deletion = db.scalar(select(func.max(report_deletions.c.id))) or 0
    months: dict = {} if full else dict(old["months"])
    fresh: dict[str, list[int]] = {}  # month -> its changed reports now, for months patched
    dropped: dict[str, set] = {}  # month -> the changed and deleted reports the copy holds in it
    if full:
        todo = _months_between(bounds["first"], bounds["last"]) if bounds["first"] else []
    else:
        since = datetime.fromisoformat(old["watermark"]) - WATERMARK_MARGIN
        # Changed rows, and new rows even if they carry an old updated_at (a demo or an import of history).
        changed = db.read_rows(select(r.id, r.created_at, r.updated_at).where(
            or_(r.updated_at > since, r.id > old.get("max_id", 0))))
        deleted = db.read_rows(select(report_deletions.c.report_id.label("id"), report_deletions.c.created_at)
                               .where(report_deletions.c.id > old["last_deletion"]))
        # Where the previous generation holds each changed or deleted report: one may have moved to another
        # month (a re-import with a corrected date), and its old month is rebuilt too.
        held = {}
        for key in ("store", "recent_store"):
            held.update(_held_in_store(directory / old[key], [row["id"] for row in changed + deleted]))
        # Rows read again within the margin that the copy holds as they are now are not changes.
        changed = [row for row in changed
                   if held.get(row["id"]) != (row["created_at"].strftime("%Y-%m"), row["updated_at"])]
        relevant = {row["id"] for row in changed + deleted}
        held = {report_id: month for report_id, (month, _updated) in held.items() if report_id in relevant}
        # Months the record has and the copy lacks (a history imported or re-seeded with past timestamps).
        known_empty = set(old.get("empty_months", []))
        missing = {m for m in _months_between(bounds["first"], bounds["last"])
                   if m not in months and m not in known_empty} if bounds["first"] else set()
        todo = sorted({row["created_at"].strftime("%Y-%m") for row in changed + deleted} | set(held.values())
                      | missing)
        for row in changed:
            fresh.setdefault(row["created_at"].strftime("%Y-%m"), []).append(row["id"])
        for row in changed + deleted:
            dropped.setdefault(row["created_at"].strftime("%Y-%m"), set()).add(row["id"])
        for report_id, month in held.items():
            dropped.setdefault(month, set()).add(report_id)
    digest = reference_digest(db)
    if not full and not todo and digest == old.get("reference_digest"):
        # The rows read again within the margin are in the copy as they are: the same generation (readers keep
        # their views and cached answers), with the watermark and the highest id moved on as a new one would.
        watermark = max(bounds["updated"] or started, datetime.fromisoformat(old["watermark"]))
        manifest = {**old, "synced_at": started.isoformat(), "rebuilt": [], "patched": [],
                    "watermark": watermark.isoformat(), "max_id": max(bounds["max_id"] or 0, old.get("max_id", 0)),
                    "last_deletion": last_deletion, "history": _history(db, bounds)}
        _write_manifest(directory, manifest)
        return manifest
    # Generations keep counting across full rebuilds, so a reader never mistakes a new copy for its old one.
    generation = (previous or {}).get("generation", 0) + 1
    tag = f"g{generation}-{uuid.uuid4().hex[:6]}"
    empty_months = set() if full else set(old.get("empty_months", []))
    patched = []
    for month in todo:
        if month in months and len(fresh.get(month, ())) <= settings().analytics_patch_rows:
            exported, was_patched = _patch_month(db, month, months[month], directory, tag, fresh.get(month, []),
                                                 dropped.get(month, set()), bounds["max_id"] or 0)
            if was_patched:
                patched.append(month)
        else:
            exported = _export_month(db, month, directory, tag)
        if exported is None:
            months.pop(month, None)
            empty_months.add(month)
        else:
            months[month] = exported
            empty_months.discard(month)
    reference = {}
    for table in REFERENCE_TABLES:
        name = f"{table.name}-{tag}.parquet"
        _write_parquet(db.read_frame(select(table)), table, [c.name for c in table.columns], directory / name)
        reference[table.name] = name
    empty = {}
    for table, names in ((reports, REPORT_COLUMNS), (report_events, EVENT_COLUMNS)):
        empty[table.name] = f"{table.name}-empty-{tag}.parquet"
        _write_parquet(pd.DataFrame(columns=list(names)), table, names, directory / empty[table.name])
    recent = sorted(months)[-RECENT_MONTHS:]
    archive, compact_size = _keep_archive(directory, tag, None if full else old, months, recent, todo, empty)
    recent_store = _build_store(directory, f"{tag}-recent", {m: months[m] for m in recent}, reference, empty)
    watermark = bounds["updated"] or started
    manifest = {"schema": SCHEMA_VERSION, "database": record.url, "generation": generation,
                "max_id": bounds["max_id"] or 0, "reference_digest": digest,
                "history": _history(db, bounds),
                "empty_months": sorted(empty_months),
                "watermark": max(watermark, datetime.fromisoformat(old["watermark"]) if old else watermark)
                .isoformat(), "last_deletion": last_deletion, "synced_at": started.isoformat(),
                "months": months, "reference": reference, "empty": empty, "store": archive,
                "recent_store": recent_store, "recent_months": recent, "rebuilt": todo, "patched": patched,
                "compact_size": compact_size}
    _write_manifest(directory, manifest)
    _remove_unused(directory, manifest, old)
    return manifest


def _keep_archive(directory: Path, tag: str, old: dict | None, months: dict, recent: list[str], todo: list[str],
                  empty: dict) -> tuple[str, int]:
    """The archive store of this generation (every month but the recent ones) and its size when last built
    whole: the previous one as it is when none of its months changed, else a copy with those months replaced
    (months that crossed the recent/archive line included), else, the first time or once deletions have grown
    it by half, built whole from the monthly files."""
    archived = {m: entry for m, entry in months.items() if m not in recent}
    previous = directory / old["store"] if old else None
    compact_size = (old or {}).get("compact_size")
    if previous is None or not previous.exists() or not compact_size or \
            previous.stat().st_size > STORE_GROWTH_LIMIT * compact_size:
        name = _build_store(directory, tag, archived, {}, empty)
        return name, (directory / name).stat().st_size
    was_recent, was_archived = set(old["recent_months"]), set(old["months"]) - set(old["recent_months"])
    changed = {m for m in todo if m not in recent} | (was_recent - set(recent)) | (was_archived & set(recent))
    if not changed:
        return old["store"], compact_size
    return _update_store(directory, tag, previous, {m: archived.get(m) for m in changed}), compact_size


def _held_in_store(store: Path, ids: list[int]) -> dict[int, tuple[str, datetime]]:
    """The month and `updated_at` of each of the given reports, in a generation's DuckDB file (those it
    holds)."""
    if not ids or not store.exists():
        return {}
    con = duckdb.connect(str(store), read_only=True)
    try:
        con.register("changed", pd.DataFrame({"id": ids}, dtype="int64"))
        rows = con.execute("SELECT id, strftime(created_at, '%Y-%m'), updated_at FROM reports "
                           "WHERE id IN (SELECT id FROM changed)").fetchall()
    finally:
        con.close()
    return {report_id: (month, updated) for report_id, month, updated in rows}


def reference_digest(db: Database) -> str:
    """A fingerprint of the small reference tables (agencies, fields, communes, policies, calendar): a
    renamed agency must reach the copy too."""
    digest = hashlib.sha1()
    for table in REFERENCE_TABLES:
        for row in db.read_rows(select(table).order_by(*table.primary_key.columns)):
            digest.update(repr(sorted(row.items())).encode())
    return digest.hexdigest()


def _build_store(directory: Path, tag: str, months: dict, reference: dict, empty: dict) -> str:
    """A DuckDB file of the given months (and reference tables), built from the Parquet files: DuckDB's own
    storage (sorted by arrival, so date filters skip blocks) reads far faster than many small Parquet
    files. Readers attach it read-only; a store is never written once published."""
    name = f"store-{tag}.duckdb"
    tmp = directory / f"{name}.tmp"
    tmp.unlink(missing_ok=True)

    def files(kind: str, table: str) -> str:
        names = [entry[kind] for entry in months.values()] + [empty[table]]
        return "[" + ", ".join(f"'{directory / n}'" for n in names) + "]"

    con = _duckdb_for_writing(directory, tmp)
    try:
        con.execute(f"CREATE TABLE reports AS SELECT * FROM read_parquet({files('reports', 'reports')}) "
                    "ORDER BY created_at")
        con.execute("CREATE TABLE handoffs AS "
                    + rollup.handoffs_sql(f"read_parquet({files('events', 'report_events')})", "reports"))
        con.execute(f"CREATE TABLE daily_counts AS {rollup.build_sql()}")
        con.execute(f"CREATE TABLE monthly_counts AS {rollup.monthly_counts_sql()}")
        con.execute(f"CREATE TABLE handoff_counts AS {rollup.handoff_counts_sql()}")
        con.execute(f"CREATE TABLE duration_buckets AS {rollup.duration_buckets_sql()}")
        con.execute(f"CREATE TABLE open_reports AS {rollup.OPEN_REPORTS_SQL}")
        for table, file in reference.items():
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{directory / file}')")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, directory / name)
    return name


def _update_store(directory: Path, tag: str, previous: Path, changed: dict) -> str:
    """A copy of the previous archive store with only the changed months replaced (None: the month is not
    in the archive any more): far cheaper than a rebuild of everything."""
    name = f"store-{tag}.duckdb"
    tmp = directory / f"{name}.tmp"
    shutil.copyfile(previous, tmp)
    con = _duckdb_for_writing(directory, tmp)
    try:
        con.execute("BEGIN")
        for month in changed:
            start, end = _month_bounds(month)
            # Hand-offs go with their report's month, as in the monthly files.
            con.execute("DELETE FROM handoffs WHERE created_at >= ? AND created_at < ?", [start, end])
            con.execute("DELETE FROM reports WHERE created_at >= ? AND created_at < ?", [start, end])
        fresh = [entry for entry in changed.values() if entry]
        if fresh:
            reports_files = ", ".join(f"'{directory / e['reports']}'" for e in fresh)
            events_files = ", ".join(f"'{directory / e['events']}'" for e in fresh)
            con.execute(f"INSERT INTO reports SELECT * FROM read_parquet([{reports_files}]) ORDER BY created_at")
            con.execute("INSERT INTO handoffs " + rollup.handoffs_sql(f"read_parquet([{events_files}])",
                                                                       f"read_parquet([{reports_files}])"))
        # Recounted whole: cheap beside the copy of the store.
        con.execute(f"CREATE OR REPLACE TABLE daily_counts AS {rollup.build_sql()}")
        con.execute(f"CREATE OR REPLACE TABLE monthly_counts AS {rollup.monthly_counts_sql()}")
        con.execute(f"CREATE OR REPLACE TABLE handoff_counts AS {rollup.handoff_counts_sql()}")
        con.execute(f"CREATE OR REPLACE TABLE duration_buckets AS {rollup.duration_buckets_sql()}")
        con.execute(f"CREATE OR REPLACE TABLE open_reports AS {rollup.OPEN_REPORTS_SQL}")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, directory / name)
    return name


def _remove_unused(directory: Path, manifest: dict, old: dict | None) -> None:
    keep = {"manifest.json", ".sync.lock", "spill"}
    for m in (manifest, old or {}):
        keep.update(m[key] for key in ("store", "recent_store") if m.get(key))
        for entry in (m.get("months") or {}).values():
            keep.update((entry["reports"], entry["events"]))
        keep.update((m.get("reference") or {}).values())
        keep.update((m.get("empty") or {}).values())
    cutoff = time.time() - KEEP_OLD_FILES_SECONDS
    for path in directory.iterdir():
        if path.name not in keep and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def touch(directory: Path | None = None) -> None:
    """Record that the copy was checked and is current, without writing a new generation."""
    directory = directory or analytics_dir()
    manifest = read_manifest(directory)
    if manifest is not None:
        manifest["synced_at"] = utc_now().isoformat()
        manifest["rebuilt"], manifest["patched"] = [], []
        _write_manifest(directory, manifest)


def _identity(db: Database) -> str:
    """Which database this is, beyond its URL: PostgreSQL's oid of it (a database dropped and restored gets a
    new one); a SQLite file has none that survives a copy, and its history tells instead."""
    if db.dialect == "postgresql":
        return f"pg-oid-{db.scalar(text('SELECT oid FROM pg_database WHERE datname = current_database()'))}"
    return db.dialect


# How many of the most recently changed reports a copy remembers the version of (queries/analytics.restored).
HISTORY_SAMPLE = 500


def _history(db: Database, bounds: dict) -> dict:
    """What only moves forward in a database: its identity, its deletion log, its newest report, and the
    version of each of its most recently changed reports (a version only ever grows). A copy built from it
    remembers these; seeing any of them go back means the database was restored from an older backup (or
    replaced). Versions, not times: they do not depend on the clocks of the servers that wrote them."""
    recent = db.read_rows(select(r.id, r.version).order_by(r.updated_at.desc()).limit(HISTORY_SAMPLE))
    return {"identity": _identity(db), "newest_id": bounds["max_id"] or 0,
            "recent": [[row["id"], row["version"]] for row in recent]}


def restored(db: Database, old: dict) -> str | None:
    """Why the database is not the one the copy was built from, or None when it is (index lookups only). One
    write after a restore cannot hide it: the reports changed since the backup went back to older versions,
    and a write touches only some of them."""
    seen = old.get("history")
    if seen is None or "recent" not in seen:
        return None  # a copy from before this check: its next full build records the history
    if _identity(db) != seen["identity"]:
        return "a different database at the same address"
    if (db.scalar(select(func.max(report_deletions.c.id))) or 0) < old["last_deletion"]:
        return "its deletion log went back"
    remembered = dict(map(tuple, seen["recent"]))
    if seen["newest_id"]:
        remembered.setdefault(seen["newest_id"], 0)
    now = {row["id"]: row["version"] for row in db.read_rows(select(r.id, r.version).where(r.id.in_(remembered)))}
    went_back = sorted(i for i, version in remembered.items() if i in now and now[i] < version)
    if went_back:
        return f"report {went_back[0]} went back to an older version"
    missing = [i for i in remembered if i not in now]
    if missing:
        deleted = {row["report_id"] for row in db.read_rows(
            select(report_deletions.c.report_id).where(report_deletions.c.report_id.in_(missing)))}
        gone = sorted(set(missing) - deleted)
        if gone:
            return f"report {gone[0]} is gone without a deletion"
    return None


def sync_if_changed(db: Database | None = None, directory: Path | None = None,
                    source: Database | None = None) -> dict | None:
    """One cycle of the loop: a new generation only when something changed since the last one; the whole copy
    anew when the database was restored from an older backup (readers read the database meanwhile)."""
    record = get_db(db)
    db = source or record
    directory = directory or analytics_dir()
    old = read_manifest(directory)
    reason = restored(db, old) if old is not None and old.get("database") == record.url else None
    if reason is not None:
        log.warning("analytics: the database is not the one the copy was built from (%s); rebuilding it", reason)
        _write_manifest(directory, {**old, "rebuilding": reason})
        manifest = sync(record, directory, full=True, source=source)
        return manifest
    if old is not None and old.get("database") == record.url and old.get("schema") == SCHEMA_VERSION:
        updated = db.scalar(select(func.max(r.updated_at)))
        deletion = db.scalar(select(func.max(report_deletions.c.id))) or 0
        watermark = datetime.fromisoformat(old["watermark"])
        newest = db.scalar(select(func.max(r.id))) or 0
        if (updated is None or updated <= watermark) and deletion <= old["last_deletion"] and \
                newest <= old.get("max_id", 0) and utc_now() - watermark > WATERMARK_MARGIN and \
                reference_digest(db) == old.get("reference_digest"):
            touch(directory)
            return None
    manifest = sync(record, directory, source=source)
    return None if old is not None and manifest["generation"] == old["generation"] else manifest


# --- the sync loop ------------------------------------------------------------------------------------

_loop_started = False
# Called after every cycle, changed or not (the clock moves too), by name (an app created again replaces
# its hook): the app keeps its hot answers warm here.
after_sync_cycle: dict = {}


def start_background_sync(interval: float | None = None) -> None:
    """In every process: a daemon thread that waits for the sync lock, then keeps the copy fresh."""
    global _loop_started
    if _loop_started or not enabled():
        return
    _loop_started = True
    threading.Thread(target=run_sync_loop, args=(interval,), name="analytics-sync", daemon=True).start()


def run_sync_loop(interval: float | None = None) -> None:
    """Wait for the sync lock, then keep the copy fresh, forever. Run in a worker's thread by default, or
    as a process of its own (`flask --app app analytics-sync`, with ANALYTICS_SYNC=external for the web
    workers), which keeps the sync's memory out of the web workers."""
    directory = analytics_dir()
    directory.mkdir(parents=True, exist_ok=True)
    period = interval or settings().analytics_sync_seconds
    with open(directory / ".sync.lock", "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(period)
        log.info("analytics sync: this process keeps the copy (%s)", directory)
        while True:
            started = time.monotonic()
            try:
                manifest = sync_if_changed(source=replica())
                if manifest is not None:
                    log.info("analytics sync: generation %s, months rebuilt %s (patched %s), %.2f s",
                             manifest["generation"], manifest["rebuilt"], manifest["patched"],
                             time.monotonic() - started)
            except Exception:  # noqa: BLE001 - the loop must survive a database outage
                log.exception("analytics sync failed; retrying")
            for hook in list(after_sync_cycle.values()):
                try:
                    hook()
                except Exception:  # noqa: BLE001
                    log.exception("after-sync hook failed")
            time.sleep(max(0.5, period - (time.monotonic() - started)))


# --- reading the copy ---------------------------------------------------------------------------------

def view_statements(manifest: dict, archive: str, recent: str) -> list[str]:
    """The views the aggregates query, over a generation's archive and recent stores attached as `archive`
    and `recent`. Filters push down through UNION ALL, so a date filter still skips blocks in both."""
    statements = [f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {archive}.{table} "
                  f"UNION ALL SELECT * FROM {recent}.{table}" for table in STORE_TABLES]
    return statements + [f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {recent}.{table}"
                         for table in manifest["reference"]]


class CopyDialect(duckdb_engine.Dialect):
    """duckdb-engine's dialect, tuned for the copy, which the app only reads, one statement at a time:
    - SQLAlchemy's compiled-statement cache is on: duckdb-engine leaves it off, which compiles every statement
      anew, a noticeable part of a page. Our own constructs keep what they render in their cache keys
      (queries/sql.py).
    - No BEGIN and ROLLBACK around each statement: DuckDB runs each statement in a transaction of its own, and
      there is nothing to roll back."""

    supports_statement_cache = True

    def do_begin(self, connection) -> None:
        pass

    def do_rollback(self, connection) -> None:
        pass


registry.register("duckdb.copy", __name__, "CopyDialect")


class _Watchdog:
    """One thread that interrupts the copy's reads that run past the statement timeout: starting a thread per
    read (threading.Timer) would add its cost to every read."""

    def __init__(self):
        self._lock = threading.Condition()
        self._reads: dict[int, tuple[float, object]] = {}  # token -> (deadline, DuckDB connection)
        self._next = 0
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, connection):
        with self._lock:
            self._next += 1
            token = self._next
            self._reads[token] = (time.monotonic() + settings().query_timeout_seconds, connection)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="analytics-watchdog", daemon=True)
                self._thread.start()
            self._lock.notify()
        try:
            yield
        finally:
            # Under the lock: once the read is off the list, no interrupt can reach the connection's next user.
            with self._lock:
                del self._reads[token]

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for token, (deadline, connection) in list(self._reads.items()):
                    if deadline <= now:
                        with contextlib.suppress(Exception):  # a connection closed meanwhile has nothing to stop
                            connection.interrupt()
                        self._reads[token] = (float("inf"), connection)  # once is enough
                upcoming = [deadline for deadline, _ in self._reads.values() if deadline != float("inf")]
                self._lock.wait(max(0.0, min(upcoming) - now) if upcoming else None)


_watchdog = _Watchdog()


class AnalyticsDatabase(Database):
    """DuckDB views over one generation of the copy. Same read API as Database; never written to."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or analytics_dir()
        self.url = f"duckdb+copy:///:memory:paht_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.engine = create_engine(self.url, pool_size=4, max_overflow=4)
        self.generation = None
        self.store: tuple | None = None  # the generation's archive and recent stores the views point at
        self.source: str | None = None  # the system of record the generation was copied from
        self.synced_at: datetime | None = None
        self._lock = threading.Lock()
        self._stamp = None
        self._attached: dict[str, str] = {}  # store file -> its alias in this DuckDB instance
        self._previous: list[str] = []
        # One query at a time per worker: DuckDB already spreads each query over the cores, and concurrent
        # ones would share (and overrun) the memory limit, and fail with out-of-memory errors under load.
        self._gate = threading.BoundedSemaphore(settings().analytics_concurrency)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"SET memory_limit = '{settings().analytics_memory}'")
            # Give freed memory back to the system after each query instead of keeping up to 128 MB of it.
            conn.exec_driver_sql(f"SET allocator_flush_threshold = '{settings().analytics_allocator_flush}'")
            conn.exec_driver_sql("SET threads = 2")
            conn.exec_driver_sql("SET preserve_insertion_order = false")
            # Spills of large sorts go beside the copy, not into whatever the working directory is.
            conn.exec_driver_sql(f"SET temp_directory = '{self.directory / 'spill'}'")

    def refresh(self) -> bool:
        """Point the views at the newest generation; False when there is no copy fit to read."""
        path = self.directory / "manifest.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            with self._lock:
                manifest = read_manifest(self.directory)
                if manifest is None or manifest.get("schema") != SCHEMA_VERSION or manifest.get("rebuilding"):
                    self.synced_at = None  # the sync is building it (anew): read the record meanwhile
                    return False
                stores = (manifest["store"], manifest["recent_store"])
                if stores != self.store:
                    self._point_views(manifest)
                    self.generation, self.store = manifest["generation"], stores
                self.synced_at = datetime.fromisoformat(manifest["synced_at"])
                self.source = manifest["database"]
                self._stamp = stamp
        return self.synced_at is not None and utc_now() - self.synced_at <= settings().analytics_max_lag

    def _point_views(self, manifest: dict) -> None:
        """Attach the generation's two stores read-only (an archive kept from an earlier generation is
        attached already) and point the views at them; let go of stores that neither this generation nor the
        previous one uses (a query still running on the previous generation keeps its tables)."""
        wanted = [manifest["store"], manifest["recent_store"]]
        with self.engine.begin() as conn:
            for name in wanted:
                if name not in self._attached:
                    alias = "s_" + name.removeprefix("store-").removesuffix(".duckdb").replace("-", "_")
                    conn.exec_driver_sql(f"ATTACH '{self.directory / name}' AS {alias} (READ_ONLY)")
                    self._attached[name] = alias
            for statement in view_statements(manifest, *(self._attached[n] for n in wanted)):
                conn.exec_driver_sql(statement)
            for name in [n for n in self._attached if n not in wanted and n not in self._previous]:
                conn.exec_driver_sql(f"DETACH {self._attached.pop(name)}")
        self._previous = wanted

    @contextlib.contextmanager
    def reading(self):
        """One read at a time (the gate), interrupted after the statement timeout: DuckDB has no timeout of
        its own, and a runaway query would otherwise hold the worker and the gate."""
        with self._gate, self.engine.connect() as conn, _watchdog.watching(conn.connection.dbapi_connection):
            yield conn

    def ping(self) -> None:
        self.refresh()

    def has_schema(self) -> bool:
        return self.generation is not None


_reader: AnalyticsDatabase | None = None
_reader_lock = threading.Lock()


def reader(db: Database | None = None) -> Database:
    """Where an aggregate should read: the caller's database if given, else the analytics copy when it
    is current, else the system of record."""
    if db is not None:
        return db
    if not enabled():
        return get_db()
    global _reader
    with _reader_lock:
        if _reader is None or _reader.directory != analytics_dir():
            _reader = AnalyticsDatabase()
    record = get_db()
    return _reader if _reader.refresh() and _reader.source == record.url else record


def status() -> dict:
    """For /healthz: is the copy on, which generation, and how old."""
    if not enabled():
        return {"analytics": "off"}
    manifest = read_manifest()
    if manifest is None:
        return {"analytics": "building"}
    if manifest.get("rebuilding"):
        return {"analytics": "rebuilding", "reason": manifest["rebuilding"], "generation": manifest["generation"]}
    lag = (utc_now() - datetime.fromisoformat(manifest["synced_at"])).total_seconds()
    state = "ok" if lag <= settings().analytics_max_lag_seconds else "stale"
    return {"analytics": state, "generation": manifest["generation"],
            "synced_seconds_ago": round(lag, 1), "data_watermark": manifest["watermark"]}
