"""Reference data every installation needs: the report categories and the administrative units."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from queries.db import Database, get_db
from queries.schema import admin_units, categories

REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"
PROVINCE = {"code": "44", "name": "Tỉnh Quảng Trị", "unit_type": "Tỉnh", "lat": 17.2405, "lon": 106.527}


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    short_name: str
    default_handling_days: int  # calendar days until the working-day SLA engine replaces it
    color: str


# The seven fields the IOC reports on, plus "Khác". Colours are distinct for colour-blind readers.
CATEGORIES = (
    Category("XD", "Trật tự xây dựng", "Trật tự xây dựng", 10, "#8c564b"),
    Category("MT", "Vệ sinh môi trường", "Vệ sinh môi trường", 5, "#2ca02c"),
    Category("GT", "Hạ tầng giao thông", "Hạ tầng giao thông", 7, "#ff7f0e"),
    Category("DT", "Hạ tầng đô thị", "Hạ tầng đô thị", 7, "#1f77b4"),
    Category("AN", "An ninh, trật tự xã hội", "An ninh, trật tự", 3, "#d62728"),
    Category("DV", "Chất lượng dịch vụ công", "Dịch vụ công", 10, "#9467bd"),
    Category("HC", "Cán bộ chậm trễ, gây phiền hà trong thủ tục hành chính", "Cán bộ, thủ tục HC", 10,
             "#e377c2"),
    Category("KHAC", "Khác", "Khác", 10, "#7f7f7f"),
)


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    unit_type: str
    lat: float
    lon: float
    area_km2: float
    old_commune_count: int
    old_district: str
    old_province_code: str


def read_communes() -> list[Commune]:
    with open(REFERENCE_DIR / "communes_44.csv", encoding="utf-8") as f:
        return [
            Commune(
                code=row["code"], name=row["name"], unit_type=row["unit_type"], lat=float(row["lat"]),
                lon=float(row["lon"]), area_km2=float(row["area_km2"] or 0),
                old_commune_count=int(row["old_commune_count"]), old_district=row["old_district"],
                old_province_code=row["old_province_code"] or "45",
            )
            for row in csv.DictReader(f)
        ]


def load_reference_data(db: Database | None = None) -> None:
    """Insert the categories, administrative units and default SLA policies that are missing, and write the
    working-day table. Safe to run again."""
    from queries import policies, workcalendar  # sla needs the categories this function creates

    db = get_db(db)
    _load_units_and_categories(db)
    policies.ensure_default_policies(db)
    workcalendar.sync_work_calendar(db)


def _load_units_and_categories(db: Database) -> None:
    with db.begin() as conn:
        have_units = set(conn.execute(select(admin_units.c.code)).scalars())
        new_units = []
        if PROVINCE["code"] not in have_units:
            new_units.append({**PROVINCE, "level": "province", "parent_code": None})
        for c in read_communes():
            if c.code not in have_units:
                new_units.append({
                    "code": c.code, "name": c.name, "level": "commune", "unit_type": c.unit_type,
                    "parent_code": PROVINCE["code"], "lat": c.lat, "lon": c.lon, "area_km2": c.area_km2,
                    "old_district": c.old_district,
                })
        # The province row must exist before the communes that point at it.
        for unit in new_units:
            conn.execute(admin_units.insert(), unit)

        have_categories = set(conn.execute(select(categories.c.code)).scalars())
        rows = [
            {"code": c.code, "name": c.name, "short_name": c.short_name,
             "default_handling_days": c.default_handling_days, "color": c.color, "sort_order": i}
            for i, c in enumerate(CATEGORIES)
            if c.code not in have_categories
        ]
        if rows:
            conn.execute(categories.insert(), rows)
