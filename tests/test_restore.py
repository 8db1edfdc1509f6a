"""A restored database never shows old numbers: when the database is put back to an older backup (pg_restore
of a dump, or SQLite's backup copied back) under a running dashboard, the analytics copy notices within one
sync cycle that the database is not the one it was built from, says `rebuilding` (the pages read the database
meanwhile), and rebuilds; a legitimate deletion or an import of old history is not taken for a restore.

Totals are counted straight from the reports table; the copy's come through the aggregates the pages use."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import delete, func, select

import queries.db as qdb
from queries import analytics, overview
from queries.analytics import AnalyticsDatabase
from queries.db import Database
from queries.filters import Filter
from queries.schema import reports
from tests import casework
from tests.conftest import _seed, create_pg_database, form_token
from tests.live_server import LiveApp, free_port

N = 300


def record_total(db: Database) -> int:
    return db.scalar(select(func.count()).select_from(reports))


def served_total() -> int:
    return int(overview.headline_counts(Filter()).iloc[0]["total"])


class Backup:
    """A backup of a database taken the way the deployment guide takes it, and put back the same way."""

    def __init__(self, db: Database, folder):
        self.db, self.folder = db, folder
        if db.dialect == "sqlite":
            self.path = folder / "backup.sqlite3"
            self._sqlite_copy(db.url.removeprefix("sqlite:///"), self.path)
        else:
            self.path = folder / "backup.dump"
            subprocess.run(["pg_dump", "-Fc", "-f", str(self.path), self._libpq()], check=True)

    def _libpq(self) -> str:
        return self.db.url.replace("postgresql+psycopg://", "postgresql://")

    @staticmethod
    def _sqlite_copy(source: str, target) -> None:
        """SQLite's online backup: safe while the app holds the database open (WAL included)."""
        with sqlite3.connect(source) as src, sqlite3.connect(str(target)) as dst:
            src.backup(dst)

    def restore(self) -> None:
        if self.db.dialect == "sqlite":
            self._sqlite_copy(str(self.path), self.db.url.removeprefix("sqlite:///"))
        else:
            self.db.engine.dispose()
            subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "-d",
                            self._libpq(), str(self.path)],
                           check=True, capture_output=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def record(request, tmp_path, pg_server_url, set_settings, monkeypatch):
    """A small seeded database as the app's database, with the analytics copy on, in tmp_path."""
    set_settings(media_dir=tmp_path / "media", analytics_dir=tmp_path / "copy", analytics="duckdb")
    if request.param == "sqlite":
        db, drop = _seed(Database(f"sqlite:///{tmp_path / 'record.sqlite3'}"), n=N), None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = _seed(Database(url), n=N)
    monkeypatch.setattr(qdb, "_current", db)
    monkeypatch.setattr(analytics, "_reader", None)
    yield db
    if analytics._reader is not None:
        analytics._reader.dispose()
    db.dispose()
    if drop:
        drop()


def add_reports(db: Database, n: int) -> None:
    for _ in range(n):
        casework.insert_report(db, created_at=datetime(2026, 11, 19, 3, 0), updated_at=datetime.now().replace(
            microsecond=0))


def test_a_restored_backup_is_noticed_within_one_cycle_and_the_copy_rebuilt(record, tmp_path, monkeypatch):
    directory = analytics.analytics_dir()
    analytics.sync(record, directory)
    backup = Backup(record, tmp_path)
    add_reports(record, 7)
    before = analytics.sync_if_changed(record, directory)
    assert before is not None and served_total() == record_total(record) == N + 7
    assert isinstance(analytics.reader(), AnalyticsDatabase)

    backup.restore()
    assert record_total(record) == N
    assert analytics.restored(record, analytics.read_manifest(directory)) is not None
    during = {}
    real_sync = analytics.sync

    def watched_sync(*args, **kwargs):  # what the dashboard shows while the copy is rebuilt
        during.update(status=analytics.status(), reader=analytics.reader(), total=served_total())
        return real_sync(*args, **kwargs)

    monkeypatch.setattr(analytics, "sync", watched_sync)
    after = analytics.sync_if_changed(record, directory)
    assert during["status"]["analytics"] == "rebuilding" and during["reader"] is record
    assert during["total"] == N  # the pages read the restored database meanwhile, never the old copy
    assert after["generation"] > before["generation"] and "rebuilding" not in after
    assert analytics.status()["analytics"] == "ok"
    assert isinstance(analytics.reader(), AnalyticsDatabase) and served_total() == N
    assert analytics.restored(record, after) is None


