"""The demo generator: deterministic for a seed, and realistic rather than uniform.

Realism checks read the session's seeded SQLite and PostgreSQL databases through plain SELECT * (`raw`);
determinism and the seeding rules use small fresh databases. Bounds are properties the issue asks for
(skew, season, long tail, ...), never numbers copied from a run.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, insert, select

import queries.demo as demo
from queries.db import Database
from queries.demo import DemoDataExists, seed_demo
from queries.filters import local_to_utc
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import CHANNELS, OPEN_STATUSES, reports
from tests.conftest import DEMO_END, DEMO_N, DEMO_SEED, NOW, create_pg_database, read_raw

SMALL_N = 1500  # enough rows for every branch of the generator, small enough to seed in a fraction of a second
STORM_MONTHS = (9, 10, 11)
CHAIN = ("created_at", "classified_at", "forwarded_at", "first_response_at", "resolved_at")


# --- helpers -------------------------------------------------------------------------------------

def fresh_db(url: str) -> Database:
    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    return db


def tables(db: Database) -> dict[str, pd.DataFrame]:
    """Raw tables in id order (SELECT * has no order), event times parsed like the report ones."""
    frames = read_raw(db)
    for name in ("reports", "report_events", "agencies"):
        frames[name] = frames[name].sort_values("id").reset_index(drop=True)
    frames["report_events"]["at"] = pd.to_datetime(frames["report_events"]["at"])
    return frames


def seeded_tables(path, n: int = SMALL_N, seed: int = DEMO_SEED, **kwargs) -> dict[str, pd.DataFrame]:
    db = fresh_db(f"sqlite:///{path}")
    try:
        seed_demo(db, n=n, seed=seed, end=DEMO_END, **kwargs)
        return tables(db)
    finally:
        db.dispose()


def joined(raw: dict) -> pd.DataFrame:
    """Reports with category code, agency code/kind/commune and the local creation time."""
    cats = raw["categories"][["id", "code", "default_handling_days"]].rename(
        columns={"id": "category_id", "code": "category_code"})
    ags = raw["agencies"][["id", "code", "kind", "commune_code"]].rename(
        columns={"id": "agency_id", "code": "agency_code", "kind": "agency_kind", "commune_code": "agency_commune"})
    df = raw["reports"].merge(cats, on="category_id", how="left").merge(ags, on="agency_id", how="left")
    df["local_created"] = df["created_at"] + pd.Timedelta(hours=7)  # Asia/Ho_Chi_Minh is UTC+7, no DST
    return df


def events(raw: dict) -> pd.DataFrame:
    ev = raw["report_events"].copy()
    ev["at"] = pd.to_datetime(ev["at"])  # SQLite hands DateTime back as text through plain SELECT *
    return ev.sort_values(["report_id", "id"]).reset_index(drop=True)


def communes(raw: dict) -> pd.DataFrame:
    units = raw["admin_units"]
    return units[units["level"] == "commune"].set_index("code")


def commune_counts(raw: dict) -> pd.Series:
    """Reports per commune, communes without any report counted as 0."""
    return raw["reports"]["commune_code"].value_counts().reindex(communes(raw).index, fill_value=0)


def fake_clock(now_utc: datetime):
    """A datetime class whose now() is fixed, to seed 'at' a chosen wall-clock time."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return now_utc.replace(tzinfo=tz) if tz else now_utc

    return Clock


