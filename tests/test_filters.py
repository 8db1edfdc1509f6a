"""Filter: URL round trip, parsing of lists and dates, local-day to UTC bounds, scope, and bad codes."""

from __future__ import annotations

import unicodedata
from dataclasses import fields
from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest

from queries import overview
from queries.filters import LIST_FIELDS, PARAM_NAMES, Filter, FilterError
from tests.conftest import NOW

# Vietnam has been UTC+7 without daylight saving since 1975: local midnight is 17:00 UTC the day before.
OFFSET = timedelta(hours=7)

FULL = Filter(start=date(2026, 1, 1), end=date(2026, 3, 31), categories=("MT", "GT"), agencies=("SXD", "CAT"),
              communes=("18859", "18871"), channels=("app", "hotline"), statuses=("resolved", "in_progress"))
ROUND_TRIP = {
    "empty": Filter(),
    "full": FULL,
    "dates_only": Filter(start=date(2025, 9, 1), end=date(2025, 11, 30)),
    "open_start": Filter(end=date(2026, 2, 28)),
    "one_list": Filter(communes=("18859",)),
    "vietnamese_and_punctuation_codes": Filter(agencies=("UB18859", "ĐK-1.2", "a_b")),
}
BAD_CODES = ("MT OR 1=1", "MT'; DROP TABLE reports;--", "a b", "<script>", "x" * 41, "MT)", "%", "*")


def local_midnight_utc(d: date) -> datetime:
    return datetime.combine(d, time.min) - OFFSET


def is_vietnamese(s: str) -> bool:
    return any(ch in "đĐ" or unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", s))


# --- URL round trip ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_round_trip_through_params(name):
    f = ROUND_TRIP[name]
    params = f.to_params()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    assert Filter.from_params(params) == f


def test_to_params_uses_singular_names_and_iso_dates():
    params = FULL.to_params()
    assert params["from"] == "2026-01-01" and params["to"] == "2026-03-31"
    for name in LIST_FIELDS:
        assert params[PARAM_NAMES[name]] == ",".join(getattr(FULL, name))
    assert set(params) == {"from", "to", *PARAM_NAMES.values()}
    # Nothing set, nothing in the URL.
    assert Filter().to_params() == {}


def test_canonical_params_survive_the_trip_the_other_way():
    params = {"from": "2025-12-01", "to": "2026-01-15", "category": "MT,DT", "channel": "portal",
              "status": "forwarded"}
    assert Filter.from_params(params).to_params() == params


# --- lists ---------------------------------------------------------------------------------------

def test_comma_separated_and_repeated_params_combine_in_order():
    f = Filter.from_params({"category": ["MT", "GT,XD", " DT ", "MT"], "agency": "SXD,,CAT,"})
    # First-seen order, duplicates and blanks dropped, spaces around codes trimmed.
    assert f.categories == ("MT", "GT", "XD", "DT")
    assert f.agencies == ("SXD", "CAT")


@pytest.mark.parametrize("field_name", LIST_FIELDS)
def test_each_list_field_reads_its_own_param(field_name):
    f = Filter.from_params({PARAM_NAMES[field_name]: "a,b"})
    assert getattr(f, field_name) == ("a", "b")
    for other in LIST_FIELDS:
        if other != field_name:
            assert getattr(f, other) == ()


@pytest.mark.parametrize("value", [None, "", [], [""], ",", " , "])
def test_blank_list_params_mean_no_filter(value):
    assert Filter.from_params({"category": value}).categories == ()


# --- dates ---------------------------------------------------------------------------------------

def test_dates_parse_and_blank_dates_are_open():
    f = Filter.from_params({"from": " 2026-02-28 ", "to": ""})
    assert f.start == date(2026, 2, 28) and f.end is None
    assert Filter.from_params({}).start is None


def test_repeated_date_takes_the_last_value():
    # request.args.getlist() hands lists; the last one typed wins, an empty list means no bound.
    f = Filter.from_params({"from": ["2026-01-01", "2026-02-01"], "to": []})
    assert f.start == date(2026, 2, 1) and f.end is None


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "01/02/2026", "2026/01/01", "2026-1-1", "hôm qua",
                                 "2026-01-01T00:00", "1=1", "20260101", "2026-W01-1"])
@pytest.mark.parametrize("param", ["from", "to"])
def test_malformed_date_raises_a_vietnamese_filter_error(param, bad):
    with pytest.raises(FilterError) as err:
        Filter.from_params({param: bad})
    message = str(err.value)
    assert isinstance(err.value, ValueError)  # callers that catch ValueError still work
    assert is_vietnamese(message)
    # The user can see which parameter was wrong and what they typed.
    assert f"'{param}'" in message and bad in message


# --- UTC bounds ----------------------------------------------------------------------------------

def test_new_year_local_is_the_evening_before_in_utc():
    start, end = Filter(start=date(2026, 1, 1), end=date(2026, 1, 1)).utc_bounds()
    assert start == datetime(2025, 12, 31, 17, 0)
    assert end == datetime(2026, 1, 1, 17, 0)  # exclusive: local midnight after the last day
    assert start.tzinfo is None and end.tzinfo is None  # stored timestamps are naive UTC


