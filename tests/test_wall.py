"""The leaders' wall screen: display tokens, screen sign-in and what a screen may reach, the wall's numbers
and alerts (checked against pandas over raw rows), spike detection on a seeded burst, and the DB-down banner.

Expected values are computed here from raw SELECT * rows and the documented definitions, never by calling
the functions under test a second way.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert, select, text

from queries import display_tokens, wall
from queries.db import Database
from queries.display_tokens import MIN_REFRESH_SECONDS, MIN_ROTATE_SECONDS, PANELS, ScreenSettings
from queries.filters import Filter
from queries.migrate import upgrade
from queries.schema import metadata, reports
from queries.scorecard import period_ranking
from tests.conftest import NOW, ROOT, TEST_SECRET, _seed, create_pg_database, read_raw
from tests.dash_calls import callback_spec, overview_values, post_callback

OPEN = ("received", "classified", "forwarded", "in_progress")
WALL_OUTPUT = "wall-kpis-today-label.children"
WALL_VALUES = {"wall-refresh.n_intervals": None, "wall-version.data": None, "wall-last-ok.data": None}
REFUSED = "Mã màn hình không hợp lệ."
REVOKED = "Màn hình này đã bị thu hồi quyền hiển thị."


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --- display tokens -----------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path, pg_server_url):
    """A fresh database with the schema and no tokens, on each dialect."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'tokens.sqlite3'}")
        drop = None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = Database(url)
    upgrade(db)
    try:
        yield db
    finally:
        db.dispose()
        if drop:
            drop()


def every_stored_text(db: Database) -> str:
    """Every value of every table, as text, so a search covers the whole database."""
    parts = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_a_token_is_shown_once_and_only_its_sha256_is_stored(empty_db):
    screen, token = display_tokens.create_token("Phòng họp tầng 2", "admin", db=empty_db)
    assert re.fullmatch(r"[A-Za-z0-9_\-]{40,}", token)  # url-safe, at least ~240 bits
    assert screen.name == "Phòng họp tầng 2" and screen.active and screen.created_by == "admin"
    row = empty_db.read_rows(text("SELECT token_hash, token_prefix FROM display_tokens"))[0]
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["token_prefix"] == token[:8]  # a short prefix to tell screens apart, never the token
    assert token not in every_stored_text(empty_db)
    if empty_db.dialect == "sqlite":
        # Not even in the file pages or the write-ahead log.
        path = empty_db.url.split("///", 1)[1]
        empty_db.dispose()
        blob = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
        assert token.encode() not in blob and token[8:].encode() not in blob
    # A second token for another screen is different.
    _, other = display_tokens.create_token("Văn phòng Chủ tịch", "admin", db=empty_db)
    assert other != token


def test_verify_finds_the_real_token_and_nothing_else(empty_db):
    screen, token = display_tokens.create_token("Sảnh", "admin", db=empty_db)
    found = display_tokens.verify(token, db=empty_db)
    assert found is not None and found.id == screen.id and found.active
    near_misses = [token[:-1] + ("A" if token[-1] != "A" else "B"), token + "x", token[1:], token.swapcase(),
                   " " + token, token + "\n"]
    junk = [secrets.token_urlsafe(32), "", None, "abc", "x" * 500, "' OR 1=1 --", "../../etc/passwd",
            "tõken-tiếng-việt-dài-hơn-hai-mươi", "\udcff" * 30]
    for bad in near_misses + junk:
        assert display_tokens.verify(bad, db=empty_db) is None, bad


def test_revoke_and_list(empty_db):
    display_tokens.create_token("B màn hình", "admin", db=empty_db)
    _, token_a = display_tokens.create_token("A màn hình", "admin", db=empty_db)
    names = [s.name for s in display_tokens.list_screens(db=empty_db)]
    assert names == ["A màn hình", "B màn hình"]
    assert all(s.active and s.last_seen_at is None for s in display_tokens.list_screens(db=empty_db))

    revoked = display_tokens.revoke("A màn hình", db=empty_db)
    assert not revoked.active and revoked.revoked_at is not None
    # Verify still finds a revoked screen (the caller shows the "revoked" page) but marks it inactive.
    assert display_tokens.verify(token_a, db=empty_db).active is False
    states = {s.name: s.active for s in display_tokens.list_screens(db=empty_db)}
    assert states == {"A màn hình": False, "B màn hình": True}
    # Revoking again keeps the first revocation time; an unknown name is an error.
    again = display_tokens.revoke("A màn hình", db=empty_db)
    assert again.revoked_at == revoked.revoked_at
    with pytest.raises(display_tokens.DisplayTokenError):
        display_tokens.revoke("Không có", db=empty_db)


def test_names_are_required_unique_and_bounded(empty_db):
    display_tokens.create_token("Sảnh", "admin", db=empty_db)
    for bad in ("Sảnh", " Sảnh ", "", "   ", "x" * 101):
        with pytest.raises(display_tokens.DisplayTokenError):
            display_tokens.create_token(bad, "admin", db=empty_db)
    assert len(display_tokens.list_screens(db=empty_db)) == 1


def test_mark_seen_records_when_a_screen_was_last_seen(empty_db):
    screen, _ = display_tokens.create_token("Sảnh", "admin", db=empty_db)
    before = datetime.utcnow()
    display_tokens.mark_seen(screen, db=empty_db)
    seen = display_tokens.screen_by_name("Sảnh", db=empty_db).last_seen_at
    assert seen is not None and before - timedelta(seconds=2) <= seen <= datetime.utcnow() + timedelta(seconds=2)
    # Within a minute of the last write nothing is written again (a screen polls often).
    display_tokens.mark_seen(display_tokens.screen_by_name("Sảnh", db=empty_db), db=empty_db)
    assert display_tokens.screen_by_name("Sảnh", db=empty_db).last_seen_at == seen