def has_vietnamese_marks(s: str) -> bool:
    """Vietnamese text carries tone/vowel marks (combining after NFD) or đ; plain ASCII does not."""
    return any(ch in "đĐ" or unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", s))


# --- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_tables(tmp_path):
    a = seeded_tables(tmp_path / "a.sqlite3")
    b = seeded_tables(tmp_path / "b.sqlite3")
    assert len(a["reports"]) == SMALL_N and len(a["report_events"]) > SMALL_N
    # Every column, ids and updated_at included: nothing is allowed to depend on the run.
    for name in ("reports", "report_events", "agencies"):
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_different_seed_gives_different_data(tmp_path):
    a = seeded_tables(tmp_path / "a.sqlite3", seed=DEMO_SEED)
    b = seeded_tables(tmp_path / "b.sqlite3", seed=DEMO_SEED + 1)
    assert not a["reports"].equals(b["reports"])
    # Not just one changed cell: times, places and categories are drawn afresh.
    assert (a["reports"]["created_at"] == b["reports"]["created_at"]).mean() < 0.01
    assert (a["reports"]["commune_code"] == b["reports"]["commune_code"]).mean() < 0.5


def test_wall_clock_does_not_matter_once_the_period_is_over(tmp_path, monkeypatch):
    # Statuses are cut at min(now, end of period): any clock after the period must give the same data.
    frames = []
    for i, clock in enumerate((datetime(2026, 11, 21, 0, 0), datetime(2027, 6, 1, 12, 0))):
        monkeypatch.setattr(demo, "datetime", fake_clock(clock))
        frames.append(seeded_tables(tmp_path / f"{i}.sqlite3"))
    for name in ("reports", "report_events"):
        pd.testing.assert_frame_equal(frames[0][name], frames[1][name], obj=name)


def test_no_report_is_dated_after_the_seeding_clock(tmp_path, monkeypatch):
    clock = datetime(2026, 11, 20, 3, 0)  # 10:00 local on the last demo day
    monkeypatch.setattr(demo, "datetime", fake_clock(clock))
    rep = seeded_tables(tmp_path / "x.sqlite3", n=DEMO_N)["reports"]
    assert (rep["created_at"] <= clock).all(), rep.loc[rep["created_at"] > clock, ["code", "created_at", "status"]]


def test_sqlite_and_postgresql_hold_the_same_demo(sqlite_db, pg_db):
    # Same seed, two backends: the data must not depend on the database it is written to.
    a, b = tables(sqlite_db), tables(pg_db)
    for name in ("reports", "report_events", "agencies", "categories"):
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False, obj=name)


# --- reference data ------------------------------------------------------------------------------

def test_agencies(raw):
    ags = raw["agencies"]
    assert len(ags) == 38 and ags["code"].is_unique
    assert {"department", "police", "utility", "commune"} <= set(ags["kind"])
    assert ags.loc[ags["code"] == "CAT", "kind"].tolist() == ["police"]
    # People's committees point at distinct existing communes and carry that commune's name; nobody else does.
    units = communes(raw)
    committees = ags[ags["kind"] == "commune"]
    assert len(committees) > 0
    assert committees["commune_code"].notna().all() and committees["commune_code"].is_unique
    assert committees["commune_code"].isin(units.index).all()
    assert ags.loc[ags["kind"] != "commune", "commune_code"].isna().all()
    for name, code in zip(committees["name"], committees["commune_code"], strict=True):
        bare = units.loc[code, "name"].split(" ", 1)[-1]  # "Phường Đồng Thuận" -> "Đồng Thuận"
        assert name.startswith("Ủy ban nhân dân") and name.endswith(bare), (name, code)


def test_categories_and_admin_units(raw):
    cats = raw["categories"]
    assert len(cats) == 8 and cats["code"].is_unique
    assert (cats["default_handling_days"] > 0).all()
    units = raw["admin_units"]
    assert len(units) == 79 and units["code"].is_unique
    province = units[units["level"] == "province"]
    assert province["code"].tolist() == ["44"]
    comm = units[units["level"] == "commune"]
    assert len(comm) == 78
    assert (comm["parent_code"] == "44").all()
    assert comm["code"].str.fullmatch(r"\d{5}").all()
    assert set(comm["unit_type"]) <= {"Phường", "Xã", "Đặc khu"}
    # Every report sits in one of these communes.
    assert raw["reports"]["commune_code"].isin(comm["code"]).all()


# --- where ---------------------------------------------------------------------------------------

def test_commune_counts_are_skewed_like_population(raw):
    counts = commune_counts(raw)
    n = counts.sum()
    assert n == len(raw["reports"])
    # Uniform communes would put 10/78 (12.8 %) in the top ten; population skew needs at least twice that.
    assert counts.nlargest(10).sum() / n > 2 * 10 / len(counts)
    # Dense urban wards out-report rural communes; 1.5x keeps it clear of noise.
    by_type = counts.groupby(communes(raw)["unit_type"]).mean()
    assert by_type["Phường"] > 1.5 * by_type["Xã"]
    # Skewed, but every commune shows up on the map.
    assert (counts > 0).all()


def test_communes_with_a_committee_agency_are_the_busier_ones(raw):
    counts = commune_counts(raw)
    has_committee = counts.index.isin(raw["agencies"]["commune_code"].dropna())
    assert has_committee.any() and (~has_committee).any()
    assert counts[has_committee].mean() > counts[~has_committee].mean()


# --- when ----------------------------------------------------------------------------------------

