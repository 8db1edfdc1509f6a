"""The command-line tools as people run them (subprocesses), and the first-start rule."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from sqlalchemy import func, select, text

from queries.db import Database
from queries.schema import admin_units, agencies, categories, reports, users
from queries.users import authenticate
from tests.conftest import ROOT, TEST_SECRET, create_pg_database


def flask(env_db: str, instance, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": env_db, "INSTANCE_DIR": str(instance), "SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def count(db: Database, table) -> int:
    return db.scalar(select(func.count()).select_from(table))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path, pg_server_url):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.sqlite3'}"
        return
    url, drop = create_pg_database(pg_server_url)
    yield url
    drop()


def test_init_db_creates_schema_and_reference_data_but_no_reports(empty_url, tmp_path):
    result = flask(empty_url, tmp_path, "init-db")
    assert result.returncode == 0, result.stderr
    db = Database(empty_url)
    try:
        assert count(db, categories) == 8
        assert count(db, admin_units) == 79
        assert count(db, reports) == 0 and count(db, agencies) == 0 and count(db, users) == 0
        # Running it again changes nothing.
        assert flask(empty_url, tmp_path, "init-db").returncode == 0
        assert count(db, categories) == 8 and count(db, admin_units) == 79
    finally:
        db.dispose()


def test_seed_demo_is_deterministic_and_prints_accounts_once(tmp_path):
    urls = [f"sqlite:///{tmp_path / f'demo{i}.sqlite3'}" for i in (1, 2)]
    runs = [flask(url, tmp_path, "seed-demo", "--reports", "400", "--seed", "5", "--end", "2026-06-30") for url in urls]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Tài khoản demo" in run.stdout and "lanhdao" in run.stdout
    frames = []
    for url in urls:
        db = Database(url)
        frames.append(pd.read_sql(text("SELECT * FROM reports ORDER BY id"), db.engine))
        db.dispose()
    assert len(frames[0]) == 400
    pd.testing.assert_frame_equal(frames[0], frames[1])

    again = flask(urls[0], tmp_path, "seed-demo", "--reports", "10")
    assert again.returncode != 0 and "--replace" in again.stderr
    replaced = flask(urls[0], tmp_path, "seed-demo", "--reports", "50", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "Tài khoản demo" not in replaced.stdout  # the accounts already exist
    db = Database(urls[0])
    assert count(db, reports) == 50
    db.dispose()


def test_create_user_and_its_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'users.sqlite3'}"
    assert flask(url, tmp_path, "seed-demo", "--reports", "20").returncode == 0
    ok = flask(url, tmp_path, "create-user", "--username", "truong.sxd", "--password", "mot-mat-khau-dai",
               "--role", "agency", "--agency", "SXD", "--full-name", "Trưởng phòng")
    assert ok.returncode == 0, ok.stderr
    db = Database(url)
    user = authenticate("truong.sxd", "mot-mat-khau-dai", db)
    assert user is not None and user.role == "agency" and user.agency_code == "SXD"
    assert authenticate("truong.sxd", "sai", db) is None
    row = db.read_rows(select(users.c.password_hash).where(users.c.username == "truong.sxd"))[0]
    assert "mot-mat-khau-dai" not in row["password_hash"] and row["password_hash"].startswith("scrypt:")
    db.dispose()
    failures = {
        "duplicate": ["--username", "truong.sxd", "--password", "mot-mat-khau-dai", "--role", "leader"],
        "no agency": ["--username", "a1", "--password", "mot-mat-khau-dai", "--role", "agency"],
        "unknown agency": ["--username", "a2", "--password", "mot-mat-khau-dai", "--role", "agency",
                           "--agency", "KHONG"],
        "agency on leader": ["--username", "a3", "--password", "mot-mat-khau-dai", "--role", "leader",
                             "--agency", "SXD"],
        "short password": ["--username", "a4", "--password", "ngan", "--role", "leader"],
        "bad role": ["--username", "a5", "--password", "mot-mat-khau-dai", "--role", "boss"],
    }
    for label, args in failures.items():
        result = flask(url, tmp_path, "create-user", *args)
        assert result.returncode != 0, label
        assert "Error" in result.stderr, label


def test_first_start_seeds_only_a_database_without_schema(set_settings, tmp_path):
    import app as app_module

    set_settings(demo_reports=120, instance_dir=tmp_path)
    empty = Database(f"sqlite:///{tmp_path / 'first.sqlite3'}")
    accounts = app_module.prepare_database(empty, seed_if_empty=True)
    assert count(empty, reports) == 120
    assert {a[0] for a in accounts} == {"admin", "lanhdao", "dieuhanh", "sxd", "congan"}
    assert all(len(a[1]) >= 12 for a in accounts)  # generated, not fixed, passwords
    # A second start finds a schema and seeds nothing more.
    assert app_module.prepare_database(empty, seed_if_empty=True) is None
    assert count(empty, reports) == 120

    with_schema = Database(f"sqlite:///{tmp_path / 'initdb.sqlite3'}")
    assert app_module.prepare_database(with_schema, seed_if_empty=False) is None  # what init-db leaves
    assert app_module.prepare_database(with_schema, seed_if_empty=True) is None
    assert count(with_schema, reports) == 0


def test_secret_key_is_generated_once_and_kept(set_settings, tmp_path):
    import app as app_module

    set_settings(secret_key=None, instance_dir=tmp_path)
    first = app_module._secret_key()
    assert len(first) == 64 and app_module._secret_key() == first
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
