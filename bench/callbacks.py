"""Every page's heavy callback on the analytics copy, next to the DuckDB floor for the same answer.

    python bench/callbacks.py [--reports 1000000] [--runs 5] [--url DATABASE_URL] [--events] [--record] [--reuse-copy]
                               [--statements]

For each callback it prints the median of --runs warm runs (ms) of:
- `copy`: the callback as the app runs it (the aggregates read the DuckDB analytics copy);
- `floor`: the same SQL statements, captured while the callback ran, executed straight on a native DuckDB
  connection over the same Parquet files: no SQLAlchemy, no pandas, no figures;
- `ratio` = copy / floor (the target is at most 3);
- with --record, also the callback on the system of record (ANALYTICS=off), which is slow at 1M.
It also prints how long a full build of the copy takes and how long one incremental cycle takes after a
single report changes, in the newest month, the month before and an archived month (the freshness budget is
one wall refresh, 30 s).

Then, for the callbacks whose shared answers are kept warm, the time a viewer waits on the first request
after a data change *as the app serves it*: before each run a viewer reads the answer, a report changes, the
copy syncs (a new generation), and the sync loop's warm pass runs (dashboard/cache.py), as in the app.
`warm pass` is how long that pass took: the window after a change in which a viewer may still compute the
answer himself.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overview import parse_args as base_args  # noqa: E402
from bench.overview import prepare  # noqa: E402


def parse_args():
    import argparse

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--record", action="store_true", help="Also time the callbacks on the system of record")
    extra.add_argument("--statements", action="store_true",
                       help="Also print each statement's own floor under its callback (where the time goes)")
    extra.add_argument("--reuse-copy", action="store_true",
                       help="Catch up an existing analytics copy instead of timing a full build (minutes at 10M)")
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = base_args()
    args.record, args.reuse_copy, args.statements = known.record, known.reuse_copy, known.statements
    return args


def callbacks(app):
    """(name, callback, setup): setup runs before each timed run, untimed."""
    from dashboard.answers import deadline_lists
    from dashboard.cache import cache, cached
    from dashboard.components.filter_bar import preset_range
    from dashboard.pages.agency import build_agency
    from dashboard.pages.overview import build_overview
    from dashboard.pages.wall import build_wall
    from queries import scorecard, sla
    from queries.filters import Filter, local_today

    start, end = preset_range("12m")
    year = Filter(start=start, end=end)
    today = local_today()
    narrow = Filter(start=preset_range("30d")[0], end=end, categories=("MT",))

    def in_app(fn):
        def run():
            with app.app_context():
                return fn()
        return run

    def empty_cache():
        with app.app_context():
            cache.clear()

    def province_cached():
        """Another agency's page opened after the first: the province's rows are in the cache."""
        with app.app_context():
            cache.clear()
            cached(scorecard.province_metrics, year, cards_only=True)
            cached(scorecard.monthly_trends, year)
            cached(scorecard.ratings_by_category, year)

    everything = Filter(start=start.replace(year=start.year - 20), end=end)
    return [
        ("overview, 12 months", lambda: build_overview(year), None),
        ("overview, 30 days, one field", lambda: build_overview(narrow), None),
        ("overview, 20 years, everything", lambda: build_overview(everything), None),
        ("overview, agency head (SXD)", lambda: build_overview(year.scoped("SXD")), None),
        ("scorecard, this month + previous", lambda: scorecard.scorecard(Filter(), "month", today), None),
        ("scorecard, this quarter + previous", lambda: scorecard.scorecard(Filter(), "quarter", today), None),
        ("agency page, first after a change", in_app(lambda: build_agency("SXD", year)), empty_cache),
        ("agency page, next agency", in_app(lambda: build_agency("SXD", year)), province_cached),
        # "Toàn bộ" (all time): every report's durations, the largest percentiles anyone can ask for.
        ("agency page, all time, first", in_app(lambda: build_agency("SXD", Filter())), empty_cache),
        # Read from the system of record, not the copy: no floor.
        ("agency page, overdue and due-soon lists", lambda: deadline_lists("SXD", year, 0, 0), None),
        ("SLA metrics by agency, 12 months", lambda: sla.sla_metrics(year, "agency"), None),
        # After a change nothing is cached, whatever the wall reads through the cache.
        ("wall, data changed", in_app(lambda: build_wall(None)), empty_cache),
    ]


def timed_with(fn, setup, runs: int) -> float:
    """Median ms of `runs` warm runs of fn, `setup` (untimed) before each."""
    samples = []
    for i in range(runs + 1):
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        if i:  # the first run warms up
            samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


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

    from queries.analytics import view_statements

    con = duckdb.connect()
    manifest = copy_manifest(copy)
    con.execute(f"ATTACH '{copy.directory / manifest['store']}' AS archive (READ_ONLY)")
    con.execute(f"ATTACH '{copy.directory / manifest['recent_store']}' AS recent (READ_ONLY)")
    for statement in view_statements(manifest, "archive", "recent"):
        con.execute(statement)
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

    from queries import analytics, config
    from queries.db import configure
    from queries.filters import utc_now
    from queries.schema import reports

    configure(db.url)
    # One copy per database benchmarked: a 1M SQLite and a 10M PostgreSQL copy can live side by side.
    directory = config.settings().instance_dir / f"analytics-{db.dialect}-{args.reports}"
    copy_on = config.changed(analytics_dir=directory, analytics="duckdb")
    copy_off = config.changed(analytics="off")
    config.use(copy_on)
    t0 = time.perf_counter()
    if args.reuse_copy and analytics.read_manifest(directory):
        manifest = analytics.sync(db, directory)  # catch up; a copy from another database is rebuilt whole
        print(f"\nanalytics copy: reused, caught up in {time.perf_counter() - t0:.1f} s", flush=True)
    else:
        manifest = analytics.sync(db, directory, full=True)
        full_build = time.perf_counter() - t0
        print(f"\nanalytics copy: full build {full_build:.1f} s, {len(manifest['months'])} months", flush=True)

    # One report changes, in the newest month, in the month before (an agency resolving last month's report:
    # the recent store holds two months) and in the archive; each cycle is what the copy lags behind a write.
    # A write within WATERMARK_MARGIN (60 s) of the last is read again, so the cycles wait that out.
    months = sorted(manifest["months"])
    for label, month in (("newest month", months[-1]), ("month before", months[-2]), ("archive", months[-6])):
        start, end = analytics._month_bounds(month)
        one = db.scalar(select(func.min(reports.c.id)).where(reports.c.created_at >= start,
                                                              reports.c.created_at < end))
        time.sleep(analytics.WATERMARK_MARGIN.total_seconds() + 1)
        with db.begin() as conn:
            conn.execute(update(reports).where(reports.c.id == one).values(updated_at=utc_now(),
                                                                           version=reports.c.version + 1))
        t0 = time.perf_counter()
        manifest = analytics.sync_if_changed(db, directory)
        print(f"one report changed ({label}, {month}): incremental cycle {time.perf_counter() - t0:.2f} s, "
              f"months rebuilt {manifest['rebuilt']}, patched {manifest['patched']}", flush=True)

    copy = analytics.reader()
    assert isinstance(copy, analytics.AnalyticsDatabase), "the copy is not being read"
    header = f"{'callback':<40} {'copy':>9} {'floor':>9} {'ratio':>6}" + (f" {'record':>10}" if args.record else "")
    print(f"\n{args.reports:,} reports · record {db.dialect} · median of {args.runs} warm runs, ms\n\n{header}")
    for name, fn, setup in callbacks(client.application):
        median = timed_with(fn, setup, args.runs)
        if setup:
            setup()
        statements = capture_statements(copy, fn)
        if statements:
            floor = native_floor(copy, statements, args.runs)
            line = f"{name:<40} {median:>9.1f} {floor:>9.1f} {median / floor:>6.1f}"
        else:  # everything came from the cache or the record: no floor to compare with
            line = f"{name:<40} {median:>9.1f} {'–':>9} {'–':>6}"
        if args.record:
            config.use(copy_off)
            record = timed_with(fn, setup, max(1, args.runs // 2))
            config.use(copy_on)
            line += f" {record:>10.1f}"
        print(line, flush=True)
        if args.statements:
            for statement in statements:
                one = " ".join(statement[0].split())
                print(f"    {native_floor(copy, [statement], args.runs):>8.1f}  {one[:110]}", flush=True)
    served_after_a_change(client.application, db, directory, args.runs)
    map_payloads(client)


def served_callbacks():
    """(name, the callback's body as the app runs it, cache included): those whose answers are kept warm."""
    from dashboard.cache import kept_warm
    from dashboard.components.filter_bar import preset_range
    from dashboard.pages.agency import build_agency
    from dashboard.pages.wall import build_wall
    from queries.filters import Filter

    start, end = preset_range("12m")
    return [
        ("agency page (SXD)", lambda: build_agency("SXD", Filter(start=start, end=end))),
        ("wall", lambda: kept_warm(build_wall, None)),
    ]


def served_after_a_change(app, db, directory, runs: int) -> None:
    from sqlalchemy import func, select, update

    from dashboard.cache import _noted as noted
    from dashboard.cache import cache, run_warm_pass
    from queries import analytics
    from queries.filters import utc_now
    from queries.schema import reports

    newest = db.scalar(select(func.max(reports.c.id)))

    def change_and_warm() -> float:
        with db.begin() as conn:
            conn.execute(update(reports).where(reports.c.id == newest).values(updated_at=utc_now(),
                                                                              version=reports.c.version + 1))
        assert analytics.sync_if_changed(db, directory) is not None, "the change made no new generation"
        with app.app_context():
            t0 = time.perf_counter()
            run_warm_pass()
            return (time.perf_counter() - t0) * 1000

    print(f"\nas served on the first request after a data change (warm pass included), median of {runs}, ms\n\n"
          f"{'callback':<40} {'served':>9} {'warm pass':>10}")
    with app.app_context():
        cache.clear()
    noted.clear()  # the runs above noted these answers as hot in a cache since emptied
    for name, body in served_callbacks():
        with app.app_context():
            body()
            body()  # asked for again: the answers are noted as ones to keep warm
        passes, samples = [], []
        for _ in range(runs):
            noted.clear()  # as if another worker's viewer had read the answer since the last pass
            with app.app_context():
                body()
            passes.append(change_and_warm())
            with app.app_context():
                t0 = time.perf_counter()
                body()
                samples.append((time.perf_counter() - t0) * 1000)
        print(f"{name:<40} {statistics.median(samples):>9.1f} {statistics.median(passes):>10.1f}", flush=True)


def map_payloads(client) -> None:
    """The map's request at the zooms people use (queries/maps.py: grid cells below the detail zoom, single
    reports in a small box), raw and gzipped as nginx would send it (level 5, the guide's setting), and its
    time, with the cache emptied before each run so it never answers."""
    import gzip

    import orjson

    from dashboard.cache import cache
    from dashboard.components.filter_bar import preset_range

    year = "from={}&to={}".format(*preset_range("12m"))
    views = (("province, zoom 8 (no bbox)", year), ("province, zoom 8, everything", "zoom=8"),
             ("district, zoom 11", f"{year}&zoom=11&bbox=106.35,17.27,106.90,17.63"),
             ("town, zoom 13", f"{year}&zoom=13&bbox=106.56,17.41,106.70,17.50"),
             ("street, zoom 15 (centre)", f"{year}&zoom=15&bbox=106.615,17.441,106.649,17.463"),
             ("street, zoom 15 (outskirts)", f"{year}&zoom=15&bbox=106.4506,17.2678,106.4846,17.2898"),
             ("any box, zoom 13 x province", "zoom=13&bbox=104,15,109,19"))
    print("\nmap request (GeoJSON), median of 3")
    for label, query in views:
        samples = []
        for _ in range(3):
            with client.application.app_context():
                cache.clear()
            t0 = time.perf_counter()
            body = client.get(f"/api/v1/map/points?{query}").get_data()
            samples.append((time.perf_counter() - t0) * 1000)
        meta = orjson.loads(body)["meta"]
        zipped = len(gzip.compress(body, compresslevel=5))
        print(f"  {label:<30} {meta['mode']:<6} {meta['shown']:>10,} / {meta['total']:>10,}  "
              f"{len(body) / 1e6:>6.3f} MB raw, {zipped / 1e6:>6.3f} MB gzipped, {statistics.median(samples):>7.1f} ms")


if __name__ == "__main__":
    main()
