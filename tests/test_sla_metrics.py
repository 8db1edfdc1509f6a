"""Every SLA metric of queries.sla.sla_metrics against pandas over the raw rows (reports + report_events), on
SQLite and PostgreSQL: the seeded demo province, a hand-made set of edge cases around Tết 2025, and a slice
of the real Boston 2015 export imported through the boston profile.

The expected side is written from the definitions in sla.py's docstring. Working time comes from the
independent calendar of tests/test_workcalendar.py (shared holiday file + config office hours), here in a
vectorised form that is itself checked against the day-walking reference.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, text

from queries import sla
from queries.db import Database
from queries.filters import Filter
from queries.importers import import_file
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import agencies, report_events, reports
from tests import independent
from tests.conftest import NOW, ROOT, analytics_copy, create_pg_database, read_raw
from tests.test_workcalendar import UTC_OFFSET, ref_calendar

DUE_SOON_DAYS = 2  # DUE_SOON_WORKING_DAYS' default

OPEN = ("received", "classified", "forwarded", "in_progress")
INT_COLUMNS = ["received", "resolved", "pending", "rejected", "overdue", "open_no_sla", "due_today", "due_soon",
               "ioc_judged", "ioc_on_time", "agency_judged", "agency_on_time", "resolved_no_sla", "rating_count",
               "r1", "r2", "r3", "r4", "r5", "ioc_n", "agency_n", "overdue_1_5", "overdue_6_10", "overdue_over_10",
               "not_yet_due", "forwardings", "bounce_backs"]
FLOAT_COLUMNS = ["satisfaction_mean", "ioc_median_days", "ioc_p90_days", "agency_median_days", "agency_p90_days",
                 "ioc_on_time_rate", "agency_on_time_rate", "bounce_back_rate", "share_low"]
BOSTON_GZ = ROOT.parent / "shared" / "data" / "boston311_2015" / "boston311_2015.csv.gz"
BOSTON_ROWS = 15_000


# --- the independent working-time clock, vectorised ------------------------------------------------------

class RefClock:
    """W(t) from the reference calendar: office seconds before local day t, plus the office part of t's day."""

    def __init__(self, first=date(2009, 1, 1), last=date(2036, 12, 31)):
        ref = ref_calendar()
        self.first = np.datetime64(first, "D")
        days = pd.date_range(first, last, freq="D")
        self.working = np.array([ref.is_working(d.date()) for d in days])
        self.day_seconds = ref.day_seconds
        per_day = np.where(self.working, self.day_seconds, 0.0)
        self.before = np.concatenate([[0.0], np.cumsum(per_day)[:-1]])
        self.through = np.cumsum(self.working.astype(np.int64))  # working days up to and including each day
        self.intervals = [(a.total_seconds(), b.total_seconds()) for a, b in ref.intervals]

    def w(self, utc: pd.Series) -> np.ndarray:
        local = pd.to_datetime(utc).to_numpy().astype("datetime64[s]") + np.timedelta64(7, "h")
        missing = np.isnat(local)
        local = np.where(missing, np.datetime64("2020-01-01T00:00:00"), local)
        day = local.astype("datetime64[D]")
        idx = (day - self.first).astype(np.int64)
        sec = (local - day.astype("datetime64[s]")).astype(np.int64).astype(float)
        inside = sum(np.clip(sec - a, 0, b - a) for a, b in self.intervals)
        return np.where(missing, np.nan, self.before[idx] + np.where(self.working[idx], inside, 0.0))

    def days_between(self, start: pd.Series, end: pd.Series) -> np.ndarray:
        return (self.w(end) - self.w(start)) / self.day_seconds

    def working_days_through(self, days) -> np.ndarray:
        idx = (np.asarray(days, dtype="datetime64[D]") - self.first).astype(np.int64)
        return self.through[idx]


@lru_cache(maxsize=1)
def ref_clock() -> RefClock:
    return RefClock()


@settings(max_examples=150, deadline=None)
@given(start=st.datetimes(min_value=datetime(2011, 1, 1), max_value=datetime(2034, 1, 1)),
       minutes=st.integers(0, 30 * 24 * 60))
