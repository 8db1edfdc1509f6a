"""The working-time clock against an independent day-walking calendar built from the shared holiday file
(holidays==0.109, exported offline) and the office hours and make-up days of config/sla.yaml.

Nothing here goes through queries/workcalendar.py to compute an expected value: the reference below walks
local days and office intervals one by one. Expected deadlines in the named cases were also worked out by
hand (the arithmetic is in the comments).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queries.workcalendar import default_calendar
from tests.conftest import ROOT, TEST_SECRET

HOLIDAYS_CSV = ROOT.parent / "shared" / "data" / "vn_holidays" / "vn_public_holidays_2010_2035_holidays-0.109.csv"
CONFIG = ROOT / "config" / "sla.yaml"
UTC_OFFSET = timedelta(hours=7)  # Asia/Ho_Chi_Minh, no DST
FIRST, LAST = date(2011, 1, 1), date(2034, 10, 31)  # well inside the holiday file (2010–2035)


# --- the independent reference ------------------------------------------------------------------------

class RefCalendar:
    """Working time by walking local days: office intervals on working days only."""

    def __init__(self, config_path: Path = CONFIG, holidays_csv: Path = HOLIDAYS_CSV):
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        cal = raw["calendar"]
        self.intervals = [(self._td(a), self._td(b)) for a, b in cal["office_hours"]]
        self.makeup = {date.fromisoformat(str(d)) for d in cal.get("makeup_working_days") or []}
        self.extra_off = {date.fromisoformat(str(d)) for d in cal.get("extra_days_off") or []}
        table = pd.read_csv(holidays_csv, dtype=str)
        self.holidays = {date.fromisoformat(d) for d in table["date"]}
        self.day_seconds = sum((b - a).total_seconds() for a, b in self.intervals)
        self.policies = raw["policies"]
        self.min_resolved = int(raw["scorecard"]["min_resolved"])

    @staticmethod
    def _td(hhmm: str) -> timedelta:
        h, m = hhmm.split(":")
        return timedelta(hours=int(h), minutes=int(m))

    def is_working(self, d: date) -> bool:
        if d in self.makeup:
            return True
        return d.weekday() < 5 and d not in self.holidays and d not in self.extra_off

    def work_seconds_between(self, a: datetime, b: datetime) -> float:
        """Office seconds in [a, b] (local naive); negative when b < a."""
        if b < a:
            return -self.work_seconds_between(b, a)
        total, d = 0.0, a.date()
        while d <= b.date():
            if self.is_working(d):
                midnight = datetime.combine(d, time.min)
                for start, end in self.intervals:
                    lo, hi = max(a, midnight + start), min(b, midnight + end)
                    if hi > lo:
                        total += (hi - lo).total_seconds()
            d += timedelta(days=1)
        return total

    def working_days_between(self, a: datetime, b: datetime) -> float:
        return self.work_seconds_between(a, b) / self.day_seconds

    def add(self, t: datetime, seconds: float) -> datetime:
        """The earliest local instant by which `seconds` (> 0) of office time have passed since t."""
        assert seconds > 0
        remaining, d, cursor = seconds, t.date(), t
        while True:
            if self.is_working(d):
                midnight = datetime.combine(d, time.min)
                for start, end in self.intervals:
                    lo, hi = max(cursor, midnight + start), midnight + end
                    if hi <= lo:
                        continue
                    available = (hi - lo).total_seconds()
                    if remaining <= available:
                        return lo + timedelta(seconds=remaining)
                    remaining -= available
            d += timedelta(days=1)
            cursor = datetime.combine(d, time.min)

    def add_days(self, t: datetime, days: float = 0.0, hours: float = 0.0) -> datetime:
        return self.add(t, round(days * self.day_seconds + hours * 3600))

    def next_working_date(self, d: date, n: int) -> date:
        while n:
            d += timedelta(days=1)
            n -= self.is_working(d)
        return d

    def working_days_through(self, d: date, since: date) -> int:
        """Working days in (since, d]."""
        n, cur = 0, since
        while cur < d:
            cur += timedelta(days=1)
            n += self.is_working(cur)
        return n


@lru_cache(maxsize=1)
def ref_calendar() -> RefCalendar:
    return RefCalendar()


def to_utc(local: datetime) -> datetime:
    return local - UTC_OFFSET


def to_local(utc: datetime) -> datetime:
    return utc + UTC_OFFSET


def code_deadline(local_start: datetime, days: float = 0.0, hours: float = 0.0) -> datetime:
    """What the code under test says, in local time."""
    return to_local(default_calendar().deadline(to_utc(local_start), days=days, hours=hours))


def code_days_between(local_a: datetime, local_b: datetime) -> float:
    cal = default_calendar()
    return float(cal.working_days_between(np.datetime64(to_utc(local_a), "s"), np.datetime64(to_utc(local_b), "s")))


def L(text: str) -> datetime:  # noqa: N802 - reads like a literal
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


# --- the calendar itself ------------------------------------------------------------------------------

def test_reference_inputs_are_the_documented_ones():
    ref = ref_calendar()
    assert ref.day_seconds == 7.5 * 3600  # 07:30–11:30 and 13:30–17:00
    assert {date(2024, 5, 4), date(2025, 4, 26), date(2026, 8, 22)} <= ref.makeup
    for d in ("2025-01-27", "2025-01-31", "2025-02-01", "2026-02-16", "2026-02-20", "2025-09-01", "2025-09-02",
              "2026-08-31", "2026-09-01", "2026-09-02"):
        assert date.fromisoformat(d) in ref.holidays, d


@pytest.mark.parametrize("day,working", [
    ("2025-01-24", True), ("2025-01-27", False), ("2025-01-28", False), ("2025-01-29", False),
    ("2025-01-30", False), ("2025-01-31", False), ("2025-02-03", True),
    ("2026-02-13", True), ("2026-02-16", False), ("2026-02-20", False), ("2026-02-23", True),
    ("2025-09-01", False), ("2025-09-02", False), ("2025-09-03", True),
    ("2026-08-31", False), ("2026-09-01", False), ("2026-09-02", False), ("2026-09-03", True),
    # make-up Saturdays work; ordinary Saturdays and Sundays do not
    ("2024-05-04", True), ("2025-04-26", True), ("2026-08-22", True), ("2025-04-19", False),
    ("2025-04-27", False), ("2025-05-02", False),
])
def test_working_days(day, working):
    d = date.fromisoformat(day)
    assert default_calendar().is_working_day(d) is working
    assert ref_calendar().is_working(d) is working


def test_every_day_of_the_shared_calendar_agrees():
    cal, ref = default_calendar(), ref_calendar()
    d = FIRST
    mismatches = []
    while d <= date(2035, 12, 31):
        if cal.is_working_day(d) != ref.is_working(d):
            mismatches.append(d)
        d += timedelta(days=1)
    assert mismatches == []


# --- named deadlines (worked out by hand) --------------------------------------------------------------

NAMED = [
    # Tết 2025 (27/1–1/2 off): Fri 16:00 leaves 1 h; 36.5 h remain = 4 full days (3–6/2) + 6.5 h on 7/2.
    ("Tết 2025, 5 days", "2025-01-24 16:00", 5, 0, "2025-02-07 16:00"),
    # Fri 10:00 leaves 5 h; 2.5 h on Mon 3/2 from 07:30.
    ("Tết 2025, 1 day", "2025-01-24 10:00", 1, 0, "2025-02-03 10:00"),
    # Urgent 16 working hours from Fri 15:00: 2 h Fri, 7.5 h Mon 3/2, 6.5 h Tue 4/2 -> 16:00.
    ("Tết 2025, urgent 16 h", "2025-01-24 15:00", 0, 16, "2025-02-04 16:00"),
    # Tết 2026 (16–20/2 off, 14–15/2 weekend).
    ("Tết 2026, 1 day", "2026-02-13 09:00", 1, 0, "2026-02-23 09:00"),
    # Half a day = 3.75 h: 2 h on Fri 13/2, 1.75 h on Mon 23/2 from 07:30.
    ("Tết 2026, half a day", "2026-02-13 15:00", 0.5, 0, "2026-02-23 09:15"),
    # 2/9/2025 (1–2/9 Mon–Tue off): 3 days from Fri 29/8 14:00 = 3 h + 2 full days (3–4/9) + 4.5 h on 5/9.
    ("2/9 2025, 3 days", "2025-08-29 14:00", 3, 0, "2025-09-05 14:00"),
    # 2/9/2026 (31/8 substituted + 1–2/9 off): Fri 28/8 10:00 + 1 day -> Thu 3/9 10:00.
    ("2/9 2026, 1 day", "2026-08-28 10:00", 1, 0, "2026-09-03 10:00"),
    # Make-up Saturdays count: Fri 25/4/2025 16:00 + 1 day -> Sat 26/4 16:00.
    ("make-up 2025-04-26", "2025-04-25 16:00", 1, 0, "2025-04-26 16:00"),
    # Fri 3/5/2024 at closing time + 1 day -> the whole make-up Saturday 4/5.
    ("make-up 2024-05-04", "2024-05-03 17:00", 1, 0, "2024-05-04 17:00"),
    # Fri 21/8/2026 13:30 + 1 day: 3.5 h Fri, 4 h on make-up Sat 22/8 -> the end of the morning, 11:30.
    ("make-up 2026-08-22", "2026-08-21 13:30", 1, 0, "2026-08-22 11:30"),
    # Arriving on a weekend: the clock starts Monday 07:30.
    ("Saturday arrival", "2025-03-15 10:00", 1, 0, "2025-03-17 17:00"),
    ("Sunday arrival", "2025-03-16 23:59", 2, 0, "2025-03-18 17:00"),
    # After hours, before opening, at lunch, exactly at 17:00.
    ("after hours", "2025-03-18 19:00", 1, 0, "2025-03-19 17:00"),
    ("before opening", "2025-03-18 06:00", 1, 0, "2025-03-18 17:00"),
    ("at lunch", "2025-03-18 12:15", 1, 0, "2025-03-19 11:30"),
    ("exactly 17:00", "2025-03-18 17:00", 1, 0, "2025-03-19 17:00"),
    ("exactly 07:30", "2025-03-18 07:30", 1, 0, "2025-03-18 17:00"),
    # Urgent hours: 8 h from Tue 15:00 = 2 h Tue + 4 h Wed morning + 2 h -> Wed 15:30.
    ("urgent 8 h", "2025-03-18 15:00", 0, 8, "2025-03-19 15:30"),
    # 1 h from 11:00: 30 min before lunch, 30 min after -> 14:00.
    ("urgent 1 h over lunch", "2025-03-18 11:00", 0, 1, "2025-03-18 14:00"),
    # 2 h from Fri 16:30 = 30 min Fri + 90 min Mon -> 09:00.
    ("urgent 2 h over a weekend", "2025-03-21 16:30", 0, 2, "2025-03-24 09:00"),
]


@pytest.mark.parametrize("label,start,days,hours,want", NAMED, ids=[n[0] for n in NAMED])
def test_named_deadlines(label, start, days, hours, want):
    assert ref_calendar().add_days(L(start), days, hours) == L(want), "the reference disagrees with the hand sum"
    assert code_deadline(L(start), days, hours) == L(want)


@pytest.mark.parametrize("label,start,days,hours,want", NAMED, ids=[n[0] for n in NAMED])
def test_working_days_between_is_the_inverse(label, start, days, hours, want):
    expected = days + hours * 3600 / ref_calendar().day_seconds
    assert code_days_between(L(start), L(want)) == pytest.approx(expected, abs=1e-9)


def test_durations_across_holidays():
    # Nothing counts over Tết 2025: from Friday's close to Monday 3/2 opening is zero.
    assert code_days_between(L("2025-01-24 17:00"), L("2025-02-03 07:30")) == 0
    assert code_days_between(L("2025-01-25 10:00"), L("2025-02-02 23:00")) == 0
    # A make-up Saturday is a whole working day.
    assert code_days_between(L("2025-04-25 17:00"), L("2025-04-28 07:30")) == 1
    # Reversed ends give a negative duration.
    assert code_days_between(L("2025-03-19 17:00"), L("2025-03-18 17:00")) == -1


def test_vectorised_add_matches_the_scalar_one():
    cal = default_calendar()
    starts = [L(s) for _, s, *_ in NAMED]
    days = np.array([d for *_, d, _h, _w in NAMED], dtype=float)
    hours = np.array([h for *_, h, _w in NAMED], dtype=float)
    got = cal.add(np.array([to_utc(s) for s in starts], dtype="datetime64[s]"), days, hours)
    assert [to_local(t.astype("datetime64[s]").item()) for t in got] == [L(w) for *_, w in NAMED]


def test_negative_limits_are_refused():
    from queries.workcalendar import CalendarError

    with pytest.raises(CalendarError):
        default_calendar().deadline(to_utc(L("2025-03-18 09:00")), days=-1)


def test_working_day_helpers_match_the_reference():
    cal, ref = default_calendar(), ref_calendar()
    for d in (date(2025, 1, 24), date(2026, 2, 13), date(2025, 8, 29), date(2026, 8, 21), date(2025, 4, 25)):
        for n in (1, 2, 5, 10):
            assert cal.add_working_days_to_date(d, n) == ref.next_working_date(d, n), (d, n)
        later = d + timedelta(days=40)
        got = int(np.diff(cal.working_day_index(np.array([d, later], dtype="datetime64[D]")))[0])
        assert got == ref.working_days_through(later, d), d


# --- zero limits ----------------------------------------------------------------------------------------

def test_a_zero_limit_is_never_before_arrival():
    # add_policy_version accepts limits from 0, so a 0-day IOC limit is a valid policy.
    for start in ("2025-03-15 10:00", "2025-03-18 12:15", "2025-03-18 19:00"):  # Saturday, lunch, evening
        assert code_deadline(L(start), days=0) >= L(start), start


# --- properties (hypothesis), against the reference ------------------------------------------------------

INTERESTING_TIMES = [time(0, 0), time(6, 59), time(7, 29), time(7, 30), time(7, 31), time(11, 29), time(11, 30),
                     time(11, 31), time(12, 0), time(13, 29), time(13, 30), time(13, 31), time(16, 59), time(17, 0),
                     time(17, 1), time(23, 59)]
HOLIDAY_DAYS = sorted(d for d in ref_calendar().holidays | ref_calendar().makeup if FIRST <= d <= LAST)

any_day = st.dates(min_value=FIRST, max_value=LAST)
near_holiday = st.builds(lambda d, k: d + timedelta(days=k), st.sampled_from(HOLIDAY_DAYS), st.integers(-4, 4))
local_instants = st.one_of(
    st.datetimes(min_value=datetime.combine(FIRST, time.min), max_value=datetime.combine(LAST, time.min))
    .map(lambda t: t.replace(microsecond=0)),
    st.builds(datetime.combine, st.one_of(any_day, near_holiday), st.sampled_from(INTERESTING_TIMES)),
)
minute_spans = st.integers(min_value=1, max_value=20 * 450)  # up to 20 working days, in minutes
limits = st.one_of(
    st.tuples(st.sampled_from([0.25, 0.5, 1, 2, 3, 5, 7, 10, 15]), st.just(0)),  # working days
    st.tuples(st.just(0), st.integers(1, 48)),  # working hours (urgent)
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(start=local_instants, limit=limits)
def test_deadlines_match_the_reference(start, limit):
    days, hours = limit
    assert code_deadline(start, days, hours) == ref_calendar().add_days(start, days, hours)


@PROPERTY
@given(a=local_instants, minutes=st.integers(-40 * 24 * 60, 40 * 24 * 60))
def test_durations_match_the_reference(a, minutes):
    b = a + timedelta(minutes=minutes)
    want = ref_calendar().working_days_between(a, b)
    assert code_days_between(a, b) == pytest.approx(want, abs=1e-9)


@PROPERTY
@given(start=local_instants, minutes=minute_spans)
def test_deadline_is_after_the_start_and_the_clock_is_monotone(start, minutes):
    due = code_deadline(start, hours=minutes / 60)
    assert due > start
    cal = default_calendar()
    w = cal.work_seconds(np.array([to_utc(start), to_utc(due)], dtype="datetime64[s]"))
    assert w[1] - w[0] == minutes * 60
    # Monotone: every instant in between has W in between.
    mid = start + (due - start) / 2
    w_mid = cal.work_seconds(np.array([to_utc(mid)], dtype="datetime64[s]"))[0]
    assert w[0] <= w_mid <= w[1]


@PROPERTY
@given(start=local_instants, a=st.integers(0, 10 * 450), b=st.integers(0, 10 * 450))
def test_adding_in_two_steps_is_adding_once(start, a, b):
    first = code_deadline(start, hours=a / 60)
    assert code_deadline(first, hours=b / 60) == code_deadline(start, hours=(a + b) / 60)


@PROPERTY
@given(day=st.one_of(any_day, near_holiday), minute_of_office=st.integers(0, 449), limit=limits)
def test_working_days_between_inverts_add_inside_office_hours(day, minute_of_office, limit):
    ref = ref_calendar()
    # An instant inside office hours on the next working day on or after `day`.
    while not ref.is_working(day):
        day += timedelta(days=1)
    offset = timedelta(minutes=minute_of_office)
    morning = ref.intervals[0][1] - ref.intervals[0][0]
    clock = ref.intervals[0][0] + offset if offset < morning else ref.intervals[1][0] + (offset - morning)
    start = datetime.combine(day, time.min) + clock
    days, hours = limit
    due = code_deadline(start, days, hours)
    expected = days + hours * 3600 / ref.day_seconds
    assert code_days_between(start, due) == pytest.approx(expected, abs=1e-9)


@PROPERTY
@given(a=local_instants, b=local_instants)
def test_durations_are_never_negative_forwards(a, b):
    a, b = min(a, b), max(a, b)
    assert code_days_between(a, b) >= 0


# --- the `deadline` command ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('deadline') / 'cli.sqlite3'}"


def flask_deadline(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_DIR": str(Path(url.removeprefix("sqlite:///")).parent),
           "SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "deadline", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


CLI_CASES = [
    # (category, stage, urgent, --from, the hand-worked answer or None to take the reference's)
    ("MT", "agency", False, "2025-01-24 16:00", "2025-02-07 16:00"),  # the example across Tết 2025
    ("AN", "ioc", False, "2025-08-29 15:00", "2025-09-03 09:15"),  # half a day across 2/9: 2 h + 1.75 h
    ("GT", "ioc", True, "2026-02-13 16:30", "2026-02-23 08:00"),  # 1 working hour across Tết 2026
    ("KHAC", "agency", False, "2026-08-22 07:00", None),  # from a make-up Saturday, across 2/9/2026
    ("XD", "agency", True, "2025-03-18 12:15", None),  # at lunch, 16 working hours
]


@pytest.mark.parametrize("category,stage,urgent,start,by_hand", CLI_CASES)
def test_deadline_command_prints_the_reference_deadline(cli_db, category, stage, urgent, start, by_hand):
    ref = ref_calendar()
    limits = ref.policies[category]
    if urgent:
        want = ref.add_days(L(start), hours=limits[f"urgent_{stage}_hours"])
    else:
        want = ref.add_days(L(start), days=limits[f"{stage}_days"])
    if by_hand:
        assert want == L(by_hand)
    args = ["--category", category, "--stage", stage, "--from", start] + (["--urgent"] if urgent else [])
    result = flask_deadline(cli_db, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == want.strftime("%Y-%m-%d %H:%M")


def test_deadline_command_refuses_an_unknown_category(cli_db):
    result = flask_deadline(cli_db, "--category", "ZZZ", "--stage", "agency", "--from", "2025-01-24 16:00")
    assert result.returncode != 0
    assert "ZZZ" in result.stderr and "Không có quy định SLA" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout.strip() == ""


def test_deadline_command_refuses_a_malformed_time(cli_db):
    result = flask_deadline(cli_db, "--category", "MT", "--stage", "agency", "--from", "24/01/2025 16:00")
    assert result.returncode != 0
    assert "Error" in result.stderr and "Traceback" not in result.stderr
