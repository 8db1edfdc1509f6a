"""The report map at any scale: located reports counted per grid cell, or one by one inside a small box.

With millions of reports no browser can draw, and no network should carry, one feature per report. So the
map asks for its viewport (a zoom and a bounding box) and gets either
- grid cells (`map_cells`): the database groups the located reports in the box by a square cell about
  CELL_PX screen pixels wide at that zoom, and returns per cell the count, the mean position (the bubble
  sits where the reports are) and how many are pending and overdue; or
- the reports themselves (`map_points`), newest first, at most a limit, when the box is small.
Every matching report is represented either way. The API (dashboard/api.py) decides which to send.

Cell formula, the same in SQL and in the tests: row = floor((lat + 90) / size), col = floor((lon + 180) / size),
size = cell_size(zoom) degrees. Shifting by 90 / 180 keeps the value non-negative, so SQLite can floor
by truncating (its floor() exists only in builds with the math functions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Integer, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from queries import analytics, metrics
from queries.db import Database
from queries.filters import Filter, FilterError
from queries.metrics import Clock
from queries.schema import agencies, categories, reports
from queries.sql import where

r = reports.c
PROVINCE_ZOOM = 8
MAX_ZOOM = 20
CELL_PX = 48  # a cell's side on screen: bubbles of neighbouring cells (26-70 px) overlap only a little
MAX_CELLS = 4096  # per request, whatever box is asked for: keeps the payload bounded


@dataclass(frozen=True)
class BBox:
    west: float
    south: float
    east: float
    north: float

    def padded(self, share: float) -> BBox:
        """Wider by `share` of its size on every side."""
        dx, dy = (self.east - self.west) * share, (self.north - self.south) * share
        return BBox(self.west - dx, self.south - dy, self.east + dx, self.north + dy)


# The overview map's maxBounds: nothing outside can be looked at, so the province view is this box.
PROVINCE = BBox(104.0, 15.0, 109.0, 19.0)


def cell_size(zoom: int) -> float:
    """A cell's side in degrees: CELL_PX pixels at `zoom`, where a 256-pixel tile spans 360 / 2**zoom."""
    return CELL_PX * 360 / (256 * 2 ** zoom)


def grid_zoom(zoom: int, bbox: BBox) -> int:
    """The zoom whose cells grid the box: `zoom`, or coarser when the box would span more than MAX_CELLS
    cells (a box far larger than a screen, typed by hand), so no request can ask for millions of cells."""
    while zoom > 0 and (bbox.east - bbox.west) * (bbox.north - bbox.south) / cell_size(zoom) ** 2 > MAX_CELLS:
        zoom -= 1
    return zoom


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FilterError(f"Tham số '{name}' phải là số, nhận được '{text}'.")
    return value


def viewport_from_params(params: Mapping[str, str]) -> tuple[int, BBox]:
    """`zoom` and `bbox=west,south,east,north` (degrees) from a query string; the province view where they
    are missing. Out-of-range values are clamped; unreadable ones raise FilterError (a 400 in the API)."""
    zoom_text, bbox_text = params.get("zoom"), params.get("bbox")
    zoom = PROVINCE_ZOOM if zoom_text in (None, "") else math.floor(_number(zoom_text, "zoom"))
    zoom = min(max(zoom, 0), MAX_ZOOM)
    if bbox_text in (None, ""):
        return zoom, PROVINCE
    parts = bbox_text.split(",")
    if len(parts) != 4:
        raise FilterError(f"Tham số 'bbox' phải gồm 4 số tây,nam,đông,bắc (độ), nhận được '{bbox_text}'.")
    west, south, east, north = (_number(p.strip(), "bbox") for p in parts)
    bbox = BBox(max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))
    if not (bbox.west < bbox.east and bbox.south < bbox.north):
        raise FilterError(f"Tham số 'bbox' cần tây < đông và nam < bắc (trong giới hạn kinh độ, vĩ độ), "
                          f"nhận được '{bbox_text}'.")
    return zoom, bbox


class _cell_index(FunctionElement):
    """floor() of a non-negative number, as an integer."""

    type = Integer()
    inherit_cache = True


@compiles(_cell_index, "sqlite")
def _cell_index_sqlite(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"  # truncation == floor for x >= 0


@compiles(_cell_index, "postgresql")
@compiles(_cell_index, "duckdb")
def _cell_index_floor(element, compiler, **kw):
    return f"CAST(floor({compiler.process(element.clauses, **kw)}) AS BIGINT)"


def _located_in(f: Filter, bbox: BBox | None) -> list:
    conds = [where(f), r.lat.isnot(None), r.lon.isnot(None)]
    if bbox is not None:
        conds += [r.lat >= bbox.south, r.lat <= bbox.north, r.lon >= bbox.west, r.lon <= bbox.east]
    return conds


def map_cells(f: Filter, zoom: int, bbox: BBox, db: Database | None = None,
              now: datetime | None = None) -> pd.DataFrame:
    """Per non-empty grid cell of the located reports in `bbox`: row, col (cell indices), n, lat and lon (the
    mean position), pending and overdue. Cells are those of grid_zoom(zoom, bbox)."""
    size = cell_size(grid_zoom(zoom, bbox))
    # The cell is computed in a subquery and grouped by its label: PostgreSQL refuses a GROUP BY that
    # repeats an expression with bound parameters (each bind is a new $n).
    located = select(
        _cell_index((r.lat + 90.0) / size).label("row"),
        _cell_index((r.lon + 180.0) / size).label("col"),
        r.lat, r.lon, r.status, r.deadline_at,
    ).where(*_located_in(f, bbox)).subquery()
    c = located.c
    stmt = (
        select(c.row, c.col, metrics.aggregate("received", located).label("n"), func.avg(c.lat).label("lat"),
               func.avg(c.lon).label("lon"), *metrics.columns(("pending", "overdue"), located, Clock.at(now)))
        .group_by(c.row, c.col)
        .order_by(c.row, c.col)
    )
    df = analytics.reader(db).read_frame(stmt)
    ints = ["row", "col", "n", "pending", "overdue"]
    df[ints] = df[ints].astype("int64")
    df[["lat", "lon"]] = df[["lat", "lon"]].astype("float64")
    return df


def map_points(f: Filter, bbox: BBox | None = None, limit: int = 5_000,
               db: Database | None = None) -> tuple[pd.DataFrame, int]:
    """The newest `limit` located reports in `bbox` (all located ones without it): id, code, lat, lon,
    status, category_code, agency_code, created_at; and how many located reports the box holds in all."""
    db = analytics.reader(db)
    located = _located_in(f, bbox)
    total = db.scalar(select(func.count()).select_from(reports).where(*located))
    # The newest rows first, their codes after: joining before the LIMIT makes DuckDB join every report in
    # the box.
    newest = (select(r.id, r.code, r.lat, r.lon, r.status, r.category_id, r.agency_id, r.created_at)
              .where(*located).order_by(r.created_at.desc(), r.id.desc()).limit(limit).subquery())
    n = newest.c
    stmt = (
        select(n.id, n.code, n.lat, n.lon, n.status, categories.c.code.label("category_code"),
               agencies.c.code.label("agency_code"), n.created_at)
        .select_from(newest.outerjoin(categories, categories.c.id == n.category_id)
                     .outerjoin(agencies, agencies.c.id == n.agency_id))
        .order_by(n.created_at.desc(), n.id.desc())
    )
    return db.read_frame(stmt), int(total or 0)