def test_the_vectorised_reference_matches_the_day_walking_one(start, minutes):
    start = start.replace(microsecond=0)
    end = start + timedelta(minutes=minutes)
    got = ref_clock().days_between(pd.Series([start]), pd.Series([end]))[0]
    want = ref_calendar().working_days_between(start + UTC_OFFSET, end + UTC_OFFSET)
    assert got == pytest.approx(want, abs=1e-9)


# --- the expected metrics, from the docstring ------------------------------------------------------------

def _local_midnight_utc(d: date) -> datetime:
    return datetime.combine(d, time.min) - UTC_OFFSET


def expected_metrics(raw: dict, f: Filter, by: str | None, now: datetime) -> pd.DataFrame:
    """One row per group key, every metric, from pandas over raw reports and events."""
    clock = ref_clock()
    df = independent.select_reports(raw, f)
    units = raw["admin_units"].set_index("code")["name"]
    if by == "agency":
        df["key"], df["name"] = df["agency_code"], df["agency_name"]
    elif by == "category":
        df["key"], df["name"] = df["category_code"], df["category_name"]
    elif by == "commune":
        df["key"] = df["commune_code"]
        df["name"] = df["commune_code"].map(units)
    else:
        df["key"], df["name"] = "ALL", "Toàn tỉnh"
    df = df[df["key"].notna()].copy()

    today = (now + UTC_OFFSET).date()
    end_of_today = _local_midnight_utc(today + timedelta(days=1))
    due_soon = ref_calendar().add(now + UTC_OFFSET, DUE_SOON_DAYS * ref_calendar().day_seconds) - UTC_OFFSET
    is_open = df["status"].isin(OPEN)
    resolved = df["status"] == "resolved"
    deadline = df["deadline_at"]
    overdue = is_open & (deadline < now)
    due = is_open & (deadline >= now)
    ioc_judged = df["first_forwarded_at"].notna() & df["ioc_deadline_at"].notna()
    agency_judged = resolved & df["agency_deadline_at"].notna()
    # Aging: working days after the deadline's local date up to today (today itself when overdue since today).
    deadline_day = (deadline + pd.Timedelta(hours=7)).dt.floor("D")
    days_over = pd.Series(0, index=df.index, dtype="int64")
    if overdue.any():
        through_today = clock.working_days_through(np.array([today], dtype="datetime64[D]"))[0]
        over_days = deadline_day[overdue].to_numpy().astype("datetime64[D]")
        days_over[overdue] = through_today - clock.working_days_through(over_days)
    days_over = days_over.clip(lower=1)

    flags = pd.DataFrame({
        "received": 1,
        "resolved": resolved,
        "pending": is_open,
        "rejected": df["status"] == "rejected",
        "overdue": overdue,
        "open_no_sla": is_open & deadline.isna(),
        "due_today": due & (deadline < end_of_today),
        "due_soon": due & (deadline <= due_soon),
        "ioc_judged": ioc_judged,
        "ioc_on_time": ioc_judged & (df["first_forwarded_at"] <= df["ioc_deadline_at"]),
        "agency_judged": agency_judged,
        "agency_on_time": agency_judged & (df["resolved_at"] <= df["agency_deadline_at"]),
        "resolved_no_sla": resolved & df["agency_deadline_at"].isna(),
        "rating_count": df["rating"].notna(),
        **{f"r{k}": df["rating"] == k for k in range(1, 6)},
        "overdue_1_5": overdue & (days_over <= 5),
        "overdue_6_10": overdue & (days_over > 5) & (days_over <= 10),
        "overdue_over_10": overdue & (days_over > 10),
        "not_yet_due": due,
    }, index=df.index).astype("int64")
    out = flags.groupby(df["key"]).sum()
    out["name"] = df.groupby("key")["name"].first()
    out["satisfaction_mean"] = df.groupby("key")["rating"].mean()

    # Stage durations, recomputed from the timestamps, for the rows where a duration was recorded (which rows
    # those are is checked per data source in the duration tests below).
    ioc_days = pd.Series(clock.days_between(df["created_at"], df["first_forwarded_at"]), index=df.index)
    agency_days = pd.Series(clock.days_between(df["forwarded_at"], df["resolved_at"]), index=df.index)
    ioc_days = ioc_days[df["ioc_work_days"].notna()]
    agency_days = agency_days[df["agency_work_days"].notna()]
    for stage, values in (("ioc", ioc_days), ("agency", agency_days)):
        grouped = values.groupby(df.loc[values.index, "key"])
        out[f"{stage}_n"] = grouped.size().reindex(out.index).fillna(0).astype("int64")
        out[f"{stage}_median_days"] = grouped.quantile(0.5).reindex(out.index)
        out[f"{stage}_p90_days"] = grouped.quantile(0.9).reindex(out.index)

    bounces = expected_bounces(raw, f, by, df)
    out["forwardings"] = bounces["forwardings"].reindex(out.index).fillna(0).astype("int64")
    out["bounce_backs"] = bounces["bounce_backs"].reindex(out.index).fillna(0).astype("int64")

    def ratio(num, den):
        return (out[num] / out[den].where(out[den] > 0)).astype("float64")

    out["ioc_on_time_rate"] = ratio("ioc_on_time", "ioc_judged")
    out["agency_on_time_rate"] = ratio("agency_on_time", "agency_judged")
    out["bounce_back_rate"] = ratio("bounce_backs", "forwardings")
    out["low"] = out["r1"] + out["r2"]
    out["share_low"] = ratio("low", "rating_count")
    return out.sort_index()