def test_storm_season_raises_sanitation_traffic_and_urban_infrastructure(raw):
    df = joined(raw)
    storm = df["local_created"].dt.month.isin(STORM_MONTHS)
    assert storm.any() and (~storm).any()
    for code in ("MT", "GT", "DT"):
        in_season = (df.loc[storm, "category_code"] == code).mean()
        off_season = (df.loc[~storm, "category_code"] == code).mean()
        assert in_season > off_season, (code, in_season, off_season)


def test_storm_months_have_the_highest_daily_volume(raw):
    df = joined(raw)
    day = df["local_created"].dt.normalize()
    # Days without a report count as zero; partial first/last months are handled by averaging per day.
    all_days = pd.date_range(day.min(), pd.Timestamp(DEMO_END), freq="D")
    per_day = day.value_counts().reindex(all_days, fill_value=0)
    assert per_day.sum() == len(df)
    by_month = per_day.groupby(per_day.index.month).mean()
    assert set(by_month.index) == set(range(1, 13))
    storm = by_month[by_month.index.isin(STORM_MONTHS)]
    other = by_month[~by_month.index.isin(STORM_MONTHS)]
    assert storm.min() > other.max(), by_month


# --- who -----------------------------------------------------------------------------------------

def test_security_reports_go_mostly_to_the_provincial_police(raw):
    df = joined(raw)
    security = df[(df["category_code"] == "AN") & df["agency_code"].notna()]
    assert len(security) > 50
    # "Mostly": a clear majority, well above any other single agency.
    share = security["agency_code"].value_counts(normalize=True)
    assert share.idxmax() == "CAT" and share["CAT"] > 0.75


def test_commune_routes_land_on_the_communes_own_committee(raw):
    df = joined(raw)
    to_committee = df[df["agency_kind"] == "commune"]
    assert len(to_committee) > 0
    # A commune's people's committee only ever handles reports from its own commune.
    assert (to_committee["agency_commune"] == to_committee["commune_code"]).all()
    # Construction order is a commune matter: where the commune has a committee, it gets most of them.
    committees = set(raw["agencies"]["commune_code"].dropna())
    xd = df[(df["category_code"] == "XD") & df["agency_code"].notna() & df["commune_code"].isin(committees)]
    assert len(xd) > 30
    assert (xd["agency_kind"] == "commune").mean() > 0.5


# --- handling ------------------------------------------------------------------------------------

def test_handling_times_are_long_tailed(raw):
    df = joined(raw)
    res = df[df["status"] == "resolved"]
    days = (res["resolved_at"] - res["created_at"]) / timedelta(days=1)
    assert len(days) > 100 and (days > 0).all()
    median = days.median()
    assert days.quantile(0.9) / median > 1.5
    assert days.mean() > median
    # Categories with a 3-day deadline are resolved faster than the 10-day ones.
    handling = res["default_handling_days"]
    assert days[handling == handling.min()].median() < days[handling == handling.max()].median()


def test_a_few_reports_are_overdue(raw):
    rep = raw["reports"]
    is_open = rep["status"].isin(OPEN_STATUSES)
    open_overdue = is_open & (rep["deadline_at"] < NOW)
    resolved = rep[rep["status"] == "resolved"]
    late = resolved["resolved_at"] > resolved["deadline_at"]
    # Both kinds must exist, or the overdue and on-time KPIs show nothing. The stale open backlog is a
    # small tail (under 5 % of all reports); late resolutions stay a minority (under 25 % of resolved),
    # else the on-time rate would describe a system that has broken down.
    assert open_overdue.sum() > 0 and open_overdue.mean() < 0.05
    assert late.sum() > 0 and late.mean() < 0.25


def test_some_reports_are_rejected_with_a_reason(raw):
    rep = raw["reports"].set_index("id")
    ev = events(raw)
    rejected = rep[rep["status"] == "rejected"]
    # A minority: the IOC rejects out-of-scope or duplicate reports, not one in ten.
    assert 0 < len(rejected) < 0.1 * len(rep)
    assert rejected["rejected_at"].notna().all()
    assert rejected["agency_id"].isna().all() and rejected["forwarded_at"].isna().all()
    assert rep.loc[rep["status"] != "rejected", "rejected_at"].isna().all()
    rejections = ev[ev["to_status"] == "rejected"].set_index("report_id")
    assert rejections.index.is_unique and set(rejections.index) == set(rejected.index)
    assert (rejections["at"] == rejected.loc[rejections.index, "rejected_at"]).all()
    assert (rejections["note"].str.len() > 0).all()