@pytest.mark.parametrize("raw,want", [
    (None, (30, 20, PANELS)),
    ({}, (30, 20, PANELS)),
    ({"refresh_seconds": 1, "rotate_seconds": 1}, (MIN_REFRESH_SECONDS, MIN_ROTATE_SECONDS, PANELS)),
    ({"refresh_seconds": 0, "rotate_seconds": -5}, (MIN_REFRESH_SECONDS, MIN_ROTATE_SECONDS, PANELS)),
    ({"refresh_seconds": "9.9", "rotate_seconds": "7"}, (MIN_REFRESH_SECONDS, MIN_ROTATE_SECONDS, PANELS)),
    ({"refresh_seconds": 10, "rotate_seconds": 8}, (10, 8, PANELS)),
    ({"refresh_seconds": 45, "rotate_seconds": "12"}, (45, 12, PANELS)),
    ({"refresh_seconds": "abc", "rotate_seconds": None}, (30, 20, PANELS)),
    ({"refresh_seconds": "nan"}, (30, 20, PANELS)),
    ({"panels": ["ticker", "bogus", "kpis", "<script>"]}, (30, 20, ("ticker", "kpis"))),
    ({"panels": ["bogus"]}, (30, 20, PANELS)),
    ({"panels": []}, (30, 20, PANELS)),
    ({"panels": ["alerts", "ranking"]}, (30, 20, ("alerts", "ranking"))),
])
def test_screen_settings_raise_intervals_to_the_minimum_and_drop_unknown_panels(raw, want):
    s = ScreenSettings.parse(raw)
    assert (s.refresh_seconds, s.rotate_seconds, s.panels) == want
    assert MIN_REFRESH_SECONDS == 10 and MIN_ROTATE_SECONDS == 8  # the documented minimums


def test_stored_settings_come_back_with_the_minimums_applied(empty_db):
    display_tokens.create_token("Sảnh", "admin", {"refresh_seconds": 2, "rotate_seconds": 3,
                                                   "panels": ["alerts", "nope", "kpis"]}, db=empty_db)
    s = display_tokens.screen_by_name("Sảnh", db=empty_db).settings
    assert (s.refresh_seconds, s.rotate_seconds, s.panels) == (10, 8, ("alerts", "kpis"))
    stored = json.loads(empty_db.read_rows(text("SELECT settings FROM display_tokens"))[0]["settings"])
    assert stored == {"refresh_seconds": 10, "rotate_seconds": 8, "panels": ["alerts", "kpis"]}


def test_an_infinite_interval_is_handled_like_any_bad_value(server, client_for):
    leader = client_for("leader")
    spec = callback_spec(leader, "_pages_content.children")
    server.config["TESTING"] = False  # a real server answers 500 instead of raising into the test
    try:
        page = post_callback(leader, spec, {"_pages_location.pathname": "/wall",
                                            "_pages_location.search": "?refresh=inf&rotate=1e999"})
    finally:
        server.config["TESTING"] = True
    assert page.status_code == 200
    s = ScreenSettings.parse({"refresh_seconds": "inf", "rotate_seconds": "1e999"})
    assert s.refresh_seconds >= MIN_REFRESH_SECONDS and s.rotate_seconds >= MIN_ROTATE_SECONDS


# --- the CLI, as an admin runs it --------------------------------------------------------------