@pytest.mark.parametrize("start,end", [(date(2024, 2, 28), date(2024, 3, 1)), (date(2025, 12, 31), date(2026, 1, 1)),
                                       (date(2026, 6, 15), date(2026, 6, 15)), (date(2026, 3, 29), date(2026, 10, 25))])
def test_bounds_are_local_midnights_half_open(start, end):
    lo, hi = Filter(start=start, end=end).utc_bounds()
    assert lo == local_midnight_utc(start)
    assert hi == local_midnight_utc(end + timedelta(days=1))
    # Whole local days, both ends included (dates around European/US DST changes included: no DST here).
    assert hi - lo == timedelta(days=(end - start).days + 1)


def test_open_ends_stay_open():
    assert Filter().utc_bounds() == (None, None)
    assert Filter(start=date(2026, 5, 1)).utc_bounds() == (local_midnight_utc(date(2026, 5, 1)), None)
    assert Filter(end=date(2026, 5, 1)).utc_bounds() == (None, local_midnight_utc(date(2026, 5, 2)))


@pytest.mark.parametrize("day", [date(2026, 1, 1), date(2026, 9, 15), date(2026, 11, 20)])
def test_bounds_select_exactly_the_reports_of_those_local_days(raw, day):
    rep = raw["reports"]
    lo, hi = Filter(start=day, end=day).utc_bounds()
    by_bounds = (rep["created_at"] >= lo) & (rep["created_at"] < hi)
    by_local_day = (rep["created_at"] + pd.Timedelta(hours=7)).dt.date == day
    assert by_bounds.sum() > 0, "the day must hold reports for this to test anything"
    assert (by_bounds == by_local_day).all()


def test_end_bound_excludes_local_midnight_and_includes_the_instant_before():
    _, hi = Filter(end=date(2026, 11, 20)).utc_bounds()
    last_instant = datetime(2026, 11, 20, 23, 59, 59, 999999) - OFFSET
    assert last_instant < hi
    assert not datetime(2026, 11, 21, 0, 0) - OFFSET < hi


def test_is_empty_range():
    assert Filter(start=date(2026, 5, 1), end=date(2026, 4, 30)).is_empty_range()
    assert not Filter(start=date(2026, 5, 1), end=date(2026, 5, 1)).is_empty_range()
    assert not Filter(start=date(2026, 5, 1)).is_empty_range()
    assert not Filter(end=date(2026, 5, 1)).is_empty_range()
    # A reversed range parses (the page shows it as empty) rather than raising.
    assert Filter.from_params({"from": "2026-05-01", "to": "2026-04-01"}).is_empty_range()


# --- scope ---------------------------------------------------------------------------------------

def test_scoped_sets_only_the_scope():
    scoped = FULL.scoped("SXD")
    assert scoped.scope_agency == "SXD"
    for fld in fields(Filter):
        if fld.name != "scope_agency":
            assert getattr(scoped, fld.name) == getattr(FULL, fld.name), fld.name
    assert FULL.scope_agency is None  # the original is untouched
    assert scoped.scoped(None) == FULL


def test_scope_never_comes_from_or_goes_to_the_url():
    f = Filter.from_params({"scope_agency": "SXD", "scope": "SXD", "agency": "CAT"})
    assert f.scope_agency is None and f.agencies == ("CAT",)
    assert "SXD" not in FULL.scoped("SXD").to_params().values()
    assert FULL.scoped("SXD").to_params() == FULL.to_params()


# --- bad codes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", BAD_CODES)
@pytest.mark.parametrize("field_name", LIST_FIELDS)
def test_invalid_code_does_not_widen_the_filter(field_name, bad):
    values = getattr(Filter.from_params({PARAM_NAMES[field_name]: bad}), field_name)
    # Dropping it would leave () = "everything"; the filter must stay restrictive.
    assert values != ()
    assert bad not in values  # the raw text never reaches SQL as a code


def test_valid_codes_next_to_an_invalid_one_are_kept():
    f = Filter.from_params({"category": "MT,a b,GT"})
    assert {"MT", "GT"} <= set(f.categories) and "a b" not in f.categories
    # Still a restriction to (at most) MT and GT, not everything.
    assert len(f.categories) >= 2


def test_code_length_limit():
    assert Filter.from_params({"agency": "x" * 40}).agencies == ("x" * 40,)
    assert Filter.from_params({"agency": "x" * 41}).agencies != ("x" * 41,)


@pytest.mark.parametrize("dialect", [
    "sqlite",
    "postgresql",
])
def test_invalid_code_selects_nothing_in_the_database(request, raw_by_dialect, dialect):
    db = request.getfixturevalue("sqlite_db" if dialect == "sqlite" else "pg_db")
    rep = raw_by_dialect[dialect]["reports"]
    cats = raw_by_dialect[dialect]["categories"].set_index("code")["id"]
    only_bad = Filter.from_params({"category": "MT OR 1=1"})
    assert overview.headline_counts(only_bad, db, now=NOW).iloc[0]["total"] == 0
    mixed = Filter.from_params({"category": "MT,a b", "commune": "18859,1 OR 1=1"})
    want = int(((rep["category_id"] == cats["MT"]) & (rep["commune_code"] == "18859")).sum())
    assert want > 0
    assert overview.headline_counts(mixed, db, now=NOW).iloc[0]["total"] == want
