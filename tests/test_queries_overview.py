"""Every overview query against an independent pandas computation, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from queries import overview
from queries.filters import Filter
from tests import independent
from tests.conftest import NOW

FILTERS = {
    "everything": Filter(),
    "last_90_days": Filter(start=date(2026, 8, 23), end=date(2026, 11, 20)),
    "storm_season_sanitation": Filter(start=date(2025, 9, 1), end=date(2025, 11, 30), categories=("MT",)),
    "two_agencies": Filter(agencies=("SXD", "CAT")),
    "commune_and_channel": Filter(communes=("18880", "19333"), channels=("app", "hotline")),
    "open_only": Filter(statuses=("received", "classified", "forwarded", "in_progress")),
    "agency_scope": Filter(start=date(2026, 1, 1), end=date(2026, 11, 20)).scoped("SXD"),
    "scope_cannot_widen": Filter(agencies=("CAT",)).scoped("SXD"),
    "unknown_codes": Filter(categories=("NOPE",), communes=("00000",)),
    "empty_range": Filter(start=date(2026, 5, 1), end=date(2026, 4, 1)),
    "one_day": Filter(start=date(2026, 11, 19), end=date(2026, 11, 19)),
}
EMPTY = {"scope_cannot_widen", "unknown_codes", "empty_range"}


def assert_same(got: pd.DataFrame | pd.Series, want: pd.DataFrame | pd.Series) -> None:
    """Equal values; an empty result only needs to be empty on both sides (dtypes of nothing differ)."""
    if len(want) == 0:
        assert len(got) == 0
        return
    if isinstance(want, pd.Series):
        pd.testing.assert_series_equal(got, want, check_names=False, check_dtype=False, check_index_type=False)
    else:
        pd.testing.assert_frame_equal(got, want, check_names=False, check_dtype=False, check_index_type=False)


@pytest.fixture(params=list(FILTERS))
def case(request):
    return request.param, FILTERS[request.param]


def test_headline_counts_match_pandas(db, raw, case):
    name, f = case
    got = overview.headline_counts(f, db, now=NOW).iloc[0]
    want = independent.headline(raw, f, NOW)
    for key, value in want.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9), key
    if name in EMPTY:
        assert want["total"] == 0
    else:
        assert want["total"] > 0, "the fixture data must exercise this filter"


def test_headline_adds_up(db, case):
    _, f = case
    head = overview.headline_counts(f, db, now=NOW).iloc[0]
    assert head["resolved"] + head["pending"] + head["rejected"] == head["total"]
    assert head["overdue"] <= head["pending"]


def test_backlog_by_agency_matches_pandas(db, raw, case):
    _, f = case
    got = overview.backlog_by_agency(f, db, now=NOW)
    want = independent.backlog(raw, f, NOW)
    got_indexed = got.assign(agency_code=got["agency_code"].fillna("<none>")).set_index("agency_code")
    cols = ["total", "resolved", "pending", "overdue", "rejected"]
    assert_same(got_indexed[cols].sort_index(), want[cols])
    # Sorted by pending, as the chart shows it.
    assert list(got["pending"]) == sorted(got["pending"], reverse=True)


@pytest.mark.parametrize("by", ["agency", "category"])
def test_resolution_time_percentiles_match_pandas(db, raw, case, by):
    _, f = case
    fn = overview.resolution_time_by_agency if by == "agency" else overview.resolution_time_by_category
    got = fn(f, db).set_index(f"{by}_code").sort_index()
    want = independent.resolution_time(raw, f, f"{by}_code")
    assert list(got.index) == list(want.index)
    assert list(got["n"]) == list(want["n"])
    np.testing.assert_allclose(got["median_days"], want["median_days"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["p90_days"], want["p90_days"], rtol=1e-6, atol=1e-6)


def test_satisfaction_by_agency_matches_pandas(db, raw, case):
    _, f = case
    got = overview.satisfaction_by_agency(f, db).set_index("agency_code").sort_index()
    want = independent.satisfaction(raw, f)
    assert_same(got[want.columns], want)


@pytest.mark.parametrize("grain", ["day", "week", "month"])
@pytest.mark.parametrize("by,key_col", [("category", "category_code"), ("channel", "channel"),
                                        ("commune", "commune_code")])
def test_counts_over_time_match_pandas(db, raw, grain, by, key_col):
    f = FILTERS["last_90_days"]
    got = overview.counts_over_time(f, grain, by, db)
    got = got.assign(key=got["key"].fillna("<none>")).set_index(["period", "key"])["n"].sort_index()
    want = independent.counts_over_time(raw, f, grain, key_col)
    assert got.sum() == want.sum() > 0
    assert_same(got, want)


@pytest.mark.parametrize("by", ["category", "channel", "commune"])
def test_totals_of_counts_over_time_are_counts_by(db, case, by):
    """The wall sums its daily counts per field instead of asking again: the same frame as counts_by."""
    _, f = case
    got = overview.totals(overview.counts_over_time(f, "day", by, db))
    want = overview.counts_by(f, by, db)
    assert_same(got, want)
    if case[0] not in EMPTY:
        assert want["n"].sum() > 0


def test_counts_by_channel_match_pandas(db, raw, case):
    _, f = case
    got = overview.counts_by(f, "channel", db).set_index("key")["n"].sort_index()
    want = independent.select_reports(raw, f).groupby("channel").size().sort_index()
    assert_same(got, want)


def test_commune_counts_match_pandas(db, raw, case):
    _, f = case
    got = overview.commune_counts(f, db, now=NOW).set_index("code").sort_index()
    want = independent.commune_counts(raw, f, NOW)
    assert_same(got[want.columns], want)
    assert got["lat"].notna().all() and got["lon"].notna().all()


def test_overview_summary_is_the_headline_and_backlog(db, raw):
    f = FILTERS["last_90_days"]
    summary = overview.overview_summary(f, db, now=NOW)
    want = independent.headline(raw, f, NOW)
    for key in ("total", "resolved", "pending", "overdue", "rejected", "rating_count"):
        assert summary[key] == want[key], key
    assert summary["agency_on_time_rate"] == pytest.approx(want["agency_on_time_rate"])
    assert summary["satisfaction_mean"] == pytest.approx(want["satisfaction_mean"])
    assert sum(a["pending"] for a in summary["backlog_by_agency"]) == want["pending"]
    assert {a["code"] for a in summary["backlog_by_agency"]} >= {"SXD", "CAT"}


def test_data_version_changes_when_a_report_changes(tmp_path):
    from sqlalchemy import update

    from queries.db import Database
    from queries.schema import reports
    from tests.conftest import _seed

    db = _seed(Database(f"sqlite:///{tmp_path / 'v.sqlite3'}"), n=50)
    before = overview.data_version(db)
    with db.begin() as conn:
        conn.execute(update(reports).where(reports.c.id == 1).values(updated_at=NOW.replace(year=2030)))
    assert overview.data_version(db) != before


# --- narrowing a view that holds too many reports -------------------------------------------------------------

def pandas_narrowing(raw: dict, f: Filter, limit: int) -> tuple[date, int, int]:
    """(new start, reports in the period, reports kept): the newest local months whose reports add up to at
    most `limit` (at least the newest month)."""
    df = independent.select_reports(raw, f)
    months = (df["created_at"] + pd.Timedelta(hours=7)).dt.strftime("%Y-%m-01").value_counts().sort_index(
        ascending=False)
    kept, first = 0, None
    for month, n in months.items():
        if first is not None and kept + n > limit:
            break
        kept, first = kept + int(n), date.fromisoformat(month)
    return first, int(months.sum()), kept


@pytest.mark.parametrize("f", [Filter(), Filter(start=date(2006, 1, 1), end=date(2026, 11, 20)),
                               Filter(agencies=("SXD", "CAT"), start=date(2006, 1, 1), end=date(2026, 11, 20))],
                         ids=["everything", "twenty_years", "twenty_years_two_agencies"])
def test_a_view_over_the_row_limit_keeps_its_newest_months(db, raw, f):
    total = len(independent.select_reports(raw, f))
    limit = total // 3
    narrowed, narrowing = overview.narrow_to_limit(f, db, limit=limit)
    start, want_total, want_kept = pandas_narrowing(raw, f, limit)
    assert narrowing is not None and narrowing.total == want_total == total
    assert (narrowing.start, narrowing.shown) == (start, want_kept)
    assert narrowing.shown <= limit and narrowing.start.day == 1
    assert narrowed.start == start and narrowed.end == f.end and narrowed.agencies == f.agencies
    # The narrowed view holds exactly the reports the message says it shows.
    assert overview.headline_counts(narrowed, db, now=NOW).iloc[0]["total"] == narrowing.shown


def test_views_within_the_limit_or_short_are_left_alone(db, raw):
    everything = Filter()
    assert overview.narrow_to_limit(everything, db, limit=len(raw["reports"])) == (everything, None)
    # A period of a year or so is never narrowed, however small the limit: it costs no extra query.
    year = Filter(start=date(2025, 11, 21), end=date(2026, 11, 20))
    assert overview.narrow_to_limit(year, db, limit=1) == (year, None)
