"""A working day in real Chromium (Playwright driving Debian's chromium), served by `python app.py` on its own
copy of the seeded database, so the test can write to it.

A citizen's report arrives (inserted as a plain row, as the intake leaves it); the IOC operator forwards it
from the queue to the suggested agency; the agency head finds it in their work list, accepts it, fails once to
resolve it without a reply and then resolves it; the timeline tells the story; the overview and the scorecard
move by exactly that report; another agency cannot see it; and a form left open while a colleague changed the
report is refused without writing anything. No page logs a browser console error.

Every expected number is computed here from the raw tables (pandas, tests/independent.py and the scorecard's
independent computation in tests/test_scorecard.py), never through queries/. Like tests/test_browser_scorecard.py,
every Playwright call runs on one dedicated worker thread: tests/test_browser.py may hold the session's sync
Playwright on the main thread.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from sqlalchemy import func, insert, select, text

from dashboard import text as ui
from dashboard.components.filter_bar import preset_range
from queries.db import Database
from queries.filters import Filter, local_today, utc_now
from queries.schema import audit_log, report_events, reports
from tests import independent
from tests.conftest import read_raw
from tests.live_server import chromium_on_a_thread, private_live_app
from tests.test_browser_scorecard import log_in
from tests.test_scorecard import expected_scorecard

pytestmark = pytest.mark.browser
WAIT = 20_000  # ms: a callback round trip on a busy two-core machine, with slack
PHONE = "0936418257"  # digits that appear nowhere else on the pages visited
REPLY = "Đã cử đội duy tu vá ổ gà và cắm biển cảnh báo; mặt đường đã thông xe an toàn."
STALE = "vừa được người khác thay đổi"
CATEGORY = "GT"  # Hạ tầng giao thông: the routing table sends it to the Sở Xây dựng, with no commune rule


# --- the app and the browser ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workday(app_env, tmp_root):
    with private_live_app(app_env, tmp_root, "browser-workday") as (app, db):
        yield {"base": app.base, "db": db}


@pytest.fixture(scope="module")
def chromium():
    with chromium_on_a_thread("playwright-workday") as pool_and_browser:
        yield pool_and_browser


class Session:
    """One person's browser (a fresh context): pages that record console errors, page errors, and the bodies
    of the Dash callback responses they received."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="vi-VN",
                                           timezone_id="Asia/Ho_Chi_Minh")
        self.errors: list[str] = []
        self.responses: list = []
        self.bodies: list[str] = []
        self.lost = 0

    def page(self):
        page = self.context.new_page()
        page.on("console", lambda msg: self.errors.append(f"{page.url}: {msg.text}") if msg.type == "error"
                else None)
        page.on("pageerror", lambda err: self.errors.append(f"{page.url}: {err}"))
        page.on("response", lambda resp: self.responses.append(resp) if "/_dash-update-component" in resp.url
                else None)
        return page

    def drain(self) -> None:
        """Read the callback responses received so far: call before leaving a page (bodies go with it)."""
        for resp in self.responses:
            if resp.status == 204:  # PreventUpdate: no body
                continue
            try:
                resp.finished()
                self.bodies.append(resp.text())
            except PlaywrightError:
                # A response still in flight when its page navigated away: Chromium drops the body. The
                # HTTP-level checks in test_access_matrix.py cover every callback's body for leaks.
                self.lost += 1
        self.responses.clear()

    def callback_bodies(self) -> list[str]:
        self.drain()
        return self.bodies


def in_browser(chromium, steps):
    """Run steps(session) on the Playwright thread; returns the console and page errors seen."""
    pool, browser = chromium

    def body():
        session = Session(browser)
        try:
            steps(session)
        finally:
            session.context.close()
        return session.errors

    return pool.submit(body).result()


def act(kind: str, page_name: str) -> str:
    """CSS selector of an action panel control: Dash writes a dict id as sorted, compact JSON."""
    return "[id='" + json.dumps({"page": page_name, "type": f"act-{kind}"}, sort_keys=True,
                                separators=(",", ":")) + "']"


