"""The one gateway to the database: engine, reads into frames, write transactions, schema state.

Everything else in the app reaches the database through a `Database`. Pages never do: they call
query functions, which take an optional `db` and fall back to the one configured at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from queries.config import settings

# A read gives up after QUERY_TIMEOUT_SECONDS instead of holding a worker: PostgreSQL's statement_timeout, on
# SQLite a progress handler that interrupts the statement, and on the analytics copy a watchdog thread that
# interrupts DuckDB. Writes (imports, migrations) are not limited.
# SQLITE_CACHE_MB is SQLite's page cache per connection. Each pooled connection keeps its own, so it is kept
# modest for serving (the heavy reads go to the analytics copy); raise it for large imports.


def database_url() -> str:
    return settings().resolved_database_url


def instance_dir() -> Path:
    return settings().instance_dir


def _normalise(url: str) -> str:
    # Accept the common short forms and always use psycopg 3, the driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    def __init__(self, url: str | None = None):
        self.url = _normalise(url or database_url())
        self.engine: Engine = self._make_engine(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn, record):
                deadline = record.info.setdefault("deadline", [None])
                dbapi_conn.set_progress_handler(
                    lambda: int(deadline[0] is not None and time.monotonic() > deadline[0]), 20_000)
                dbapi_conn.create_function("unicode_lower", 1, lambda v: v.lower() if isinstance(v, str) else v,
                                           deterministic=True)
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute(f"PRAGMA cache_size=-{settings().sqlite_cache_mb * 1024}")
                cur.close()

            @event.listens_for(engine, "before_cursor_execute")
            def _start_clock(conn, _cursor, statement, _params, _context, _many):
                reading = statement.lstrip()[:6].upper().startswith(("SELECT", "WITH"))
                conn.info.setdefault("deadline", [None])[0] = (
                    time.monotonic() + settings().statement_timeout_ms / 1000 if reading else None)

            @event.listens_for(engine, "after_cursor_execute")
            def _stop_clock(conn, *_args):
                conn.info.setdefault("deadline", [None])[0] = None

            return engine
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            # prepare_threshold=None: psycopg's server-side prepared statements get generic plans, which for
            # the importer's `source = $1 AND external_id IN (...)` lookup scan every row of the source.
            connect_args={"connect_timeout": 3, "options": f"-c statement_timeout={settings().statement_timeout_ms}",
                          "prepare_threshold": None},
        )

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for one read; the engine's own hooks bound how long it may run."""
        with self.engine.connect() as conn:
            yield conn

    def read_frame(self, stmt: Executable, params: dict | None = None) -> pd.DataFrame:
        with self.reading() as conn:
            result = conn.execute(stmt, params or {})
            return _frame(result.fetchall(), list(result.keys()))

    def read_rows(self, stmt: Executable, params: dict | None = None) -> list[dict]:
        with self.reading() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt, params or {})]

    def scalar(self, stmt: Executable, params: dict | None = None):
        with self.reading() as conn:
            return conn.execute(stmt, params or {}).scalar()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def ping(self) -> None:
        """Raises SQLAlchemyError when the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def has_schema(self) -> bool:
        """True when the database has any table at all: then we never seed demo data into it."""
        return bool(self.table_names())

    def dispose(self) -> None:
        self.engine.dispose()


def _frame(rows: list, columns: list[str]) -> pd.DataFrame:
    """The rows as a frame, built column by column: from SQLAlchemy's Row objects pandas is far slower (it
    probes each row for namedtuple fields). Same dtypes either way."""
    if not rows or len(set(columns)) != len(columns):
        return pd.DataFrame(rows, columns=columns)
    return pd.DataFrame(dict(zip(columns, map(list, zip(*rows, strict=True)), strict=True)))


def is_timeout(err: Exception) -> bool:
    """True when a query was stopped for taking longer than QUERY_TIMEOUT_SECONDS."""
    text = str(getattr(err, "orig", err)).lower()
    return "interrupted" in text or "statement timeout" in text or "canceling statement" in text


_current: Database | None = None


def configure(url: str | None = None) -> Database:
    global _current
    if _current is not None:
        _current.dispose()
    _current = Database(url)
    return _current


def get_db(db: Database | None = None) -> Database:
    if db is not None:
        return db
    if _current is None:
        return configure()
    return _current
