"""The scorecard, the agency page and the SLA admin page in real Chromium (Playwright driving Debian's
chromium), served by `python app.py` on its own copy of the seeded database.

tests/test_browser.py keeps a sync Playwright open for the whole session, and a second one cannot start on the
same thread, so this module drives its own Chromium from a dedicated worker thread. Expected numbers come from
the independent pandas computations of tests/test_scorecard.py and tests/test_sla_metrics.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from playwright.sync_api import expect

from dashboard.components.filter_bar import preset_range
from queries.filters import Filter, local_today, utc_now
from queries.scorecard import period_containing
from tests.conftest import ARTIFACTS, DEMO_END, PASSWORD, read_raw
from tests.live_server import chromium_on_a_thread, in_browser, private_live_app
from tests.test_scorecard import expected_open_cases, expected_scorecard
from tests.test_sla_metrics import expected_metrics

pytestmark = pytest.mark.browser
NOT_RANKED = "Chưa đủ số liệu"
SLA_FORBIDDEN = "Chỉ quản trị viên được xem và sửa quy định SLA."


@pytest.fixture(scope="module")
def live_sc(app_env, tmp_root):
    with private_live_app(app_env, tmp_root, "browser-scorecard") as (app, db):
        yield {"base": app.base, "db": db, "raw": read_raw(db)}


@pytest.fixture(scope="module")
def chromium():
    with chromium_on_a_thread("playwright") as pool_and_browser:
        yield pool_and_browser


def log_in(page, base: str, username: str, path: str):
    page.goto(base + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(re.escape(path.split("?")[0]) + r"(\?|$)"), timeout=20_000)


def cells(page, column: str) -> list[str]:
    return [t.strip() for t in page.locator(f'#scorecard-table td[data-dash-column="{column}"]').all_inner_texts()]


def vn_int(text: str) -> int:
    return int(text.replace(".", ""))


def test_scorecard_table_sorting_and_agency_page(chromium, live_sc):
    now = utc_now()
    # The month of the demo's last day (the current month may hold no demo reports at all), chosen by URL.
    month = period_containing("month", DEMO_END)
    want = expected_scorecard(live_sc["raw"], Filter(), "month", DEMO_END, now)
    assert len(want) > 5 and want["ranked"].any() and not want["ranked"].all()
    want_rank = {row["name"]: (str(int(row["rank"])) if row["ranked"] else NOT_RANKED)
                 for _, row in want.iterrows()}
    start, end = preset_range("12m")
    agency = expected_metrics(live_sc["raw"], Filter(start=start, end=end, agencies=("SXD",)), "agency",
                              now).loc["SXD"]
    overdue = expected_open_cases(live_sc["raw"], Filter(start=start, end=end, agencies=("SXD",)), now, "overdue")
    assert len(overdue) > 15  # more than the table's first page
    sxd_name = want.loc["SXD", "name"]

    def steps(page):
        log_in(page, live_sc["base"], "leader", f"/scorecard?period={month.key}")
        expect(page).to_have_url(re.compile(r"/scorecard(\?|$)"))
        names = page.locator('#scorecard-table td[data-dash-column="name"]')
        expect(names).to_have_count(len(want), timeout=20_000)
        shown = dict(zip(cells(page, "name"), cells(page, "rank"), strict=True))
        assert shown == want_rank
        # Ranked agencies first, in rank order.
        ranks = [r for r in cells(page, "rank") if r != NOT_RANKED]
        assert [int(r) for r in ranks] == sorted(int(r) for r in ranks)
        expect(page.locator("#scorecard-note")).to_contain_text("So sánh với")
        page.wait_for_timeout(500)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "scorecard.png"), full_page=True)

        # Sort by "received" with the header's toggle: the column becomes ordered, one way then the other.
        before = cells(page, "name")
        toggle = page.locator('#scorecard-table th[data-dash-column="received"] .column-header--sort')
        toggle.click()
        first = [vn_int(v) for v in cells(page, "received")]
        assert first in (sorted(first), sorted(first, reverse=True))
        assert cells(page, "name") != before
        toggle.click()
        second = [vn_int(v) for v in cells(page, "received")]
        assert sorted(first) == sorted(second) and first != second
        assert second == (sorted(second, reverse=True) if first == sorted(first) else sorted(second))
        # The received numbers on screen are the expected ones.
        assert dict(zip(cells(page, "name"), second, strict=True)) == {
            row["name"]: int(row["received"]) for _, row in want.iterrows()}

        # A click on an agency's name (in the sorted table) opens that agency.
        page.locator('#scorecard-table td[data-dash-column="name"]', has_text=re.compile(
            rf"^\s*{re.escape(sxd_name)}\s*$")).click()
        expect(page).to_have_url(re.compile(r"/agency/SXD(\?|$)"), timeout=15_000)
        expect(page.locator("#agency-title")).to_have_text("Sở Xây dựng")
        for card, key in (("ag-received", "received"), ("ag-pending", "pending"), ("ag-overdue", "overdue"),
                          ("ag-due", "due_soon")):
            expect(page.locator(f"#kpi-{card}")).to_have_attribute("data-value", str(int(agency[key])),
                                                                   timeout=20_000)
        for card, key in (("ag-on-time", "agency_on_time_rate"), ("ag-median", "agency_median_days"),
                          ("ag-satisfaction", "satisfaction_mean"), ("ag-bounce", "bounce_back_rate")):
            value = page.locator(f"#kpi-{card}").get_attribute("data-value")
            assert float(value) == pytest.approx(float(agency[key]), abs=2e-6), card  # stored to 6 decimals
        received_text = f"{int(agency['received']):,}".replace(",", ".")
        expect(page.locator("#kpi-ag-received")).to_have_text(received_text)
        # The overdue list (a callback of its own): its first page, most overdue first.
        links = page.locator('#agency-overdue td[data-dash-column="link"]')
        expect(links).to_have_count(15, timeout=20_000)
        assert [t.strip() for t in links.all_inner_texts()] == overdue["code"].head(15).tolist()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "agency.png"), full_page=True)

    errors = in_browser(chromium, steps)
    assert errors == []


def test_admin_saves_a_policy_version_through_the_form(chromium, live_sc):
    db = live_sc["db"]

    def count():
        with db.engine.connect() as conn:
            return pd.read_sql("SELECT COUNT(*) AS n FROM sla_policies", conn)["n"].iloc[0]

    before = count()

    def steps(page):
        log_in(page, live_sc["base"], "admin", "/admin/sla")
        expect(page).to_have_url(re.compile(r"/admin/sla$"))
        expect(page.locator("#sla-table")).to_contain_text("Mặc định", timeout=20_000)
        page.fill("#sla-ioc", "0.75")
        page.fill("#sla-agency", "4")
        page.fill("#sla-valid-from", "2027-03-01 08:00")
        page.fill("#sla-note", "Thử nghiệm trình duyệt")
        page.click("#sla-save")
        expect(page.locator("#sla-message")).to_have_text(re.compile(r"^Đã lưu phiên bản mới cho lĩnh vực \w+\.$"),
                                                          timeout=15_000)
        expect(page.locator("#sla-table")).to_contain_text("Thử nghiệm trình duyệt")
        # Saving the same form again is refused with the duplicate message.
        page.click("#sla-save")
        expect(page.locator("#sla-message")).to_contain_text("phiên bản", timeout=15_000)
        expect(page.locator("#sla-message")).to_have_class(re.compile("error"))

    errors = in_browser(chromium, steps)
    assert errors == []
    assert count() == before + 1
    with db.engine.connect() as conn:
        row = pd.read_sql("SELECT * FROM sla_policies WHERE note = 'Thử nghiệm trình duyệt'", conn).iloc[0]
    assert (row["ioc_limit"], row["agency_limit"], row["created_by"], row["unit"]) == (0.75, 4, "admin", "days")
    assert pd.Timestamp(row["valid_from"]) == pd.Timestamp("2027-03-01 01:00")  # 08:00 local


@pytest.mark.parametrize("username", ["leader", "agency_a"])
def test_non_admins_see_the_forbidden_message(chromium, live_sc, username):
    def steps(page):
        log_in(page, live_sc["base"], username, "/admin/sla")
        expect(page).to_have_url(re.compile(r"/admin/sla$"))
        expect(page.get_by_text(SLA_FORBIDDEN)).to_be_visible(timeout=20_000)
        expect(page.locator("#sla-save")).to_be_hidden()
        expect(page.locator("#sla-table td")).to_have_count(0)
        # The navigation offers the page to admins only.
        expect(page.locator(".nav a", has_text="Quy định SLA")).to_have_count(0)

    assert in_browser(chromium, steps) == []


def test_an_agency_head_sees_only_their_row(chromium, live_sc):
    now = utc_now()
    want = expected_scorecard(live_sc["raw"], Filter().scoped("CAT"), "month", local_today(), now)
    start, end = preset_range("12m")
    own = expected_metrics(live_sc["raw"], replace(Filter(start=start, end=end), agencies=("CAT",)), "agency",
                           now).loc["CAT"]

    def steps(page):
        log_in(page, live_sc["base"], "agency_b", "/scorecard")
        names = page.locator('#scorecard-table td[data-dash-column="name"]')
        expect(names).to_have_count(len(want), timeout=20_000)
        assert cells(page, "name") == want["name"].tolist()
        # Another agency's page is refused; their own opens.
        page.goto(live_sc["base"] + "/agency/SXD")
        expect(page.get_by_text("Bạn chỉ xem được số liệu của đơn vị mình.")).to_be_visible(timeout=20_000)
        page.goto(live_sc["base"] + "/agency/CAT")
        expect(page.locator("#kpi-ag-received")).to_have_attribute("data-value", str(int(own["received"])),
                                                                   timeout=20_000)

    assert in_browser(chromium, steps) == []


def test_year_table_ranks_and_rank_sorting(chromium, live_sc):
    now = utc_now()
    last_year = local_today().year - 1  # opened on a kind, the scorecard shows its last complete period
    want = expected_scorecard(live_sc["raw"], Filter(), "year", date(last_year, 6, 1), now)
    assert want["ranked"].sum() >= 10  # two-digit ranks, so a text sort would show
    want_rank = {row["name"]: (str(int(row["rank"])) if row["ranked"] else NOT_RANKED)
                 for _, row in want.iterrows()}
    n_ranked = int(want["ranked"].sum())

    def steps(page):
        log_in(page, live_sc["base"], "leader", "/scorecard")
        expect(page.locator('#scorecard-table td[data-dash-column="name"]')).not_to_have_count(0, timeout=20_000)
        last_month = local_today().replace(day=1) - timedelta(days=1)
        expect(page.locator("#scorecard-note")).to_contain_text(f"Tháng {last_month:%m/%Y} (01/{last_month:%m/%Y}",
                                                                timeout=20_000)
        page.get_by_label("Năm").check()
        expect(page.locator("#scorecard-note")).to_contain_text(f"Năm {last_year} (01/01/{last_year}",
                                                                timeout=20_000)
        expect(page.locator('#scorecard-table td[data-dash-column="name"]')).to_have_count(len(want), timeout=20_000)
        assert dict(zip(cells(page, "name"), cells(page, "rank"), strict=True)) == want_rank
        toggle = page.locator('#scorecard-table th[data-dash-column="rank"] .column-header--sort')
        toggle.click()
        first = cells(page, "rank")
        toggle.click()
        second = cells(page, "rank")
        for shown, descending in ((first, False), (second, True)):
            numbers = [int(r) for r in shown[:n_ranked]]
            assert numbers == sorted(numbers, reverse=descending)
            assert set(shown[n_ranked:]) <= {NOT_RANKED}
        assert first != second

    assert in_browser(chromium, steps) == []