def expected_bounces(raw: dict, f: Filter, by: str | None, grouped: pd.DataFrame) -> pd.DataFrame:
    """Forwardings and returns. Per agency: the agency the event concerns (forwarded to / returned by), over
    the reports the rest of the filter selects. Otherwise: the events of the selected reports, per group."""
    events = raw["report_events"]
    codes = raw["agencies"].set_index("id")["code"]
    if by == "agency":
        selected = independent.select_reports(raw, replace(f, agencies=(), scope_agency=None))
        ev = events[events["report_id"].isin(selected["id"])].copy()
        ev["key"] = ev["agency_id"].map(codes)
        if f.agencies:
            ev = ev[ev["key"].isin(f.agencies)]
        if f.scope_agency is not None:
            ev = ev[ev["key"] == f.scope_agency]
    else:
        ev = events.merge(grouped[["id", "key"]], left_on="report_id", right_on="id")
    ev = ev[ev["key"].notna()]
    forwarded = ev["to_status"] == "forwarded"
    returned = ev["from_status"].isin(["forwarded", "in_progress"]) & ev["to_status"].isin(["received", "classified"])
    return pd.DataFrame({"forwardings": forwarded.groupby(ev["key"]).sum(),
                         "bounce_backs": returned.groupby(ev["key"]).sum()})


def assert_metrics_equal(got: pd.DataFrame, want: pd.DataFrame, check_names: bool = True) -> None:
    if len(want) == 0:
        assert len(got) == 0
        return
    got = got.set_index("key").sort_index()
    assert [str(k) for k in got.index] == [str(k) for k in want.index]
    for col in INT_COLUMNS:
        assert got[col].astype("int64").tolist() == want[col].astype("int64").tolist(), col
    for col in FLOAT_COLUMNS:
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-9, atol=2e-6,
                                   equal_nan=True, err_msg=col)
    if check_names:
        assert got["name"].tolist() == want["name"].tolist()
    # The table's own arithmetic.
    assert (got["resolved"] + got["pending"] + got["rejected"] == got["received"]).all()
    assert (got["overdue_1_5"] + got["overdue_6_10"] + got["overdue_over_10"] == got["overdue"]).all()
    assert (got["overdue"] + got["open_no_sla"] + got["not_yet_due"] == got["pending"]).all()
    assert (got["agency_judged"] + got["resolved_no_sla"] == got["resolved"]).all()
    assert (got["due_today"] <= got["due_soon"]).all()


# --- the demo province ---------------------------------------------------------------------------------

