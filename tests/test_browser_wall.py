"""The wall screen in real Chromium at 1920×1080 (and 4K), served by `python app.py` on its own PostgreSQL
database, so the database can be taken away and the server restarted under a running screen."""

from __future__ import annotations

import asyncio
import gc
import re
import secrets
import shutil
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import func, insert, select

from queries import display_tokens
from queries.db import Database
from queries.schema import OPEN_STATUSES, categories, reports
from tests.conftest import ARTIFACTS
from tests.live_server import postgres_live_app, set_database_reachable

pytestmark = pytest.mark.browser
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
ROTATE, REFRESH = 8, 10  # the minimums, so every wait below stays short
HEARTBEAT = REFRESH / 2  # assets/wall.js checks twice per refresh
MARGIN = 4  # a callback round trip plus scheduling slack on a busy machine
DATA_AS_OF = re.compile(r"^Dữ liệu lúc \d{2}:\d{2}")
REVOKED = "Màn hình này đã bị thu hồi quyền hiển thị."
KNOWN_ERRORS: tuple = ()  # console errors tolerated on load: none


@pytest.fixture(scope="module")
def wall_live(tmp_path_factory, pg_server_url):
    """The app on a fresh PostgreSQL database of its own, seeded up to yesterday."""
    with postgres_live_app(pg_server_url, tmp_path_factory.mktemp("wall-live"), reports=3000, seed=11,
                           SECRET_KEY="wall-browser-test-secret-key-of-32chars") as live:
        yield live


@pytest.fixture(scope="module")
def chromium():
    try:
        asyncio.get_running_loop()
        shared = next((o for o in gc.get_objects() if isinstance(o, Browser) and o.is_connected()), None)
    except RuntimeError:
        shared = None
    if shared is None:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            yield b
            b.close()
        return
    # Playwright allows one sync instance per thread, and tests/test_browser.py keeps one for the whole
    # session: launch our own Chromium through that instance.
    b = shared.browser_type.launch(executable_path=shutil.which("chromium"), args=FLAGS)
    yield b
    b.close()


@pytest.fixture
def open_wall(chromium, wall_live):
    """open_wall(settings, width, height) -> (page, screen name): a new browser with its own screen token."""
    contexts = []

    def make(settings: dict | None = None, width: int = 1920, height: int = 1080, on_page=None,
             wait: bool = True):
        name = f"Màn hình {secrets.token_hex(3)}"
        _, token = display_tokens.create_token(
            name, "test", {"rotate_seconds": ROTATE, "refresh_seconds": REFRESH, **(settings or {})},
            db=wall_live["db"])
        context = chromium.new_context(viewport={"width": width, "height": height}, locale="vi-VN",
                                       timezone_id="Asia/Ho_Chi_Minh")
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.visited = []
        page.on("console", lambda m: page.errors.append(f"{m.text} {m.location.get('url', '')}")
                if m.type == "error" else None)
        page.on("pageerror", lambda err: page.errors.append(str(err)))
        page.on("framenavigated", lambda frame: page.visited.append(frame.url) if frame == page.main_frame else None)
        if on_page:
            on_page(page)
        page.goto(f"{wall_live['app'].base}/wall?token={token}")
        if wait:
            expect(page.locator("#wall-freshness")).to_have_text(DATA_AS_OF, timeout=20_000)
        return page, name

    yield make
    for context in contexts:
        context.close()


def unexpected_errors(page) -> list[str]:
    return [e for e in page.errors if not any(p.search(e) for p in KNOWN_ERRORS)]