def vn_int(value: str) -> int:
    return int(value.strip().replace(".", ""))


def scorecard_row(page, name: str, columns=("received", "resolved", "pending")) -> dict:
    row = page.locator("#scorecard-table tr", has=page.locator(
        'td[data-dash-column="name"]', has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")))
    expect(row).to_have_count(1, timeout=WAIT)
    return {c: vn_int(row.locator(f'td[data-dash-column="{c}"]').inner_text()) for c in columns}


def masked(phone: str) -> str:
    """The documented shape: the first two and the last three digits, e.g. 09xx xxx 257."""
    return f"{phone[:2]}xx xxx {phone[-3:]}"


# --- plain reads and writes of the database ------------------------------------------------------------

def twelve_months() -> Filter:
    start, end = preset_range("12m")
    return Filter(start=start, end=end)


def insert_received(db: Database, title: str, **columns) -> str:
    """A fresh report as the intake leaves it: received now, field GT, with a phone number, and its first
    timeline event (`columns` override any column). The commune and position are those of an existing GT
    report."""
    code = f"WD-{secrets.token_hex(4).upper()}"
    now = utc_now().replace(microsecond=0)
    with db.begin() as conn:
        category_id, commune, lat, lon = conn.execute(text(
            "SELECT r.category_id, r.commune_code, r.lat, r.lon FROM reports r JOIN categories c "
            "ON c.id = r.category_id WHERE c.code = :c AND r.commune_code IS NOT NULL ORDER BY r.id LIMIT 1"),
            {"c": CATEGORY}).one()
        report_id = conn.execute(insert(reports).values(**dict(
            code=code, title=title, description="Ổ gà lớn giữa đường, xe máy đã ngã hai lần trong tuần.",
            category_id=category_id, commune_code=commune, channel="app", lat=lat, lon=lon,
            reporter_phone=PHONE, status="received", created_at=now, updated_at=now, urgent=0, version=1,
        ) | columns)).inserted_primary_key[0]
        conn.execute(insert(report_events).values(report_id=report_id, at=now, actor="Ứng dụng di động",
                                                  from_status=None, to_status="received",
                                                  note="Tiếp nhận qua ứng dụng"))
    return code


def routing_suggestion(db: Database, code: str) -> str:
    """The short name of the agency the routing table names for this report: the commune's own rule first,
    then the field's."""
    with db.engine.connect() as conn:
        return conn.execute(text(
            "SELECT a.short_name FROM reports r JOIN routing_rules rr ON rr.category_id = r.category_id "
            "JOIN agencies a ON a.id = rr.agency_id WHERE r.code = :code AND a.active = 1 "
            "AND (rr.commune_code = r.commune_code OR rr.commune_code IS NULL) "
            "ORDER BY rr.commune_code IS NULL LIMIT 1"), {"code": code}).scalar_one()


def row_of(db: Database, code: str) -> dict:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(reports).where(reports.c.code == code)).mappings().one())


def events_of(db: Database, code: str) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(e) for e in conn.execute(text(
            "SELECT e.*, a.short_name AS agency_name FROM report_events e JOIN reports r ON r.id = e.report_id "
            "LEFT JOIN agencies a ON a.id = e.agency_id WHERE r.code = :code ORDER BY e.at, e.id"),
            {"code": code}).mappings()]


def full_name(db: Database, username: str) -> str:
    with db.engine.connect() as conn:
        name, = conn.execute(text("SELECT COALESCE(NULLIF(full_name, ''), username) FROM users "
                                  "WHERE username = :u"), {"u": username}).one()
    return name


def agency_name(db: Database, code: str) -> str:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT short_name FROM agencies WHERE code = :c"), {"c": code}).scalar_one()


def written_state(db: Database, code: str) -> dict:
    """Everything an action on `code` may write: its row, the event count, the audit log's size."""
    with db.engine.connect() as conn:
        return {"report": row_of(db, code),
                "events": conn.execute(select(func.count()).select_from(report_events)).scalar(),
                "audit": conn.execute(select(func.count()).select_from(audit_log)).scalar()}