FILTERS = {
    "everything": Filter(),
    "last_90_days": Filter(start=date(2026, 8, 23), end=date(2026, 11, 20)),
    "storm_season_sanitation": Filter(start=date(2025, 9, 1), end=date(2025, 11, 30), categories=("MT",)),
    "two_agencies": Filter(agencies=("SXD", "CAT")),
    "agency_scope": Filter(start=date(2026, 1, 1), end=date(2026, 11, 20)).scoped("SXD"),
    "open_only": Filter(statuses=OPEN),
    "commune_and_channel": Filter(communes=("18880", "19333"), channels=("app", "hotline")),
    "empty_selection": Filter(categories=("NOPE",)),
    "empty_range": Filter(start=date(2026, 5, 1), end=date(2026, 4, 1)),
}
EMPTY = {"empty_selection", "empty_range"}
# NOW is 16:30 local on Friday 20/11/2026; the second clock is 09:00 local on Wednesday 18/11/2026, when other
# open reports are still due (the statuses stay those of the end of the demo period).
NOWS = {"now": NOW, "wednesday_morning": datetime(2026, 11, 18, 2, 0)}


@pytest.mark.parametrize("now_name", list(NOWS))
@pytest.mark.parametrize("by", ["agency", "category", "commune", None])
@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_sla_metrics_match_pandas(db, raw, filter_name, by, now_name):
    f, now = FILTERS[filter_name], NOWS[now_name]
    got = sla.sla_metrics(f, by, db, now)
    want = expected_metrics(raw, f, by, now)
    assert_metrics_equal(got, want, check_names=by is not None)
    if filter_name in EMPTY:
        assert len(want) == 0
    else:
        assert len(want) > 0, "the fixture data must exercise this filter"
    # Sorted by volume, then key.
    assert list(zip(-got["received"], got["key"].astype(str), strict=True)) == sorted(
        zip(-got["received"], got["key"].astype(str), strict=True))


@pytest.mark.parametrize("by", ["agency", "category", None])
@pytest.mark.parametrize("filter_name", ["everything", "storm_season_sanitation", "agency_scope", "empty_selection"])
def test_two_periods_side_by_side_match_pandas(db, raw, filter_name, by):
    """One pass split at a day (the scorecard's previous and current period) gives each period's own metrics."""
    f = FILTERS[filter_name]
    boundary = date(2025, 10, 15) if filter_name == "storm_season_sanitation" else date(2026, 6, 1)
    before, since = sla.sla_metrics_split(f, boundary, by, db, NOW)
    want_before = expected_metrics(raw, replace(f, end=boundary - timedelta(days=1)), by, NOW)
    want_since = expected_metrics(raw, replace(f, start=max(f.start or boundary, boundary)), by, NOW)
    assert_metrics_equal(before, want_before, check_names=by is not None)
    assert_metrics_equal(since, want_since, check_names=by is not None)
    if filter_name != "empty_selection":
        assert len(want_before) > 0 and len(want_since) > 0, "both sides of the day must hold reports"


def test_the_demo_exercises_every_metric(db, raw):
    """Guards the comparisons above against comparing zeros with zeros."""
    for now in NOWS.values():
        total = expected_metrics(raw, Filter(), None, now).iloc[0]
        for col in ("overdue", "overdue_1_5", "overdue_over_10", "due_soon", "ioc_on_time", "agency_on_time",
                    "bounce_backs", "r1", "r5", "not_yet_due"):
            assert total[col] > 0, col
        assert total["agency_on_time"] < total["agency_judged"]
        assert total["ioc_on_time"] < total["ioc_judged"]
    friday = expected_metrics(raw, Filter(), None, NOW).iloc[0]
    assert friday["due_today"] > 0 and friday["due_soon"] > friday["due_today"] and friday["overdue_6_10"] > 0
    # On Wednesday morning a report is due soon but not today.
    wednesday = expected_metrics(raw, Filter(), None, NOWS["wednesday_morning"]).iloc[0]
    assert wednesday["due_soon"] > wednesday["due_today"]