def today_count(db: Database) -> int:
    """Reports received since local midnight, counted straight from the table."""
    midnight = datetime.now(LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight.astimezone(UTC).replace(tzinfo=None)
    return db.scalar(select(func.count()).select_from(reports).where(reports.c.created_at >= start))


def pending_count(db: Database) -> int:
    return db.scalar(select(func.count()).select_from(reports).where(reports.c.status.in_(OPEN_STATUSES)))


def vn_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


CONTRAST_JS = """(sel) => {
    const el = document.querySelector(sel);
    const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
    let bg = el, b = [0, 0, 0, 0];
    while (bg) { b = rgb(getComputedStyle(bg).backgroundColor); if (b.length < 4 || b[3] > 0) break;
                 bg = bg.parentElement; }
    return {fg: rgb(getComputedStyle(el).color), bg: b, size: parseFloat(getComputedStyle(el).fontSize)};
}"""


def contrast(fg, bg) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    def lum(c):
        ch = [v / 255 for v in c[:3]]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def no_scrolling(page) -> bool:
    return page.evaluate("""() => document.documentElement.scrollHeight <= innerHeight
                                  && document.documentElement.scrollWidth <= innerWidth""")


def test_wall_is_legible_at_1920_and_4k(open_wall, wall_live):
    page, _ = open_wall()
    db = wall_live["db"]
    expect(page.locator("#wall-kpis-pending")).to_have_text(vn_int(pending_count(db)))
    expect(page.locator("#wall-kpis-today")).to_have_text(vn_int(today_count(db)))
    expect(page.locator("#wall-kpis-today-label")).to_have_text("Tiếp nhận hôm nay")
    expect(page.locator(".wall-title")).to_contain_text("QUẢNG TRỊ")
    clock = page.locator("#wall-clock").text_content()
    shown = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})\s+(\d{2})/(\d{2})/(\d{4})", clock.strip())
    assert shown, clock
    h, m, s, day, month, year = map(int, shown.groups())
    diff = datetime(year, month, day, h, m, s, tzinfo=LOCAL) - datetime.now(LOCAL)
    assert abs(diff.total_seconds()) < 5, clock  # local (Asia/Ho_Chi_Minh) time, ticking

    kpi = page.evaluate(CONTRAST_JS, ".wall-kpi-value")
    assert contrast(kpi["fg"], kpi["bg"]) >= 7, kpi  # WCAG AAA for any text size, for reading across a room
    for name in ("today", "month", "pending", "overdue", "on-time", "satisfaction"):
        c = page.evaluate(CONTRAST_JS, f"#wall-kpis-{name}")
        assert c["size"] >= 60, (name, c)
        assert contrast(c["fg"], c["bg"]) >= 4.5, (name, c)  # AAA for large text, the red "overdue" included
    for sel in (".wall-kpi-label", "#wall-clock", ".wall-title", ".wall-panel.active .wall-panel-title"):
        c = page.evaluate(CONTRAST_JS, sel)
        assert contrast(c["fg"], c["bg"]) >= 4.5, (sel, c)
        assert c["size"] >= 20, (sel, c)
    assert no_scrolling(page)
    assert page.locator("input, button, select, textarea, .topbar:visible").count() == 0  # no controls
    page.wait_for_timeout(1200)  # let the panel fade-in finish for a clean picture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall-1920.png"))
    assert unexpected_errors(page) == []

    big, _ = open_wall(width=3840, height=2160)
    big_kpi = big.evaluate(CONTRAST_JS, ".wall-kpi-value")
    assert 1.9 <= big_kpi["size"] / kpi["size"] <= 2.1, (big_kpi, kpi)  # type scales with the screen
    assert no_scrolling(big)
    big.wait_for_timeout(1200)
    big.screenshot(path=str(ARTIFACTS / "wall-4k.png"))
    assert unexpected_errors(big) == []


def test_wall_loads_without_console_errors(open_wall):
    page, _ = open_wall()
    page.wait_for_timeout(1500)  # the map's deferred viewport check and the points fetch
    assert page.errors == []
    # The map draws the reports as grid cells labelled with their counts (Vietnamese thousands: 1.234).
    cell = page.locator("#wall-map .map-cell").first
    expect(cell).to_be_attached()
    assert re.fullmatch(r"\d{1,3}(\.\d{3})*", cell.inner_text())


def active_panel(page) -> str:
    return page.evaluate("() => [...document.querySelectorAll('.wall-panel.active')].map(e => e.id).join(',')")


def test_rotation_advances_through_the_configured_panels_in_order(open_wall):
    order = ["ticker", "alerts", "kpis"]
    page, _ = open_wall({"panels": order})
    changes = [(time.monotonic(), active_panel(page))]
    deadline = time.monotonic() + len(order) * (ROTATE + MARGIN)
    while len(changes) <= len(order) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        now = active_panel(page)
        if now != changes[-1][1]:
            changes.append((time.monotonic(), now))
    shown = [panel for _, panel in changes]
    assert shown == [f"wall-panel-{p}" for p in [*order, order[0]]], shown  # in order, then round again
    dwell = [b[0] - a[0] for a, b in zip(changes[1:], changes[2:], strict=False)]
    assert all(ROTATE - 1.5 <= d <= ROTATE + MARGIN for d in dwell), dwell
    # Panels left out of the screen's settings are not shown at all, nor their dots.
    for off in ("ranking", "trends"):
        expect(page.locator(f"#wall-panel-{off}")).to_have_class(re.compile(r"\boff\b"))
        expect(page.locator(f"#wall-dots-{off}")).to_be_hidden()
    expect(page.locator(f"#wall-dots-{order[0]}")).to_have_class(re.compile(r"\bactive\b"))
    assert unexpected_errors(page) == []


def add_report(db: Database, when: datetime | None = None) -> str:
    code = f"PA-TEST-{secrets.token_hex(3).upper()}"
    when = when or datetime.now(UTC).replace(tzinfo=None)
    with db.begin() as conn:
        category_id = conn.execute(select(categories.c.id).where(categories.c.code == "MT")).scalar()
        conn.execute(insert(reports).values(
            code=code, title="Rác thải tồn đọng", channel="app", status="received", created_at=when, updated_at=when,
            category_id=category_id, commune_code=None, urgent=0))
    return code


