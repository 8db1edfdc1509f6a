"""JSON twins of the pages (/api/v1/...): the same query functions the pages call."""

from __future__ import annotations

from datetime import datetime

import orjson
import pandas as pd
from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from dashboard.answers import agency_answer, overview_counts, scorecard_answer
from dashboard.auth import current_scope, current_viewer
from dashboard.cache import cache, cached, data_version
from queries import cases, maps, overview, scorecard
from queries.access import WorkflowError
from queries.filters import LOCAL_TZ, Filter, FilterError, parse_date, utc_to_local

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Reports sent one by one at most: few enough to keep the largest answer small (tests/test_maps.py) and for
# Leaflet to draw without clustering. A view holding more gets cells.
MAP_POINT_LIMIT = 5_000
DETAIL_ZOOM = 14  # from this zoom on (a few streets) a view may show single reports
MAP_PAD = 0.1  # the box is widened by this share on each side: a cell cut by the screen's edge keeps its reports
MAP_CACHE_SECONDS = 30


def request_filter() -> Filter:
    """The filter from the query string, scoped to the caller. Raises FilterError on a bad date."""
    params = {key: request.args.getlist(key) for key in request.args}
    return Filter.from_params(params).scoped(current_scope())


@bp.errorhandler(FilterError)
def _bad_filter(err: FilterError):
    return jsonify(error="bad_request", message=str(err)), 400


@bp.get("/overview")
def overview_json():
    f, narrowing = cached(overview.narrow_to_limit, request_filter())
    body = overview.overview_summary(f, counts=overview_counts(f))
    body["filter"] = f.to_params()
    body["narrowed"] = None if narrowing is None else {
        "from": narrowing.start.isoformat(), "reports_in_period": narrowing.total, "reports_shown": narrowing.shown}
    body["generated_at"] = datetime.now(LOCAL_TZ).isoformat(timespec="seconds")
    return jsonify(body)


def _points_cache_key() -> str:
    return f"points|{current_scope()}|{data_version()}|{request.query_string.decode()}"


def point_features(points: pd.DataFrame) -> list[dict]:
    """Reports as lean features: c (code), s (status), k (category), a (agency), d (local date)."""
    created = pd.to_datetime(points["created_at"]).dt.to_pydatetime()
    dates = [utc_to_local(ts).strftime("%d/%m/%Y") for ts in created]
    return [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
         "properties": {"c": code, "s": status, "k": cat, "a": agency, "d": day}}
        for lon, lat, code, status, cat, agency, day in zip(
            points["lon"].tolist(), points["lat"].tolist(), points["code"].tolist(), points["status"].tolist(),
            points["category_code"].tolist(), points["agency_code"].tolist(), dates, strict=True)
    ]


def cell_features(cells: pd.DataFrame) -> list[dict]:
    """Grid cells as features at their reports' mean position: n (count), p (pending), o (overdue)."""
    return [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
         "properties": {"n": n, "p": pending, "o": overdue}}
        for lon, lat, n, pending, overdue in zip(
            cells["lon"].tolist(), cells["lat"].tolist(), cells["n"].tolist(), cells["pending"].tolist(),
            cells["overdue"].tolist(), strict=True)
    ]


def map_view(f: Filter, zoom: int, bbox: maps.BBox, limit: int) -> dict:
    """What the map draws for a filter and viewport: the reports themselves from DETAIL_ZOOM on when the
    (padded) box holds at most `limit`, else grid cells, which represent every report in the box."""
    box = bbox.padded(MAP_PAD)
    if zoom >= DETAIL_ZOOM:
        points, total = maps.map_points(f, box, limit)
        if total <= limit:
            return {"type": "FeatureCollection", "features": point_features(points),
                    "meta": {"mode": "points", "shown": len(points), "total": total}}
    cells = maps.map_cells(f, zoom, box)
    total = int(cells["n"].sum())
    return {"type": "FeatureCollection", "features": cell_features(cells),
            "meta": {"mode": "cells", "shown": total, "total": total}}


@bp.get("/map/points")
@cache.cached(timeout=MAP_CACHE_SECONDS, make_cache_key=_points_cache_key)
def map_points():
    """GeoJSON for the map: the filter plus ?zoom=Z&bbox=west,south,east,north (the province view without
    them); meta = {mode: cells|points, shown, total}. Shared with the overview's note through `cached`."""
    zoom, bbox = maps.viewport_from_params(request.args)
    body = orjson.dumps(cached(map_view, request_filter(), zoom, bbox, MAP_POINT_LIMIT))
    resp = Response(body, mimetype="application/geo+json")
    resp.headers["Cache-Control"] = f"private, max-age={MAP_CACHE_SECONDS}"
    return resp


def frame_records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """Rows as plain JSON values: NaN and NA become null, numpy numbers become Python ones."""
    frame = (frame[columns] if columns else frame).rename(columns=str)  # SQL labels come as quoted_name
    return orjson.loads(orjson.dumps(frame.astype(object).where(frame.notna(), None).to_dict("records"),
                                     option=orjson.OPT_SERIALIZE_NUMPY, default=str))