def flask_cli(url: str, instance, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_URL"}
    env.update(DATABASE_URL=url, INSTANCE_DIR=str(instance), SECRET_KEY=TEST_SECRET, HOST="10.1.2.3", PORT="8123",
               **env_extra)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "display-token", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_create_list_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    made = flask_cli(url, tmp_path, "create", "Phòng họp tầng 2", "--rotate", "3", "--refresh", "1",
                     "--panels", "ticker,bogus,alerts")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    # Intervals below the minimum are raised, unknown panels dropped, and the settings said so.
    assert "xoay 8 giây" in lines[0] and "làm mới 10 giây" in lines[0] and "ticker, alerts" in lines[0]
    found = re.fullmatch(r"http://10\.1\.2\.3:8123/wall\?token=([A-Za-z0-9_\-]+)", lines[-1])
    assert found, made.stdout
    token = found.group(1)
    db = Database(url)
    try:
        screen = display_tokens.verify(token, db=db)
        assert screen is not None and screen.name == "Phòng họp tầng 2" and screen.created_by == "cli"
        assert (screen.settings.rotate_seconds, screen.settings.refresh_seconds) == (8, 10)
        assert screen.settings.panels == ("ticker", "alerts")
        assert token not in every_stored_text(db)
    finally:
        db.dispose()

    public = flask_cli(url, tmp_path, "create", "Sảnh", "--panels", "kpis", PUBLIC_URL="https://ioc.quangtri.gov.vn/")
    assert public.returncode == 0, public.stderr
    assert re.search(r"^https://ioc\.quangtri\.gov\.vn/wall\?token=[A-Za-z0-9_\-]{40,}$", public.stdout, re.M)

    dup = flask_cli(url, tmp_path, "create", "Sảnh")
    assert dup.returncode != 0 and "Sảnh" in dup.stderr and "token=" not in dup.stdout

    listed = flask_cli(url, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("  ")[0].strip(): line for line in listed.stdout.splitlines()}
    assert set(rows) == {"Phòng họp tầng 2", "Sảnh"}
    assert token[:8] + "…" in rows["Phòng họp tầng 2"] and token not in listed.stdout
    assert "đang dùng" in rows["Phòng họp tầng 2"] and "chưa kết nối" in rows["Phòng họp tầng 2"]

    gone = flask_cli(url, tmp_path, "revoke", "Phòng họp tầng 2")
    assert gone.returncode == 0 and "Đã thu hồi" in gone.stdout, gone.stderr
    listed = flask_cli(url, tmp_path, "list").stdout
    line = next(x for x in listed.splitlines() if x.startswith("Phòng họp tầng 2"))
    assert "đã thu hồi" in line
    assert "đang dùng" in next(x for x in listed.splitlines() if x.startswith("Sảnh"))
    missing = flask_cli(url, tmp_path, "revoke", "Không có")
    assert missing.returncode != 0 and "Không có" in missing.stderr
    db = Database(url)
    try:
        assert display_tokens.verify(token, db=db).active is False
    finally:
        db.dispose()
    deleted = flask_cli(url, tmp_path, "delete", "Sảnh")
    assert deleted.returncode == 0 and "Đã xoá" in deleted.stdout, deleted.stderr
    assert "Sảnh" not in flask_cli(url, tmp_path, "list").stdout
    again = flask_cli(url, tmp_path, "delete", "Sảnh")
    assert again.returncode != 0 and "Không có màn hình tên 'Sảnh'" in again.stderr


# --- the admin page (/admin/screens) -------------------------------------------------------------

SCREENS_OUTPUT = "screens-message.children"

def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def manage(client, **values):
    base = {"screens-create.n_clicks": 0, "screens-revoke.n_clicks": 0, "screens-name.value": None,
            "screens-rotate.value": 20, "screens-refresh.value": 30, "screens-revoke-name.value": None}
    changed = ["screens-revoke.n_clicks"] if values.get("screens-revoke.n_clicks") else ["screens-create.n_clicks"]
    return post_callback(client, callback_spec(client, SCREENS_OUTPUT), {**base, **values}, changed=changed)


def test_admin_page_creates_lists_and_revokes_screens(server, client_for):
    admin = client_for("admin")
    name = unique("Phòng giao ban")
    made = manage(admin, **{"screens-create.n_clicks": 1, "screens-name.value": name, "screens-rotate.value": 2,
                            "screens-refresh.value": 3})
    out = made.get_json()["response"]
    url = out["screens-url"]["children"]
    token = re.fullmatch(r"http://[^/]+/wall\?token=([A-Za-z0-9_\-]+)", url).group(1)
    assert out["screens-message"]["className"] == "form-message ok"
    row = next(r for r in out["screens-table"]["data"] if r["name"] == name)
    assert row["state"] == "Đang dùng" and row["prefix"] == token[:8] + "…" and row["last_seen"] == "—"
    assert row["settings"] == "xoay 8s, làm mới 10s"  # raised to the minimums
    assert token not in dumps(out["screens-table"]) and name in dumps(out["screens-revoke-name"])

    sign_in_screen(server, token)
    listed = manage(admin).get_json()["response"]
    row = next(r for r in listed["screens-table"]["data"] if r["name"] == name)
    assert re.fullmatch(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", row["last_seen"]), row  # last seen, local time
    assert "token=" not in dumps(listed["screens-url"])  # the URL was shown once only

    gone = manage(admin, **{"screens-revoke.n_clicks": 1, "screens-revoke-name.value": name}).get_json()["response"]
    row = next(r for r in gone["screens-table"]["data"] if r["name"] == name)
    assert row["state"] == "Đã thu hồi" and name not in dumps(gone["screens-revoke-name"])
    assert display_tokens.verify(token).active is False


@pytest.mark.parametrize("who", ["leader", "screen"])
def test_only_admins_manage_screens(server, client_for, who):
    if who == "leader":
        client = client_for("leader")
    else:
        client = sign_in_screen(server, display_tokens.create_token(unique("Màn hình"), "admin")[1])
    name = unique("Không được tạo")
    resp = manage(client, **{"screens-create.n_clicks": 1, "screens-name.value": name})
    if who == "screen":
        # A screen may call only the wall's callbacks: refused at the guard, before the page's own check.
        assert resp.status_code == 403 and resp.get_json()["error"] == "forbidden"
        assert display_tokens.screen_by_name(name) is None
        return
    out = resp.get_json()["response"]
    # Refused, and no list of screens handed out either.
    assert out["screens-message"]["children"] == "Chỉ quản trị viên được quản lý màn hình lớn."
    assert out["screens-table"]["data"] == [] and out["screens-url"]["children"] == ""
    assert display_tokens.screen_by_name(name) is None


# --- screen sign-in through the Flask test client ---------------------------------------------

@pytest.fixture
def screen(server):
    """A fresh screen in the app's database: (name, token)."""
    name = unique("Màn hình thử")
    _, token = display_tokens.create_token(name, "admin", {"refresh_seconds": 10, "rotate_seconds": 8})
    return name, token


def sign_in_screen(server, token):
    client = server.test_client()
    resp = client.get(f"/wall?token={token}")
    assert resp.status_code == 200, resp.data[:300]
    return client


def test_a_screen_token_signs_in_a_wall_only_session(server, screen):
    name, token = screen
    client = sign_in_screen(server, token)
    # The session, not the token, now carries the screen: /wall without the token still loads.
    assert client.get("/wall").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    resp = post_callback(client, callback_spec(client, WALL_OUTPUT), WALL_VALUES)
    assert resp.status_code == 200
    assert resp.get_json()["response"]["wall-kpis-today-label"]["children"] == "Tiếp nhận hôm nay"
    beat = client.get("/api/v1/wall/heartbeat")
    assert beat.status_code == 200 and beat.get_json()["ok"] is True
    for path in ("/", "/scorecard", "/api/v1/overview", "/agency/SXD", "/admin/screens", "/admin/sla",
                 "/api/v1/scorecard", "/?category=MT"):
        assert client.get(path).status_code == 403, path
    # It stays signed in for good: a remember cookie years long, and the sign-in is recorded.
    seen = display_tokens.screen_by_name(name).last_seen_at
    assert seen is not None and datetime.utcnow() - seen < timedelta(minutes=1)


def test_screen_sign_in_sets_a_long_remember_cookie(server, screen):
    client = server.test_client()
    resp = client.get(f"/wall?token={screen[1]}")
    cookies = resp.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    expires = re.search(r"Expires=\w{3}, (\d{2} \w{3} \d{4})", remember).group(1)
    assert datetime.strptime(expires, "%d %b %Y") > datetime.utcnow() + timedelta(days=365 * 5)
    assert "HttpOnly" in remember


def test_the_screen_uses_its_own_intervals_and_panels(server):
    name = unique("Màn hình cài đặt")
    _, token = display_tokens.create_token(name, "admin", {"refresh_seconds": 12, "rotate_seconds": 9,
                                                           "panels": ["ticker", "alerts"]})
    client = sign_in_screen(server, token)
    # A screen cannot override its settings from the URL.
    spec = callback_spec(client, "_pages_content.children")
    resp = post_callback(client, spec, {"_pages_location.pathname": "/wall",
                                        "_pages_location.search": "?refresh=1000&rotate=1000&panels=kpis"})
    found = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") in ("wall-refresh", "wall-rotate", "wall-settings"):
                found[props["id"]] = props
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(resp.get_json())
    assert found["wall-refresh"]["interval"] == 12_000 and found["wall-rotate"]["interval"] == 9_000
    assert found["wall-settings"]["data"]["panels"] == ["ticker", "alerts"]


def refusal(server, token: str):
    return server.test_client().get("/wall", query_string={"token": token})


def test_malformed_and_unknown_tokens_get_the_same_plain_refusal(server):
    unknown = refusal(server, secrets.token_urlsafe(32))
    assert unknown.status_code == 403
    body = unknown.get_data(as_text=True)
    assert REFUSED in body and "<form" not in body and "password" not in body.lower()
    for bad in ("", "abc", "x" * 500, "' OR 1=1 --", "../../etc/passwd", "tiếng việt có dấu", "%00",
                secrets.token_urlsafe(32)):
        resp = refusal(server, bad)
        assert resp.status_code == unknown.status_code, bad
        assert resp.get_data(as_text=True) == body, bad  # nothing echoed, nothing that tells them apart
        assert "Set-Cookie" not in resp.headers or "remember_token" not in resp.headers.get("Set-Cookie", "")


def test_refusal_timing_does_not_reveal_whether_a_token_exists(server):
    """Medians over many interleaved requests: an unknown token, a malformed one, and a token that exists
    (revoked, so it is refused too). All do one sha256 and at most one indexed lookup, so their medians
    must be of the same order; 3x is generous enough for a loaded CI box, yet a lookup that scanned
    the table or compared hashes one by one (or any per-token work such as bcrypt) would blow past it."""
    name = unique("Màn hình đo giờ")
    _, existing = display_tokens.create_token(name, "admin")
    display_tokens.revoke(name)
    kinds = {"unknown": lambda: secrets.token_urlsafe(32), "malformed": lambda: "x" * 5,
             "existing": lambda: existing}
    client = server.test_client(use_cookies=False)
    times = {k: [] for k in kinds}
    for _ in range(10):  # warm-up
        for make in kinds.values():
            client.get("/wall", query_string={"token": make()})
    order = list(kinds)
    for _ in range(150):
        random.shuffle(order)
        for kind in order:
            token = kinds[kind]()
            start = time.perf_counter()
            client.get("/wall", query_string={"token": token})
            times[kind].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    assert max(medians.values()) <= 3 * min(medians.values()), medians

    # The same at the level of verify(): an unknown and an existing token cost one hash and one lookup each.
    # (A malformed one skips the lookup and is faster there, which tells nothing: its shape alone rules it out.)
    lookup = {"unknown": [], "existing": []}
    for _ in range(200):
        for kind in random.sample(list(lookup), 2):
            token = kinds[kind]()
            start = time.perf_counter()
            display_tokens.verify(token)
            lookup[kind].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in lookup.items()}
    assert max(med.values()) <= 3 * min(med.values()), med


def test_a_revoked_screen_gets_the_revoked_page_never_a_login_form(server, screen):
    name, token = screen
    client = sign_in_screen(server, token)
    spec = callback_spec(client, WALL_OUTPUT)
    display_tokens.revoke(name)

    beat = client.get("/api/v1/wall/heartbeat")
    assert beat.status_code == 403 and beat.get_json()["error"] == "screen_revoked"
    cb = post_callback(client, spec, WALL_VALUES)
    assert cb.status_code == 403 and cb.get_json()["error"] == "screen_revoked"
    assert b"wall-kpis" not in cb.data
    for path in ("/wall", f"/wall?token={token}", "/", "/scorecard"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/wall/revoked", path
    page = client.get("/wall/revoked")
    body = page.get_data(as_text=True)
    assert page.status_code == 403 and REVOKED in body
    assert "<form" not in body and "Mật khẩu" not in body and "/login" not in body
    # A screen that lost its session and comes back with the revoked token: the same page.
    fresh = server.test_client().get(f"/wall?token={token}")
    assert fresh.status_code == 302 and fresh.headers["Location"] == "/wall/revoked"


def test_anonymous_wall_without_a_token_goes_to_login(server):
    resp = server.test_client().get("/wall")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
    assert "wall" in resp.headers["Location"]


def test_a_screen_cannot_call_callbacks_of_other_pages(server, screen):
    client = sign_in_screen(server, screen[1])
    agency = post_callback(client, callback_spec(client, "agency-kpis.children"),
                           {"agency-code.data": "SXD", "agency-code-period.value": "12m"})
    overview_cb = post_callback(client, callback_spec(client, "overview-kpis.children"), overview_values())
    assert agency.status_code == 403 and b'"title"' not in agency.data
    assert overview_cb.status_code == 403


def test_a_screen_can_load_its_own_map_points(server, screen):
    client = sign_in_screen(server, screen[1])
    resp = post_callback(client, callback_spec(client, WALL_OUTPUT), WALL_VALUES)
    url = resp.get_json()["response"]["wall-map-base"]["data"]  # the browser adds the map's zoom
    assert url.startswith("/api/v1/map/points")
    points = client.get(url + "&zoom=9")
    assert points.status_code == 200 and points.get_json()["type"] == "FeatureCollection"
    assert points.get_json()["meta"]["mode"] == "cells"


# --- no personal data on the wall ---------------------------------------------------------------

def strings_in(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [str(k), *strings_in(v)]]
    if isinstance(node, list):
        return [s for v in node for s in strings_in(v)]
    return [str(node)]


@pytest.mark.parametrize("who", ["leader", "screen"])
def test_wall_callback_has_no_personal_data(server, client_for, app_env, who):
    if who == "leader":
        client = client_for("leader")
    else:
        _, token = display_tokens.create_token(unique("Màn hình riêng tư"), "admin")
        client = sign_in_screen(server, token)
    resp = post_callback(client, callback_spec(client, WALL_OUTPUT), WALL_VALUES)
    assert resp.status_code == 200
    blob = "\n".join(strings_in(resp.get_json()))
    assert "PA-" in blob  # the ticker is there, with public report codes
    app_db = Database(app_env["DATABASE_URL"])
    try:
        rows = pd.read_sql(text("SELECT reporter_phone, title, description, rating_comment, address FROM reports"),
                           app_db.engine)
        # Names the wall shows by design; a report titled just "Hạ tầng giao thông" (other tests submit such
        # reports) is not leaked when the category of that name appears.
        public = set()
        for sql in ("SELECT name, short_name FROM categories", "SELECT name, short_name FROM agencies",
                    "SELECT name, name FROM admin_units"):
            public |= {v for row in app_db.read_rows(text(sql)) for v in row.values()}
    finally:
        app_db.dispose()
    phones = set(rows["reporter_phone"].dropna())
    assert phones and not [p for p in phones if re.search(rf"(?<!\d){re.escape(p)}(?!\d)", blob)]
    for column in ("title", "description", "rating_comment", "address"):
        values = {v for v in rows[column].dropna() if len(v.strip()) >= 8 and v.strip() not in public}
        leaked = [v for v in values if v in blob]
        assert not leaked, (column, leaked[:3])


# --- the wall's numbers against pandas over the raw rows ----------------------------------------

def local_day(ts: pd.Series) -> pd.Series:
    return (ts + pd.Timedelta(hours=7)).dt.date


def expected_headline(raw: dict, now: datetime) -> dict:
    rep = raw["reports"]
    today = (now + timedelta(hours=7)).date()
    day = local_day(rep["created_at"])
    in_today = day == today
    in_month = day.map(lambda d: (d.year, d.month) == (today.year, today.month)).astype(bool)
    month = rep[in_month]
    is_open = rep["status"].isin(OPEN)
    done = month[(month["status"] == "resolved") & month["agency_deadline_at"].notna()]
    ratings = month["rating"].dropna()
    return {
        "today_received": int(in_today.sum()),
        "month_received": len(month),
        "month_resolved": int((month["status"] == "resolved").sum()),
        "pending": int(is_open.sum()),
        "overdue": int((is_open & (rep["deadline_at"] < now)).sum()),
        "month_agency_on_time_rate": float((done["resolved_at"] <= done["agency_deadline_at"]).mean())
        if len(done) else None,
        "month_satisfaction_mean": float(ratings.mean()) if len(ratings) else None,
        "month_label": f"Tháng {today.month:02d}/{today.year}",
    }


# NOW (16:30 local), 03:00 local on 1 November while it is still 31 October in UTC, 23:59 local on 30 September.
NOWS = [NOW, datetime(2026, 10, 31, 20, 0), datetime(2026, 9, 30, 16, 59)]


@pytest.mark.parametrize("now", NOWS, ids=lambda d: d.strftime("%Y%m%d%H%M"))
def test_headline_numbers(db, raw, now):
    got = wall.headline(now, db)
    want = expected_headline(raw, now)
    assert want["month_received"] > 0 and want["pending"] > 0
    rates = ("month_agency_on_time_rate", "month_satisfaction_mean")
    for key in rates:
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
    assert {k: v for k, v in got.items() if k not in rates} == {k: v for k, v in want.items() if k not in rates}


@pytest.mark.parametrize("today,month", [(date(2026, 10, 15), (date(2026, 10, 1), date(2026, 10, 31))),
                                         (date(2026, 12, 2), (date(2026, 11, 1), date(2026, 11, 30)))])
def test_month_ranking_shows_last_month_until_this_one_has_ranks(db, today, month):
    this_month, _ = period_ranking(Filter(), "month", today, db, NOW)
    falls_back = month[0] != today.replace(day=1)
    assert this_month["ranked"].any() != falls_back  # the demo ends on 20/11: nothing ranked in December
    table, period = wall.month_ranking(today, db, NOW)
    assert (period.start, period.end) == month
    assert table["ranked"].any()
    pd.testing.assert_frame_equal(table, period_ranking(Filter(), "month", month[0], db, NOW)[0])


def joined(raw: dict) -> pd.DataFrame:
    cats = raw["categories"][["id", "short_name", "code"]].rename(
        columns={"id": "category_id", "short_name": "cat_name", "code": "cat_code"})
    units = raw["admin_units"][["code", "name"]].rename(columns={"code": "commune_code", "name": "commune_name"})
    ags = raw["agencies"][["id", "short_name", "code"]].rename(
        columns={"id": "agency_id", "short_name": "agency_name", "code": "agency_code"})
    return (raw["reports"].merge(cats, on="category_id", how="left").merge(units, on="commune_code", how="left")
            .merge(ags, on="agency_id", how="left"))


def test_newest_reports_are_newest_first_and_carry_nothing_personal(db, raw):
    got = wall.newest_reports(12, db)
    assert set(got.columns) == {"code", "created_at", "status", "urgent", "category", "commune", "agency"}
    want = joined(raw).sort_values(["created_at", "id"], ascending=False).head(12)
    assert got["code"].tolist() == want["code"].tolist()
    assert got["category"].fillna("").tolist() == want["cat_name"].fillna("").tolist()
    assert got["commune"].fillna("").tolist() == want["commune_name"].fillna("").tolist()
    assert got["agency"].fillna("").tolist() == want["agency_name"].fillna("").tolist()
    assert got["status"].tolist() == want["status"].tolist()


def test_urgent_reports_of_the_last_24_hours(db, raw):
    rep = joined(raw)
    urgent_times = sorted(rep.loc[(rep["urgent"] == 1) & (rep["created_at"] <= NOW), "created_at"])
    # NOW itself, and an hour after each of the three latest urgent reports (so the list is not empty).
    nows = [NOW] + [ts.to_pydatetime() + timedelta(hours=1) for ts in urgent_times[-3:]]
    non_empty = 0
    for now in nows:
        got = wall.urgent_new(24, now, db)
        keep = (rep["urgent"] == 1) & (rep["created_at"] >= now - timedelta(hours=24)) & (rep["created_at"] <= now)
        want = rep[keep].sort_values("created_at", ascending=False).head(20)
        assert sorted(got["code"]) == sorted(want["code"]), now
        assert list(pd.to_datetime(got["created_at"])) == sorted(pd.to_datetime(got["created_at"]), reverse=True)
        assert set(got.columns) == {"code", "created_at", "status", "category", "commune"}
        non_empty += len(want) > 0
    assert non_empty >= 3


@pytest.mark.parametrize("now", NOWS, ids=lambda d: d.strftime("%Y%m%d%H%M"))
def test_top_overdue_agencies(db, raw, now):
    rep = joined(raw)
    rep = rep[rep["agency_code"].notna()]
    is_open = rep["status"].isin(OPEN)
    per = pd.DataFrame({"overdue": (is_open & (rep["deadline_at"] < now)).groupby(rep["agency_code"]).sum(),
                        "pending": is_open.groupby(rep["agency_code"]).sum()}).astype(int)
    per = per[per["overdue"] > 0]
    want_keys = sorted(zip(per["overdue"], per["pending"], strict=True), reverse=True)[:5]
    got = wall.top_overdue_agencies(5, now, db)
    assert len(want_keys) == 5
    assert list(zip(got["overdue"], got["pending"], strict=True)) == want_keys
    for row in got.to_dict("records"):
        assert (row["overdue"], row["pending"]) == tuple(per.loc[row["agency_code"]]), row["agency_code"]
    names = dict(zip(raw["agencies"]["code"], raw["agencies"]["short_name"], strict=True))
    assert got["agency_name"].tolist() == [names[c] for c in got["agency_code"]]


# --- spikes ---------------------------------------------------------------------------------------

def poisson_upper_tail(k: int, lam: float) -> float:
    """P(X >= k), summed from k upwards in log space (not 1 - P(X < k), which is how the code does it)."""
    if k <= 0:
        return 1.0
    total, i = 0.0, k
    while True:
        term = math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1))
        total += term
        if i > k + 20 and term < total * 1e-17:
            return total
        i += 1