def test_some_reports_are_returned_and_forwarded_to_another_agency(raw):
    ev = events(raw)
    g = ev.groupby("report_id")
    # forwarded -> classified (returned) -> forwarded again, on consecutive events of one report.
    nxt, nxt2 = g["to_status"].shift(-1), g["to_status"].shift(-2)
    start = (ev["to_status"] == "forwarded") & (nxt == "classified") & (nxt2 == "forwarded")
    assert start.any()
    first = ev[start]
    returned = ev.loc[first.index + 1]
    again = ev.loc[first.index + 2]
    assert (returned["from_status"] == "forwarded").all()
    assert (returned["agency_id"].to_numpy() == first["agency_id"].to_numpy()).all()
    assert (again["agency_id"].to_numpy() != first["agency_id"].to_numpy()).all()
    # The report ends up with the second agency; bounces stay rare.
    rep = raw["reports"].set_index("id")
    assert (rep.loc[again["report_id"], "agency_id"].to_numpy() == again["agency_id"].to_numpy()).all()
    assert start.sum() < 0.1 * len(rep)


def test_ratings_only_on_resolved_reports_and_worse_when_late(raw):
    rep = raw["reports"]
    rated = rep[rep["rating"].notna()]
    assert len(rated) > 0
    assert (rated["status"] == "resolved").all()
    assert rated["rating"].isin([1, 2, 3, 4, 5]).all()
    assert (rep["rating"].notna() == rep["rating_comment"].notna()).all()
    late = rated["resolved_at"] > rated["deadline_at"]
    # Enough ratings in each group for the means to mean something.
    assert late.sum() >= 30 and (~late).sum() >= 30
    # Half a star is far beyond sampling noise for groups this size (standard error < 0.2).
    assert rated.loc[late, "rating"].mean() < rated.loc[~late, "rating"].mean() - 0.5


def test_the_app_is_the_largest_of_the_four_channels(raw):
    counts = raw["reports"]["channel"].value_counts()
    assert set(counts.index) == set(CHANNELS)
    assert counts.idxmax() == "app" and counts["app"] > counts.drop("app").max()


# --- consistency ---------------------------------------------------------------------------------

def test_timestamps_are_in_order(raw):
    rep = raw["reports"]
    assert rep["created_at"].notna().all()
    for a, b in pairwise(CHAIN):
        both = rep[a].notna() & rep[b].notna()
        assert (rep.loc[both, a] <= rep.loc[both, b]).all(), (a, b)
        # A later step never happens without the earlier one.
        assert rep.loc[rep[b].notna(), a].notna().all(), (a, b)
    rejected = rep[rep["rejected_at"].notna()]
    assert (rejected["classified_at"] <= rejected["rejected_at"]).all()
    with_deadline = rep[rep["deadline_at"].notna()]
    assert (with_deadline["deadline_at"] > with_deadline["created_at"]).all()
    # Nothing happens after the last day of the demo period (local midnight after DEMO_END).
    period_end = local_to_utc(DEMO_END + timedelta(days=1))
    for col in (*CHAIN, "rejected_at", "updated_at"):
        assert (rep[col].dropna() <= period_end).all(), col


def test_status_matches_the_timestamps(raw):
    rep = raw["reports"]
    expected = np.select(
        [rep["rejected_at"].notna(), rep["resolved_at"].notna(), rep["first_response_at"].notna(),
         rep["forwarded_at"].notna(), rep["classified_at"].notna()],
        ["rejected", "resolved", "in_progress", "forwarded", "classified"], default="received")
    assert (rep["status"].to_numpy() == expected).all()
    assert not (rep["rejected_at"].notna() & rep["resolved_at"].notna()).any()
    # An agency holds the report exactly when it was forwarded; every report not rejected has a deadline.
    assert (rep["agency_id"].notna() == rep["forwarded_at"].notna()).all()
    assert (rep["deadline_at"].isna() == (rep["status"] == "rejected")).all()
    assert (rep["reply"].notna() == (rep["status"] == "resolved")).all()
    # updated_at is the latest thing that happened to the report.
    latest = rep[[*CHAIN, "rejected_at"]].max(axis=1)
    assert (rep["updated_at"] == latest).all()


