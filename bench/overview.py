"""Time the overview's queries and its whole callback on a large SQLite database.

    python bench/overview.py [--reports 1000000] [--runs 5] [--db PATH] [--url DATABASE_URL]

Seeds the demo province with --reports reports (no status history: the overview does not read it)
into bench/results/overview-<N>.sqlite3 unless that file already holds them, then prints, for two
filters, the median of --runs warm runs in ms for each query, for the whole overview callback
(build_overview: every query plus the figures) and for the map-points route.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_PASSWORD = "chi-de-do-toc-do-2026"
sys.path.insert(0, str(ROOT))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--db", type=Path, default=None, help="SQLite file (default bench/results/overview-N.sqlite3)")
    p.add_argument("--url", default=None, help="Any SQLAlchemy URL instead of the SQLite file")
    p.add_argument("--events", action="store_true", help="Seed the status history too (bounce-back metrics)")
    return p.parse_args()


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm-up: page cache, compiled statements
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def prepare(args):
    """The seeded database (seeded once per size) and a logged-in test client of the app on it."""
    path = args.db or ROOT / "bench" / "results" / f"overview-{args.reports}.sqlite3"
    url = args.url or f"sqlite:///{path}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("INSTANCE_DIR", str(ROOT / "bench" / "results" / "instance"))

    from sqlalchemy import func, select

    from queries.db import Database
    from queries.demo import seed_demo
    from queries.migrate import upgrade
    from queries.reference import load_reference_data
    from queries.schema import reports
    from queries.users import create_user, get_user_by_name

    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    have = db.scalar(select(func.count()).select_from(reports))
    stale = db.scalar(select(func.count()).select_from(reports).where(reports.c.sla_policy_id.isnot(None))) == 0
    # A database given by --url is never re-seeded once it has reports (a large one is slow to build with
    # bench/scale_up.py); the default SQLite file is re-seeded when it has fewer reports than asked for, not
    # when a load test (bench/load.sh) has added a few hundred (re-seeding over it is slow).
    if (args.url and have) or (args.reports <= have <= args.reports * 1.01 and not stale):
        if have != args.reports:
            print(f"using the {have:,} reports already in {url}", flush=True)
    elif have != args.reports or stale:
        print(f"seeding {args.reports:,} reports into {url} …", flush=True)
        t0 = time.perf_counter()
        seed_demo(db, n=args.reports, seed=args.seed, with_events=args.events, replace=True)
        print(f"  seeded in {time.perf_counter() - t0:.1f} s", flush=True)
        with db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    if get_user_by_name("bench", db) is None:
        create_user("bench", BENCH_PASSWORD, "leader", db=db)

    from app import create_app

    server = create_app()
    client = server.test_client()
    client.environ_base["HTTP_ORIGIN"] = "http://localhost"  # page updates come from our own pages
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": "bench", "password": BENCH_PASSWORD, "csrf_token": token},
                       ).status_code == 302, "the bench user could not sign in"
    client.get("/")  # Dash imports and registers the page modules on its first request
    return db, client


def main() -> None:
    args = parse_args()
    db, client = prepare(args)
    from dashboard.components.filter_bar import preset_range
    from dashboard.pages.overview import build_overview, trend_grain
    from queries import maps, overview
    from queries.filters import Filter

    start, end = preset_range("12m")
    scenarios = {
        "12 months, no filter": Filter(start=start, end=end),
        "90 days, one category": Filter(start=end - timedelta(days=89), end=end, categories=("MT",)),
    }
    print(f"\n{args.reports:,} reports · {db.dialect} · median of {args.runs} warm runs (max in brackets), ms\n")
    for label, f in scenarios.items():
        rows = [
            ("headline_counts", lambda f=f: overview.headline_counts(f)),
            ("backlog_by_agency", lambda f=f: overview.backlog_by_agency(f)),
            ("on_time_rate_by_agency", lambda f=f: overview.on_time_rate_by_agency(f)),
            ("resolution_time_by_agency", lambda f=f: overview.resolution_time_by_agency(f)),
            ("resolution_time_by_category", lambda f=f: overview.resolution_time_by_category(f)),
            ("satisfaction_by_agency", lambda f=f: overview.satisfaction_by_agency(f)),
            (f"counts_over_time ({trend_grain(f)})", lambda f=f: overview.counts_over_time(f, trend_grain(f))),
            ("counts_by channel", lambda f=f: overview.counts_by(f, "channel")),
            ("commune_counts", lambda f=f: overview.commune_counts(f)),
            ("data_version", lambda: overview.data_version()),
            ("map_cells (province, zoom 8)", lambda f=f: maps.map_cells(f, 8, maps.PROVINCE)),
            ("OVERVIEW CALLBACK (build_overview)", lambda f=f: build_overview(f)),
            ("map points route (GeoJSON)", lambda f=f: client.get(
                "/api/v1/map/points", query_string={**f.to_params(), "nocache": time.perf_counter()})),
        ]
        print(f"{label}")
        for name, fn in rows:
            median, worst = timed(fn, args.runs)
            print(f"  {name:<38} {median:>9.1f}  ({worst:.1f})", flush=True)
        print()


if __name__ == "__main__":
    main()
