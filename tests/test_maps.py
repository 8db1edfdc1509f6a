"""The map at any scale (queries/maps.py and /api/v1/map/points): grid cells and single reports against pandas
over the raw rows, on SQLite, PostgreSQL and the analytics copy of each; the agency scope; the route's modes,
validation and size; and the overview's map callback with its note."""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta

import numpy as np
import orjson
import pandas as pd
import pytest

from dashboard import api
from queries import maps
from queries.filters import Filter, utc_now
from queries.maps import BBox
from tests import independent
from tests.conftest import NOW
from tests.dash_calls import callback_spec, post_callback

DONG_HOI = BBox(106.45, 17.3, 106.75, 17.6)
STREETS = BBox(106.60, 17.43, 106.66, 17.47)
CELL_CASES = {
    "province_zoom_8": (Filter(), 8, maps.PROVINCE),
    "dong_hoi_zoom_11_this_year": (Filter(start=date(2026, 1, 1), end=date(2026, 11, 20)), 11, DONG_HOI),
    "streets_zoom_13_one_field": (Filter(categories=("MT",)), 13, STREETS),
    "agency_scope_zoom_10": (Filter().scoped("SXD"), 10, maps.PROVINCE),
}
ONE_MB = 1_000_000


def located_in(raw: dict, f: Filter, bbox: BBox) -> pd.DataFrame:
    df = independent.select_reports(raw, f)
    return df[df["lat"].between(bbox.south, bbox.north) & df["lon"].between(bbox.west, bbox.east)]


def cells_in_pandas(raw: dict, f: Filter, zoom: int, bbox: BBox, now: datetime) -> pd.DataFrame:
    """The documented cell formula (queries/maps.py) applied to the raw rows."""
    df = located_in(raw, f, bbox)
    size = maps.cell_size(maps.grid_zoom(zoom, bbox))
    is_open = df["status"].isin(independent.OPEN)
    df = df.assign(row=np.floor((df["lat"] + 90.0) / size).astype("int64"),
                   col=np.floor((df["lon"] + 180.0) / size).astype("int64"),
                   pending=is_open.astype("int64"), overdue=(is_open & (df["deadline_at"] < now)).astype("int64"))
    return df.groupby(["row", "col"]).agg(n=("id", "size"), lat=("lat", "mean"), lon=("lon", "mean"),
                                          pending=("pending", "sum"), overdue=("overdue", "sum"))


@pytest.mark.parametrize("case", list(CELL_CASES))
def test_cells_match_a_pandas_groupby(db, raw, case):
    f, zoom, bbox = CELL_CASES[case]
    got = maps.map_cells(f, zoom, bbox, db, now=NOW).set_index(["row", "col"]).sort_index()
    want = cells_in_pandas(raw, f, zoom, bbox, NOW)
    assert len(want) > 1
    assert got["n"].sum() == len(located_in(raw, f, bbox))  # every located report in the box, once
    pd.testing.assert_frame_equal(got[["n", "pending", "overdue"]], want[["n", "pending", "overdue"]],
                                  check_dtype=False)
    np.testing.assert_allclose(got[["lat", "lon"]], want[["lat", "lon"]], rtol=0, atol=1e-9)
    if case.startswith("agency_scope"):
        assert got["n"].sum() == (located_in(raw, Filter(), bbox)["agency_code"] == "SXD").sum() > 0


def test_the_province_view_represents_every_located_report(db, raw):
    f = Filter(start=date(2025, 6, 1), end=date(2026, 11, 20))
    cells = maps.map_cells(f, maps.PROVINCE_ZOOM, maps.PROVINCE, db, now=NOW)
    assert cells["n"].sum() == independent.headline(raw, f, NOW)["located"] > 0


def test_a_huge_box_at_a_deep_zoom_gets_coarser_cells(db, raw):
    """Any box can be asked for: the grid coarsens so the answer never exceeds MAX_CELLS cells."""
    world = BBox(-180, -90, 180, 90)
    assert maps.grid_zoom(17, world) < 17 and maps.grid_zoom(11, DONG_HOI) == 11
    cells = maps.map_cells(Filter(), 17, world, db, now=NOW)
    assert 0 < len(cells) <= maps.MAX_CELLS
    assert cells["n"].sum() == independent.headline(raw, Filter(), NOW)["located"]


