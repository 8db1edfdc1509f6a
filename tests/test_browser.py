"""The overview in real Chromium (Playwright driving Debian's chromium), served by `python app.py`."""

from __future__ import annotations

import os
import re
import shutil
from datetime import date

import pytest
from playwright.sync_api import expect, sync_playwright

from dashboard.components.filter_bar import preset_range
from queries import overview
from queries.db import Database
from queries.filters import Filter
from tests.conftest import ARTIFACTS, PASSWORD
from tests.live_server import LiveApp, free_port

pytestmark = pytest.mark.browser
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def live(app_env, tmp_root):
    """`python app.py` on its own copy of the seeded database with the test users."""
    db_path = tmp_root / "browser.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1"}
    app = LiveApp(env, tmp_root / "live-server.log").start()
    yield {"base": app.base, "db": Database(f"sqlite:///{db_path}")}
    app.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="vi-VN",
                                  timezone_id="Asia/Ho_Chi_Minh")
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda msg: pg.console_errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda err: pg.console_errors.append(str(err)))
    yield pg
    context.close()


def log_in(page, base: str, username: str = "leader", password: str = PASSWORD, path: str = "/"):
    page.goto(base + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")


def kpi(page, name: str):
    return page.locator(f"#kpi-{name}")


def default_filter() -> Filter:
    start, end = preset_range("12m")
    return Filter(start=start, end=end)


def test_login_overview_map_and_screenshot(page, live):
    log_in(page, live["base"])
    expect(page).to_have_url(re.compile(r"/\?from=\d{4}-\d{2}-\d{2}&to="))
    want = overview.headline_counts(default_filter(), live["db"]).iloc[0]
    expect(kpi(page, "total")).to_have_attribute("data-value", str(int(want["total"])), timeout=20_000)
    expect(kpi(page, "resolved")).to_have_attribute("data-value", str(int(want["resolved"])))
    expect(kpi(page, "pending")).to_have_attribute("data-value", str(int(want["pending"])))
    # Vietnamese number format on screen: 1.234
    total_text = f"{int(want['total']):,}".replace(",", ".")
    expect(kpi(page, "total")).to_have_text(total_text)
    expect(page.locator(".map-cell").first).to_be_visible(timeout=20_000)  # the reports, in grid cells
    assert page.locator(".leaflet-interactive").count() > 20  # district outlines and commune circles
    expect(page.locator("#overview-freshness")).to_have_text(re.compile(r"Dữ liệu lúc \d{2}:\d{2} \d{2}/\d{2}/\d{4}"))
    expect(page.locator("#overview-backlog .main-svg").first).to_be_visible()
    page.wait_for_timeout(1500)  # let the last chart transitions settle for a clean picture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    assert page.console_errors == []


# The index of the grid cell nearest the middle of the overview map.
CENTRAL_CELL_JS = """() => {
    const box = document.querySelector("#overview-map").getBoundingClientRect();
    let best = -1, dist = Infinity;
    document.querySelectorAll("#overview-map .map-cell").forEach((el, i) => {
        const r = el.getBoundingClientRect();
        const d = Math.hypot(r.x + r.width / 2 - box.x - box.width / 2, r.y + r.height / 2 - box.y - box.height / 2);
        if (d < dist) { dist = d; best = i; }
    });
    return best;
}"""
VN_COUNT = re.compile(r"^\d{1,3}(\.\d{3})*$")


def test_zooming_the_map_in_turns_cells_into_reports(page, live):
    log_in(page, live["base"])
    cells = page.locator("#overview-map .map-cell")
    expect(cells.first).to_have_text(VN_COUNT, timeout=20_000)
    note = page.locator("#overview-map-note")
    expect(note).to_have_text(re.compile(r"^Đang hiển thị [\d.]+ phản ánh gộp theo ô lưới; phóng to để xem"))
    # A click on a cell zooms in two levels around it: 8 -> 10 -> 12 -> 14, the detail zoom.
    for zoom in (10, 12, 14):
        with page.expect_response(lambda r, z=zoom: "/api/v1/map/points" in r.url and f"zoom={z}&" in r.url) as got:
            cells.nth(page.evaluate(CENTRAL_CELL_JS)).click()
        body = got.value.json()
        if zoom < 14:
            assert body["meta"]["mode"] == "cells"
            expect(cells.first).to_be_visible()
    assert body["meta"]["mode"] == "points" and body["meta"]["total"] > 0
    expect(page.locator("#overview-map .map-point").first).to_be_visible()
    expect(note).to_have_text(re.compile(r"^Hiển thị [\d.]+ / [\d.]+ phản ánh trong khung nhìn$"))
    assert page.locator("#overview-map .map-cell").count() == 0
    page.locator("#overview-map .map-point").first.click(force=True)
    expect(page.locator(".leaflet-popup-content a")).to_have_text(re.compile(r"\S+"))
    assert page.console_errors == []


def test_choosing_a_category_changes_the_kpis(page, live):
    log_in(page, live["base"])
    before = overview.headline_counts(default_filter(), live["db"]).iloc[0]
    expect(kpi(page, "total")).to_have_attribute("data-value", str(int(before["total"])), timeout=20_000)
    page.click("#filter-category")
    page.get_by_role("option", name="Vệ sinh môi trường").click()
    page.keyboard.press("Escape")
    f = default_filter()
    want = overview.headline_counts(Filter(start=f.start, end=f.end, categories=("MT",)), live["db"]).iloc[0]
    assert 0 < want["total"] < before["total"]
    expect(kpi(page, "total")).to_have_attribute("data-value", str(int(want["total"])), timeout=15_000)
    expect(kpi(page, "resolved")).to_have_attribute("data-value", str(int(want["resolved"])))
    expect(page).to_have_url(re.compile(r"category=MT"))
    assert page.console_errors == []


def test_a_shared_link_opens_the_same_view(page, live):
    path = "/?from=2026-01-01&to=2026-03-31&category=AN"
    log_in(page, live["base"], path=path)
    want = overview.headline_counts(Filter(start=date(2026, 1, 1), end=date(2026, 3, 31), categories=("AN",)),
                                    live["db"]).iloc[0]
    assert want["total"] > 0
    expect(kpi(page, "total")).to_have_attribute("data-value", str(int(want["total"])), timeout=20_000)
    expect(page.locator("#filter-dates")).to_have_value("01/01/2026")
    assert page.console_errors == []


def test_agency_head_sees_only_their_agency(page, live):
    log_in(page, live["base"], username="agency_b")
    want = overview.headline_counts(default_filter().scoped("CAT"), live["db"]).iloc[0]
    expect(kpi(page, "total")).to_have_attribute("data-value", str(int(want["total"])), timeout=20_000)
    expect(page.locator("#user-badge")).to_contain_text("Công an tỉnh")
    assert page.console_errors == []


def test_wrong_password_shows_a_vietnamese_message(page, live):
    log_in(page, live["base"], password="sai-mat-khau")
    expect(page.locator("#login-error")).to_have_text("Tên đăng nhập hoặc mật khẩu không đúng.")
    expect(page).to_have_url(re.compile(r"/login"))