SCORECARD_COLUMNS = ["key", "name", "received", "resolved", "pending", "overdue", "agency_on_time_rate",
                     "agency_median_days", "satisfaction_mean", "rating_count", "bounce_back_rate", "score",
                     "ranked", "rank"]


def _period_json(period) -> dict:
    return {"kind": period.kind, "label": period.label, "from": period.start.isoformat(),
            "to": period.end.isoformat()}


@bp.get("/scorecard")
def scorecard_json():
    """?period=month|quarter|year&date=YYYY-MM-DD plus the filter parameters (dates are set by the period)."""
    kind = request.args.get("period", "month")
    if kind not in scorecard.PERIOD_KINDS:
        return jsonify(error="bad_request", message="period phải là month, quarter hoặc year."), 400
    day = parse_date(request.args.get("date"), "date")
    table, period = scorecard_answer(request_filter(), kind, day)
    rows = []
    for row in frame_records(table):
        entry = {k: row[k] for k in SCORECARD_COLUMNS}
        entry["code"] = entry.pop("key")
        entry["previous"] = {c: row[f"{c}_prev"] for c in scorecard.COMPARED}
        entry["trend"] = {c: row[f"{c}_trend"] for c in scorecard.COMPARED}
        rows.append(entry)
    compared = scorecard.comparison(period)
    previous = {**_period_json(period.previous()), "compared_from": compared.previous_start.isoformat(),
                "compared_to": compared.previous_end.isoformat()}
    return jsonify(period={**_period_json(period), "partial": compared.partial,
                           "through": compared.through.isoformat()}, previous_period=previous,
                   min_resolved=scorecard.min_resolved(), agencies=rows,
                   generated_at=datetime.now(LOCAL_TZ).isoformat(timespec="seconds"))


@bp.get("/agencies/<code>")
def agency_json(code: str):
    scope = current_scope()
    if scope is not None and code != scope:
        return jsonify(error="forbidden", message="Chỉ xem được đơn vị của mình."), 403
    info = scorecard.agency_info(code)
    if info is None:
        return jsonify(error="not_found", message=f"Không có đơn vị mã '{code}'."), 404
    f = request_filter()
    answer = agency_answer(code, f, cards_only=False)
    compared = answer["compared"]
    return jsonify(
        agency=info,
        metrics=frame_records(pd.DataFrame([compared["agency"]]))[0] if compared["agency"] else None,
        province=frame_records(pd.DataFrame([compared["province"]]))[0] if compared["province"] else None,
        agencies_with_reports=compared["agencies_with_reports"],
        trend=frame_records(answer["trend"]),
        province_trend=frame_records(answer["province_trend"]),
        worst_rated_categories=frame_records(answer["worst"]),
        overdue=frame_records(cases.open_cases(code, f, "overdue"), OPEN_CASE_COLUMNS),
        due_soon=frame_records(cases.open_cases(code, f, "due_soon"), OPEN_CASE_COLUMNS),
        filter=f.to_params(),
    )


OPEN_CASE_COLUMNS = ["code", "title", "status", "urgent", "category_name", "commune_name", "deadline_at",
                     "deadline_local", "working_days_left"]


@bp.get("/wall/heartbeat")
def wall_heartbeat():
    """The wall's own check, every refresh: 200 while signed in (401/403 come from the guard), with the
    data version so a screen can tell that new data exists."""
    try:
        version = overview.data_version()
    except SQLAlchemyError:
        return jsonify(ok=True, database="unreachable", version=None)
    return jsonify(ok=True, database="ok", version=version)


CASE_COLUMNS = ["code", "title", "status", "urgent", "channel", "category_code", "category_name", "commune_code",
                "commune_name", "agency_code", "agency_name", "created_at", "deadline_at", "work_hours_left",
                "version"]


def _refused(err: WorkflowError):
    return jsonify(error="forbidden", message=str(err)), 403


@bp.get("/queue")
def queue_json():
    """The IOC queue: reports waiting to be classified and forwarded, oldest first (IOC roles only)."""
    try:
        waiting, total = cases.triage_queue(current_viewer())
    except WorkflowError as err:
        return _refused(err)
    return jsonify(total=total, reports=frame_records(waiting, CASE_COLUMNS + ["returned"]),
                   generated_at=datetime.now(LOCAL_TZ).isoformat(timespec="seconds"))


@bp.get("/reports/<code>")
def report_json(code: str):
    """One report as its page shows it: the phone number masked; unknown and out-of-scope read alike."""
    try:
        detail = cases.report_detail(current_viewer(), code)
    except WorkflowError as err:
        return _refused(err)
    if detail is None:
        return jsonify(error="not_found", message=f"Không tìm thấy phản ánh {code}."), 404
    events = detail.pop("events")
    body = frame_records(pd.DataFrame([{k: v for k, v in detail.items() if k not in ("media", "duplicates")}]))[0]
    body.pop("id", None)
    body.update(events=frame_records(events), media=[{"id": m["id"], "kind": m["kind"], "role": m["role"],
                                                      "caption": m["caption"], "url": f"/media/{m['id']}"}
                                                     for m in detail["media"]],
                duplicates=detail["duplicates"])
    return jsonify(body)