def test_stored_stage_durations_are_the_working_time_between_the_timestamps(raw):
    rep = raw["reports"]
    clock = ref_clock()
    # IOC: received -> first forwarded, stored exactly when the report was forwarded.
    forwarded = rep["first_forwarded_at"].notna()
    assert (rep["ioc_work_days"].notna() == forwarded).all()
    want = clock.days_between(rep.loc[forwarded, "created_at"], rep.loc[forwarded, "first_forwarded_at"])
    np.testing.assert_allclose(rep.loc[forwarded, "ioc_work_days"], want, atol=1e-6)
    # Agency: the latest forwarding -> resolved, stored exactly for resolved reports.
    resolved = rep["status"] == "resolved"
    assert (rep["agency_work_days"].notna() == resolved).all()
    want = clock.days_between(rep.loc[resolved, "forwarded_at"], rep.loc[resolved, "resolved_at"])
    np.testing.assert_allclose(rep.loc[resolved, "agency_work_days"], want, atol=1e-6)
    assert (rep["ioc_work_days"].dropna() >= 0).all() and (rep["agency_work_days"].dropna() >= 0).all()
    # Bounced reports: the IOC stage ends at the first forwarding, the agency stage starts at the last one.
    bounced = rep["first_forwarded_at"].notna() & (rep["first_forwarded_at"] < rep["forwarded_at"])
    assert bounced.sum() > 0


def test_stored_deadlines_follow_the_policy_and_the_reference_calendar(raw):
    """Demo deadlines are set from the default policy (config/sla.yaml) with the reference calendar."""
    rep = raw["reports"].merge(raw["categories"][["id", "code"]].rename(columns={"id": "category_id",
                                                                                 "code": "category_code"}))
    rep = rep.sample(400, random_state=1)
    policies = ref_calendar().policies
    ref = ref_calendar()
    for row in rep.itertuples():
        limits = policies[row.category_code]
        created = row.created_at.to_pydatetime() + UTC_OFFSET
        if row.urgent:
            want_ioc = ref.add_days(created, hours=limits["urgent_ioc_hours"])
        else:
            want_ioc = ref.add_days(created, days=limits["ioc_days"])
        assert row.ioc_deadline_at.to_pydatetime() + UTC_OFFSET == want_ioc, row.code
        if pd.notna(row.forwarded_at):
            start = row.forwarded_at.to_pydatetime() + UTC_OFFSET
            want = ref.add_days(start, hours=limits["urgent_agency_hours"]) if row.urgent else \
                ref.add_days(start, days=limits["agency_days"])
            assert row.agency_deadline_at.to_pydatetime() + UTC_OFFSET == want, row.code
        # deadline_at is the deadline of the stage the report is in.
        if row.status in ("received", "classified"):
            assert row.deadline_at == row.ioc_deadline_at
        elif row.status != "rejected":
            assert row.deadline_at == row.agency_deadline_at


def test_unknown_dimension_is_refused(sqlite_db):
    with pytest.raises(ValueError):
        sla.sla_metrics(Filter(), "channel", sqlite_db, NOW)


# --- hand-made edge cases around Tết 2025 ------------------------------------------------------------------

EDGE_NOW = datetime(2025, 2, 5, 3, 0)  # 10:00 local, Wednesday 5/2/2025, the third working day after Tết


def _utc(local: str) -> datetime:
    return datetime.strptime(local, "%Y-%m-%d %H:%M") - UTC_OFFSET


