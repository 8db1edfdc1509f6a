"""How long a write takes to show in the analytics copy, through the real sync loop.

    python bench/freshness.py [--url DATABASE_URL] [--dir ANALYTICS_DIR] [--rounds 3]

The defaults are the 10M PostgreSQL database of bench/scale_up.py and the copy bench/callbacks.py built for
it (run that first: a full build takes minutes). The sync runs as its own process (`flask analytics-sync`,
as in the deployment guide). Each round:

1. submits a report through the Open311 intake (queries/open311.py) and waits until the province's total on
   the copy has grown by one;
2. forwards a report of the month before the newest, still with the IOC, to the Sở Xây dựng through the
   workflow (queries/workflow.py), and waits until that agency's pending count on the copy has grown by one.
   Last month's reports are the slow case for a sync that exported whole months.

It prints the seconds from each write to the moment the copy shows it. The target is one wall refresh (30 s).
Writes go to the database for real: run it on a benchmark database only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench10m"
DEFAULT_DIR = ROOT / "bench" / "results" / "instance" / "analytics-postgresql-10000000"
GIVE_UP_SECONDS = 180


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="the analytics copy (ANALYTICS_DIR)")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def wait_for(read, wanted, started: float) -> float:
    while read() != wanted:
        if time.monotonic() - started > GIVE_UP_SECONDS:
            raise SystemExit(f"not in the copy after {GIVE_UP_SECONDS} s")
        time.sleep(0.25)
    return time.monotonic() - started


def main() -> None:
    args = parse_args()
    os.environ.update(DATABASE_URL=args.url, ANALYTICS_DIR=args.dir, ANALYTICS="duckdb")
    from datetime import datetime

    from sqlalchemy import func, select

    from queries import analytics, open311, overview, workflow
    from queries.access import Viewer
    from queries.analytics import AnalyticsDatabase
    from queries.db import Database
    from queries.filters import Filter, utc_now
    from queries.schema import reports

    db = Database(args.url)
    manifest = analytics.read_manifest(Path(args.dir))
    if manifest is None or manifest["database"] != db.url:
        raise SystemExit(f"no copy of {args.url} in {args.dir}: run bench/callbacks.py --url … first")
    month_before = sorted(manifest["months"])[-2]
    start, end = (datetime.strptime(m, "%Y-%m") for m in (month_before, sorted(manifest["months"])[-1]))
    log = Path(args.dir) / "freshness-sync.log"
    sync = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "analytics-sync"], cwd=ROOT,
                            env={"SECRET_KEY": "bench-freshness-secret-key-of-32-chars", **os.environ},
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    copy = AnalyticsDatabase(Path(args.dir))
    operator = Viewer(user_id=None, username="bench", role="operator")

    def total() -> int:
        copy.refresh()
        return int(overview.headline_counts(Filter(), copy).iloc[0]["total"])

    def pending_at(agency: str) -> int:
        copy.refresh()
        backlog = overview.backlog_by_agency(Filter(), copy)
        return int(backlog.loc[backlog["agency_code"] == agency, "pending"].sum())

    try:
        # Let the loop take the lock and finish a first cycle (catching up with whatever changed before).
        launched = utc_now()
        wait_for(lambda: datetime.fromisoformat(analytics.read_manifest(Path(args.dir))["synced_at"]) >= launched,
                 True, time.monotonic())
        key = open311.get_api_key("bench-freshness", db=db) or \
            open311.create_api_key("bench-freshness", "app", db=db)[0]
        print(f"{db.scalar(select(func.count()).select_from(reports)):,} reports; sync log {log}", flush=True)
        for round_ in range(1, args.rounds + 1):
            before = total()
            started = time.monotonic()
            submitted = open311.submit_report(open311.NewReport(
                service_code="MT", description="Cống thoát nước bị tắc, nước tràn lên mặt đường",
                lat=16.8163, lon=107.1003), key, db=db)
            took = wait_for(total, before + 1, started)
            print(f"round {round_}: Open311 submission {submitted.code} in the copy after {took:.1f} s", flush=True)

            waiting = db.read_rows(select(reports.c.code, reports.c.version).where(
                reports.c.created_at >= start, reports.c.created_at < end,
                reports.c.status.in_(("received", "classified"))).limit(1))[0]
            before = pending_at("SXD")
            started = time.monotonic()
            outcome = workflow.forward(waiting["code"], waiting["version"], operator, "SXD", category_code="XD",
                                       db=db)
            took = wait_for(lambda: pending_at("SXD"), before + 1, started)
            print(f"round {round_}: {month_before}'s {waiting['code']} forwarded ({outcome.status}) in the copy "
                  f"after {took:.1f} s", flush=True)
    finally:
        sync.terminate()
        sync.wait()
        copy.dispose()


if __name__ == "__main__":
    main()