def test_poisson_tail_matches_an_independent_sum():
    for lam in (0.5, 1.0, 2.5, 7.3):
        for k in (1, 3, 5, 10, 15):
            assert wall.poisson_tail(k, lam) == pytest.approx(poisson_upper_tail(k, lam), rel=1e-9, abs=1e-14)
    # Hand values: P(X >= 5 | 0.5) = 1 - e^-0.5 (1 + .5 + .125 + .0208333 + .0026042) ≈ 1.7212e-4.
    assert poisson_upper_tail(5, 0.5) == pytest.approx(1.7212e-4, rel=1e-3)


def expected_spikes(raw: dict, now: datetime) -> pd.DataFrame:
    """The documented method, from raw rows: k over (now-24h, now], λ = count over the 28 days before / 28,
    spike when k >= 5, k >= 3λ and P(X >= k) < 0.001 for X ~ Poisson(max(λ, 0.5))."""
    rep = raw["reports"]
    day_ago = now - timedelta(hours=24)
    recent = rep[(rep["created_at"] >= day_ago) & (rep["created_at"] <= now)]
    base = rep[(rep["created_at"] >= day_ago - timedelta(days=28)) & (rep["created_at"] < day_ago)]
    cats = dict(zip(raw["categories"]["id"], raw["categories"]["code"], strict=True))
    units = set(raw["admin_units"]["code"])
    rows = []
    for kind, col, to_key in (("commune", "commune_code", lambda v: v if v in units else None),
                              ("category", "category_id", lambda v: cats.get(v))):
        k_by = recent[col].dropna().map(to_key).dropna().value_counts()
        b_by = base[col].dropna().map(to_key).dropna().value_counts()
        for key, k in k_by.items():
            lam = b_by.get(key, 0) / 28
            p = poisson_upper_tail(int(k), max(lam, 0.5))
            if k >= 5 and k >= 3 * lam and p < 0.001:
                rows.append({"kind": kind, "key": key, "count": int(k), "usual": lam, "p_value": p})
    return pd.DataFrame(rows, columns=["kind", "key", "count", "usual", "p_value"])


