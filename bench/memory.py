"""A serving worker's memory: RSS after the app starts and at its peak while every heavy callback runs with the
cache emptied, on an analytics copy that bench/callbacks.py built.

    python bench/memory.py --url DATABASE_URL --copy ANALYTICS_DIR [--rounds 3]

Run it once per DuckDB setting to compare, in a fresh process each time (RSS never shrinks back to what a
new worker has), e.g. ANALYTICS_MEMORY=192MB python bench/memory.py … . The sync is not running here, as in a
web worker with ANALYTICS_SYNC=external; the copy's age is ignored.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> tuple[float, float]:
    """(now, peak) resident memory of this process, MB."""
    status = Path("/proc/self/status").read_text()
    value = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    return value["VmRSS"] / 1024, value["VmHWM"] / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--copy", type=Path, required=True, help="The analytics copy's folder (manifest.json inside)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    os.environ.update(DATABASE_URL=args.url, ANALYTICS_DIR=str(args.copy), ANALYTICS="duckdb",
                      SEED_DEMO_IF_EMPTY="0", ANALYTICS_MAX_LAG_SECONDS="100000000")
    os.environ.setdefault("INSTANCE_DIR", str(ROOT / "bench" / "results" / "memory-instance"))

    import app as app_module

    server = app_module.create_app()
    from sqlalchemy import text

    from bench.callbacks import callbacks
    from dashboard.cache import cache
    from queries import analytics

    assert isinstance(analytics.reader(), analytics.AnalyticsDatabase), "the copy is not being read"
    copy = analytics.reader()
    limit, flush = (copy.scalar(text(f"SELECT current_setting('{name}')"))
                    for name in ("memory_limit", "allocator_flush_threshold"))
    print(f"DuckDB memory_limit {limit}, allocator flush threshold {flush}")
    print(f"{'after start':<40} {rss_mb()[0]:>7.0f} MB")
    for round_ in range(args.rounds):
        for name, fn, _setup in callbacks(server):
            with server.app_context():
                cache.clear()
            started = time.perf_counter()
            fn()
            took = (time.perf_counter() - started) * 1000
            now, peak = rss_mb()
            if round_ == args.rounds - 1:
                print(f"{name:<40} {now:>7.0f} MB now, {peak:>5.0f} MB peak, {took:>7.0f} ms")
    print(f"{'peak':<40} {rss_mb()[1]:>7.0f} MB")


if __name__ == "__main__":
    main()
