"""What every response carries (Content-Security-Policy, framing, referrer, caching), that the pages keep to
that policy in Chromium with no console errors while an injected inline script is blocked, and that the
instance folder and every file in it is readable by the service's user only."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import time

import pytest
import requests
from playwright.sync_api import expect

from dashboard import security
from queries import config
from tests.conftest import PASSWORD, TEST_SECRET, form_token
from tests.live_server import LiveApp, chromium_on_a_thread, free_port, in_browser
from tests.test_browser import log_in

PAGES = ["/", "/scorecard", "/agency/SXD", "/queue", "/wall", "/admin/users", "/admin/audit", "/admin/sla",
         "/admin/screens", "/admin/catalog"]


def directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_every_answer_carries_the_security_headers(client_for):
    client = client_for("admin")
    for path in ["/login", "/", "/scorecard", "/api/v1/overview", "/_dash-layout", "/healthz", "/no-such-page"]:
        resp = client.get(path)
        policy = directives(resp.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"], path
        assert policy["script-src"][0] == "'self'" and all(h.startswith("'sha256-") for h in policy["script-src"][1:])
        assert "'unsafe-eval'" not in policy["script-src"] and "'unsafe-inline'" not in policy["script-src"]
        assert policy["frame-ancestors"] == ["'none'"] and resp.headers["X-Frame-Options"] == "DENY", path
        assert resp.headers["Referrer-Policy"] == "same-origin" and resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/assets/app.css").headers.get("Cache-Control", "")
    # The addresses Dash writes into pages carry the file's time: those the browser keeps without asking again.
    assert "immutable" not in client.get("/assets/app.css").headers.get("Cache-Control", "")
    assert client.get("/assets/app.css?m=1796661526.19").headers["Cache-Control"] == \
        "private, max-age=31536000, immutable"
    assert "immutable" not in client.get("/assets/nothing-here.css?m=1").headers.get("Cache-Control", "")


def test_the_wall_may_be_framed_only_where_configured(client_for, set_settings):
    client = client_for("leader")
    assert directives(client.get("/wall").headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]
    set_settings(wall_frame_ancestors=["https://ioc.quangtri.gov.vn"])
    wall = client.get("/wall")
    assert directives(wall.headers["Content-Security-Policy"])["frame-ancestors"] == ["https://ioc.quangtri.gov.vn"]
    assert "X-Frame-Options" not in wall.headers
    other = client.get("/scorecard")  # nothing else may be framed
    assert directives(other.headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]
    assert other.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url,origin", [("https://tiles.quangtri.gov.vn/{z}/{x}/{y}.png", "https://tiles.quangtri.gov.vn"),
                                        ("https://{s}.tile.example.vn:8443/{z}/{x}/{y}.png",
                                         "https://*.tile.example.vn:8443")])
def test_a_tile_server_is_allowed_for_images_only(client_for, set_settings, url, origin):
    set_settings(tile_url=url)
    policy = directives(client_for("leader").get("/").headers["Content-Security-Policy"])
    assert origin in policy["img-src"]
    assert origin not in policy["script-src"] + policy["connect-src"]


def inline_script_hashes(page_html: str) -> set[str]:
    """The CSP source of each inline script the page would run (JSON data blocks are not run)."""
    found = set()
    page_html = re.sub(r"<!--.*?-->", "", page_html, flags=re.S)  # Dash's <!--[if IE]> script never runs
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page_html, re.S):
        if "src=" in attrs or "application/json" in attrs:
            continue
        found.add("'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'")
    return found


def test_the_policy_covers_every_inline_script_whatever_a_workers_first_request_was(app_env, tmp_path):
    """gunicorn, whose worker first answers an anonymous page (the sign-in guard refuses it before Dash has set
    itself up): the pages it serves afterwards still run, because their inline scripts are in the policy."""
    db_path = tmp_path / "first.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "THREADS": "1"}
    live = LiveApp(env, tmp_path / "first.log", command="gunicorn").start(first_path="/scorecard")
    try:
        web = requests.Session()
        token = form_token(web.get(live.base + "/login").text)
        web.post(live.base + "/login", data={"username": "leader", "password": PASSWORD, "csrf_token": token})
        for path in ("/", "/wall"):
            page_resp = web.get(live.base + path)
            scripts = inline_script_hashes(page_resp.text)
            allowed = set(directives(page_resp.headers["Content-Security-Policy"])["script-src"])
            assert scripts and scripts <= allowed, (path, scripts - allowed)
    finally:
        live.stop()


# --- file modes ---------------------------------------------------------------------------------------------

def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_what_exists_under_the_instance_folders_is_tightened_at_start(tmp_path):
    instance = tmp_path / "instance"
    (instance / "imports").mkdir(parents=True)
    (instance / "imports" / "old.rejects.csv").write_text("x")
    (instance / "paht.sqlite3").write_text("x")
    for path, bits in ((instance, 0o755), (instance / "imports", 0o775), (instance / "imports" / "old.rejects.csv",
                                                                           0o644), (instance / "paht.sqlite3", 0o664)):
        os.chmod(path, bits)
    old_umask = os.umask(0o022)
    try:
        security.private_files(config.settings().model_copy(update={"instance_dir": instance, "media_dir": None,
                                                                    "analytics_dir": None}))
        assert os.umask(0o022) == 0o077  # and from now on new files are private too
    finally:
        os.umask(old_umask)
    assert mode(instance) == mode(instance / "imports") == mode(instance / "media") == 0o700
    assert mode(instance / "imports" / "old.rejects.csv") == mode(instance / "paht.sqlite3") == 0o600


def test_a_real_start_leaves_every_instance_file_private(app_env, tmp_path):
    """`python app.py` on a new instance folder (SQLite, a generated secret key, the analytics copy, demo media)."""
    instance = tmp_path / "instance"
    env = {**os.environ, "INSTANCE_DIR": str(instance), "PORT": str(free_port()), "HOST": "127.0.0.1",
           "DEMO_REPORTS": "80", "SEED_DEMO_IF_EMPTY": "1", "ANALYTICS": "duckdb", "ANALYTICS_SYNC_SECONDS": "1"}
    for name in ("DATABASE_URL", "SECRET_KEY", "MEDIA_DIR", "ANALYTICS_DIR"):
        env.pop(name, None)
    old_umask = os.umask(0o022)  # what a shell usually has
    try:
        live = LiveApp(env, tmp_path / "start.log").start()
    finally:
        os.umask(old_umask)
    try:  # until the analytics copy has been written too
        deadline = time.monotonic() + 30
        while not (instance / "analytics" / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert requests.get(live.base + "/healthz", timeout=5).status_code == 200
    finally:
        live.stop()
    seen = {p.relative_to(instance).as_posix(): mode(p) for p in [instance, *instance.rglob("*")]}
    for name in ("paht.sqlite3", "secret_key", "analytics/manifest.json"):
        assert name in seen, sorted(seen)[:20]
    assert any(name.startswith("media/") and not (instance / name).is_dir() for name in seen)
    loose = {name: oct(bits) for name, bits in seen.items() if bits & 0o077}
    assert loose == {}


# --- the policy in Chromium -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def csp_live(app_env, tmp_root):
    db_path = tmp_root / "csp.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1", "SECRET_KEY": TEST_SECRET}
    app = LiveApp(env, tmp_root / "csp-server.log").start()
    yield app.base
    app.stop()


@pytest.mark.browser
def test_every_page_keeps_to_the_policy_with_no_console_errors(csp_live):
    seen: dict = {}

    def steps(page):
        log_in(page, csp_live, "admin", PASSWORD)
        expect(page.locator("#kpi-total")).to_have_attribute("data-value", re.compile(r"\d+"), timeout=20_000)
        for path in PAGES:
            response = page.goto(csp_live + path)
            seen.setdefault("policies", []).append(response.headers.get("content-security-policy"))
            page.wait_for_load_state("networkidle")
            expect(page.locator("[data-dash-is-loading='true']")).to_have_count(0, timeout=20_000)
        seen["clean"] = list(errors_so_far)
        # The policy is enforced, not only sent: an inline script a forged text managed to inject does not run.
        page.goto(csp_live + "/scorecard")
        page.wait_for_load_state("networkidle")
        page.evaluate("""() => { const s = document.createElement('script');
                                s.textContent = 'window.__injected = true'; document.body.appendChild(s); }""")
        page.wait_for_timeout(300)
        seen["injected_ran"] = page.evaluate("() => window.__injected !== undefined")

    errors_so_far: list[str] = []
    with chromium_on_a_thread("playwright-csp") as chromium:
        errors = in_browser(chromium, lambda page: (page.on("console", lambda m: errors_so_far.append(m.text)
                                                             if m.type == "error" else None), steps(page)))
    assert all(seen["policies"]) and len(seen["policies"]) == len(PAGES)
    assert seen["clean"] == []
    assert seen["injected_ran"] is False
    assert any("Content Security Policy" in error for error in errors)