def assert_spikes_match(got: pd.DataFrame, want: pd.DataFrame):
    assert sorted(zip(got["kind"], got["key"], strict=True)) == sorted(zip(want["kind"], want["key"], strict=True))
    w = want.set_index(["kind", "key"])
    for row in got.to_dict("records"):
        exp = w.loc[(row["kind"], row["key"])]
        assert row["count"] == exp["count"]
        assert row["usual"] == pytest.approx(exp["usual"], abs=1e-9)
        assert row["p_value"] == pytest.approx(exp["p_value"], rel=1e-6, abs=1e-12)
    assert got["p_value"].is_monotonic_increasing


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request, tmp_path, tmp_root, sqlite_db, pg_server_url):
    """A freshly seeded database of each dialect that a test may write to."""
    if request.param == "sqlite":
        path = tmp_path / "fresh.sqlite3"
        sqlite_db.dispose()
        shutil.copy(tmp_root / "seeded.sqlite3", path)
        db, drop = Database(f"sqlite:///{path}"), None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = _seed(Database(url))
    try:
        yield db
    finally:
        db.dispose()
        if drop:
            drop()


def add_reports(db: Database, commune: str, category_id: int, times: list[datetime], tag: str) -> list[str]:
    codes = [f"TEST-{tag}-{i:03d}" for i in range(len(times))]
    with db.begin() as conn:
        conn.execute(insert(reports), [
            {"code": code, "title": "Thử nghiệm", "channel": "app", "status": "received", "created_at": ts,
             "updated_at": ts, "commune_code": commune, "category_id": category_id, "urgent": 0}
            for code, ts in zip(codes, times, strict=True)])
    return codes