def test_an_inserted_report_appears_within_one_refresh(open_wall, wall_live):
    page, _ = open_wall()
    db = wall_live["db"]
    before = today_count(db)
    expect(page.locator("#wall-kpis-today")).to_have_text(vn_int(before))
    code = add_report(db)
    assert today_count(db) == before + 1
    inserted = time.monotonic()
    expect(page.locator("#wall-kpis-today")).to_have_text(vn_int(before + 1), timeout=(REFRESH + MARGIN) * 1000)
    expect(page.locator("#wall-ticker .wall-ticker-row").first.locator(".t-code")).to_have_text(code)
    assert time.monotonic() - inserted <= REFRESH + MARGIN
    assert unexpected_errors(page) == []


def test_unreachable_database_shows_the_banner_and_keeps_the_numbers(open_wall, wall_live):
    page, _ = open_wall()
    banner = page.locator("#wall-banner")
    expect(banner).to_be_hidden()
    numbers = {k: page.locator(f"#wall-kpis-{k}").text_content() for k in ("today", "month", "pending", "overdue")}
    assert all(re.fullmatch(r"[\d.]+", v) for v in numbers.values()), numbers
    set_database_reachable(wall_live, False)
    try:
        expect(banner).to_be_visible(timeout=(REFRESH + MARGIN) * 1000)
        # The time of the last data that did arrive, as the header said before the loss.
        last_ok = page.locator("#wall-freshness").text_content().removeprefix("Dữ liệu lúc ")[:5]
        expect(banner).to_have_text(f"Mất kết nối — dữ liệu lúc {last_ok}")
        after = {k: page.locator(f"#wall-kpis-{k}").text_content() for k in numbers}
        assert after == numbers  # the last data stays on screen
        assert "/wall" in page.url and "login" not in page.url
    finally:
        set_database_reachable(wall_live, True)
    expect(banner).to_be_hidden(timeout=(REFRESH + MARGIN) * 1000)
    assert page.locator("#wall-kpis-pending").text_content() == vn_int(pending_count(wall_live["db"]))
    assert not [u for u in page.visited if "/login" in u]


def test_a_revoked_screen_shows_the_revoked_page_not_a_login_form(open_wall, wall_live):
    page, name = open_wall()
    display_tokens.revoke(name, db=wall_live["db"])
    revoked = time.monotonic()
    # The heartbeat (every 15 s) moves the screen; the next refresh's callbacks are refused meanwhile.
    expect(page).to_have_url(re.compile(r"/wall/revoked$"), timeout=(HEARTBEAT + MARGIN) * 1000)
    assert time.monotonic() - revoked <= HEARTBEAT + MARGIN
    expect(page.locator("#screen-message h1")).to_have_text(REVOKED)
    assert page.locator("input, form").count() == 0
    assert not [u for u in page.visited if "/login" in u]


def test_revocation_takes_effect_within_one_refresh(open_wall, wall_live):
    page, name = open_wall()
    # Revoke just after a heartbeat: only the next refresh may pass before the screen moves.
    with page.expect_response(lambda r: "/api/v1/wall/heartbeat" in r.url, timeout=(HEARTBEAT + MARGIN) * 1000):
        pass
    display_tokens.revoke(name, db=wall_live["db"])
    expect(page).to_have_url(re.compile(r"/wall/revoked$"), timeout=(REFRESH + 2) * 1000)


def test_a_huge_refresh_interval_does_not_flood_the_server(open_wall):
    calls = []

    def count_refreshes(page):
        page.on("request", lambda r: calls.append(1) if "_dash-update-component" in r.url
                and "wall-refresh" in (r.post_data or "") else None)

    page, _ = open_wall({"refresh_seconds": 3_000_000}, on_page=count_refreshes, wait=False)
    page.wait_for_timeout(3000)
    # The first load's call, and nothing more for 35 days; and that first call's data is shown.
    assert len(calls) <= 2, f"{len(calls)} wall refreshes within 3 s of loading"
    expect(page.locator("#wall-freshness")).to_have_text(DATA_AS_OF, timeout=5000)


def test_a_server_restart_never_leaves_the_screen_on_a_login_page(open_wall, wall_live):
    page, _ = open_wall()
    db = wall_live["db"]
    failed = []
    page.on("requestfailed", lambda r: failed.append(r.url) if "_dash-update-component" in r.url else None)
    wall_live["app"].stop()
    try:
        # Down long enough for a refresh to fail; meanwhile a report arrives.
        deadline = time.monotonic() + REFRESH + MARGIN
        while not failed and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert failed, "no refresh was attempted while the server was down"
        want = today_count(db) + 1
        add_report(db)
    finally:
        wall_live["app"].start()
    # Within a couple of refreshes the same screen shows the new number: the session outlived the restart.
    expect(page.locator("#wall-kpis-today")).to_have_text(vn_int(want), timeout=(2 * REFRESH + MARGIN) * 1000)
    assert page.url.split("?")[0].endswith("/wall")
    assert not [u for u in page.visited if "/login" in u], page.visited
    assert page.locator("#username, input[type=password]").count() == 0