# (code, agency, status, local deadline_at, extra columns): open reports for the aging and due buckets.
EDGE_OPEN = [
    ("E-NOSLA", "A1", "in_progress", None),
    ("E-TODAY-PAST", "A1", "in_progress", "2025-02-05 09:00"),   # overdue since earlier today -> 1–5
    ("E-3WD", "A1", "forwarded", "2025-01-24 16:00"),            # 12 calendar days, 3 working days -> 1–5
    ("E-5WD", "A1", "in_progress", "2025-01-22 10:00"),          # 5 working days (23, 24/1, 3, 4, 5/2) -> 1–5
    ("E-6WD", "A1", "in_progress", "2025-01-21 10:00"),          # 6 -> 6–10
    ("E-10WD", "A2", "in_progress", "2025-01-15 10:00"),         # 10 -> 6–10
    ("E-11WD", "A2", "in_progress", "2025-01-14 10:00"),         # 11 -> more than 10
    ("E-13WD", "A2", "received", "2025-01-10 16:00"),            # 13 -> more than 10
    # Band edges: a deadline on a Sunday or a Tết day counts from the working day before it; the band's first
    # minute and the minute before it.
    ("E-SUNDAY-8WD", "A1", "in_progress", "2025-01-19 10:00"),   # 20–24/1, 3–5/2 -> 6–10
    ("E-TET-3WD", "A1", "in_progress", "2025-01-29 10:00"),      # 3, 4, 5/2 -> 1–5
    ("E-5WD-MIDNIGHT", "A2", "in_progress", "2025-01-22 00:00"),  # 5 -> 1–5
    ("E-6WD-23H59", "A2", "in_progress", "2025-01-21 23:59"),    # 6 -> 6–10
    ("E-DUE-TODAY", "A1", "in_progress", "2025-02-05 16:00"),    # due today, so due soon too
    ("E-DUE-2WD", "A2", "in_progress", "2025-02-07 10:00"),      # exactly DUE_SOON_WORKING_DAYS (2) ahead: in
    ("E-DUE-LATER", "A2", "in_progress", "2025-02-07 10:01"),    # one minute later: not
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def edge_db(request, tmp_path_factory, pg_server_url):
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('edge') / 'edge.sqlite3'}"
    else:
        url, drop = create_pg_database(pg_server_url)
    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    with db.engine.connect() as conn:
        mt = conn.execute(text("SELECT id FROM categories WHERE code = 'MT'")).scalar_one()
    with db.begin() as conn:
        conn.execute(insert(agencies), [
            {"id": 1, "code": "A1", "name": "Đơn vị A1", "short_name": "A1", "kind": "other"},
            {"id": 2, "code": "A2", "name": "Đơn vị A2", "short_name": "A2", "kind": "other"}])
        created = _utc("2025-01-06 09:00")
        base = {"title": "Phản ánh thử", "channel": "app", "category_id": mt, "created_at": created,
                "updated_at": created}
        rows = [
            # Resolved, no deadline at all: "no SLA", never on time.
            {**base, "id": 1, "code": "E-R-NOSLA", "status": "resolved", "agency_id": 2,
             "forwarded_at": created, "first_forwarded_at": created, "resolved_at": _utc("2025-01-07 09:00"),
             "rating": 5},
            # Resolved on time (IOC on time too) and resolved late (IOC late too).
            {**base, "id": 2, "code": "E-R-ONTIME", "status": "resolved", "agency_id": 1,
             "ioc_deadline_at": _utc("2025-01-07 09:00"), "first_forwarded_at": _utc("2025-01-06 10:00"),
             "forwarded_at": _utc("2025-01-06 10:00"), "agency_deadline_at": _utc("2025-01-13 10:00"),
             "deadline_at": _utc("2025-01-13 10:00"), "resolved_at": _utc("2025-01-13 10:00"), "rating": 1},
            {**base, "id": 3, "code": "E-R-LATE", "status": "resolved", "agency_id": 1,
             "ioc_deadline_at": _utc("2025-01-07 09:00"), "first_forwarded_at": _utc("2025-01-07 09:01"),
             "forwarded_at": _utc("2025-01-07 09:01"), "agency_deadline_at": _utc("2025-01-14 09:01"),
             "deadline_at": _utc("2025-01-14 09:01"), "resolved_at": _utc("2025-01-14 09:02"), "rating": 2},
            {**base, "id": 4, "code": "E-REJECTED", "status": "rejected", "rejected_at": _utc("2025-01-06 11:00")},
        ]
        for i, (code, agency, status, deadline) in enumerate(EDGE_OPEN, start=10):
            rows.append({**base, "id": i, "code": code, "status": status,
                         "agency_id": None if status == "received" else int(agency[1]),
                         "forwarded_at": None if status == "received" else created,
                         "deadline_at": _utc(deadline) if deadline else None})
        conn.execute(insert(reports), [{k: row.get(k) for k in set().union(*rows)} | {"version": 1}
                                       for row in rows])
        at = created
        conn.execute(insert(report_events), [
            {"report_id": 1, "at": at, "actor": "IOC", "from_status": "classified", "to_status": "forwarded",
             "agency_id": 1},
            {"report_id": 1, "at": at, "actor": "A1", "from_status": "forwarded", "to_status": "classified",
             "agency_id": 1},
            {"report_id": 1, "at": at, "actor": "IOC", "from_status": "classified", "to_status": "forwarded",
             "agency_id": 2},
            {"report_id": 2, "at": at, "actor": "IOC", "from_status": "classified", "to_status": "forwarded",
             "agency_id": 1},
        ])
    yield db
    db.dispose()
    if drop:
        drop()