def test_a_seeded_burst_is_flagged_exactly(fresh_db):
    raw = read_raw(fresh_db)
    rep = raw["reports"]
    day_ago = NOW - timedelta(hours=24)
    recent = rep[(rep["created_at"] >= day_ago - timedelta(days=28)) & (rep["created_at"] <= NOW)]
    communes = raw["admin_units"].loc[raw["admin_units"]["level"] == "commune", "code"]
    quiet = sorted(set(communes) - set(recent["commune_code"].dropna()))
    assert len(quiet) >= 2, "the seeded history has no commune without reports in the last 29 days"
    burst_commune, small_commune = quiet[0], quiet[1]
    # The field with the lowest usual level over the baseline.
    base_counts = rep[(rep["created_at"] >= day_ago - timedelta(days=28)) & (rep["created_at"] < day_ago)][
        "category_id"].value_counts().reindex(raw["categories"]["id"], fill_value=0)
    field_id = int(base_counts.idxmin())
    field_code = raw["categories"].set_index("id").loc[field_id, "code"]

    before = wall.spikes(NOW, fresh_db)
    assert_spikes_match(before, expected_spikes(raw, NOW))
    assert burst_commune not in set(before["key"])

    add_reports(fresh_db, burst_commune, field_id, [NOW - timedelta(minutes=17 * (i + 1)) for i in range(15)], "B")
    # Four in another quiet commune: below the minimum count of five, never a spike.
    add_reports(fresh_db, small_commune, field_id, [NOW - timedelta(hours=i + 1) for i in range(4)], "S")
    # And reports after `now` or just before the 24 hours count for nothing.
    add_reports(fresh_db, small_commune, field_id, [NOW + timedelta(minutes=5), day_ago - timedelta(seconds=1)], "X")

    got = wall.spikes(NOW, fresh_db)
    after = read_raw(fresh_db)
    assert_spikes_match(got, expected_spikes(after, NOW))
    flagged = set(zip(got["kind"], got["key"], strict=True))
    assert ("commune", burst_commune) in flagged and ("commune", small_commune) not in flagged
    row = got[(got["kind"] == "commune") & (got["key"] == burst_commune)].iloc[0]
    # By hand: 15 reports, no history, so λ = 0 and the floor 0.5 applies.
    assert row["count"] == 15 and row["usual"] == 0
    assert row["p_value"] == pytest.approx(poisson_upper_tail(15, 0.5), rel=1e-6, abs=1e-12)
    assert row["p_value"] < 1e-10
    # The field: flagged exactly when its own numbers qualify (they do here: ≥ 15 on a usual well under 1/day).
    rep = after["reports"]
    field_k = int(((rep["category_id"] == field_id) & (rep["created_at"] >= day_ago)
                   & (rep["created_at"] <= NOW)).sum())
    field_lam = base_counts[field_id] / 28
    assert field_k >= 19 and field_lam < 1
    assert ("category", field_code) in flagged
    # Only the burst moved: nothing else is flagged besides what was flagged before.
    assert flagged - {("commune", burst_commune), ("category", field_code)} <= set(
        zip(before["kind"], before["key"], strict=True))


