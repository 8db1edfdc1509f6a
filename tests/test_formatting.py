"""Vietnamese number and date formats: '.' groups thousands, ',' marks decimals, dates dd/mm/yyyy, local time."""

from __future__ import annotations

import math
import random
import re
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from dashboard.formatting import fmt_date, fmt_decimal, fmt_int, fmt_local_datetime, fmt_pct, now_local_text
from queries.filters import LOCAL_TZ

MISSING = [None, float("nan"), math.nan, np.nan, np.float64("nan")]
# Deterministic sample of magnitudes from 0 to beyond a billion, both signs.
RNG = random.Random(20260101)
INTS = [0, 7, 999, 1000, 12345, 1_000_000] + [RNG.randrange(-10**10, 10**10) for _ in range(40)]


def group_thousands(digits: str) -> str:
    """'1234567' -> '1.234.567', written from the right by hand (no locale or format spec)."""
    chunks = []
    while len(digits) > 3:
        chunks.insert(0, digits[-3:])
        digits = digits[:-3]
    chunks.insert(0, digits)
    return ".".join(chunks)


def vn_to_float(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


# --- integers ------------------------------------------------------------------------------------

def test_fmt_int_examples():
    assert fmt_int(12345) == "12.345"
    assert fmt_int(1_234_567) == "1.234.567"
    assert fmt_int(999) == "999"
    assert fmt_int(0) == "0"


@pytest.mark.parametrize("n", INTS)
def test_fmt_int_groups_by_three_with_dots(n):
    sign = "-" if n < 0 else ""
    assert fmt_int(n) == sign + group_thousands(str(abs(n)))


def test_fmt_int_accepts_numpy_and_integral_floats():
    # Counts come out of pandas as numpy ints, or floats when a column had a NULL.
    assert fmt_int(np.int64(12345)) == fmt_int(12345.0) == fmt_int(np.float64(12345)) == "12.345"


# --- decimals and percentages --------------------------------------------------------------------

def test_fmt_decimal_examples():
    assert fmt_decimal(1234.5) == "1.234,5"
    assert fmt_decimal(3.14159, 2) == "3,14"
    assert fmt_decimal(1_234_567.891, 2) == "1.234.567,89"
    assert fmt_decimal(7, 0) == "7"  # no decimals, no dangling comma


@pytest.mark.parametrize("places", [0, 1, 2, 3])
@pytest.mark.parametrize("x", [0.0, 0.05, 1.5, 12.345678, 999.96, 1234.5, 98765.4321, -1234.56])
def test_fmt_decimal_reads_back_as_the_rounded_value(x, places):
    text = fmt_decimal(x, places)
    whole, _, frac = text.lstrip("-").partition(",")
    assert len(frac) == places and (places == 0) == ("," not in text)
    assert re.fullmatch(r"\d{1,3}(\.\d{3})*", whole), text
    assert vn_to_float(text) == pytest.approx(x, abs=0.5 * 10**-places + 1e-9)


def test_fmt_pct_examples():
    assert fmt_pct(0.875) == "87,5 %"
    assert fmt_pct(1) == "100,0 %"
    assert fmt_pct(0) == "0,0 %"
    assert fmt_pct(0.5, 0) == "50 %"
    assert fmt_pct(0.123456, 2) == "12,35 %"


@pytest.mark.parametrize("share", [0.0, 0.001, 0.0449, 0.5, 0.9994, 1.0, 12.5])
def test_fmt_pct_is_the_decimal_of_a_hundred_times_the_share(share):
    text = fmt_pct(share)
    assert text.endswith(" %")  # Vietnamese typography: a space before the sign
    assert vn_to_float(text[:-2]) == pytest.approx(share * 100, abs=0.05 + 1e-9)


@pytest.mark.parametrize("value", MISSING)
@pytest.mark.parametrize("fmt", [fmt_int, fmt_decimal, fmt_pct])
def test_missing_numbers_show_a_dash(fmt, value):
    assert fmt(value) == "—"


# --- dates and times -----------------------------------------------------------------------------

@pytest.mark.parametrize("d", [date(2026, 1, 5), date(2024, 2, 29), date(2025, 12, 31), date(1999, 10, 1)])
def test_fmt_date_is_day_month_year(d):
    expected = f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
    assert fmt_date(d) == expected
    # A datetime shows its calendar date only.
    assert fmt_date(datetime(d.year, d.month, d.day, 23, 59)) == expected


def test_fmt_date_of_nothing_is_blank():
    assert fmt_date(None) == ""
    assert fmt_date(pd.NaT) == "" and fmt_local_datetime(pd.NaT) == ""


@pytest.mark.parametrize("value", [np.float32("nan"), pd.NA, np.nan])
def test_every_kind_of_missing_number_shows_a_dash(value):
    assert fmt_int(value) == fmt_decimal(value) == fmt_pct(value) == "—"


def test_fmt_int_rounds_rather_than_truncates():
    assert fmt_int(12345.9) == "12.346" and fmt_int(0.4) == "0"


@pytest.mark.parametrize("ts", [datetime(2025, 12, 31, 17, 0), datetime(2026, 11, 20, 9, 30),
                                datetime(2024, 2, 28, 20, 15), datetime(2026, 6, 30, 16, 59, 59)])
def test_fmt_local_datetime_shows_utc_plus_seven(ts):
    local = ts + timedelta(hours=7)  # Asia/Ho_Chi_Minh, no DST
    want = f"{local.hour:02d}:{local.minute:02d} {local.day:02d}/{local.month:02d}/{local.year}"
    assert fmt_local_datetime(ts) == want


def test_fmt_local_datetime_crosses_into_the_local_new_year():
    assert fmt_local_datetime(datetime(2025, 12, 31, 17, 0)) == "00:00 01/01/2026"
    assert fmt_local_datetime(None) == ""


def test_now_local_text_is_the_current_local_minute():
    before = datetime.now(LOCAL_TZ).replace(tzinfo=None, second=0, microsecond=0)
    shown = datetime.strptime(now_local_text(), "%H:%M %d/%m/%Y")
    after = datetime.now(LOCAL_TZ).replace(tzinfo=None)
    assert before <= shown <= after


def test_case_rows_write_dates_as_fmt_local_datetime_does():
    """case_rows formats whole columns at once; each cell must read as the one-value formatter writes it."""
    from dashboard.components.case_table import case_rows

    created = [datetime(2026, 11, 30, 17, 5), datetime(2026, 12, 31, 16, 59, 59), datetime(2025, 1, 1, 0, 0)]
    deadlines = [datetime(2026, 12, 1, 2, 0), None, datetime(2024, 12, 31, 17, 0)]
    frame = pd.DataFrame({"code": ["PA-1", "PA-2", "PA-3"], "status": "forwarded", "urgent": [True, False, False],
                          "created_at": created, "deadline_at": deadlines, "working_days_left": [1.0, None, -2.5]})
    rows = case_rows(frame)
    assert [r["received"] for r in rows] == [fmt_local_datetime(t) for t in created] == [
        "00:05 01/12/2026", "23:59 31/12/2026", "07:00 01/01/2025"]
    assert [r["deadline"] for r in rows] == ["09:00 01/12/2026", "", "00:00 01/01/2025"]
    assert [r["overdue"] for r in rows] == [0, 0, 1] and rows[0]["flags"] == "Khẩn"


def test_a_list_title_says_more_than_past_the_count_cap():
    from dashboard.components.case_table import one_page, with_count
    from queries.sql import COUNT_CAP

    assert with_count("Phản ánh quá hạn", 1234) == "Phản ánh quá hạn (1.234)"
    assert with_count("Phản ánh quá hạn", COUNT_CAP) == "Phản ánh quá hạn (10.000)"
    assert with_count("Phản ánh quá hạn", COUNT_CAP + 1) == "Phản ánh quá hạn (hơn 10.000)"
    import pandas as pd
    assert one_page(pd.DataFrame(columns=["code"]), COUNT_CAP + 1, 10_000)[1:] == (667, 666)  # 15 a page