@pytest.fixture(scope="module")
def edge_copy(edge_db, tmp_path_factory):
    return analytics_copy(edge_db, tmp_path_factory.mktemp("edge-copy"))


@pytest.fixture(params=["record", "copy"])
def edge_source(request, edge_db):
    """The hand-made database, or its analytics copy (whose counts are computed another way)."""
    return edge_db if request.param == "record" else request.getfixturevalue("edge_copy")


def test_hand_made_edge_cases(edge_source):
    total = sla.sla_metrics(Filter(), None, edge_source, EDGE_NOW).iloc[0]
    assert total["received"] == 4 + len(EDGE_OPEN)
    assert (total["resolved"], total["rejected"], total["pending"]) == (3, 1, len(EDGE_OPEN))
    # A report with no deadline is "no SLA", never on time.
    assert (total["agency_judged"], total["agency_on_time"], total["resolved_no_sla"]) == (2, 1, 1)
    assert total["agency_on_time_rate"] == pytest.approx(0.5)
    assert (total["ioc_judged"], total["ioc_on_time"]) == (2, 1)
    assert total["open_no_sla"] == 1
    # Aging in working days after the deadline's date, across Tết 2025.
    assert total["overdue"] == 11
    assert (total["overdue_1_5"], total["overdue_6_10"], total["overdue_over_10"]) == (5, 4, 2)
    assert total["due_today"] == 1 and total["due_soon"] == 2 and total["not_yet_due"] == 3
    # Bounces: report 1 went to A1, came back, went to A2; report 2 went to A1.
    assert (total["forwardings"], total["bounce_backs"]) == (3, 1)
    assert (total["rating_count"], total["r1"], total["r2"], total["r5"]) == (3, 1, 1, 1)
    assert total["share_low"] == pytest.approx(2 / 3)


def test_hand_made_edge_cases_per_agency(edge_source):
    per = sla.sla_metrics(Filter(), "agency", edge_source, EDGE_NOW).set_index("key")
    a1, a2 = per.loc["A1"], per.loc["A2"]
    # A2's only resolved report has no deadline: nothing judged, so no rate at all (not 0 %, not 100 %).
    assert (a2["resolved"], a2["agency_judged"], a2["agency_on_time"], a2["resolved_no_sla"]) == (1, 0, 0, 1)
    assert np.isnan(a2["agency_on_time_rate"])
    assert (a1["agency_judged"], a1["agency_on_time"]) == (2, 1)
    # The return counts against A1, the agency that returned it, although the report is now A2's.
    assert (a1["forwardings"], a1["bounce_backs"], a1["bounce_back_rate"]) == (2, 1, 0.5)
    assert (a2["forwardings"], a2["bounce_backs"], a2["bounce_back_rate"]) == (1, 0, 0.0)
    # Scoped to A2: A1's return does not show.
    scoped = sla.sla_metrics(Filter().scoped("A2"), "agency", edge_source, EDGE_NOW)
    assert scoped["key"].tolist() == ["A2"] and scoped["bounce_backs"].tolist() == [0]
    # The received report has no agency and is only in the province row.
    assert per["received"].sum() == 4 + len(EDGE_OPEN) - 2  # minus the rejected and the received one


def test_hand_made_edge_cases_match_pandas(edge_db):
    raw = read_raw(edge_db)
    for by in ("agency", "category", None):
        assert_metrics_equal(sla.sla_metrics(Filter(), by, edge_db, EDGE_NOW), expected_metrics(raw, Filter(), by,
                                                                                                 EDGE_NOW),
                             check_names=by is not None)


