"""The report map (dash-leaflet): district outlines, commune circles, and the reports as grid cells or as
single points depending on the viewport (queries/maps.py, /api/v1/map/points).

It needs no internet: outlines come from a shipped GeoJSON file, and a tile layer is added only when
TILE_URL is configured (for example a local tile server or an MBTiles route).
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

import dash_leaflet as dl
import pandas as pd
from dash import html
from dash_extensions.javascript import Namespace

from dashboard import ids, text
from dashboard.formatting import fmt_int
from queries.config import settings
from queries.filters import Filter
from queries.maps import PROVINCE

CENTER = [17.2, 106.75]
ZOOM = 8
BOUNDS = [[16.0, 105.3], [18.2, 107.8]]
DISTRICTS_URL = "/assets/geo/quang_tri_districts.geojson"
js = Namespace("dashExtensions", "paht")


def points_url(f: Filter, version: str | None = None, view: dict | None = None) -> str:
    """The GeoJSON route for a filter (and a viewport: {"zoom": ..., "bbox": ...}); the scope is added
    server-side, never taken from the URL. The data version makes the browser and the route's cache fetch
    again only when reports changed."""
    params = {**f.to_params(), **({"v": version} if version else {}), **(view or {})}
    query = urlencode(params)
    return f"/api/v1/map/points?{query}" if query else "/api/v1/map/points"


def viewport_params(zoom, bounds) -> dict:
    """The map's zoom and bounds ([[south, west], [north, east]], as dash-leaflet tracks them) as the route's
    query parameters; rounded to about 100 m so that nearly equal views share a cache entry."""
    view = {"zoom": str(math.floor(zoom if zoom is not None else ZOOM))}
    if bounds:
        (south, west), (north, east) = bounds
        view["bbox"] = ",".join(f"{v:.3f}" for v in (west, south, east, north))
    return view


def _tile_layer():
    url = settings().tile_url
    if not url:
        return []
    return [dl.TileLayer(url=url, attribution=settings().tile_attribution, maxZoom=18)]


def map_note(meta: dict) -> str:
    """What the map shows, from the route's meta: cells stand for every report in view; points are sent
    only when the view holds no more than the route's limit, so they too are all of them."""
    if meta["mode"] == "cells":
        return text.MAP_CELLS_NOTE.format(total=fmt_int(meta["total"]))
    return text.MAP_POINTS_NOTE.format(shown=fmt_int(meta["shown"]), total=fmt_int(meta["total"]))


def cell_hideout(zoom_on_click: bool) -> dict:
    """What assets/map.js needs to draw grid cells: the tooltip text and whether a click zooms in."""
    return {"cellTooltip": text.MAP_CELL_TOOLTIP, "cellZoom": zoom_on_click}


def report_map(url: str | None, lookups: dict) -> html.Div:
    """`lookups` gives names for the popup: {"status": {...}, "category": {...}, "agency": {...},
    "colors": {...}}."""
    return html.Div(className="map-wrap", children=[
        dl.Map(
            id=ids.OV_MAP,
            center=CENTER,
            zoom=ZOOM,
            minZoom=7,
            maxZoom=17,
            maxBounds=[[PROVINCE.south, PROVINCE.west], [PROVINCE.north, PROVINCE.east]],  # the route's default
            style={"height": "520px", "width": "100%"},
            children=[
                *_tile_layer(),
                dl.LayersControl(collapsed=False, position="topright", children=[
                    dl.Overlay(name=text.LAYER_DISTRICTS, checked=True, children=dl.GeoJSON(
                        url=DISTRICTS_URL, style={"color": "#145a96", "weight": 1.2, "fillColor": "#ffffff",
                                                  "fillOpacity": 0.55},
                        onEachFeature=js("districtTooltip"))),
                    dl.Overlay(name=text.LAYER_COMMUNES, checked=True,
                               children=dl.LayerGroup(id=ids.OV_MAP_COMMUNES)),
                    # Grid cells or single reports, as the server decides for the viewport (queries/maps.py):
                    # no clustering in the browser, the counts come from the database.
                    dl.Overlay(name=text.LAYER_POINTS, checked=True, children=dl.GeoJSON(
                        id=ids.OV_MAP_POINTS, url=url, pointToLayer=js("pointToLayer"),
                        onEachFeature=js("reportPopup"), hideout={**lookups, **cell_hideout(zoom_on_click=True)})),
                ]),
                dl.ScaleControl(position="bottomleft", imperial=False),
            ],
        ),
        html.Div(id=ids.OV_MAP_NOTE, className="map-note"),
        html.Div(className="map-legend", children=[
            html.Span([html.I(className="cell-dot"), text.MAP_CELLS_LEGEND]),
            *[html.Span([html.I(className="dot", style={"background": text.STATUS_COLORS[s]}), text.STATUS_LABELS[s]])
              for s in text.STATUS_LABELS],
        ]),
    ])