def headline(db: Database) -> dict:
    return independent.headline(read_raw(db), twelve_months(), utc_now())


def sxd_scorecard(db: Database):
    return expected_scorecard(read_raw(db), Filter(), "month", local_today(), utc_now()).loc["SXD"]


# --- the day ---------------------------------------------------------------------------------------------

def leader_view(session, base: str, agency: str, want: dict) -> dict:
    """What a leader sees: the overview's KPIs (once they show `want`) and the agency's row of this month's
    scorecard."""
    page = session.page()
    log_in(page, base, "leader", "/")
    for name in ("total", "resolved", "pending"):
        expect(page.locator(f"#kpi-{name}")).to_have_attribute("data-value", str(want[name]), timeout=WAIT)
    kpis = {name: int(page.locator(f"#kpi-{name}").get_attribute("data-value"))
            for name in ("total", "resolved", "pending")}
    # The running month, chosen: the scorecard opens on the last complete one.
    page.goto(base + f"/scorecard?period={local_today().replace(day=1).isoformat()}")
    return {"kpis": kpis, "scorecard": scorecard_row(page, agency)}


def test_a_days_work_from_queue_to_resolution(chromium, workday):
    base, db = workday["base"], workday["db"]
    sxd = agency_name(db, "SXD")
    want_before, sc_before = headline(db), sxd_scorecard(db)
    before: dict = {}

    # 1. Before: the leader reads the overview's KPIs and the SXD row of this month's scorecard.
    def read_before(session):
        before.update(leader_view(session, base, sxd, want_before))

    assert in_browser(chromium, read_before) == []
    assert before["scorecard"] == {c: int(sc_before[c]) for c in ("received", "resolved", "pending")}

    # 2. A citizen's report arrives.
    title = f"Ổ gà nguy hiểm trên đường liên xã {secrets.token_hex(2)}"
    code = insert_received(db, title)
    suggested = routing_suggestion(db, code)
    assert suggested == sxd  # GT → SXD, as seeded by queries/demo.py

    # 3. The operator forwards it from the queue to the suggested agency.
    def operator_forwards(session):
        page = session.page()
        log_in(page, base, "operator", "/queue")
        row = page.locator("#queue-table tr", has=page.get_by_role("link", name=code, exact=True))
        expect(row).to_have_count(1, timeout=WAIT)
        expect(row).to_contain_text(title[:30])
        row.locator("input[type=radio]").check()
        expect(page.locator("#queue-panel").get_by_role("link", name=re.compile(rf"^{re.escape(code)} · "))
               ).to_be_visible(timeout=WAIT)
        agency_choice = page.locator(act("agency", "queue"))
        expect(agency_choice).to_have_text(suggested, timeout=WAIT)
        expect(page.get_by_text(ui.ACT_SUGGESTED.format(agency=suggested))).to_be_visible()
        assert PHONE not in page.content()  # the operator too sees only what they reveal, and nothing is revealed
        page.get_by_role("button", name=ui.ACT_FORWARD, exact=True).click()
        expect(page.locator(act("message", "queue"))).to_have_text(ui.ACT_DONE["forward"].format(code=code),
                                                                   timeout=WAIT)
        expect(page.locator(act("message", "queue"))).to_have_class(re.compile(r"\bok\b"))
        expect(row).to_have_count(0, timeout=WAIT)
        expect(page.locator("#queue-panel")).to_have_text(re.compile(
            f"^({re.escape(ui.QUEUE_PICK)}|{re.escape(ui.QUEUE_EMPTY)})$"))
        assert not any(PHONE in b for b in session.callback_bodies())

    assert in_browser(chromium, operator_forwards) == []
    forwarded = row_of(db, code)
    assert (forwarded["status"], forwarded["version"]) == ("forwarded", 2)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM agencies WHERE id = :i"),
                            {"i": forwarded["agency_id"]}).scalar_one() == "SXD"
    assert forwarded["deadline_at"] is not None and forwarded["deadline_at"] == forwarded["agency_deadline_at"]

    # 4. The SXD head finds it in the work list, opens it, accepts it, and resolves it with a reply.
    def agency_handles(session):
        page = session.page()
        log_in(page, base, "agency_a", "/agency/SXD")
        expect(page.locator("#agency-title")).to_have_text(sxd, timeout=WAIT)
        expect(page.get_by_text(ui.WORK_TITLE + ":")).to_be_visible(timeout=WAIT)
        link = page.locator("#agency-work-table").get_by_role("link", name=code, exact=True)
        expect(link).to_have_count(1, timeout=WAIT)
        expect(page.locator("#agency-work-table tr", has=page.get_by_role("link", name=code, exact=True))
               ).to_contain_text(ui.STATUS_LABELS["forwarded"])
        session.drain()
        link.click()
        expect(page).to_have_url(re.compile(rf"/report/{re.escape(code)}$"), timeout=WAIT)
        expect(page.locator("#report-title")).to_have_text(f"{code} · {title}", timeout=WAIT)
        phone = page.locator(".facts .phone")
        expect(phone).to_have_text(masked(PHONE))
        expect(page.get_by_role("button", name=ui.PHONE_REVEAL)).to_be_hidden()  # agencies may not reveal

        page.get_by_role("button", name=ui.ACT_ACCEPT, exact=True).click()
        message = page.locator(act("message", "report"))
        expect(message).to_have_text(ui.ACT_DONE["accept"].format(code=code), timeout=WAIT)
        expect(page.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["in_progress"],
                                                                       timeout=WAIT)

        # Bad input first: no reply. A Vietnamese error, and the report stays in progress.
        resolve = page.get_by_role("button", name=ui.ACT_RESOLVE, exact=True)
        resolve.click()
        expect(message).to_have_text("Nội dung trả lời không được để trống.", timeout=WAIT)
        expect(message).to_have_class(re.compile(r"\berror\b"))
        reply_box = page.locator(act("reply", "report"))
        reply_box.fill("Đã xong")  # too short
        resolve.click()
        expect(message).to_have_text(re.compile(r"^Nội dung trả lời quá ngắn: cần ít nhất \d+ ký tự\.$"),
                                     timeout=WAIT)
        expect(page.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["in_progress"])
        assert row_of(db, code)["status"] == "in_progress"

        reply_box.fill(REPLY)
        resolve.click()
        expect(message).to_have_text(ui.ACT_DONE["resolve"].format(code=code), timeout=WAIT)
        expect(page.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["resolved"],
                                                                       timeout=WAIT)
        expect(page.locator(".reply")).to_have_text(REPLY)
        expect(page.get_by_role("button", name=ui.ACT_RESOLVE, exact=True)).to_be_hidden()
        expect(page.get_by_text(ui.REPORT_NO_ACTIONS)).to_be_visible()

        # 5. The timeline: forwarded → in progress → resolved, each with who did it.
        events = page.locator(".timeline .event")
        expect(events).to_have_count(4, timeout=WAIT)
        expected = [(None, "received", "Ứng dụng di động", None),
                    ("received", "forwarded", full_name(db, "operator"), sxd),
                    ("forwarded", "in_progress", full_name(db, "agency_a"), sxd),
                    ("in_progress", "resolved", full_name(db, "agency_a"), sxd)]
        for i, (old, new, actor, agency) in enumerate(expected):
            change = ui.STATUS_LABELS[new] if old is None else f"{ui.STATUS_LABELS[old]} → {ui.STATUS_LABELS[new]}"
            event = events.nth(i)
            expect(event.locator(".event-change")).to_have_text(change + (f" · {agency}" if agency else ""))
            expect(event.locator(".event-actor")).to_have_text(actor)
        expect(events.nth(3).locator(".event-note")).to_have_text(REPLY)

        # The full number never reaches this browser: not in any page's text, not in any callback response.
        expect(phone).to_have_text(masked(PHONE))
        assert PHONE not in page.content()
        session.drain()
        page.goto(base + "/agency/SXD")
        expect(page.locator("#agency-title")).to_have_text(sxd, timeout=WAIT)
        expect(page.get_by_role("link", name=code, exact=True)).to_have_count(0, timeout=WAIT)  # done: off the list
        assert PHONE not in page.content()
        bodies = session.callback_bodies()
        assert bodies and not any(PHONE in b for b in bodies)

    assert in_browser(chromium, agency_handles) == []

    resolved = row_of(db, code)
    assert (resolved["status"], resolved["reply"], resolved["version"]) == ("resolved", REPLY, 4)
    events = events_of(db, code)
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in events] == [
        (None, "received", "Ứng dụng di động"), ("received", "forwarded", full_name(db, "operator")),
        ("forwarded", "in_progress", full_name(db, "agency_a")),
        ("in_progress", "resolved", full_name(db, "agency_a"))]

    # 6. The overview and the scorecard moved by exactly this report.
    want_after, sc_after = headline(db), sxd_scorecard(db)
    assert want_after["total"] == want_before["total"] + 1
    assert want_after["resolved"] == want_before["resolved"] + 1
    assert want_after["pending"] == want_before["pending"]
    after: dict = {}

    def read_after(session):
        after.update(leader_view(session, base, sxd, want_after))

    assert in_browser(chromium, read_after) == []
    assert after["kpis"] == {"total": before["kpis"]["total"] + 1, "resolved": before["kpis"]["resolved"] + 1,
                             "pending": before["kpis"]["pending"]}
    assert after["scorecard"] == {c: int(sc_after[c]) for c in ("received", "resolved", "pending")}
    assert after["scorecard"] == {"received": before["scorecard"]["received"] + 1,
                                  "resolved": before["scorecard"]["resolved"] + 1,
                                  "pending": before["scorecard"]["pending"]}

    # 7. Another agency's head cannot see it, nor the SXD page.
    def other_agency(session):
        page = session.page()
        log_in(page, base, "agency_b", f"/report/{code}")
        expect(page.get_by_role("heading", name=ui.REPORT_NOT_FOUND.format(code=code))).to_be_visible(timeout=WAIT)
        expect(page.locator("#report-title")).to_have_count(0)
        content = page.content()
        for secret in (title, PHONE, masked(PHONE), REPLY):
            assert secret not in content
        session.drain()
        page.goto(base + "/agency/SXD")
        expect(page.get_by_text(ui.AGENCY_FORBIDDEN)).to_be_visible(timeout=WAIT)
        expect(page.locator("#agency-title")).to_have_count(0)
        assert not any(PHONE in b or title in b for b in session.callback_bodies())

    assert in_browser(chromium, other_agency) == []


