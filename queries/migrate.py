"""Schema creation and upgrades through Alembic, run by the app itself."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from queries.config import ROOT
from queries.db import Database


def alembic_config(db: Database, connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "queries" / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (creates it on an empty database)."""
    with db.begin() as conn:
        command.upgrade(alembic_config(db, conn), "head")