def commune_markers(communes: pd.DataFrame) -> list:
    """A circle per commune: area proportional to its report count, colour darker with more reports."""
    if communes.empty:
        return []
    top = max(int(communes["n"].max()), 1)
    markers = []
    for row in communes.itertuples():
        share = row.n / top
        radius = 4 + 22 * math.sqrt(share)
        color = _blend("#fde0c5", "#b3262b", share ** 0.5)
        markers.append(dl.CircleMarker(
            center=[row.lat, row.lon], radius=radius, color=color, weight=1, fillColor=color, fillOpacity=0.55,
            children=dl.Tooltip(f"{row.name}: {fmt_int(row.n)} phản ánh · {fmt_int(row.pending)} đang xử lý · "
                                f"{fmt_int(row.overdue)} quá hạn"),
        ))
    return markers


def _blend(low: str, high: str, t: float) -> str:
    a = [int(low[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(high[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def wall_map(points_url: str | None) -> dl.Map:
    """The wall's map: no controls, dark outlines, commune circles and the reports in grid cells."""
    return dl.Map(
        id=ids.WALL_MAP,
        # dash-leaflet's viewport tracking needs a center even when bounds decide the view.
        center=CENTER, zoom=ZOOM, bounds=[[16.05, 105.55], [18.15, 107.45]],
        zoomControl=False, attributionControl=False, dragging=False,
        scrollWheelZoom=False, doubleClickZoom=False, boxZoom=False, keyboard=False, touchZoom=False,
        style={"height": "100%", "width": "100%", "background": "#0e1c2b"},
        children=[
            *_tile_layer(),
            dl.GeoJSON(url=DISTRICTS_URL, style={"color": "#4f7aa3", "weight": 1.5, "fillColor": "#16293d",
                                                 "fillOpacity": 0.9}),
            dl.LayerGroup(id=ids.WALL_MAP_COMMUNES),
            dl.GeoJSON(id=ids.WALL_MAP_POINTS, url=points_url, pointToLayer=js("pointToLayer"),
                       hideout={"colors": text.STATUS_COLORS, **cell_hideout(zoom_on_click=False)}),
        ],
    )


def small_map(lat: float, lon: float, color: str) -> dl.Map:
    """One report's place: the district outlines and a dot, zoomed in (a tile layer only if configured)."""
    return dl.Map(
        center=[lat, lon], zoom=14, minZoom=7, maxZoom=18, scrollWheelZoom=False,
        style={"height": "260px", "width": "100%"},
        children=[
            *_tile_layer(),
            dl.GeoJSON(url=DISTRICTS_URL, style={"color": "#145a96", "weight": 1.2, "fillColor": "#ffffff",
                                                 "fillOpacity": 0.55}),
            dl.CircleMarker(center=[lat, lon], radius=11, color="#1b2733", weight=3, fillColor=color,
                            fillOpacity=0.95),
            dl.ScaleControl(position="bottomleft", imperial=False),
        ],
    )
