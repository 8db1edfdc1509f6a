"""bench/callbacks.py's callbacks in this checkout and in another (an older commit), in turns, on one database.

    git worktree add /tmp/old <commit>
    python bench/compare.py --other /tmp/old [--rounds 3] [--runs 7] [--only "overview, 12 months|wall, data changed"]

Each round runs every callback, warm, in a fresh process of each checkout, one after the other, on the SQLite
file of bench/overview.py (--reports, default 1M; seeded by that script) and on each checkout's own analytics
copy (built on the first round). It prints the median over the rounds of each side's median, and the ratio
this / other: the machine's speed drifts between minutes, so only figures taken in turns compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--other", type=Path, help="the other checkout (a git worktree)")
    p.add_argument("--reports", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--only", default="", help="callback names, separated by |")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return p.parse_args()


def child(args) -> None:
    """In the checkout `args.child`: time its callbacks and print {name: median ms} as JSON."""
    root = args.child.resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    database = ROOT / "bench" / "results" / f"overview-{args.reports}.sqlite3"
    os.environ["INSTANCE_DIR"] = str(ROOT / "bench" / "results" / f"compare-{root.name}")
    sys.argv = [sys.argv[0], "--reports", str(args.reports), "--db", str(database)]
    from bench.overview import parse_args as overview_args
    from bench.overview import prepare

    db, client = prepare(overview_args())
    from bench.callbacks import callbacks, timed_with
    from queries import analytics, config
    from queries.db import configure

    configure(db.url)
    directory = config.settings().instance_dir / f"analytics-{args.reports}"
    config.use(config.changed(analytics_dir=directory, analytics="duckdb"))
    analytics.sync(db, directory)
    only = [name for name in args.only.split("|") if name]
    answer = {name: timed_with(fn, setup, args.runs)
              for name, fn, setup in callbacks(client.application) if not only or name in only}
    print(json.dumps(answer))


def run(checkout: Path, args) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(checkout), "--reports",
               str(args.reports), "--runs", str(args.runs), "--only", args.only]
    # A cold 1M file can take longer than the app's query limit for the first count.
    env = {**os.environ, "QUERY_TIMEOUT_SECONDS": "900"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    if args.other is None:
        sys.exit("--other: the checkout to compare with")
    this, other = [], []
    for i in range(args.rounds):
        this.append(run(ROOT, args))
        other.append(run(args.other, args))
        print(f"round {i + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    print(f"\n{args.reports:,} reports · median of {args.rounds} rounds' medians of {args.runs} warm runs, ms\n")
    print(f"{'callback':<45} {'other':>8} {'this':>8} {'ratio':>6}")
    for name in this[0]:
        if name not in other[0]:
            print(f"{name:<45} {'–':>8} {statistics.median(r[name] for r in this):>8.1f}")
            continue
        a, b = (statistics.median(r[name] for r in side) for side in (other, this))
        print(f"{name:<45} {a:>8.1f} {b:>8.1f} {b / a:>6.2f}")


if __name__ == "__main__":
    main()