def test_events_tell_the_reports_story_in_order(raw):
    rep = raw["reports"].set_index("id")
    ev = events(raw)
    assert set(ev["report_id"]) == set(rep.index)
    g = ev.groupby("report_id")
    assert (g["at"].diff().dropna() >= pd.Timedelta(0)).all()
    # Each event starts where the previous one ended; the first is the reception itself.
    prev = g["to_status"].shift()
    first = prev.isna()
    assert ev.loc[first, "from_status"].isna().all()
    assert (ev.loc[first, "to_status"] == "received").all()
    assert (ev.loc[first, "at"].to_numpy() == rep.loc[ev.loc[first, "report_id"], "created_at"].to_numpy()).all()
    assert (ev.loc[~first, "from_status"] == prev[~first]).all()
    last = g.tail(1).set_index("report_id")
    assert (last["to_status"] == rep.loc[last.index, "status"]).all()
    assert (last["at"] == rep.loc[last.index, "updated_at"]).all()


# --- text ----------------------------------------------------------------------------------------

def test_text_is_vietnamese_and_codes_and_phones_look_real(raw):
    rep = raw["reports"]
    assert rep["title"].map(has_vietnamese_marks).all()
    assert rep["description"].map(has_vietnamese_marks).all()
    # The description names the report's own commune.
    names = communes(raw)["name"]
    assert all(names[c] in d for c, d in zip(rep["commune_code"], rep["description"], strict=True))
    assert rep["code"].is_unique and rep["code"].str.fullmatch(r"PA-\d{4}-\d{6}").all()
    phones = rep["reporter_phone"].dropna()
    assert len(phones) > 0
    # Vietnamese mobiles since the 2018 renumbering: 10 digits, 03/05/07/08/09.
    assert phones.str.fullmatch(r"0[35789]\d{8}").all()


def test_public_code_year_is_the_local_year_of_receipt(raw):
    df = joined(raw)
    year = df["code"].str.slice(3, 7).astype(int)
    wrong = df[year != df["local_created"].dt.year]
    assert wrong.empty, wrong[["code", "created_at", "local_created"]]


def test_vietnamese_mark_detector_tells_ascii_apart():
    # The helper itself must tell Vietnamese from ASCII, or the text test above proves nothing.
    assert has_vietnamese_marks("Rác thải tồn đọng") and has_vietnamese_marks("đ")
    assert not has_vietnamese_marks("Rac thai ton dong")


# --- seeding rules -------------------------------------------------------------------------------

def test_refuses_to_add_to_existing_reports_and_replace_starts_over(tmp_path):
    db = fresh_db(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        seed_demo(db, n=300, seed=1, end=DEMO_END)
        before = tables(db)
        with pytest.raises(DemoDataExists):
            seed_demo(db, n=100, seed=2, end=DEMO_END)
        after = tables(db)
        pd.testing.assert_frame_equal(before["reports"], after["reports"])
        pd.testing.assert_frame_equal(before["report_events"], after["report_events"])

        assert seed_demo(db, n=SMALL_N, seed=DEMO_SEED, end=DEMO_END, replace=True) == SMALL_N
        replaced = tables(db)
    finally:
        db.dispose()
    assert len(replaced["reports"]) == SMALL_N
    assert len(replaced["agencies"]) == 38  # kept, not duplicated
    assert set(replaced["report_events"]["report_id"]) == set(replaced["reports"]["id"])
    # Starting over is the same as seeding a fresh database.
    fresh = seeded_tables(tmp_path / "fresh.sqlite3")
    for name in ("reports", "report_events"):
        pd.testing.assert_frame_equal(replaced[name], fresh[name], obj=name)


def test_replace_on_postgresql_and_the_id_sequence_moves_on(pg_server_url):
    url, drop = create_pg_database(pg_server_url)
    db = fresh_db(url)
    try:
        seed_demo(db, n=200, seed=1, end=DEMO_END)
        with pytest.raises(DemoDataExists):
            seed_demo(db, n=100, seed=1, end=DEMO_END)
        seed_demo(db, n=150, seed=2, end=DEMO_END, replace=True)
        assert db.scalar(select(func.count()).select_from(reports)) == 150
        # Ids were inserted explicitly; a report the app adds later must not collide with them.
        with db.begin() as conn:
            new_id = conn.execute(insert(reports).values(
                code="PA-TEST-1", title="Thử nghiệm", channel="app", status="received",
                created_at=datetime(2026, 11, 20), updated_at=datetime(2026, 11, 20)).returning(reports.c.id)).scalar()
        assert new_id > 150
    finally:
        db.dispose()
        drop()

