"""Sessions end when they should: sign-out and the idle timeout end a remember-me session too; an admin's
password reset, role change or disabling ends every session of that user, on every worker; a copied cookie
dies with its session; failed sign-ins slow a guesser down without locking the real user out; a screen's link
followed by a signed-in person leaves that person signed in; forgeries are refused and logged.

Cookies are copied between clients the way an attacker would replay them: by name and value only."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import text as sql

from dashboard import text
from queries import admin, display_tokens
from queries.access import Viewer
from queries.db import Database
from queries.users import create_user
from tests.conftest import PASSWORD, form_token, login, logout
from tests.dash_calls import callback_spec, overview_values, post_callback
from tests.live_server import LiveApp, free_port

REMEMBER = "remember_token"


@pytest.fixture
def person(throwaway_user):
    """A fresh leader account of the test's own (its sessions and failures touch nobody else's)."""
    return throwaway_user


@pytest.fixture
def app_db(app_env):
    db = Database(app_env["DATABASE_URL"])
    yield db
    db.dispose()


ADMIN = Viewer(user_id=None, username="admin", role="admin")


def cookie(client, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found else None


def replay(server, **cookies):
    """A new client that holds only the given cookies, as a thief replaying them would."""
    client = server.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def signed_in(client) -> bool:
    status = client.get("/api/v1/overview?from=2026-11-01&to=2026-11-02").status_code
    assert status in (200, 401), status
    return status == 200


def session_rows(engine, username: str) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sql(
            "SELECT s.* FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE u.username = :u ORDER BY s.id"),
            {"u": username})]


# --- sign-out and the idle timeout end a remember-me session ---------------------------------------------

def test_a_remember_me_cookie_alone_signs_in_until_sign_out(server, person):
    client = server.test_client()
    assert login(client, person, remember=True).status_code == 302
    remembered = cookie(client, REMEMBER)
    assert remembered, "the remember-me box sets the cookie"
    # The cookie alone (the browser was closed: no session cookie) brings the person back ...
    assert signed_in(replay(server, **{REMEMBER: remembered}))
    # ... until they sign out: the response deletes it, and a copy of it is refused from then on.
    resp = logout(client)
    assert resp.status_code == 302
    assert any(h.startswith(f"{REMEMBER}=;") for h in resp.headers.getlist("Set-Cookie"))
    assert cookie(client, REMEMBER) is None
    assert not signed_in(client)
    assert not signed_in(replay(server, **{REMEMBER: remembered}))


def test_a_session_cookie_copied_before_sign_out_is_refused_after_it(server, person, engine):
    client = server.test_client()
    login(client, person)
    copied = cookie(client, "session")
    thief = replay(server, session=copied)
    assert signed_in(thief)
    logout(client)
    assert not signed_in(thief)
    assert [r["end_reason"] for r in session_rows(engine, person)] == ["logout"]


def test_the_idle_timeout_ends_a_remember_me_session_too(server, person, engine):
    client = server.test_client()
    login(client, person, remember=True)
    remembered = cookie(client, REMEMBER)
    idle = timedelta(minutes=31)  # IDLE_TIMEOUT_MINUTES is 30
    with engine.begin() as conn:
        conn.execute(sql("UPDATE user_sessions SET last_active_at = :at WHERE user_id = "
                         "(SELECT id FROM users WHERE username = :u)"),
                     {"at": datetime.now(UTC).replace(tzinfo=None) - idle, "u": person})
    fresh_browser = replay(server, **{REMEMBER: remembered})
    resp = fresh_browser.get("/scorecard")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert any(h.startswith(f"{REMEMBER}=;") for h in resp.headers.getlist("Set-Cookie"))
    assert text.SESSION_EXPIRED in fresh_browser.get("/login").get_data(as_text=True)
    assert not signed_in(client) and not signed_in(replay(server, **{REMEMBER: remembered}))
    assert [r["end_reason"] for r in session_rows(engine, person)] == ["idle"]


# --- an admin's change ends every session of the user ------------------------------------------------------

CHANGES = {
    "password": lambda name, db: admin.reset_password(ADMIN, name, "Mat-khau-moi-2026", db=db),
    "role": lambda name, db: admin.set_role(ADMIN, name, "operator", None, db=db),
    "disabled": lambda name, db: admin.set_user_active(ADMIN, name, False, db=db),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_an_admins_change_ends_every_session_of_the_user(change, server, person, engine, app_db):
    laptop, phone = server.test_client(), server.test_client()
    login(laptop, person, remember=True)
    login(phone, person)
    copies = [{REMEMBER: cookie(laptop, REMEMBER)}, {"session": cookie(phone, "session")}]
    bystander = server.test_client()
    login(bystander, "leader")
    assert signed_in(laptop) and signed_in(phone) and all(signed_in(replay(server, **c)) for c in copies)
    CHANGES[change](person, app_db)
    assert not signed_in(laptop) and not signed_in(phone)
    assert not any(signed_in(replay(server, **c)) for c in copies)
    assert signed_in(bystander)  # nobody else's session
    assert {r["end_reason"] for r in session_rows(engine, person)} == {change}
    message = laptop.get("/scorecard")
    assert message.status_code == 302
    assert text.SESSION_ENDED in laptop.get("/login").get_data(as_text=True)


def test_setting_the_same_role_again_ends_nothing(server, person, app_db):
    client = server.test_client()
    login(client, person)
    admin.set_role(ADMIN, person, "leader", None, db=app_db)
    assert signed_in(client)


@pytest.fixture(scope="module")
def gunicorn_app(app_env, tmp_root):
    """The app under gunicorn with two workers on its own copy of the database."""
    db_path = tmp_root / "gunicorn-sessions.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", "THREADS": "1"}
    live = LiveApp(env, tmp_root / "gunicorn-sessions.log", command="gunicorn").start()
    db = Database(env["DATABASE_URL"])
    try:
        yield live, db
    finally:
        db.dispose()
        live.stop()


def http_login(base: str, username: str, remember: bool = False) -> requests.Session:
    web = requests.Session()
    token = form_token(web.get(base + "/login").text)
    resp = web.post(base + "/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           **({"remember": "1"} if remember else {})}, allow_redirects=False)
    assert resp.status_code == 302, resp.text[:300]
    return web


def test_a_password_reset_ends_the_session_on_every_worker(gunicorn_app):
    live, db = gunicorn_app
    name = f"hai-tien-trinh-{secrets.token_hex(2)}"
    create_user(name, PASSWORD, "leader", db=db)
    web = http_login(live.base, name, remember=True)
    cookies = web.cookies.get_dict()

    def statuses() -> set[int]:
        # A new connection each time (no keep-alive), so that both workers answer.
        return {requests.get(live.base + "/api/v1/overview?from=2026-11-01&to=2026-11-02", cookies=cookies,
                             headers={"Connection": "close"}).status_code for _ in range(16)}

    assert statuses() == {200}
    admin.reset_password(ADMIN, name, "Mat-khau-moi-2026", db=db)
    assert statuses() == {401}
    assert statuses() == {401}


# --- failed sign-ins ---------------------------------------------------------------------------------------

def from_address(server, address: str):
    client = server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_an_attackers_failures_never_lock_out_the_real_user(server, person):
    attacker = from_address(server, "198.51.100.9")
    for _ in range(5):
        assert login(attacker, person, "doan-mo-mat-khau").status_code == 401
    assert login(attacker, person).status_code == 429  # even the right password, from the guessing address
    real_user = from_address(server, "203.0.113.20")
    assert login(real_user, person).status_code == 302  # an address that has not failed always gets in
    assert signed_in(real_user)


def test_a_name_guessed_from_many_addresses_is_refused_to_each_that_failed(server, person):
    for i in range(20):  # one guess each from twenty addresses
        assert login(from_address(server, f"198.51.100.{100 + i}"), person, "doan-mo").status_code == 401
    again = from_address(server, "198.51.100.100")
    assert login(again, person, "doan-tiep").status_code == 429
    assert login(again, person).status_code == 429  # that address has failed on the name
    assert login(from_address(server, "198.51.100.250"), person).status_code == 302  # a new one has not


def test_the_right_password_from_a_failing_address_below_the_limit_gets_in(server, person):
    typo = from_address(server, "203.0.113.5")
    for _ in range(4):
        login(typo, person, "go-nham")
    assert login(typo, person).status_code == 302


def test_sign_in_attempts_are_capped_per_address(app_env, tmp_root):
    """Flask-Limiter's flood cap, whatever the outcome of each attempt (three a minute here)."""
    db_path = tmp_root / "limited.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1", "LOGIN_RATE_LIMIT": "3 per minute"}
    live = LiveApp(env, tmp_root / "limited.log").start()
    try:
        web = requests.Session()
        token = form_token(web.get(live.base + "/login").text)
        answers = [web.post(live.base + "/login", data={"username": "leader", "password": "sai", "csrf_token": token},
                            allow_redirects=False) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert text.LOGIN_TOO_FAST in answers[-1].text
        assert web.get(live.base + "/login").status_code == 200  # reading the form is not capped
    finally:
        live.stop()


# --- a screen's link does not replace a person's session ------------------------------------------------

@pytest.fixture
def screen_token(app_db):
    screen, token = display_tokens.create_token(f"Phòng họp {secrets.token_hex(2)}", "cli",
                                                {"rotate_seconds": 25, "refresh_seconds": 40,
                                                 "panels": ["kpis", "alerts"]}, db=app_db)
    yield token
    display_tokens.revoke(screen.name, db=app_db)


def test_a_screen_link_followed_by_a_leader_shows_the_preview_and_keeps_the_leader(server, screen_token):
    client = server.test_client()
    login(client, "leader")
    resp = client.get(f"/wall?token={screen_token}")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/wall?rotate=25&refresh=40&panels=kpis%2Calerts"
    assert "leader" in client.get("/_dash-layout").get_data(as_text=True)
    assert signed_in(client) and client.get("/scorecard").status_code == 200  # still the leader, not a screen


def test_a_screen_link_followed_by_an_agency_head_keeps_them_in_their_scope(server, screen_token):
    client = server.test_client()
    login(client, "agency_a")
    resp = client.get(f"/wall?token={screen_token}")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/wall?rotate=25")
    assert "agency_a" in client.get("/_dash-layout").get_data(as_text=True)
    assert client.get("/api/v1/agencies/CAT").status_code == 403  # still agency_a, still scoped


def test_a_screen_link_without_a_person_signs_the_screen_in(server, screen_token):
    client = server.test_client()
    assert client.get(f"/wall?token={screen_token}").status_code == 200
    assert client.get("/scorecard").status_code == 403  # a screen reaches the wall only


def test_a_bad_screen_token_is_refused_even_for_a_person(server):
    client = server.test_client()
    login(client, "leader")
    assert client.get("/wall?token=" + "x" * 40).status_code == 403
    assert signed_in(client)


# --- forgeries: refused, logged with what was expected and what came -----------------------------------

def test_a_callback_from_a_trusted_origin_is_accepted(client_for, set_settings):
    client = client_for("leader")
    spec = callback_spec(client, "overview-kpis.children")
    values = overview_values("2026-11-01", "2026-11-20")
    client.environ_base["HTTP_ORIGIN"] = "https://paht.quangtri.gov.vn:8443"
    assert post_callback(client, spec, values).status_code == 403
    set_settings(trusted_origins=["https://paht.quangtri.gov.vn:8443"])
    assert post_callback(client, spec, values).status_code == 200


def test_refused_forgeries_are_logged_as_warnings(client_for, server, caplog):
    client = client_for("leader")
    spec = callback_spec(client, "overview-kpis.children")
    client.environ_base["HTTP_ORIGIN"] = "https://evil.example"
    with caplog.at_level(logging.WARNING, logger="paht.security"):
        assert post_callback(client, spec, overview_values()).status_code == 403
        server.test_client().post("/login", data={"username": "leader", "password": PASSWORD})
    origin, form = [r for r in caplog.records if r.name == "paht.security"]
    assert origin.levelno == logging.WARNING and origin.got == "https://evil.example"
    assert "http://localhost" in origin.expected and "/_dash-update-component" in origin.getMessage()
    assert form.levelno == logging.WARNING and "CSRF" in form.expected and "/login" in form.getMessage()


def test_session_tokens_are_stored_only_as_hashes(server, person, engine):
    client = server.test_client()
    login(client, person)
    with client.session_transaction() as sess:
        token = sess["_user_id"].split(":", 1)[1]
    rows = session_rows(engine, person)
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in repr(rows)


def test_a_password_reset_during_a_sign_in_wins(server, person, app_db, monkeypatch, engine):
    """The reset lands after the password was checked and before the session is made: no session is made (the
    old password must not open one), whatever the order the two transactions take."""
    from queries import users as user_store

    checked = user_store.verify_password

    def then_reset(username, password, db=None):
        verified = checked(username, password, db)
        admin.reset_password(ADMIN, person, "Mat-khau-moi-2026", db=app_db)
        return verified

    monkeypatch.setattr(user_store, "verify_password", then_reset)
    client = server.test_client()
    assert login(client, person).status_code == 401
    assert not signed_in(client)
    assert session_rows(engine, person) == []
    monkeypatch.setattr(user_store, "verify_password", checked)
    assert login(client, person, "Mat-khau-moi-2026").status_code == 302  # the new password works


def test_a_session_check_that_fails_while_the_database_answers_lets_nobody_through(server, person, monkeypatch):
    """The signed snapshot in the cookie stands in only when the database is down (pages keep their last data);
    a check that fails for another reason (the database busy or locked) refuses the request."""
    from sqlalchemy.exc import OperationalError

    from queries import sessions as session_store

    client = server.test_client()
    login(client, person)

    def busy(*_args, **_kwargs):
        raise OperationalError("SELECT …", {}, Exception("database is locked"))

    monkeypatch.setattr(session_store, "check", busy)
    assert not signed_in(client)


@pytest.mark.parametrize("redis_url", ["redis://127.0.0.1:6399/0", "unix:///tmp/paht-no-such-redis.sock"])
def test_sign_in_works_while_redis_is_unreachable(app_env, tmp_root, redis_url):
    """Redis counts the sign-in cap across workers; without it each worker counts for itself, and nobody is
    refused for the outage (nor for a socket address, which the cache and the limiter spell differently)."""
    db_path = tmp_root / "no-redis.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1", "REDIS_URL": redis_url}
    live = LiveApp(env, tmp_root / "no-redis.log").start()
    try:
        web = http_login(live.base, "leader")
        assert web.get(live.base + "/api/v1/overview?from=2026-11-01&to=2026-11-02").status_code == 200
    finally:
        live.stop()