# --- a stale form -----------------------------------------------------------------------------------------

def test_a_stale_form_is_refused_and_writes_nothing(chromium, workday):
    """The operator has the same report open in two tabs; saving in the first makes the second stale."""
    base, db = workday["base"], workday["db"]
    code = insert_received(db, f"Đèn tín hiệu hỏng ở ngã tư {secrets.token_hex(2)}")
    seen: dict = {}

    def two_tabs(session):
        first = session.page()
        log_in(first, base, "operator", f"/report/{code}")
        second = session.page()
        second.goto(f"{base}/report/{code}")
        for page in (first, second):
            expect(page.locator("#report-title")).to_contain_text(code, timeout=WAIT)
            expect(page.get_by_role("button", name=ui.ACT_FORWARD, exact=True)).to_be_visible()

        first.get_by_label(ui.ACT_URGENT).check()
        first.get_by_role("button", name=ui.ACT_CLASSIFY, exact=True).click()
        expect(first.locator(act("message", "report"))).to_have_text(ui.ACT_DONE["classify"].format(code=code),
                                                                     timeout=WAIT)
        expect(first.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["classified"],
                                                                        timeout=WAIT)
        seen["after_first"] = written_state(db, code)

        # The second tab still holds version 1: forwarding from it is refused, and nothing is written.
        second.get_by_role("button", name=ui.ACT_FORWARD, exact=True).click()
        message = second.locator(act("message", "report"))
        expect(message).to_contain_text(STALE, timeout=WAIT)
        expect(message).to_have_text(re.compile(rf"^Phản ánh {re.escape(code)} {STALE}\."))
        expect(message).to_have_class(re.compile(r"\berror\b"))
        expect(second.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["received"])
        seen["after_second"] = written_state(db, code)

        # A reload shows the newest version, and acting on it works.
        second.reload()
        expect(second.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["classified"],
                                                                         timeout=WAIT)
        expect(second.locator(".report-head .badge-urgent")).to_have_text(ui.REPORT_URGENT)

    assert in_browser(chromium, two_tabs) == []
    first_write = seen["after_first"]
    assert (first_write["report"]["status"], first_write["report"]["version"],
            first_write["report"]["urgent"]) == ("classified", 2, 1)
    assert seen["after_second"] == first_write
    assert written_state(db, code) == first_write


