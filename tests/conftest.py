"""Shared fixtures: seeded SQLite and PostgreSQL databases, raw frames for independent checks, the app
and a logged-in test client.

PostgreSQL tests run against the real server (TEST_POSTGRES_URL, default the local `test` database's
server): each session creates its own scratch database and drops it afterwards. Nothing is mocked.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

# Tests read their own writes at once: no stale window for slow answers on a loaded CI machine
# (tests/test_cache.py sets it itself). Set before the app's modules read it.
os.environ.setdefault("CACHE_STALE_SECONDS", "0")

import pandas as pd  # noqa: E402
import pytest
from flask.testing import FlaskClient
from sqlalchemy import DateTime, create_engine, text

from queries import analytics, config
from queries.analytics import AnalyticsDatabase
from queries.db import Database
from queries.demo import seed_demo
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import metadata
from queries.users import create_user
from tests.dash_calls import form_token, layout_form_token  # noqa: F401 (tests import them from here)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
PG_SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# A fixed demo history and a fixed clock, so every expected number is reproducible.
DEMO_END = date(2026, 11, 20)
DEMO_N = 4000
DEMO_SEED = 7
NOW = datetime(2026, 11, 20, 9, 30)  # naive UTC, 16:30 local on the last demo day
PASSWORD = "mat-khau-thu-nghiem"
TEST_SECRET = "test-secret-key-of-at-least-32-characters"  # SECRET_KEY needs 32 characters


def _seed(db: Database, n: int = DEMO_N) -> Database:
    upgrade(db)
    load_reference_data(db)
    seed_demo(db, n=n, seed=DEMO_SEED, end=DEMO_END)
    return db


@pytest.fixture(scope="session")
def tmp_root():
    path = Path(tempfile.mkdtemp(prefix="paht-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_db(tmp_root) -> Database:
    return _seed(Database(f"sqlite:///{tmp_root / 'seeded.sqlite3'}"))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return PG_SERVER_URL


def create_pg_database(server_url: str) -> tuple[str, callable]:
    """A fresh database on the PostgreSQL server; returns its URL and a function that drops it."""
    name = f"paht_test_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server_url.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@contextmanager
def database_url_for(kind: str, server_url: str, local_url: str) -> Iterator[str]:
    """`local_url` (SQLite, DuckDB) as it is, or for "postgresql" a fresh database on the server, dropped after."""
    if kind != "postgresql":
        yield local_url
        return
    url, drop = create_pg_database(server_url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def pg_db(pg_server_url) -> Database:
    url, drop = create_pg_database(pg_server_url)
    db = Database(url)
    try:
        yield _seed(db)
    finally:
        db.dispose()
        drop()


def analytics_copy(source: Database, directory: Path) -> AnalyticsDatabase:
    """The analytics copy of a seeded database (queries/analytics.py), as the pages read it."""
    analytics.sync(source, directory)
    copy = AnalyticsDatabase(directory)
    assert copy.refresh()
    copy.source_dialect = source.dialect
    return copy


@pytest.fixture(scope="session")
def sqlite_copy(sqlite_db, tmp_root) -> AnalyticsDatabase:
    return analytics_copy(sqlite_db, tmp_root / "copy-of-sqlite")


@pytest.fixture(scope="session")
def pg_copy(pg_db, tmp_root) -> AnalyticsDatabase:
    return analytics_copy(pg_db, tmp_root / "copy-of-postgresql")


DATABASES = {"sqlite": "sqlite_db", "postgresql": "pg_db", "copy-of-sqlite": "sqlite_copy",
             "copy-of-postgresql": "pg_copy"}


@pytest.fixture(params=list(DATABASES))
def db(request) -> Database:
    """Every test using `db` runs on SQLite, on PostgreSQL, and on the analytics copy of each: the fast
    path must give the same answers as the system of record (the expected values come from raw rows)."""
    return request.getfixturevalue(DATABASES[request.param])


def read_raw(db: Database) -> dict[str, pd.DataFrame]:
    """Raw tables, read with plain SELECT * so that expected values never go through queries/."""
    with db.engine.connect() as conn:
        frames = {name: pd.read_sql(text(f"SELECT * FROM {name}"), conn)
                  for name in ("reports", "categories", "agencies", "admin_units", "report_events")}
    # SQLite hands timestamps back as text: parse every DateTime column the schema declares.
    for name, frame in frames.items():
        for column in metadata.tables[name].columns:
            if isinstance(column.type, DateTime) and column.name in frame:
                frame[column.name] = pd.to_datetime(frame[column.name])
    return frames


@pytest.fixture(scope="session")
def raw_by_dialect(sqlite_db, pg_db):
    return {"sqlite": read_raw(sqlite_db), "postgresql": read_raw(pg_db)}


@pytest.fixture
def raw(db, raw_by_dialect):
    return raw_by_dialect[getattr(db, "source_dialect", db.dialect)]


# --- the app ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def app_env(tmp_root, sqlite_db):
    """Environment for an app on a copy of the seeded SQLite database, with one user per role."""
    path = tmp_root / "app.sqlite3"
    shutil.copy(tmp_root / "seeded.sqlite3", path)
    db = Database(f"sqlite:///{path}")
    for username, role, agency in (("admin", "admin", None), ("leader", "leader", None),
                                   ("operator", "operator", None), ("agency_a", "agency", "SXD"),
                                   ("agency_b", "agency", "CAT")):
        create_user(username, PASSWORD, role, agency, db=db)
    db.dispose()
    instance = tmp_root / "instance"
    instance.mkdir(exist_ok=True)
    # The analytics copy is off for the app under test: its tests (test_analytics.py) turn it on themselves.
    # Many sign-ins a minute from one address: the flood cap is tested on a live server of its own.
    return {"DATABASE_URL": f"sqlite:///{path}", "INSTANCE_DIR": str(instance),
            "SECRET_KEY": TEST_SECRET, "ANALYTICS": "off",
            "LOGIN_RATE_LIMIT": "100000 per minute"}


class SameOriginClient(FlaskClient):
    """A test client that sends the Origin header a browser sends from our own pages (the CSRF check)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ORIGIN"] = "http://localhost"


