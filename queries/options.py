"""Choices for the filter bar: categories, agencies and communes, in display order."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from queries.db import Database, get_db
from queries.schema import admin_units, agencies, categories


def category_options(db: Database | None = None) -> pd.DataFrame:
    """code, name, short_name, color, default_handling_days."""
    stmt = select(categories.c.code, categories.c.name, categories.c.short_name, categories.c.color,
                  categories.c.default_handling_days).order_by(categories.c.sort_order, categories.c.code)
    return get_db(db).read_frame(stmt)


def agency_options(scope_agency: str | None = None, db: Database | None = None) -> pd.DataFrame:
    """code, name, short_name, kind; only the caller's own agency when scoped."""
    stmt = select(agencies.c.code, agencies.c.name, agencies.c.short_name, agencies.c.kind).where(
        agencies.c.active == 1)
    if scope_agency is not None:
        stmt = stmt.where(agencies.c.code == scope_agency)
    return get_db(db).read_frame(stmt.order_by(agencies.c.kind, agencies.c.name))


def commune_options(db: Database | None = None) -> pd.DataFrame:
    """code, name, lat, lon of every commune."""
    stmt = select(admin_units.c.code, admin_units.c.name, admin_units.c.lat, admin_units.c.lon).where(
        admin_units.c.level == "commune").order_by(admin_units.c.name)
    return get_db(db).read_frame(stmt)