def test_deleting_the_newest_report_or_importing_old_history_is_not_a_restore(record):
    directory = analytics.analytics_dir()
    analytics.sync(record, directory)
    add_reports(record, 2)
    analytics.sync_if_changed(record, directory)
    newest = record.scalar(select(func.max(reports.c.id)))
    with record.begin() as conn:  # the deletion log (a trigger) records it
        conn.execute(delete(reports).where(reports.c.id == newest))
    assert analytics.restored(record, analytics.read_manifest(directory)) is None
    manifest = analytics.sync_if_changed(record, directory)
    assert served_total() == record_total(record) == N + 1 and manifest["rebuilt"] != []
    # A report of long ago, imported now with its old timestamps.
    casework.insert_report(record, created_at=datetime(2025, 2, 3, 3, 0), updated_at=datetime(2025, 2, 3, 3, 0))
    assert analytics.restored(record, analytics.read_manifest(directory)) is None
    analytics.sync_if_changed(record, directory)
    assert served_total() == record_total(record) == N + 2


@pytest.fixture(params=["sqlite", "postgresql"])
def running(request, app_env, tmp_path, pg_server_url):
    """`python app.py` with the analytics copy on and a one-second sync, on a database of its own."""
    if request.param == "sqlite":
        path = tmp_path / "running.sqlite3"
        shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), path)
        url, drop = f"sqlite:///{path}", None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = _seed(Database(url), n=N)
        from queries.users import create_user
        from tests.conftest import PASSWORD

        create_user("leader", PASSWORD, "leader", db=db)
        db.dispose()
    env = {**os.environ, **app_env, "DATABASE_URL": url, "INSTANCE_DIR": str(tmp_path / "instance"),
           "ANALYTICS": "duckdb", "ANALYTICS_SYNC_SECONDS": "1", "PORT": str(free_port()), "HOST": "127.0.0.1",
           "MEDIA_DIR": str(tmp_path / "media"), "SEED_DEMO_IF_EMPTY": "0"}
    env.pop("ANALYTICS_DIR", None)
    app = LiveApp(env, tmp_path / "running.log").start()
    db = Database(url)
    try:
        yield app, db, tmp_path
    finally:
        db.dispose()
        app.stop()
        if drop:
            drop()


def poll(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    return None


def test_a_backup_restored_under_a_running_dashboard_never_shows_old_numbers(running):
    from tests.conftest import PASSWORD

    app, db, tmp_path = running
    web = requests.Session()
    token = form_token(web.get(app.base + "/login").text)
    assert web.post(app.base + "/login", data={"username": "leader", "password": PASSWORD, "csrf_token": token},
                    allow_redirects=False).status_code == 302

    def total() -> int:
        return web.get(app.base + "/api/v1/overview").json()["total"]

    def health() -> dict:
        return requests.get(app.base + "/healthz").json()

    assert poll(lambda: health().get("analytics") == "ok"), (tmp_path / "running.log").read_text()[-2000:]
    original = record_total(db)
    assert total() == original
    backup = Backup(db, tmp_path)
    add_reports(db, 9)
    assert poll(lambda: total() == original + 9), "the copy never caught up with the new reports"
    backup.restore()
    assert record_total(db) == original
    # Within a cycle or two the dashboard shows the restored numbers; it never goes back to the copy's old ones.
    assert poll(lambda: total() == original, seconds=30)
    seen = {total() for _ in range(8)}
    assert seen == {original}
    assert poll(lambda: health()["status"] == "ok" and health()["analytics"] == "ok")
    assert total() == original
    assert "rebuilding" in (tmp_path / "running.log").read_text()


def change(db: Database, report_id: int, status: str, updated_at: datetime) -> None:
    """A report changed as the workflow changes one: new values, a newer version."""
    with db.begin() as conn:
        conn.execute(reports.update().where(reports.c.id == report_id).values(
            status=status, updated_at=updated_at, version=reports.c.version + 1))


def rejected_served() -> int:
    """Rejected reports as the pages count them (from the copy when it is current)."""
    return int(overview.headline_counts(Filter()).iloc[0]["rejected"])


def test_a_write_after_the_restore_does_not_hide_it(record, tmp_path):
    directory = analytics.analytics_dir()
    analytics.sync(record, directory)
    backup = Backup(record, tmp_path)
    ids = [row["id"] for row in record.read_rows(select(reports.c.id).order_by(reports.c.id).limit(6))]
    now = datetime.now().replace(microsecond=0)
    for report_id in ids[:5]:
        change(record, report_id, "rejected", now)
    analytics.sync_if_changed(record, directory)
    backup.restore()
    change(record, ids[5], "rejected", now)  # someone works before the next cycle
    assert analytics.restored(record, analytics.read_manifest(directory)) is not None
    analytics.sync_if_changed(record, directory)
    want = record.scalar(select(func.count()).select_from(reports).where(reports.c.status == "rejected"))
    assert isinstance(analytics.reader(), AnalyticsDatabase) and rejected_served() == want


def test_a_server_whose_clock_is_behind_is_not_taken_for_a_restore(record):
    directory = analytics.analytics_dir()
    analytics.sync(record, directory)
    newest = record.scalar(select(reports.c.id).order_by(reports.c.updated_at.desc()).limit(1))
    behind = datetime.now().replace(microsecond=0) - timedelta(minutes=5)
    change(record, newest, "rejected", behind)
    assert analytics.restored(record, analytics.read_manifest(directory)) is None
    manifest = analytics.sync(record, directory)
    assert analytics.restored(record, manifest) is None