@pytest.fixture(scope="session")
def server(app_env):
    """One Flask+Dash app per session: Dash registers page callbacks globally, once."""
    old = {k: os.environ.get(k) for k in app_env}
    os.environ.update(app_env)
    config.reload()
    from app import create_app

    srv = create_app()
    srv.config["TESTING"] = True
    srv.test_client_class = SameOriginClient
    yield srv
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    config.reload()


@pytest.fixture(scope="module")
def engine(server, app_env):
    """A plain engine on the app's database, for reading what the app wrote without going through queries/."""
    eng = create_engine(app_env["DATABASE_URL"])
    yield eng
    eng.dispose()


@pytest.fixture
def throwaway_user(server, app_env, engine):
    """A leader account of the test's own: its sign-in failures and sessions touch nobody else's."""
    name = f"khoa-thu-{secrets.token_hex(3)}"
    db = Database(app_env["DATABASE_URL"])
    create_user(name, PASSWORD, "leader", db=db)
    db.dispose()
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM login_failures WHERE username = :u"), {"u": name.lower()})
        conn.execute(text("DELETE FROM user_sessions WHERE user_id = (SELECT id FROM users WHERE username = :u)"),
                     {"u": name})
        if not conn.execute(text("SELECT 1 FROM audit_log a JOIN users u ON u.id = a.user_id WHERE u.username = :u"),
                            {"u": name}).first():  # the audit log keeps a user who signed in
            conn.execute(text("DELETE FROM users WHERE username = :u"), {"u": name})


def logout(client):
    return client.post("/logout", data={"csrf_token": layout_form_token(client)})


def login(client, username: str, password: str = PASSWORD, remember: bool = False):
    token = form_token(client.get("/login").get_data(as_text=True))
    data = {"username": username, "password": password, "csrf_token": token} | ({"remember": "1"} if remember else {})
    return client.post("/login", data=data)


@pytest.fixture
def set_settings(monkeypatch):
    """set_settings(media_dir=Path(...), analytics="off") -> those settings until the test ends (unchecked: a
    test may set a value the environment could not, such as a time limit already past)."""
    def apply(**values):
        monkeypatch.setattr(config, "_current", config.settings().model_copy(update=values))
    return apply


@contextmanager
def settings_changed(**values):
    """Run with some settings replaced (as the environment would give them), then put them back."""
    previous = config.use(config.settings().model_copy(update=values))
    try:
        yield config.settings()
    finally:
        config.use(previous)


@pytest.fixture
def client_for(server):
    """client_for('leader') -> a test client logged in as that user."""

    def make(username: str | None):
        client = server.test_client()
        if username:
            resp = login(client, username)
            assert resp.status_code == 302, resp.data
        return client

    return make
