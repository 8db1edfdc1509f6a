"""JSON twins of the pages (/api/v1/...): the same query functions the pages call."""

from __future__ import annotations

from datetime import datetime

import orjson
import pandas as pd
from flask import Blueprint, Response, jsonify, request
from flask_caching import Cache

from dashboard.auth import current_scope
from queries import overview
from queries.filters import LOCAL_TZ, Filter, FilterError, utc_to_local

bp = Blueprint("api", __name__, url_prefix="/api/v1")
cache = Cache()
MAP_POINT_LIMIT = 50_000
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
    f = request_filter()
    body = overview.overview_summary(f)
    body["filter"] = f.to_params()
    body["generated_at"] = datetime.now(LOCAL_TZ).isoformat(timespec="seconds")
    return jsonify(body)


def _points_cache_key() -> str:
    return f"points|{current_scope()}|{request.query_string.decode()}"


@bp.get("/map/points")
@cache.cached(timeout=MAP_CACHE_SECONDS, make_cache_key=_points_cache_key)
def map_points():
    """Lean GeoJSON: properties c (code), s (status), k (category), a (agency), d (local date)."""
    points, total = overview.map_points(request_filter(), limit=MAP_POINT_LIMIT)
    created = pd.to_datetime(points["created_at"]).dt.to_pydatetime()
    dates = [utc_to_local(ts).strftime("%d/%m/%Y") for ts in created]
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
         "properties": {"c": code, "s": status, "k": cat, "a": agency, "d": day}}
        for lon, lat, code, status, cat, agency, day in zip(
            points["lon"].tolist(), points["lat"].tolist(), points["code"].tolist(), points["status"].tolist(),
            points["category_code"].tolist(), points["agency_code"].tolist(), dates, strict=True)
    ]
    body = orjson.dumps({"type": "FeatureCollection", "features": features,
                         "meta": {"shown": len(features), "total": total}})
    resp = Response(body, mimetype="application/geo+json")
    resp.headers["Cache-Control"] = f"private, max-age={MAP_CACHE_SECONDS}"
    return resp