def test_points_are_the_newest_in_the_box(db, raw):
    f = Filter(start=date(2026, 1, 1), end=date(2026, 11, 20))
    points, total = maps.map_points(f, DONG_HOI, limit=20, db=db)
    want = located_in(raw, f, DONG_HOI)
    assert total == len(want) > 20
    newest = want.sort_values(["created_at", "id"], ascending=False).head(20)
    assert list(points["code"]) == list(newest["code"])
    assert points["lat"].between(DONG_HOI.south, DONG_HOI.north).all()
    assert points["lon"].between(DONG_HOI.west, DONG_HOI.east).all()
    everything, located = maps.map_points(f, limit=10_000, db=db)
    assert located == len(everything) == independent.headline(raw, f, NOW)["located"]


def test_an_agency_head_sees_only_their_agency_on_the_map(db, raw):
    points, total = maps.map_points(Filter().scoped("CAT"), maps.PROVINCE, limit=10_000, db=db)
    assert set(points["agency_code"]) == {"CAT"} and total == len(points)
    assert total == (located_in(raw, Filter(), maps.PROVINCE)["agency_code"] == "CAT").sum() > 0
    widened = Filter(agencies=("SXD",)).scoped("CAT")
    assert maps.map_cells(widened, 8, maps.PROVINCE, db).empty
    assert maps.map_points(widened, maps.PROVINCE, db=db)[1] == 0


# --- the route ---------------------------------------------------------------------------------------------

def get_view(client, query: str) -> dict:
    resp = client.get(f"/api/v1/map/points?{query}")
    assert resp.status_code == 200, resp.data
    assert resp.mimetype == "application/geo+json"
    return resp.get_json()


def test_the_route_sends_cells_until_the_detail_zoom(client_for, raw_by_dialect):
    raw = raw_by_dialect["sqlite"]
    leader = client_for("leader")
    province = get_view(leader, "from=2026-01-01")
    located = independent.headline(raw, Filter(start=date(2026, 1, 1)), utc_now())["located"]
    assert province["meta"] == {"mode": "cells", "shown": located, "total": located}
    assert sum(f["properties"]["n"] for f in province["features"]) == located
    assert all(set(f["properties"]) == {"n", "p", "o"} for f in province["features"])

    box = f"{STREETS.west},{STREETS.south},{STREETS.east},{STREETS.north}"
    near = STREETS.padded(api.MAP_PAD)
    want = len(located_in(raw, Filter(), near))
    assert get_view(leader, f"zoom=13&bbox={box}")["meta"]["mode"] == "cells"
    detail = get_view(leader, f"zoom=14&bbox={box}")
    assert detail["meta"] == {"mode": "points", "shown": want, "total": want} and want > 0
    assert all(set(f["properties"]) == {"c", "s", "k", "a", "d"} for f in detail["features"])
    assert "reporter_phone" not in orjson.dumps(detail).decode()


def test_a_detail_view_holding_more_than_the_limit_stays_in_cells(client_for, monkeypatch):
    monkeypatch.setattr(api, "MAP_POINT_LIMIT", 10)
    body = get_view(client_for("leader"), "zoom=15&bbox=104,15,109,19&case=limit10")
    assert body["meta"]["mode"] == "cells" and body["meta"]["total"] > 10


def test_the_route_keeps_the_agency_scope(client_for, raw_by_dialect):
    own = int((located_in(raw_by_dialect["sqlite"], Filter(), maps.PROVINCE)["agency_code"] == "CAT").sum())
    agency = client_for("agency_b")
    cells = get_view(agency, "agency=SXD,CAT")  # asking for another agency cannot widen the scope
    assert cells["meta"]["total"] == own > 0
    points = get_view(agency, "zoom=16&bbox=104,15,109,19")
    assert points["meta"]["mode"] == "points" and {f["properties"]["a"] for f in points["features"]} == {"CAT"}


@pytest.mark.parametrize("query", ["zoom=abc", "zoom=nan", "zoom=inf", "bbox=106,17,107", "bbox=a,b,c,d",
                                   "bbox=107,17,106,18", "bbox=106,18,107,17", "bbox=200,10,210,20",
                                   "zoom=12&bbox=106,17,107,nan"])
def test_bad_viewports_get_a_clear_400(client_for, query):
    resp = client_for("leader").get(f"/api/v1/map/points?{query}")
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == "bad_request"
    assert ("'zoom'" in body["message"]) or ("'bbox'" in body["message"])


