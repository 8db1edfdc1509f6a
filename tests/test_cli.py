"""The command-line tools as people run them (subprocesses), and the first-start rule."""

from __future__ import annotations

import os
import re
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


def test_account_commands_reset_unlock_and_list(tmp_path):
    """What an admin does on the server: list the accounts, reset a password (every session ends), unlock a
    name (its failed sign-ins are forgotten), each written to the audit log as 'cli'."""
    from queries import sessions
    from queries import users as user_store

    url = f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    assert flask(url, tmp_path, "init-db").returncode == 0
    with Database(url).begin() as conn:  # init-db makes no agencies; the demo and the importers do
        conn.execute(agencies.insert().values(code="SXD", name="Sở Xây dựng", short_name="Sở Xây dựng",
                                              kind="department"))
    for name, role, agency in (("lanhdao", "leader", None), ("sxd", "agency", "SXD")):
        made = flask(url, tmp_path, "create-user", "--username", name, "--password", "Mat-khau-2026!", "--role", role,
                     *(["--agency", agency] if agency else []), "--full-name", f"Cán bộ {name}")
        assert made.returncode == 0, made.stderr
    db = Database(url)
    try:
        listed = flask(url, tmp_path, "list-users")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split()[:2] == ["Tài", "khoản"]
        rows = {line.split()[0]: line for line in lines[1:]}
        assert set(rows) == {"lanhdao", "sxd"} and "SXD" in rows["sxd"] and "đang dùng" in rows["lanhdao"]
        assert re.search(r" leader +— ", rows["lanhdao"]) and "nan" not in listed.stdout

        sxd = db.scalar(select(users.c.id).where(users.c.username == "sxd"))
        token = sessions.start(sxd, remember=True, db=db)
        reset = flask(url, tmp_path, "reset-password", "--username", "sxd", "--password", "Mat-khau-moi-2026!")
        assert reset.returncode == 0, reset.stderr
        assert authenticate("sxd", "Mat-khau-moi-2026!", db) is not None
        assert authenticate("sxd", "Mat-khau-2026!", db) is None
        assert sessions.check(sxd, token, db=db).refused == "ended"
        weak = flask(url, tmp_path, "reset-password", "--username", "sxd", "--password", "123")
        assert weak.returncode != 0 and "Mật khẩu" in weak.stderr and "Traceback" not in weak.stderr
        unknown = flask(url, tmp_path, "reset-password", "--username", "khong-co", "--password", "Mat-khau-2026!")
        assert unknown.returncode != 0 and "khong-co" in unknown.stderr

        for _ in range(5):
            user_store.record_failure("sxd", "192.0.2.7", db=db)
        assert user_store.locked_out("sxd", "192.0.2.7", db=db) > 0
        unlocked = flask(url, tmp_path, "unlock", "--username", "sxd")
        assert unlocked.returncode == 0 and "5" in unlocked.stdout, unlocked.stderr
        assert user_store.locked_out("sxd", "192.0.2.7", db=db) == 0
        assert db.scalar(text("SELECT count(*) FROM login_failures")) == 0
        assert flask(url, tmp_path, "unlock", "--username", "khong-co").returncode != 0

        audit = db.read_frame(text("SELECT username, action, target FROM audit_log ORDER BY id"))
        assert {("cli", "user.reset_password", "sxd"), ("cli", "user.unlock", "sxd")} <= set(
            audit.itertuples(index=False, name=None))
    finally:
        db.dispose()