def component_text(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list | tuple):
        return [t for n in node for t in component_text(n)]
    return component_text(getattr(node, "children", None) or [])


def test_spike_method_boundaries(fresh_db, server):
    """Places built to sit on each side of the rules: the ratio rule, the p-value with the 0.5 floor."""
    from dashboard.pages import wall as wall_page

    raw = read_raw(fresh_db)
    day_ago = NOW - timedelta(hours=24)
    rep = raw["reports"]
    used = set(rep.loc[rep["created_at"] >= day_ago - timedelta(days=28), "commune_code"].dropna())
    quiet = sorted(set(raw["admin_units"].query("level == 'commune'")["code"]) - used)
    steady, steep, small = quiet[:3]
    cat = int(raw["categories"]["id"].min())
    span = timedelta(days=28) / 280
    for code, recent in ((steady, 25), (steep, 31)):
        # 280 over the 28 baseline days: λ = 10 a day.
        add_reports(fresh_db, code, cat, [day_ago - timedelta(days=28) + span * (i + 0.5) for i in range(280)],
                    f"base-{code}")
        add_reports(fresh_db, code, cat, [NOW - timedelta(minutes=30 * (i + 1)) for i in range(recent)],
                    f"now-{code}")
    add_reports(fresh_db, small, cat, [NOW - timedelta(hours=i + 1) for i in range(6)], "six")

    got = wall.spikes(NOW, fresh_db)
    assert_spikes_match(got, expected_spikes(read_raw(fresh_db), NOW))
    flagged = {key: row for key, row in zip(got["key"], got.to_dict("records"), strict=True)}
    # 25 on a usual 10: improbable (p < 0.001) but not three times usual, so no alert.
    assert poisson_upper_tail(25, 10) < 0.001 and steady not in flagged
    # 31 on a usual 10: both rules hold.
    assert flagged[steep]["count"] == 31 and flagged[steep]["usual"] == pytest.approx(10)
    # 6 with no history: λ floored at 0.5, p = P(X >= 6 | 0.5) ≈ 1.4e-5, well representable.
    assert flagged[small]["p_value"] == pytest.approx(poisson_upper_tail(6, 0.5), rel=1e-6)
    assert flagged[small]["usual"] == 0

    # The alerts panel says it in words: "<commune>: 31 phản ánh (bình thường 10,0/ngày)".
    names = dict(zip(raw["admin_units"]["code"], raw["admin_units"]["name"], strict=True))
    panel = " | ".join(component_text(wall_page._alerts(wall.urgent_new(24, NOW, fresh_db), got,
                                                        wall.top_overdue_agencies(5, NOW, fresh_db))))
    assert f"{names[steep]}: 31 phản ánh (bình thường 10,0/ngày)" in panel
    assert f"{names[small]}: 6 phản ánh (bình thường 0,0/ngày)" in panel
    assert names[steady] not in panel


