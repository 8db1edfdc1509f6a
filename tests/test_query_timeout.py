"""A read that runs too long stops after QUERY_TIMEOUT_SECONDS with a clear message, on every engine a read can
reach (SQLite, PostgreSQL and the DuckDB analytics copy), and the worker goes on serving."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import queries.db as qdb
from queries.analytics import AnalyticsDatabase
from queries.db import Database, is_timeout
from tests.dash_calls import callback_spec, overview_values, post_callback

# Each would run for minutes or forever: only the time limit ends it.
ENDLESS = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(600)",
    "copy": "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b",
}
LIMIT_MS = 300
# Far above the limit: a read still running by then was never stopped (this is no speed check).
HUNG_AFTER_SECONDS = 60


@pytest.fixture(params=list(ENDLESS))
def engine_under_limit(set_settings, request, tmp_path, pg_server_url):
    """(kind, a Database of that kind made while the time limit is LIMIT_MS)."""
    set_settings(query_timeout_seconds=LIMIT_MS / 1000)
    kind = request.param
    if kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'timeout.sqlite3'}")
    elif kind == "postgresql":
        db = Database(pg_server_url)
    else:
        db = AnalyticsDatabase(tmp_path / "analytics")
    yield kind, db
    db.dispose()


def read_in_background(db: Database, sql: str) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = db.scalar(text(sql))
        except SQLAlchemyError as err:
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_an_endless_read_is_stopped_as_a_timeout_and_the_next_read_works(engine_under_limit):
    kind, db = engine_under_limit
    thread, outcome = read_in_background(db, ENDLESS[kind])
    thread.join(HUNG_AFTER_SECONDS)
    assert not thread.is_alive(), f"{kind}: the read was never stopped"
    assert "value" not in outcome, f"{kind}: the endless read returned {outcome.get('value')!r}"
    assert is_timeout(outcome["error"]), outcome["error"]
    # The connection and, on the copy, the one-read-at-a-time gate are free again.
    assert db.scalar(text("SELECT 41 + 1")) == 42


def test_a_read_within_the_limit_is_not_stopped(engine_under_limit):
    """The copy's timer is cancelled after each read: reads that together outlast the limit all answer."""
    kind, db = engine_under_limit
    for _ in range(5):
        thread, outcome = read_in_background(db, "SELECT 1")
        thread.join(HUNG_AFTER_SECONDS)
        assert outcome == {"value": 1}, kind
    threading.Event().wait(LIMIT_MS / 1000 * 1.5)
    assert db.scalar(text("SELECT 2")) == 2


def test_an_unreachable_database_is_not_called_a_timeout():
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(SQLAlchemyError) as caught:
            db.scalar(text("SELECT 1"))
    finally:
        db.dispose()
    assert not is_timeout(caught.value)


# --- what a user sees ----------------------------------------------------------------------------------------

@pytest.fixture
def leader(client_for):
    return client_for("leader")


# The limit below is in the past, hence "-1 giây"; what matters is which message is shown.
TIMED_OUT = ("Truy vấn quá -1 giây nên đã dừng; hãy thu hẹp khoảng thời gian hoặc bộ lọc. "
             "Đang hiển thị dữ liệu trước đó.")


@pytest.fixture
def every_read_times_out(set_settings, monkeypatch):
    """A limit already past: SQLite's progress handler stops each read at its first check. The data version is
    bumped so that no cached answer hides the read."""
    from dashboard import cache

    set_settings(query_timeout_seconds=-1.0)
    monkeypatch.setattr(cache, "data_version", lambda: "timeout-test")


def test_the_overview_says_the_query_took_too_long(leader, every_read_times_out):
    spec = callback_spec(leader, "overview-kpis.children")
    values = overview_values("2026-01-01", "2026-11-20")
    values["overview-last-ok.data"] = "14:05 28/11/2026"
    resp = post_callback(leader, spec, values)
    assert resp.status_code == 200
    response = resp.get_json()["response"]
    assert response["overview-banner"]["children"] == TIMED_OUT
    assert response["overview-banner"]["className"] == "banner banner-error"
    assert "overview-kpis" not in response  # the last good numbers stay on screen


def scorecard_call(client):
    spec = callback_spec(client, "scorecard-table.data")
    return post_callback(client, spec, {"scorecard-period.value": "2026-10-01", "scorecard-category.value": [],
                                        "scorecard-period-kind.value": "month"})


def test_a_page_callback_that_times_out_answers_503_with_the_message(leader, every_read_times_out):
    resp = scorecard_call(leader)
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["error"] == "query_timeout"
    assert body["message"] == TIMED_OUT
    assert body["since"] == body["message"]  # no "as of": the page keeps what it showed


def test_a_page_callback_without_a_database_answers_503_with_the_message(leader):
    assert scorecard_call(leader).status_code == 200
    working = qdb.get_db()
    qdb._current = qdb.Database("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    try:
        resp = scorecard_call(leader)
    finally:
        qdb._current.dispose()
        qdb._current = working
    assert resp.status_code == 503
    assert resp.get_json() == {
        "error": "database_unavailable",
        "message": "Mất kết nối cơ sở dữ liệu — chưa tải được dữ liệu. Hệ thống sẽ tự thử lại.",
        "since": "Mất kết nối cơ sở dữ liệu — đang hiển thị dữ liệu lúc {time}"}
