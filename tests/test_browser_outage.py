"""A page other than the overview and the wall, in real Chromium, when its database goes away: the page keeps
its last numbers and says since when, in Vietnamese, and the message goes once the database is back.
Served by `python app.py` on its own PostgreSQL database (so it can be taken away), with the analytics copy off
so that every read reaches that database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from dashboard import ids
from queries.users import create_user
from tests.conftest import PASSWORD
from tests.live_server import chromium_on_a_thread, in_browser, postgres_live_app, set_database_reachable

pytestmark = pytest.mark.browser
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
SINCE = re.compile(r"^Mất kết nối cơ sở dữ liệu — đang hiển thị dữ liệu lúc (\d{2}:\d{2} \d{2}/\d{2}/\d{4})$")


@pytest.fixture(scope="module")
def outage_live(tmp_path_factory, pg_server_url):
    with postgres_live_app(pg_server_url, tmp_path_factory.mktemp("outage-live"), reports=1500, seed=5,
                           ANALYTICS="off", SECRET_KEY="outage-browser-test-secret-key-32chars") as live:
        create_user("leader", PASSWORD, "leader", None, db=live["db"])
        yield live


@pytest.fixture(scope="module")
def chromium():
    with chromium_on_a_thread("playwright-outage") as pool_and_browser:
        yield pool_and_browser


def test_the_scorecard_keeps_its_numbers_and_says_since_when_the_database_is_gone(chromium, outage_live):
    base = outage_live["app"].base

    def steps(page):
        page.goto(base + "/scorecard")
        page.fill("#username", "leader")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        names = page.locator('#scorecard-table td[data-dash-column="name"]')
        expect(names.first).to_be_visible(timeout=20_000)
        before = names.all_inner_texts()
        bar = page.locator("#" + ids.PAGE_OUTAGE)
        expect(bar).to_have_count(0)  # nothing went wrong yet: no bar at all
        loaded = datetime.now(LOCAL)

        set_database_reachable(outage_live, False)
        try:
            page.get_by_text("Quý", exact=True).click()  # a new period: the table must be read again
            expect(bar).to_be_visible(timeout=20_000)
            shown = SINCE.match(bar.inner_text())
            assert shown, bar.inner_text()
            # The time the page's data was loaded, in the province's time zone.
            when = datetime.strptime(shown.group(1), "%H:%M %d/%m/%Y").replace(tzinfo=LOCAL)
            assert loaded - timedelta(minutes=2) <= when <= datetime.now(LOCAL)
            assert names.all_inner_texts() == before  # the last numbers stay on screen
            assert "/login" not in page.url
        finally:
            set_database_reachable(outage_live, True)
        page.get_by_text("Tháng", exact=True).click()
        expect(bar).to_be_hidden(timeout=20_000)
        expect(names.first).to_be_visible()

    errors = in_browser(chromium, steps)
    # The browser and Dash report the refused callbacks themselves (503, database_unavailable); nothing else may
    # go wrong on the page.
    assert errors and [e for e in errors if "status of 503" not in e and "database_unavailable" not in e] == []