def test_a_queue_row_changed_underneath_is_refused(chromium, workday):
    """The operator selects a report in the queue; meanwhile it is rejected by someone else (a plain SQL
    update, as another worker would leave it). Forwarding from the open panel is refused."""
    base, db = workday["base"], workday["db"]
    code = insert_received(db, f"Cây đổ chắn đường {secrets.token_hex(2)}")
    seen: dict = {}

    def queue(session):
        page = session.page()
        log_in(page, base, "operator", "/queue")
        row = page.locator("#queue-table tr", has=page.get_by_role("link", name=code, exact=True))
        expect(row).to_have_count(1, timeout=WAIT)
        row.locator("input[type=radio]").check()
        expect(page.locator(act("agency", "queue"))).to_have_text(routing_suggestion(db, code), timeout=WAIT)
        now = utc_now().replace(microsecond=0)
        with db.begin() as conn:
            conn.execute(reports.update().where(reports.c.code == code).values(
                status="rejected", close_reason="untrue", rejected_at=now, updated_at=now,
                version=reports.c.version + 1))
        seen["before"] = written_state(db, code)
        page.get_by_role("button", name=ui.ACT_FORWARD, exact=True).click()
        message = page.locator(act("message", "queue"))
        expect(message).to_contain_text(STALE, timeout=WAIT)
        expect(message).to_have_class(re.compile(r"\berror\b"))
        seen["after"] = written_state(db, code)

    assert in_browser(chromium, queue) == []
    assert seen["after"] == seen["before"]
    assert seen["after"]["report"]["status"] == "rejected" and seen["after"]["report"]["agency_id"] is None
    assert seen["after"]["report"]["created_at"] > utc_now() - timedelta(hours=1)


