"""The overview callback called directly, as the browser would, for different users and inputs."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from queries.filters import Filter, utc_now
from tests import independent
from tests.dash_calls import callback_spec, kpi_values, overview_values, post_callback


@pytest.fixture
def leader(client_for):
    return client_for("leader")


def test_overview_callback_returns_the_query_layer_numbers(leader, raw_by_dialect):
    spec = callback_spec(leader, "overview-kpis.children")
    resp = post_callback(leader, spec, overview_values("2026-01-01", "2026-11-20", categories=["XD"]))
    assert resp.status_code == 200
    kpis = kpi_values(resp.get_json())
    want = independent.headline(raw_by_dialect["sqlite"], Filter(start=date(2026, 1, 1), end=date(2026, 11, 20),
                                                                  categories=("XD",)), utc_now())
    assert int(kpis["total"]) == want["total"] > 0
    assert int(kpis["resolved"]) == want["resolved"]
    assert int(kpis["pending"]) == want["pending"]
    assert float(kpis["on-time"]) == pytest.approx(want["agency_on_time_rate"], abs=1e-6)
    response = resp.get_json()["response"]
    assert response["overview-map-params"]["data"]["category"] == "XD"  # the map's requests follow the filter
    assert response["overview-freshness"]["children"].startswith("Dữ liệu lúc ")


def test_agency_head_cannot_widen_scope_through_the_callback(client_for, raw_by_dialect):
    client = client_for("agency_a")
    spec = callback_spec(client, "overview-kpis.children")
    crafted = post_callback(client, spec, overview_values(agencies=["CAT"]))
    assert int(kpi_values(crafted.get_json())["total"]) == 0
    own = post_callback(client, spec, overview_values())
    want = independent.headline(raw_by_dialect["sqlite"], Filter().scoped("SXD"), utc_now())
    assert int(kpi_values(own.get_json())["total"]) == want["total"] > 0


@pytest.mark.parametrize("values", [
    overview_values("2026-05-01", "2026-04-01"),
    overview_values(categories=["KHONG_CO"]),
    overview_values(start="not-a-date"),
])
def test_odd_inputs_give_an_empty_state_or_the_default_view(leader, values):
    spec = callback_spec(leader, "overview-kpis.children")
    resp = post_callback(leader, spec, values)
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    assert "overview-kpis" in response and response["overview-banner"]["className"] == "banner hidden"


def test_unreachable_database_shows_a_banner_not_a_traceback(leader, server):
    import queries.db as qdb

    spec = callback_spec(leader, "overview-kpis.children")
    working = qdb.get_db()
    qdb._current = qdb.Database("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    try:
        values = overview_values()
        values["overview-last-ok.data"] = "14:05 28/11/2026"
        resp = post_callback(leader, spec, values)
        api = leader.get("/api/v1/overview")
    finally:
        qdb._current.dispose()
        qdb._current = working
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    banner = response["overview-banner"]["children"]
    assert banner == "Mất kết nối cơ sở dữ liệu — đang hiển thị dữ liệu lúc 14:05 28/11/2026"
    assert response["overview-banner"]["className"] == "banner banner-error"
    assert "overview-kpis" not in response  # the last good numbers stay on screen
    assert api.status_code == 503 and api.get_json()["error"] == "database_unavailable"


def test_a_database_without_reports_gives_empty_panels(leader, tmp_path):
    import queries.db as qdb
    from queries.migrate import upgrade
    from queries.reference import load_reference_data

    empty = qdb.Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    upgrade(empty)
    load_reference_data(empty)
    working = qdb.get_db()
    # The signed-in leader and their sessions must exist in the empty database too, or the session is refused.
    from sqlalchemy import insert, select

    from queries.schema import user_sessions, users

    leader_row = working.read_rows(select(users).where(users.c.username == "leader"))[0]
    sessions = working.read_rows(select(user_sessions).where(user_sessions.c.user_id == leader_row["id"]))
    with empty.begin() as conn:
        conn.execute(insert(users), leader_row)
        conn.execute(insert(user_sessions), sessions)
    spec = callback_spec(leader, "overview-kpis.children")
    qdb._current = empty
    try:
        resp = post_callback(leader, spec, overview_values("2026-01-01", "2026-11-20"))
        api = leader.get("/api/v1/overview").get_json()
        points = leader.get("/api/v1/map/points?from=2026-01-02").get_json()
    finally:
        qdb._current = working
        empty.dispose()
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    assert kpi_values(resp.get_json())["total"] == "0"
    for graph in ("overview-backlog", "overview-satisfaction", "overview-trend", "overview-channels"):
        annotations = response[graph]["figure"]["layout"]["annotations"]
        assert annotations[0]["text"] == "Không có dữ liệu cho bộ lọc này", graph
    assert response["overview-map-communes"]["children"] == []
    assert api["total"] == 0 and api["backlog_by_agency"] == []
    assert points["features"] == [] and points["meta"]["total"] == 0


def test_a_twenty_year_view_over_the_row_limit_is_narrowed_and_says_so(set_settings, leader, raw_by_dialect):

    raw = raw_by_dialect["sqlite"]
    everything = Filter(start=date(2006, 1, 1), end=date(2026, 11, 20))
    total = len(independent.select_reports(raw, everything))
    set_settings(view_row_limit=total // 2)
    spec = callback_spec(leader, "overview-kpis.children")
    response = post_callback(leader, spec, overview_values("2006-01-01", "2026-11-20")).get_json()
    banner = response["response"]["overview-banner"]
    assert banner["className"] == "banner banner-info"
    # The message names the period's count and the start the view was narrowed to; the KPIs are that view's.
    local = (raw["reports"]["created_at"] + pd.Timedelta(hours=7)).dt.date
    shown = int(kpi_values(response)["total"])
    start = date.fromisoformat(response["response"]["overview-map-params"]["data"]["from"])
    assert start.day == 1 and shown == int(((local >= start) & (local <= date(2026, 11, 20))).sum()) <= total // 2
    assert f"{total:,}".replace(",", ".") in banner["children"] and start.strftime("%d/%m/%Y") in banner["children"]
    assert f"{shown:,}".replace(",", ".") in banner["children"]