# --- a real dataset: Boston 2015 through the importer -------------------------------------------------------

@pytest.fixture(scope="module")
def boston_csv(tmp_path_factory):
    """The first BOSTON_ROWS records of the shared export, as a plain CSV."""
    path = tmp_path_factory.mktemp("boston") / "boston311_2015_head.csv"
    with gzip.open(BOSTON_GZ, "rt", encoding="utf-8", newline="") as src, \
            open(path, "w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(src), csv.writer(out)
        for record in itertools.islice(reader, BOSTON_ROWS + 1):  # the header and the rows
            writer.writerow(record)
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def boston_db(request, boston_csv, tmp_path_factory, pg_server_url):
    drop = None
    folder = tmp_path_factory.mktemp("boston-db")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'boston.sqlite3'}"
    else:
        url, drop = create_pg_database(pg_server_url)
    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    summary = import_file(boston_csv, "boston", db=db, reject_path=folder / "rejects.csv")
    assert summary.adds_up and summary.imported > 0.99 * BOSTON_ROWS
    yield db, read_raw(db)
    db.dispose()
    if drop:
        drop()


BOSTON_NOWS = {"now": NOW, "mid_2015": datetime(2015, 6, 15, 14, 0)}


@pytest.mark.parametrize("now_name", list(BOSTON_NOWS))
@pytest.mark.parametrize("by", ["agency", "category", None])
def test_boston_sla_metrics_match_pandas(boston_db, by, now_name):
    db, raw = boston_db
    now = BOSTON_NOWS[now_name]
    got = sla.sla_metrics(Filter(), by, db, now)
    assert_metrics_equal(got, expected_metrics(raw, Filter(), by, now), check_names=by is not None)


def test_boston_reports_without_a_target_are_no_sla_never_on_time(boston_db):
    db, raw = boston_db
    rep = raw["reports"]
    resolved = rep[rep["status"] == "resolved"]
    no_target = resolved["agency_deadline_at"].isna()
    assert 0 < no_target.sum() < len(resolved)
    total = sla.sla_metrics(Filter(), None, db, NOW).iloc[0]
    judged = resolved[~no_target]
    on_time = int((judged["resolved_at"] <= judged["agency_deadline_at"]).sum())
    assert total["resolved_no_sla"] == no_target.sum()
    assert total["agency_judged"] == len(judged)
    assert total["agency_on_time"] == on_time
    assert total["agency_on_time_rate"] == pytest.approx(on_time / len(judged))
    assert total["agency_on_time_rate"] != pytest.approx(on_time / len(resolved))
    assert total["agency_on_time_rate"] != pytest.approx((on_time + no_target.sum()) / len(resolved))
    open_rows = rep[rep["status"].isin(OPEN)]
    assert total["open_no_sla"] == open_rows["deadline_at"].isna().sum() > 0
    assert total["overdue"] == (open_rows["deadline_at"] < NOW).sum() > 0
    # The importer has no IOC stage: nothing is judged there.
    assert total["ioc_judged"] == 0 and np.isnan(total["ioc_on_time_rate"])


def test_boston_stored_durations_are_the_working_time_between_the_timestamps(boston_db):
    _db, raw = boston_db
    rep = raw["reports"]
    resolved = (rep["status"] == "resolved") & rep["agency_id"].notna()
    assert (rep["agency_work_days"].notna() == resolved).all()
    want = ref_clock().days_between(rep.loc[resolved, "created_at"], rep.loc[resolved, "resolved_at"])
    np.testing.assert_allclose(rep.loc[resolved, "agency_work_days"], want, atol=1e-6)
    assert rep["ioc_work_days"].isna().all()


def test_boston_slice_is_what_the_source_says(boston_csv):
    source = pd.read_csv(io.StringIO(boston_csv.read_text(encoding="utf-8")), dtype=str)
    assert len(source) == BOSTON_ROWS
    assert source["CASE_ENQUIRY_ID"].is_unique
    assert source["TARGET_DT"].isna().sum() > 0  # some cases have no target: the no-SLA path is exercised
