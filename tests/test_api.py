"""The overview's JSON twin and the map-points route, checked against pandas over the raw rows."""

from __future__ import annotations

from datetime import date

import pytest

from queries.filters import Filter, utc_now
from tests import independent


def test_overview_json_matches_pandas(client_for, raw_by_dialect):
    params = {"from": "2026-06-01", "to": "2026-11-20", "category": "MT,GT", "channel": "app"}
    body = client_for("leader").get("/api/v1/overview", query_string=params).get_json()
    f = Filter(start=date(2026, 6, 1), end=date(2026, 11, 20), categories=("MT", "GT"), channels=("app",))
    want = independent.headline(raw_by_dialect["sqlite"], f, utc_now())
    for key in ("total", "resolved", "pending", "overdue", "rejected"):
        assert body[key] == want[key], key
    assert body["total"] > 0
    assert body["agency_on_time_rate"] == pytest.approx(want["agency_on_time_rate"])
    assert body["satisfaction_mean"] == pytest.approx(want["satisfaction_mean"])
    backlog = independent.backlog(raw_by_dialect["sqlite"], f, utc_now())
    got = {(a["code"] or "<none>"): (a["resolved"], a["pending"], a["overdue"]) for a in body["backlog_by_agency"]}
    assert got == {code: (row.resolved, row.pending, row.overdue) for code, row in backlog.iterrows()}
    assert all(set(a) == {"code", "name", "resolved", "pending", "overdue"} for a in body["backlog_by_agency"])
    assert body["filter"] == params


def test_overview_json_is_scoped_for_an_agency_head(client_for, raw_by_dialect):
    body = client_for("agency_a").get("/api/v1/overview").get_json()
    want = independent.headline(raw_by_dialect["sqlite"], Filter().scoped("SXD"), utc_now())
    assert body["total"] == want["total"] > 0
    assert [a["code"] for a in body["backlog_by_agency"]] == ["SXD"]
    # Asking for another agency cannot widen the scope.
    other = client_for("agency_a").get("/api/v1/overview?agency=CAT").get_json()
    assert other["total"] == 0 and other["backlog_by_agency"] == []


@pytest.mark.parametrize("query", ["from=2026-05-01&to=2026-04-01", "category=KHONG_CO", "commune=99999",
                                   "channel=fax", "agency=X,Y&status=deleted"])
def test_empty_selections_give_zeros_not_errors(client_for, query):
    resp = client_for("leader").get(f"/api/v1/overview?{query}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["total"], body["resolved"], body["pending"], body["overdue"]) == (0, 0, 0, 0)
    assert body["agency_on_time_rate"] is None and body["satisfaction_mean"] is None
    assert body["backlog_by_agency"] == []


@pytest.mark.parametrize("query", ["from=01/02/2026", "to=2026-13-01", "from=hôm-qua"])
def test_malformed_dates_get_a_clear_400(client_for, query):
    resp = client_for("leader").get(f"/api/v1/overview?{query}")
    assert resp.status_code == 400
    assert "YYYY-MM-DD" in resp.get_json()["message"]


def test_map_points_are_lean_geojson(client_for, raw_by_dialect):
    # Zoomed in (queries/maps.py), a view holding few enough reports gets them one by one.
    resp = client_for("leader").get("/api/v1/map/points?from=2026-10-01&to=2026-11-20&zoom=14&bbox=104,15,109,19")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    body = resp.get_json()
    selected = independent.select_reports(raw_by_dialect["sqlite"], Filter(start=date(2026, 10, 1),
                                                                             end=date(2026, 11, 20)))
    located = selected[selected["lat"].notna()]
    assert body["meta"] == {"mode": "points", "shown": len(located), "total": len(located)}
    assert len(body["features"]) == len(located) > 0
    feature = body["features"][0]
    assert set(feature["properties"]) == {"c", "s", "k", "a", "d"}
    assert "reporter_phone" not in resp.get_data(as_text=True)
    lon, lat = feature["geometry"]["coordinates"]
    assert 15.5 < lat < 18.5 and 105 < lon < 108


def test_map_points_respect_the_agency_scope(client_for):
    body = client_for("agency_b").get("/api/v1/map/points?zoom=14&bbox=104,15,109,19").get_json()
    assert body["features"] and {f["properties"]["a"] for f in body["features"]} == {"CAT"}