def test_out_of_range_viewports_are_clamped(client_for, raw_by_dialect):
    located = independent.headline(raw_by_dialect["sqlite"], Filter(), utc_now())["located"]
    leader = client_for("leader")
    assert get_view(leader, "zoom=-4")["meta"] == {"mode": "cells", "shown": located, "total": located}
    world = get_view(leader, "zoom=99&bbox=-500,-100,500,100")  # zoom 20, the whole globe
    assert world["meta"]["total"] == located


def gzipped(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=5))  # nginx's level in docs/deployment.md


@pytest.mark.parametrize("query", ["", "zoom=8&bbox=104,15,109,19", "zoom=13&bbox=104,15,109,19",
                                   "zoom=20&bbox=-180,-90,180,90"])
def test_the_largest_views_of_the_demo_stay_under_1_mb_gzipped(client_for, query):
    body = client_for("leader").get(f"/api/v1/map/points?{query}").get_data()
    assert gzipped(body) < ONE_MB


def test_the_limits_bound_any_payload_under_1_mb_gzipped():
    """Whatever the number of reports, a response holds at most MAP_POINT_LIMIT reports or MAX_CELLS cells;
    filled with the worst data (random positions, long codes, seven-digit counts) each stays under 1 MB."""
    rng = np.random.default_rng(7)
    n = api.MAP_POINT_LIMIT
    points = pd.DataFrame({
        "lon": rng.uniform(104, 109, n), "lat": rng.uniform(15, 19, n),
        "code": [f"PA-2026-{i:07d}" for i in rng.integers(0, 10_000_000, n)],
        "status": rng.choice(["in_progress", "forwarded", "classified"], n),
        "category_code": rng.choice(["KHAC", "MT", "GT"], n), "agency_code": rng.choice(["UBND-18880", "CAT"], n),
        "created_at": [datetime(2026, 1, 1) + timedelta(minutes=int(m)) for m in rng.integers(0, 500_000, n)],
    })
    cells = pd.DataFrame({"lon": rng.uniform(104, 109, maps.MAX_CELLS), "lat": rng.uniform(15, 19, maps.MAX_CELLS),
                          "n": rng.integers(1_000_000, 9_999_999, maps.MAX_CELLS),
                          "pending": rng.integers(100_000, 999_999, maps.MAX_CELLS),
                          "overdue": rng.integers(10_000, 99_999, maps.MAX_CELLS)})
    for features in (api.point_features(points), api.cell_features(cells)):
        body = orjson.dumps({"type": "FeatureCollection", "features": features,
                             "meta": {"mode": "cells", "shown": 10_000_000, "total": 10_000_000}})
        assert gzipped(body) < ONE_MB / 2, len(body)


# --- the overview's map callback -----------------------------------------------------------------------------

def map_callback(client, params: dict, zoom, bounds) -> dict:
    spec = callback_spec(client, "overview-map-points.url")
    resp = post_callback(client, spec, {"overview-map-params.data": params, "overview-map.zoom": zoom,
                                        "overview-map.bounds": bounds})
    assert resp.status_code == 200, resp.data
    return resp.get_json()["response"]


def test_the_overview_map_asks_for_its_viewport_and_says_what_it_shows(client_for, raw_by_dialect):
    raw = raw_by_dialect["sqlite"]
    leader = client_for("leader")
    params = {"from": "2026-01-01", "to": "2026-11-20", "v": "7"}
    f = Filter(start=date(2026, 1, 1), end=date(2026, 11, 20))
    province = map_callback(leader, params, 8, None)
    url = province["overview-map-points"]["url"]
    assert url.startswith("/api/v1/map/points?from=2026-01-01&to=2026-11-20&v=7&zoom=8")
    located = independent.headline(raw, f, utc_now())["located"]
    thousands = f"{located:,}".replace(",", ".")
    assert province["overview-map-note"]["children"] == (
        f"Đang hiển thị {thousands} phản ánh gộp theo ô lưới; phóng to để xem từng điểm.")
    assert leader.get(url).get_json()["meta"]["total"] == located

    bounds = [[STREETS.south, STREETS.west], [STREETS.north, STREETS.east]]
    streets = map_callback(leader, params, 15, bounds)
    assert "zoom=15&bbox=106.600%2C17.430%2C106.660%2C17.470" in streets["overview-map-points"]["url"]
    n = len(located_in(raw, f, STREETS.padded(api.MAP_PAD)))
    assert n > 0 and streets["overview-map-note"]["children"] == f"Hiển thị {n} / {n} phản ánh trong khung nhìn"