# --- the panel shows only what can be done now -----------------------------------------------------------

def test_the_accept_button_is_gone_once_the_report_is_in_progress(chromium, workday):
    base, db = workday["base"], workday["db"]
    with db.engine.connect() as conn:
        sxd_id = conn.execute(text("SELECT id FROM agencies WHERE code = 'SXD'")).scalar_one()
    now = utc_now().replace(microsecond=0)
    code = insert_received(db, f"Nắp cống bị vỡ {secrets.token_hex(2)}", status="in_progress", agency_id=sxd_id,
                           forwarded_at=now, first_forwarded_at=now, first_response_at=now, classified_at=now)
    seen: dict = {}

    def agency_opens(session):
        page = session.page()
        log_in(page, base, "agency_a", f"/report/{code}")
        expect(page.locator(".report-head .badge").first).to_have_text(ui.STATUS_LABELS["in_progress"],
                                                                       timeout=WAIT)
        expect(page.get_by_role("button", name=ui.ACT_RESOLVE, exact=True)).to_be_visible()
        accept = page.get_by_role("button", name=ui.ACT_ACCEPT, exact=True)
        seen["accept_visible"] = accept.is_visible()
        if seen["accept_visible"]:  # what the agency head gets for pressing it: an error, and nothing written
            before = written_state(db, code)
            accept.click()
            expect(page.locator(act("message", "report"))).to_have_text(
                f"Không thể thực hiện: phản ánh {code} đang ở trạng thái 'đang xử lý'.", timeout=WAIT)
            assert written_state(db, code) == before

    assert in_browser(chromium, agency_opens) == []
    assert not seen["accept_visible"]