def test_ordinary_history_raises_only_justified_spikes(db, raw):
    flagged_total = 0
    for days_back in range(0, 120, 10):
        now = NOW - timedelta(days=days_back)
        got = wall.spikes(now, db)
        assert_spikes_match(got, expected_spikes(raw, now))
        flagged_total += len(got)
    assert wall.spikes(NOW, db).empty  # the fixed demo day itself is quiet
    assert flagged_total <= 3  # an ordinary history is not a wall full of alarms


# --- the database goes away ---------------------------------------------------------------------

def test_unreachable_database_keeps_the_data_and_shows_the_banner(server, client_for):
    import queries.db as qdb

    leader = client_for("leader")
    _, token = display_tokens.create_token(unique("Màn hình mất mạng"), "admin")
    screen_client = sign_in_screen(server, token)
    spec = callback_spec(leader, WALL_OUTPUT)
    working = qdb.get_db()
    qdb._current = qdb.Database("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    try:
        with_last = post_callback(leader, spec, {**WALL_VALUES, "wall-last-ok.data": "14:05"})
        first_ever = post_callback(leader, spec, WALL_VALUES)
        on_screen = post_callback(screen_client, spec, {**WALL_VALUES, "wall-last-ok.data": "09:41"})
        beat = screen_client.get("/api/v1/wall/heartbeat")
    finally:
        qdb._current.dispose()
        qdb._current = working
    for resp, banner in ((with_last, "Mất kết nối — dữ liệu lúc 14:05"),
                         (on_screen, "Mất kết nối — dữ liệu lúc 09:41"),
                         (first_ever, "Mất kết nối — đang chờ dữ liệu")):
        assert resp.status_code == 200
        out = resp.get_json()["response"]
        assert out["wall-banner"] == {"children": banner, "className": "wall-banner"}
        # Dash leaves out no_update outputs: the last numbers, ticker, map and last-ok time stay as they are.
        assert set(out) == {"wall-banner"}
    # The heartbeat does not send the screen anywhere while the database is away.
    assert beat.status_code == 200 and beat.get_json()["database"] == "unreachable"

    restored = post_callback(screen_client, spec, {**WALL_VALUES, "wall-last-ok.data": "09:41"})
    out = restored.get_json()["response"]
    assert out["wall-banner"] == {"children": "", "className": "wall-banner hidden"}
    assert re.fullmatch(r"\d{2}:\d{2}", out["wall-last-ok"]["data"])
    assert re.fullmatch(r"\d+", out["wall-kpis-pending"]["children"].replace(".", ""))
    assert out["wall-freshness"]["children"].startswith("Dữ liệu lúc ")


def test_points_url_is_only_resent_when_the_data_changed(server, client_for):
    leader = client_for("leader")
    spec = callback_spec(leader, WALL_OUTPUT)
    first = post_callback(leader, spec, WALL_VALUES).get_json()["response"]
    version = first["wall-version"]["data"]
    assert "v=" + version in first["wall-map-base"]["data"]
    again = post_callback(leader, spec, {**WALL_VALUES, "wall-version.data": version}).get_json()["response"]
    assert "wall-map-base" not in again and again["wall-version"]["data"] == version
    stale = post_callback(leader, spec, {**WALL_VALUES, "wall-version.data": "0-0"}).get_json()["response"]
    assert "wall-map-base" in stale
