"""Time the scorecard, the agency page and the wall at scale (median of --runs warm runs, ms).

    python bench/pages.py [--reports 1000000] [--runs 5] [--events]

Uses the same seeded database as bench/overview.py. Without --events the status history is not seeded,
so bounce-backs read an empty table; with it, seeding takes several minutes at 1M.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.overview import parse_args, prepare, timed  # noqa: E402


def main() -> None:
    args = parse_args()
    db, _client = prepare(args)
    from dashboard.components.filter_bar import preset_range
    from dashboard.pages.wall import build_wall
    from queries import cases, scorecard, sla
    from queries.filters import Filter, local_today

    start, end = preset_range("12m")
    f = Filter(start=start, end=end)
    today = local_today()
    rows = [
        ("sla_metrics by agency (12 months)", lambda: sla.sla_metrics(f, "agency")),
        ("sla_metrics province (12 months)", lambda: sla.sla_metrics(f, None)),
        ("scorecard (month + previous month)", lambda: scorecard.scorecard(Filter(), "month", today)),
        ("scorecard (quarter + previous)", lambda: scorecard.scorecard(Filter(), "quarter", today)),
        ("agency vs province (SXD, 12 months)", lambda: scorecard.agency_vs_province("SXD", f)),
        ("agency monthly trend (SXD)", lambda: scorecard.monthly_trend(f, "SXD")),
        ("agency overdue list (SXD)", lambda: cases.open_cases("SXD", f, "overdue")),
        ("WALL CALLBACK (build_wall, uncached)", lambda: build_wall(None)),
        ("scorecard 30 days", lambda: scorecard.scorecard(Filter(start=today - timedelta(days=29)), "month")),
    ]
    print(f"\n{args.reports:,} reports · {db.dialect} · median of {args.runs} warm runs (max in brackets), ms\n")
    for name, fn in rows:
        median, worst = timed(fn, args.runs)
        print(f"  {name:<44} {median:>9.1f}  ({worst:.1f})", flush=True)


if __name__ == "__main__":
    main()
