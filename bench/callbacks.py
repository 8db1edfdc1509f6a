"""Every page's heavy callback on the analytics copy, next to the DuckDB floor for the same answer.

    python bench/callbacks.py [--reports 1000000] [--runs 5] [--url DATABASE_URL] [--events] [--record]

For each callback it prints the median of --runs warm runs (ms) of:
- `copy`: the callback as the app runs it (the aggregates read the DuckDB analytics copy);
- `floor`: the same SQL statements, captured while the callback ran, executed straight on a native DuckDB
  connection over the same Parquet files: no SQLAlchemy, no pandas, no figures;
- `ratio` = copy / floor (the target is at most 3);
- with --record, also the callback on the system of record (ANALYTICS=off), which is slow at 1M.
It also prints how long a full build of the copy takes and how long one incremental cycle takes after a
single report changes (the freshness budget is one wall refresh, 30 s).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overview import parse_args as base_args  # noqa: E402
from bench.overview import prepare, timed  # noqa: E402


def parse_args():
    import argparse

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--record", action="store_true", help="Also time the callbacks on the system of record")
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = base_args()
    args.record = known.record
    return args


def callbacks():
    from dashboard.components.filter_bar import preset_range
    from dashboard.pages.overview import build_overview
    from dashboard.pages.wall import build_wall
    from queries import scorecard, sla
    from queries.filters import Filter, local_today

    start, end = preset_range("12m")
    year = Filter(start=start, end=end)
    today = local_today()
    narrow = Filter(start=preset_range("30d")[0], end=end, categories=("MT",))

    def agency_page():
        scorecard.agency_vs_province("SXD", year)
        scorecard.monthly_trend(year, "SXD")
        scorecard.monthly_trend(year, None)
        scorecard.worst_rated_categories("SXD", year)

    everything = Filter(start=start.replace(year=start.year - 20), end=end)
    return [
        ("overview, 12 months", lambda: build_overview(year)),
        ("overview, 30 days, one field", lambda: build_overview(narrow)),
        ("overview, 20 years, everything", lambda: build_overview(everything)),
        ("overview, agency head (SXD)", lambda: build_overview(year.scoped("SXD"))),
        ("scorecard, this month + previous", lambda: scorecard.scorecard(Filter(), "month", today)),
        ("scorecard, this quarter + previous", lambda: scorecard.scorecard(Filter(), "quarter", today)),
        ("agency page (SXD, 12 months)", agency_page),
        ("SLA metrics by agency, 12 months", lambda: sla.sla_metrics(year, "agency")),
        ("wall, data changed", lambda: build_wall(None)),
    ]


def capture_statements(copy, fn) -> list[str]:
    """The SQL (with its parameters inlined by DuckDB's own binder) that one run of fn sends to the copy."""
    from sqlalchemy import event

    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(copy.engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(copy.engine, "before_cursor_execute", record)
    return seen


def native_floor(copy, statements, runs: int) -> float:
    """Median ms of running the captured statements on one native DuckDB connection, results fetched."""
    import duckdb

    con = duckdb.connect()
    manifest = copy_manifest(copy)
    con.execute(f"ATTACH '{copy.directory / manifest['store']}' AS store (READ_ONLY)")
    for table in ("reports", "report_events", *manifest["reference"]):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM store.{table}")
    con.execute("SET threads = 2")

    def run():
        for statement, parameters in statements:
            con.execute(statement, parameters or None).fetchall()

    run()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1000)
    con.close()
    return statistics.median(samples)


def copy_manifest(copy):
    from queries.analytics import read_manifest

    return read_manifest(copy.directory)


def main() -> None:
    args = parse_args()
    db, client = prepare(args)
    from sqlalchemy import func, select, update

    from queries import analytics
    from queries.db import configure
    from queries.filters import utc_now
    from queries.schema import reports

    configure(db.url)
    directory = Path(os.environ["INSTANCE_DIR"]) / "analytics-bench"
    os.environ["ANALYTICS_DIR"] = str(directory)
    os.environ["ANALYTICS"] = "duckdb"
    t0 = time.perf_counter()
    manifest = analytics.sync(db, directory, full=True)
    full_build = time.perf_counter() - t0
    print(f"\nanalytics copy: full build {full_build:.1f} s, {len(manifest['months'])} months", flush=True)

    newest = db.scalar(select(func.max(reports.c.id)))
    with db.begin() as conn:
        conn.execute(update(reports).where(reports.c.id == newest).values(updated_at=utc_now(),
                                                                          version=reports.c.version + 1))
    t0 = time.perf_counter()
    manifest = analytics.sync_if_changed(db, directory)
    print(f"one report changed: incremental cycle {time.perf_counter() - t0:.2f} s, months rebuilt "
          f"{manifest['rebuilt'] if manifest else []}", flush=True)

    copy = analytics.reader()
    assert isinstance(copy, analytics.AnalyticsDatabase), "the copy is not being read"
    header = f"{'callback':<40} {'copy':>9} {'floor':>9} {'ratio':>6}" + (f" {'record':>10}" if args.record else "")
    print(f"\n{args.reports:,} reports · record {db.dialect} · median of {args.runs} warm runs, ms\n\n{header}")
    for name, fn in callbacks():
        median, _worst = timed(fn, args.runs)
        floor = native_floor(copy, capture_statements(copy, fn), args.runs)
        line = f"{name:<40} {median:>9.1f} {floor:>9.1f} {median / floor:>6.1f}"
        if args.record:
            os.environ["ANALYTICS"] = "off"
            record, _ = timed(fn, max(1, args.runs // 2))
            os.environ["ANALYTICS"] = "duckdb"
            line += f" {record:>10.1f}"
        print(line, flush=True)
    map_payloads(client)


def map_payloads(client) -> None:
    """The map's one request per view (the newest points, at most MAP_POINT_LIMIT, whatever the zoom),
    raw and gzipped as nginx would send it (level 5, the guide's setting)."""
    import gzip

    from dashboard.components.filter_bar import preset_range

    print("\nmap points request (GeoJSON)")
    for label, query in (("12 months", "from={}&to={}".format(*preset_range("12m"))),
                         ("everything", ""), ("30 days, one field", "from={}&to={}&category=MT".format(
                             *preset_range("30d")))):
        t0 = time.perf_counter()
        body = client.get(f"/api/v1/map/points?{query}").get_data()
        ms = (time.perf_counter() - t0) * 1000
        zipped = len(gzip.compress(body, compresslevel=5))
        print(f"  {label:<22} {len(body) / 1e6:>6.2f} MB raw, {zipped / 1e6:>5.2f} MB gzipped, {ms:>7.1f} ms")


if __name__ == "__main__":
    main()
