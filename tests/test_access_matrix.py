"""docs/access.md, checked against the running app.

The tables of the document are written out below (PAGES, API, ACTIONS, and CALLBACKS for every Dash callback)
for the six users of the document: anonymous, leader, operator, agency A (SXD), agency B (CAT) and admin.
Each cell is checked through the Flask test client: pages by their status code and by the layout Dash's page
router returns, API routes by status code and body, callbacks by what /_dash-update-component answers. Every
callback answer is also checked for what must never be in it: a citizen's phone number, and, for an agency
head, the code of a report of another agency; and nothing a refused callback is asked to do may reach the
database. Then forged payloads for the report actions, the CSRF origin check, the idle timeout and the
sign-in rate limit.

Expected values are read with plain SQL from the app's database (never through queries/). The write paths
run on reports staged by SQL (a status set for the test) that are put back exactly afterwards, so the shared
app database ends as it began.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text as sql

from dashboard import ids, text
from queries import config
from queries import media as media_store
from tests.conftest import login, logout
from tests.dash_calls import callback_name, dash_body, kpi_values, stringify_id

ANON, LEADER, OPERATOR, AGENCY_A, AGENCY_B, ADMIN = "anonymous", "leader", "operator", "agency_a", "agency_b", "admin"
USERS = (ANON, LEADER, OPERATOR, AGENCY_A, AGENCY_B, ADMIN)
SIGNED_IN = USERS[1:]
SCOPE = {AGENCY_A: "SXD", AGENCY_B: "CAT"}
OTHER = {AGENCY_A: "CAT", AGENCY_B: "SXD"}

# Legend of docs/access.md
OK, LOGIN, DENY, OWN, NOT_FOUND = "✓", "login", "✗", "own", "404"


def row(*cells) -> dict:
    """One line of a table of the document, its cells in the document's column order."""
    users = USERS if len(cells) == len(USERS) else SIGNED_IN
    return dict(zip(users, cells, strict=True))


# --- the tables of docs/access.md ------------------------------------------------------------------------

SXD_REPORT, SXD_PHOTO = "/report/<a report of SXD>", "/media/<a photo of SXD's report>"
ADMIN_PAGES = ("/admin/sla", "/admin/screens", "/admin/users", "/admin/catalog", "/admin/audit")
PAGES = {
    "/": row(LOGIN, OK, OK, OWN, OWN, OK),
    "/scorecard": row(LOGIN, OK, OK, OK, OK, OK),
    "/agency/SXD": row(LOGIN, OK, OK, OK, DENY, OK),
    "/queue": row(LOGIN, DENY, OK, DENY, DENY, OK),
    SXD_REPORT: row(LOGIN, OK, OK, OK, NOT_FOUND, OK),
    "/wall": row(LOGIN, OK, OK, OK, OK, OK),
    **{path: row(LOGIN, DENY, DENY, DENY, DENY, OK) for path in ADMIN_PAGES},
    SXD_PHOTO: row(LOGIN, OK, OK, OK, NOT_FOUND, OK),
}
# The refusal each page shows in place of its content.
PAGE_REFUSALS = {"/agency/SXD": text.AGENCY_FORBIDDEN, "/queue": text.QUEUE_FORBIDDEN,
                 "/admin/sla": text.SLA_FORBIDDEN, "/admin/screens": text.SCREENS_FORBIDDEN,
                 "/admin/users": text.ADMIN_FORBIDDEN, "/admin/catalog": text.ADMIN_FORBIDDEN,
                 "/admin/audit": text.ADMIN_FORBIDDEN}

API = {
    "overview": row(401, OK, OK, OWN, OWN, OK),
    "map/points": row(401, OK, OK, OWN, OWN, OK),
    "scorecard": row(401, OK, OK, OK, OK, OK),
    "agencies/SXD": row(401, OK, OK, OK, 403, OK),
    "queue": row(401, 403, OK, 403, 403, OK),
    "reports/<a report of SXD>": row(401, OK, OK, OK, 404, OK),
    "wall/heartbeat": row(401, OK, OK, OK, OK, OK),
}

IOC_ACTIONS = ("classify", "forward", "reject", "mark_duplicate")
AGENCY_ACTIONS = ("accept", "resolve", "return")
# Agency A's column is "report forwarded to A"; agency B acts on that same report.
ACTIONS = {
    **{action: row(DENY, OK, DENY, DENY, OK) for action in IOC_ACTIONS},
    **{action: row(DENY, DENY, OK, NOT_FOUND, DENY) for action in AGENCY_ACTIONS},
}
TO_STATUS = {"classify": "classified", "forward": "forwarded", "reject": "rejected", "mark_duplicate": "rejected",
             "accept": "in_progress", "resolve": "resolved", "return": "classified"}
ACTION_BUTTONS = ("classify", "forward", "reject", "mark_duplicate", "accept", "resolve", "return")

# Messages of refusals (substrings of what the app shows).
ROLE = "Bạn không có quyền thực hiện thao tác này."
GONE = "Không tìm thấy phản ánh"
WRONG_STATUS = "Không thể thực hiện"
ADMIN_ONLY = "Chỉ quản trị viên"
NO_PHONE = "Vai trò của bạn không được xem số điện thoại"
NO_REASON = "Hãy ghi lý do"
STALE = "vừa được người khác thay đổi"
REASON = "Gọi lại để xác minh vị trí hiện trường"
TINY_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                         "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082")


# --- the app's database, read with plain SQL -------------------------------------------------------------

def fetch(engine, query: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sql(query), params).mappings()]


def scalar(engine, query: str, **params):
    with engine.connect() as conn:
        return conn.execute(sql(query), params).scalar()


REPORTS_SQL = """
SELECT r.id, r.code, r.title, r.description, r.reporter_phone, r.status, r.version, a.code AS agency,
       c.code AS category
FROM reports r LEFT JOIN agencies a ON a.id = r.agency_id LEFT JOIN categories c ON c.id = r.category_id
"""
# A settled report of one agency with a phone number, not a duplicate and with no duplicates of its own.
PLAIN = """{sql} WHERE a.code = :agency AND r.status = 'resolved' AND r.reporter_phone IS NOT NULL
AND r.duplicate_of_id IS NULL AND NOT EXISTS (SELECT 1 FROM reports d WHERE d.duplicate_of_id = r.id) {more}
ORDER BY r.id"""


@dataclass
class Data:
    phones: frozenset  # every reporter_phone of the database, as digits
    agency_of: dict  # report code -> agency code (None: not with an agency)
    sxd: dict  # a report of SXD with a photo
    cat: dict  # a report of CAT
    sxd_photo: int  # the media id of the SXD report's photo
    ioc_target: dict  # reports staged for the actions (never the two above)
    sxd_target: dict
    cat_target: dict
    original: dict  # the report the IOC target is marked a duplicate of
    unknown_media: int = 987_654_321
    unknown_code: str = "PA-2099-999999"
    created: list = field(default_factory=list)

    def codes_of_others(self, agency: str) -> set:
        return {code for code, owner in self.agency_of.items() if owner is not None and owner != agency}


@pytest.fixture(scope="module")
def data(engine):
    phones = {re.sub(r"\D", "", r["reporter_phone"]) for r in fetch(
        engine, "SELECT reporter_phone FROM reports WHERE reporter_phone IS NOT NULL")}
    agency_of = {r["code"]: r["agency"] for r in fetch(engine, REPORTS_SQL)}
    with_photo = "AND EXISTS (SELECT 1 FROM media m WHERE m.report_id = r.id AND m.kind = 'photo')"
    sxd_reports = fetch(engine, PLAIN.format(sql=REPORTS_SQL, more=with_photo), agency="SXD")
    cat_reports = fetch(engine, PLAIN.format(sql=REPORTS_SQL, more=""), agency="CAT")
    assert len(sxd_reports) >= 4 and len(cat_reports) >= 2, "the seeded demo has settled SXD and CAT reports"
    sxd = sxd_reports[0]
    photo = scalar(engine, "SELECT min(id) FROM media WHERE report_id = :id AND kind = 'photo'", id=sxd["id"])
    # The photo's file: the test app's media folder starts empty, so write one where the row points.
    target = media_store.media_dir() / scalar(engine, "SELECT path FROM media WHERE id = :id", id=photo)
    created = []
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(TINY_PNG)
        created.append(target)
    d = Data(phones=frozenset(phones), agency_of=agency_of, sxd=sxd, cat=cat_reports[0], sxd_photo=photo,
             ioc_target=sxd_reports[1], sxd_target=sxd_reports[2], cat_target=cat_reports[1],
             original=sxd_reports[3], created=created)
    yield d
    for path in d.created:
        path.unlink(missing_ok=True)


def current(engine, code: str) -> dict:
    return fetch(engine, "SELECT * FROM reports WHERE code = :code", code=code)[0]


def max_id(engine, table: str) -> int:
    return scalar(engine, f"SELECT coalesce(max(id), 0) FROM {table}")


def audit_since(engine, after: int) -> list[dict]:
    return fetch(engine, "SELECT username, action, target, detail FROM audit_log WHERE id > :after ORDER BY id",
                 after=after)


@contextlib.contextmanager
def staged(engine, code: str, **changes):
    """The report with `changes` set by SQL for the test; afterwards its row is put back exactly as it was and
    the events and media written for it meanwhile are removed. Audit rows stay: the log is append-only."""
    with engine.begin() as conn:
        before = dict(conn.execute(sql("SELECT * FROM reports WHERE code = :code"), {"code": code}).mappings().one())
        events = conn.execute(sql("SELECT coalesce(max(id), 0) FROM report_events")).scalar()
        photos = conn.execute(sql("SELECT coalesce(max(id), 0) FROM media")).scalar()
        if changes:
            assignments = ", ".join(f"{column} = :{column}" for column in changes)
            conn.execute(sql(f"UPDATE reports SET {assignments} WHERE id = :id"), {**changes, "id": before["id"]})
    try:
        yield current(engine, code)
    finally:
        with engine.begin() as conn:
            assignments = ", ".join(f"{column} = :{column}" for column in before if column != "id")
            conn.execute(sql(f"UPDATE reports SET {assignments} WHERE id = :id"), before)
            conn.execute(sql("DELETE FROM report_events WHERE report_id = :id AND id > :after"),
                         {"id": before["id"], "after": events})
            conn.execute(sql("DELETE FROM media WHERE report_id = :id AND id > :after"),
                         {"id": before["id"], "after": photos})


# What no refused or read-only callback may change.
STATE_SQL = {
    "users": "SELECT id, username, full_name, password_hash, role, agency_id, active FROM users ORDER BY id",
    "agencies": "SELECT * FROM agencies ORDER BY id",
    "categories": "SELECT * FROM categories ORDER BY id",
    "routing_rules": "SELECT * FROM routing_rules ORDER BY id",
    "app_settings": "SELECT * FROM app_settings ORDER BY key",
    "sla_policies": "SELECT * FROM sla_policies ORDER BY id",
    "display_tokens": "SELECT id, name, token_hash, settings, revoked_at FROM display_tokens ORDER BY id",
    "api_keys": "SELECT id, name, revoked_at FROM api_keys ORDER BY id",
    "reports": "SELECT count(*), sum(version), max(updated_at) FROM reports",
    "report_events": "SELECT count(*), max(id) FROM report_events",
    "media": "SELECT count(*), max(id) FROM media",
}


def db_state(engine) -> dict:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(sql(query))] for name, query in STATE_SQL.items()}


def full_state(engine) -> dict:
    """Every row of the reports, their events and media, and the administration tables."""
    with engine.connect() as conn:
        state = {name: [tuple(r) for r in conn.execute(sql(f"SELECT * FROM {name} ORDER BY id"))]
                 for name in ("reports", "report_events", "media")}
    return state | {name: rows for name, rows in db_state(engine).items() if name not in state}


@pytest.fixture(scope="module", autouse=True)
def database_ends_as_it_began(engine):
    """The staged reports are put back and nothing else is written (but audit rows): other test modules share
    this database."""
    before = full_state(engine)
    yield
    assert full_state(engine) == before


# --- clients and callbacks -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clients(server):
    """One signed-in test client per user for this module (anonymous: no session)."""
    made = {}

    def get(user: str):
        if user not in made:
            client = server.test_client()
            if user != ANON:
                resp = login(client, user)
                assert resp.status_code == 302, resp.data
            made[user] = client
        return made[user]

    return get


@pytest.fixture(scope="module")
def deps(clients) -> dict:
    listed = clients(ADMIN).get("/_dash-dependencies").get_json()
    named = {callback_name(spec): spec for spec in listed}
    assert len(named) == len(listed)
    return named


def post(client, body: dict, **kwargs):
    return client.post("/_dash-update-component", json=body, **kwargs)


def response_text(resp) -> str:
    """The body as text, JSON unescaped (so a number or a Vietnamese word reads as it would on screen)."""
    raw = resp.get_data(as_text=True)
    if resp.is_json:
        return json.dumps(resp.get_json(), ensure_ascii=False)
    return raw


def strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def _is_component(node) -> bool:
    return isinstance(node, dict) and "props" in node and "type" in node


def _refusing(class_name) -> bool:
    classes = str(class_name or "").split()
    return "not-found" in classes or "error" in classes


def visible_refusals(node) -> list[str]:
    """The text of every refusal shown (not hidden): a 'not-found' block or a 'form-message error'."""
    found = []
    if _is_component(node):
        props = node["props"]
        if props.get("hidden"):
            return []
        if _refusing(props.get("className")):
            return [" ".join(strings(props.get("children")))]
        return visible_refusals(props.get("children"))
    if isinstance(node, dict):
        for value in node.values():
            found += visible_refusals(value)
    elif isinstance(node, list):
        for item in node:
            found += visible_refusals(item)
    return found


def callback_refusals(resp) -> list[str]:
    """Refusals in a callback's answer: outputs whose className output is an error, and refusal blocks."""
    found = []
    for props in (resp.get_json() or {}).get("response", {}).values():
        if _refusing(props.get("className")) and isinstance(props.get("children"), str | list):
            found.append(" ".join(strings(props["children"])))
        found += visible_refusals([v for k, v in props.items() if k != "className"])
    return found


def output(resp, cid, prop: str):
    return resp.get_json()["response"][stringify_id(cid)][prop]


CODE = re.compile(r"PA-\d{4}-\d{6}")
DIGIT_RUN = re.compile(r"\d+")
GROUPED_DIGITS = re.compile(r"\+?\d[\d .\-]{7,}\d")


def leaked_phones(body: str, data: Data) -> set:
    """Phone numbers of the database in a text: as a run of digits, or written with spaces, dots or dashes."""
    candidates = DIGIT_RUN.findall(body) + [re.sub(r"\D", "", m) for m in GROUPED_DIGITS.findall(body)]
    return {c for c in candidates if c in data.phones}


def leaked_codes(body: str, user: str, data: Data, asked: str = "") -> set:
    """For an agency head: codes of reports of another agency in a text, other than those the request sent."""
    if user not in SCOPE:
        return set()
    return (set(CODE.findall(body)) & data.codes_of_others(SCOPE[user])) - set(CODE.findall(asked))


def assert_nothing_leaks(resp, user: str, data: Data, asked: str = "") -> None:
    body = response_text(resp)
    assert not leaked_phones(body, data), f"phone numbers in the answer to {user}"
    assert not leaked_codes(body, user, data, asked), f"other agencies' report codes in the answer to {user}"


def route(client, deps, path: str, search: str = ""):
    """The layout Dash's page router gives for a path (what the browser renders after loading the index)."""
    values = {"_pages_location.pathname": path, "_pages_location.search": search}
    resp = post(client, dash_body(deps["_pages_content.children"], values))
    assert resp.status_code == 200, resp.data
    return resp, resp.get_json()["response"]["_pages_content"]["children"]


def components(node, kind: str | None = None):
    if _is_component(node):
        if kind is None or node["type"] == kind:
            yield node
        yield from components(node["props"].get("children"), kind)
    elif isinstance(node, list):
        for item in node:
            yield from components(item, kind)


def component(node, cid):
    return next((c for c in components(node) if c["props"].get("id") == cid), None)


def mask(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return f"{digits[:2]}xx xxx {digits[-3:]}"


# --- 1. pages -------------------------------------------------------------------------------------------

def page_url(path: str, data: Data) -> str:
    if path == SXD_REPORT:
        return f"/report/{data.sxd['code']}"
    if path == SXD_PHOTO:
        return f"/media/{data.sxd_photo}"
    return path


def render_report(client, deps, code: str):
    return post(client, dash_body(deps["report-body.children"], {"report-code.data": code}))


def overview_call(client, deps, agencies=None):
    values = {"filter-dates.start_date": "2000-01-01", "filter-dates.end_date": "2100-12-31",
              "filter-agency.value": agencies}
    resp = post(client, dash_body(deps["overview-kpis.children"], values))
    assert resp.status_code == 200
    return resp


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("path", list(PAGES))
def test_page(path, user, clients, deps, data, engine):
    cell, url, client = PAGES[path][user], page_url(path, data), clients(user)
    if cell == LOGIN:
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
        return
    if path == SXD_PHOTO:
        resp = client.get(url)
        if cell == NOT_FOUND:
            unknown = client.get(f"/media/{data.unknown_media}")
            assert resp.status_code == unknown.status_code == 404 and resp.data == unknown.data
        else:
            assert resp.status_code == 200 and resp.mimetype == "image/png" and resp.data.startswith(b"\x89PNG")
        return

    assert client.get(url).status_code == 200  # the Dash index; the page itself comes from the router
    resp, layout = route(client, deps, url)
    assert_nothing_leaks(resp, user, data, asked=url)
    refused = visible_refusals(layout)
    if cell == DENY:
        assert len(refused) == 1 and PAGE_REFUSALS[path] in refused[0]
        # The hidden form of a refused page carries no data either.
        assert all(not table["props"].get("data") for table in components(layout, "DataTable"))
        return
    assert refused == []

    if path == SXD_REPORT:
        assert component(layout, ids.RP_CODE)["props"]["data"] == data.sxd["code"]
        body = render_report(client, deps, data.sxd["code"])
        assert_nothing_leaks(body, user, data, asked=url)
        shown = response_text(body)
        if cell == NOT_FOUND:
            assert text.REPORT_NOT_FOUND.format(code=data.sxd["code"]) in callback_refusals(body)[0]
            assert data.sxd["title"] not in shown and data.sxd["description"] not in shown
            unknown = response_text(render_report(client, deps, data.unknown_code))
            assert shown.replace(data.sxd["code"], "?") == unknown.replace(data.unknown_code, "?")
        else:
            assert callback_refusals(body) == []
            assert data.sxd["title"] in shown and data.sxd["description"] in shown
            assert mask(data.sxd["reporter_phone"]) in shown  # note 2: masked
    elif path == "/":
        assert component(layout, ids.OV_KPIS) is not None
        if cell == OWN:
            own, other = SCOPE[user], OTHER[user]
            total = int(kpi_values(overview_call(client, deps).get_json())["total"])
            expected = scalar(engine, "SELECT count(*) FROM reports r JOIN agencies a ON a.id = r.agency_id "
                                      "WHERE a.code = :code", code=own)
            assert total == expected > 0
            assert int(kpi_values(overview_call(client, deps, [other]).get_json())["total"]) == 0
            leader_total = int(kpi_values(overview_call(clients(LEADER), deps).get_json())["total"])
            assert leader_total > total
    elif path == "/agency/SXD":
        assert component(layout, ids.AG_CODE)["props"]["data"] == "SXD"
    elif path == "/queue":
        assert component(layout, ids.QU_TABLE) is not None
        queue = post(client, dash_body(deps["queue-table.data"]))
        assert queue.status_code == 200
    elif path == "/wall":
        assert component(layout, ids.WALL_ROOT) is not None
        if user in SCOPE:  # note 3: the wall's lists of reports are the agency's own
            wall = post(client, dash_body(deps["wall-kpis-today-label.children"]))
            ticker = set(CODE.findall(json.dumps(output(wall, ids.WALL_TICKER, "children"))))
            assert ticker and all(data.agency_of[code] == SCOPE[user] for code in ticker)
    elif path == "/scorecard":
        assert component(layout, ids.SC_TABLE) is not None


# --- 1. API ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("name", list(API))
def test_api_route(name, user, clients, data):
    cell, client = API[name][user], clients(user)
    path = f"/api/v1/{name}".replace("<a report of SXD>", data.sxd["code"])
    resp = client.get(path)
    expected_status = 200 if cell in (OK, OWN) else cell
    assert resp.status_code == expected_status, resp.data
    assert_nothing_leaks(resp, user, data, asked=path)  # "No API route ever returns a phone number."
    body = resp.get_json()
    if expected_status == 401:
        assert body["error"] == "unauthorized"
        return
    if expected_status == 403:
        assert body["error"] == "forbidden"
        return
    if expected_status == 404:
        assert body["error"] == "not_found" and data.sxd["title"] not in response_text(resp)
        unknown = client.get(f"/api/v1/reports/{data.unknown_code}")
        assert unknown.status_code == 404
        assert response_text(resp).replace(data.sxd["code"], "?") == response_text(unknown).replace(
            data.unknown_code, "?")
        return
    if name == "overview" and cell == OWN:
        assert [a["code"] for a in body["backlog_by_agency"]] == [SCOPE[user]]
    if name == "map/points" and cell == OWN:
        # The province view is grid cells; zoomed in, the same reports one by one, all of the caller's agency.
        near = client.get(f"{path}?zoom=14&bbox=104,15,109,19")
        assert_nothing_leaks(near, user, data, asked=path)
        points = near.get_json()
        assert points["meta"]["mode"] == "points" and points["meta"]["total"] == body["meta"]["total"]
        assert points["features"] and {f["properties"]["a"] for f in points["features"]} == {SCOPE[user]}
    if name.startswith("reports/"):
        assert body["code"] == data.sxd["code"] and "reporter_phone" not in body
        assert body["phone_masked"] == mask(data.sxd["reporter_phone"])
        assert body["can_reveal"] is (user in (OPERATOR, ADMIN))  # note 2; agencies: not allowed by default
        assert any(m["id"] == data.sxd_photo for m in body["media"])


def test_out_of_scope_agency_reads_like_an_unknown_one(clients, deps):
    """Agency B asking the agency page's callbacks for SXD gets what it gets for an agency that does not
    exist: the province-wide comparison, and nothing of SXD."""
    client = clients(AGENCY_B)
    for name in ("agency-kpis.children", "agency-overdue.data", "agency-work-table.data"):
        answers = []
        for code in ("SXD", "KHONGCO"):
            resp = post(client, dash_body(deps[name], {"agency-code.data": code, "agency-code-period.value": "12m"}))
            assert resp.status_code == 200
            answers.append(response_text(resp).replace(code, "?"))
        assert answers[0] == answers[1], name


# --- 2. every Dash callback -----------------------------------------------------------------------------

CLIENTSIDE = "runs in the browser"


def every(outcome: str) -> dict:
    return dict.fromkeys(SIGNED_IN, outcome)


@dataclass(frozen=True)
class Call:
    """One payload for a callback and what each signed-in user must get: 'ok' (200, no refusal shown),
    '204' (nothing to update) or the text of the refusal shown. `admin` replaces the payload for the admin
    where the payload is a write the admin may do (the refusal tests must not write)."""

    label: str
    expect: dict
    values: Callable = lambda d: {}
    changed: tuple | None = None
    page: str = "report"
    admin: tuple | None = None  # (values, changed) sent by the admin instead


def act_values(report: dict, button: str, **extra) -> dict:
    values = {f"act-{b}.n_clicks": 0 for b in ACTION_BUTTONS}
    values |= {f"act-{button}.n_clicks": 1, "act-report.data": {"code": report["code"], "version": report["version"]},
               "act-category.value": report.get("category") or "XD", "act-urgent.value": [],
               "act-agency.value": "SXD", "act-note.value": "", "act-reason.value": "out_of_scope",
               "act-dup-of.value": None, "act-dup-code.value": "", "act-reply.value": "",
               "act-proof.contents": None, "act-return-reason.value": ""}
    return values | extra


def user_form(username, role, agency=None, password="Mat-Khau-Gia-Mao-2026!") -> dict:
    return {"users-username.value": username, "users-full-name.value": "Người lạ", "users-role.value": role,
            "users-agency.value": agency, "users-password.value": password}


CATALOG = {"catalog-settings-phone.value": ["on"], "catalog-settings-radius.value": 900,
           "catalog-settings-days.value": 30, "catalog-routing-category.value": "XD",
           "catalog-routing-commune.value": None, "catalog-routing-agency.value": "CAT",
           "catalog-agency-code.value": "GIAMAO", "catalog-agency-name.value": "Đơn vị giả mạo",
           "catalog-agency-short.value": "Giả mạo", "catalog-agency-kind.value": "department",
           "catalog-agency-commune.value": None, "catalog-agency-active.value": ["on"],
           "catalog-category-code.value": "GM", "catalog-category-name.value": "Lĩnh vực giả mạo",
           "catalog-category-short.value": "Giả mạo", "catalog-category-color.value": "#123456"}
SLA_FORM = {"sla-category.value": "XD", "sla-urgent.value": [], "sla-ioc.value": 1, "sla-agency.value": 2,
            "sla-valid-from.value": "2031-01-01 08:00", "sla-note.value": "giả mạo"}
REFUSED_FOR_OTHERS = row(ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, "204")
NO_TRIGGER = ({}, ())

CALLBACKS = {
    # Overview and its filter bar
    "overview-kpis.children": [
        Call("all time", every("ok"), lambda d: {"filter-dates.start_date": "2000-01-01",
                                                 "filter-dates.end_date": "2100-12-31"}),
        Call("both agencies asked for", every("ok"), lambda d: {"filter-agency.value": ["SXD", "CAT"]}),
    ],
    "filter-dates.start_date": [Call("preset", every("ok"), lambda d: {"filter-preset.value": "30d"})],
    "filter-preset.value": [Call("reset", every("ok"), lambda d: {"filter-reset.n_clicks": 1})],
    "url-sync.data": CLIENTSIDE,
    "overview-map-points.url": [
        Call("province", every("ok"), lambda d: {"overview-map-params.data": {"from": "2000-01-01"},
                                                 "overview-map.zoom": 8}),
        Call("streets", every("ok"), lambda d: {"overview-map-params.data": {}, "overview-map.zoom": 15,
                                                "overview-map.bounds": [[17.43, 106.6], [17.47, 106.66]]}),
    ],
    # Scorecard
    "scorecard-period.options": [Call("quarter", every("ok"), lambda d: {"scorecard-period-kind.value": "quarter"})],
    "scorecard-table.data": [Call("this month", every("ok"), lambda d: {"scorecard-period-kind.value": "month",
                                                                        "scorecard-category.value": []})],
    "scorecard-table-nav.pathname": [Call("click an agency", every("ok"), lambda d: {
        "scorecard-table.active_cell": {"row": 0, "column": 1, "column_id": "name"},
        "scorecard-table.derived_viewport_data": [{"key": "CAT", "name": "Công an tỉnh"}]})],
    # Agency page
    **{name: [Call(code, every("ok"), lambda d, c=code: {"agency-code.data": c, "agency-code-period.value": "12m"})
              for code in ("SXD", "CAT")]
       for name in ("agency-kpis.children", "agency-overdue.data")},
    "agency-work-table.data": [Call(code, every("ok"), lambda d, c=code: {"agency-code.data": c})
                               for code in ("SXD", "CAT")],
    # The report action panel (queue and report page)
    "act-proof-name.children": [Call("a file", every("ok"), lambda d: {"act-proof.filename": "anh.png"})],
    "act-message.children": [
        Call("classify a settled CAT report", row(ROLE, WRONG_STATUS, ROLE, ROLE, WRONG_STATUS),
             lambda d: act_values(d.cat, "classify"), ("act-classify.n_clicks",), page="queue"),
        Call("accept a settled CAT report", row(ROLE, ROLE, GONE, WRONG_STATUS, ROLE),
             lambda d: act_values(d.cat, "accept"), ("act-accept.n_clicks",)),
        Call("resolve a settled SXD report", row(ROLE, ROLE, WRONG_STATUS, GONE, ROLE),
             lambda d: act_values(d.sxd, "resolve", **{"act-reply.value": "Đã xử lý xong tại hiện trường."}),
             ("act-resolve.n_clicks",)),
    ],
    # Report page
    "report-body.children": [
        Call("SXD report", row("ok", "ok", "ok", GONE, "ok"), lambda d: {"report-code.data": d.sxd["code"]}),
        Call("CAT report", row("ok", "ok", GONE, "ok", "ok"), lambda d: {"report-code.data": d.cat["code"]}),
    ],
    "act-phone.children": [
        Call("reveal without a reason", row(NO_PHONE, NO_REASON, NO_PHONE, NO_PHONE, NO_REASON), lambda d: {
            "act-reveal-go.n_clicks": 1, "act-reveal-code.data": d.sxd["code"], "act-reveal-reason.value": ""}),
    ],
    # Queue
    "queue-table.data": [Call("refresh", row("204", "ok", "204", "204", "ok"))],
    "queue-overdue.data": [Call("page 2 of the province's lists", row("204", "ok", "204", "204", "ok"),
                                lambda d: {"queue-overdue.page_current": 1, "queue-due-soon.page_current": 1},
                                ("queue-overdue.page_current",))],
    "queue-panel.children": [
        Call("SXD row", row("ok", "ok", "ok", GONE, "ok"),
             lambda d: {"queue-table.selected_rows": [0], "queue-table.data": [{"code": d.sxd["code"]}]}),
        Call("CAT row", row("ok", "ok", GONE, "ok", "ok"),
             lambda d: {"queue-table.selected_rows": [0], "queue-table.data": [{"code": d.cat["code"]}]}),
    ],
    "queue-search-table.data": [
        Call("by code", every("ok"), lambda d: {"queue-search.value": "PA-2026"}, ("queue-search.value",)),
        Call("by a CAT reporter's phone", every("ok"), lambda d: {"queue-search.value": d.cat["reporter_phone"]},
             ("queue-search.value",)),
    ],
    # Wall
    "wall-kpis-today-label.children": [Call("refresh", every("ok"))],
    "wall-panel-kpis.className": CLIENTSIDE,
    "wall-clock.children": CLIENTSIDE,
    "wall-map-points.url": CLIENTSIDE,
    # Administration: every write refused for everyone but the admin, who sends no click here
    "users-username.value": [Call("pick a row", every("ok"), lambda d: {
        "users-table.selected_rows": [0], "users-table.derived_virtual_data": [
            {"username": "admin", "full_name": "Quản trị", "role": "admin", "agency_code": None}]})],
    "users-message.children": [
        Call("create an admin", REFUSED_FOR_OTHERS, lambda d: user_form("ke-gia-mao", "admin"),
             ("users-create.n_clicks",), admin=NO_TRIGGER),
        Call("make agency_a an admin", REFUSED_FOR_OTHERS, lambda d: user_form("agency_a", "admin"),
             ("users-save-role.n_clicks",), admin=NO_TRIGGER),
        Call("reset the admin's password", REFUSED_FOR_OTHERS, lambda d: user_form("admin", "admin"),
             ("users-reset.n_clicks",), admin=NO_TRIGGER),
        Call("disable the admin", REFUSED_FOR_OTHERS, lambda d: user_form("admin", "admin"),
             ("users-disable.n_clicks",), admin=NO_TRIGGER),
    ],
    "catalog-message.children": [
        Call(what, REFUSED_FOR_OTHERS, lambda d: CATALOG, (f"catalog-{what}-save.n_clicks",), admin=NO_TRIGGER)
        for what in ("settings", "routing", "agency", "category")],
    "sla-message.children": [
        Call("new SLA version", row(ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, text.SLA_BAD_TIME),
             lambda d: SLA_FORM, admin=({**SLA_FORM, "sla-valid-from.value": "không phải ngày"}, None)),
    ],
    "screens-message.children": [
        Call("create a screen", row(ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, "ok"),
             lambda d: {"screens-create.n_clicks": 1, "screens-name.value": "Màn hình giả mạo",
                        "screens-rotate.value": 20, "screens-refresh.value": 30},
             ("screens-create.n_clicks",), admin=NO_TRIGGER),
        Call("revoke a screen", row(ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, ADMIN_ONLY, "ok"),
             lambda d: {"screens-revoke.n_clicks": 1, "screens-revoke-name.value": "Phòng họp"},
             ("screens-revoke.n_clicks",), admin=NO_TRIGGER),
    ],
    "audit-table.data": [Call("from 2020", row("204", "204", "204", "204", "ok"), lambda d: {
        "audit-dates.start_date": "2020-01-01", "audit-dates.end_date": "2100-01-01"})],
    # The page router
    "_pages_content.children": [
        Call(path, expect, lambda d, p=path: {"_pages_location.pathname": p, "_pages_location.search": ""})
        for path, expect in (
            ("/admin/users", row(*[text.ADMIN_FORBIDDEN] * 4, "ok")),
            ("/queue", row(text.QUEUE_FORBIDDEN, "ok", text.QUEUE_FORBIDDEN, text.QUEUE_FORBIDDEN, "ok")),
            ("/agency/SXD", row("ok", "ok", "ok", text.AGENCY_FORBIDDEN, "ok")),
            ("/agency/CAT", row("ok", "ok", text.AGENCY_FORBIDDEN, "ok", "ok")),
            ("/wall", every("ok")))],
    "_pages_dummy.children": CLIENTSIDE,
}
# Audit rows a callback may write without changing anything: refused reveals and (IOC) phone searches.
HARMLESS_AUDIT = {"phone.refused", "phone.search"}

MATRIX = [pytest.param(name, i, user, id=f"{name}[{call.label}]-{user}")
          for name, calls in CALLBACKS.items() if calls is not CLIENTSIDE
          for i, call in enumerate(calls) for user in SIGNED_IN]


def test_the_table_lists_every_callback(deps):
    assert set(deps) == set(CALLBACKS)
    clientside = {name for name, spec in deps.items() if spec.get("clientside_function")}
    assert clientside == {name for name, calls in CALLBACKS.items() if calls is CLIENTSIDE}


@pytest.mark.parametrize("name", list(CALLBACKS))
def test_anonymous_gets_401_from_every_callback(name, clients, deps, data):
    calls = CALLBACKS[name]
    call = calls[0] if calls is not CLIENTSIDE else Call("", {})
    body = dash_body(deps[name], call.values(data), call.changed, call.page)
    resp = post(clients(ANON), body)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "unauthorized" and "response" not in resp.get_json()


@pytest.mark.parametrize("name,index,user", MATRIX)
def test_callback(name, index, user, clients, deps, data, engine):
    call = CALLBACKS[name][index]
    values, changed = call.values(data), call.changed
    if user == ADMIN and call.admin:
        values, changed = call.admin
    body = dash_body(deps[name], values, changed, call.page)
    before, audit_from = db_state(engine), max_id(engine, "audit_log")
    resp = post(clients(user), body)

    expected = call.expect[user]
    if expected == "204":
        assert resp.status_code == 204, resp.data
    else:
        assert resp.status_code == 200, resp.data
        refusals = callback_refusals(resp)
        if expected == "ok":
            assert refusals == []
        else:
            assert len(refusals) == 1 and expected in refusals[0], refusals
    assert_nothing_leaks(resp, user, data, asked=json.dumps(body, ensure_ascii=False))
    assert db_state(engine) == before, "a refused or read-only callback changed the database"
    assert {a["action"] for a in audit_since(engine, audit_from)} <= HARMLESS_AUDIT


# --- 3. forged payloads for the report actions -----------------------------------------------------------

def stage_for(action: str, data: Data):
    """A report in a state the action may start from: the IOC target waiting at the IOC, the SXD target
    forwarded to SXD (agency A)."""
    if action in IOC_ACTIONS:
        return data.ioc_target["code"], {"status": "received", "agency_id": None}
    return data.sxd_target["code"], {"status": "forwarded"}


def action_extra(action: str, data: Data) -> dict:
    return {"classify": {}, "forward": {"act-agency.value": "SXD", "act-note.value": "Chuyển xử lý"},
            "reject": {"act-reason.value": "insufficient_info"},
            "mark_duplicate": {"act-dup-code.value": data.original["code"]}, "accept": {},
            "resolve": {"act-reply.value": "Đã sửa chữa xong mặt đường, trả lời công dân."},
            "return": {"act-return-reason.value": "Không thuộc thẩm quyền của đơn vị"}}[action]


def act(client, deps, report: dict, action: str, page: str = "report", **extra):
    body = dash_body(deps["act-message.children"], act_values(report, action, **extra), (f"act-{action}.n_clicks",),
                     page)
    resp = post(client, body)
    assert resp.status_code == 200, resp.data
    message = output(resp, {"type": "act-message", "page": page}, "children")
    css = output(resp, {"type": "act-message", "page": page}, "className")
    return resp, message, css


def written_for(engine, report_id: int, events_from: int, audit_from: int) -> tuple[list, list]:
    events = fetch(engine, "SELECT from_status, to_status FROM report_events WHERE report_id = :id AND id > :after",
                   id=report_id, after=events_from)
    return events, audit_since(engine, audit_from)


@pytest.mark.parametrize("user", SIGNED_IN)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_action(action, user, clients, deps, data, engine):
    cell = ACTIONS[action][user]
    code, changes = stage_for(action, data)
    with staged(engine, code, **changes) as report:
        report = {**report, "category": "XD"}
        events_from, audit_from = max_id(engine, "report_events"), max_id(engine, "audit_log")
        resp, message, css = act(clients(user), deps, report, action, **action_extra(action, data))
        after = current(engine, code)
        events, audits = written_for(engine, report["id"], events_from, audit_from)
        assert_nothing_leaks(resp, user, data, asked=code)
        if cell == OK:
            assert css == "form-message ok" and message == text.ACT_DONE[action].format(code=code)
            assert (after["status"], after["version"]) == (TO_STATUS[action], report["version"] + 1)
            assert events == [{"from_status": report["status"], "to_status": TO_STATUS[action]}]
            assert [(a["username"], a["action"], a["target"]) for a in audits] == [(user, f"report.{action}", code)]
            return
        assert css == "form-message error"
        assert message == (ROLE if cell == DENY else f"Không tìm thấy phản ánh {code}.")
        assert (after["status"], after["version"], after["updated_at"]) == (
            report["status"], report["version"], report["updated_at"])
        assert events == [] and audits == []


@pytest.mark.parametrize("action", AGENCY_ACTIONS)
def test_agency_a_cannot_act_on_a_report_of_agency_b(action, clients, deps, data, engine):
    """The code and current version of a CAT report, forwarded to CAT, in agency A's action payload."""
    code = data.cat_target["code"]
    with staged(engine, code, status="forwarded") as report:
        events_from, audit_from = max_id(engine, "report_events"), max_id(engine, "audit_log")
        resp, message, css = act(clients(AGENCY_A), deps, report, action, **action_extra(action, data))
        assert css == "form-message error" and message == f"Không tìm thấy phản ánh {code}."
        after = current(engine, code)
        assert (after["status"], after["version"], after["agency_id"], after["updated_at"]) == (
            "forwarded", report["version"], report["agency_id"], report["updated_at"])
        assert written_for(engine, report["id"], events_from, audit_from) == ([], [])
        # Out of scope reads exactly like unknown.
        unknown = {**report, "code": data.unknown_code}
        _resp, unknown_message, _css = act(clients(AGENCY_A), deps, unknown, action, **action_extra(action, data))
        assert message.replace(code, "?") == unknown_message.replace(data.unknown_code, "?")
        # The same payload from agency B goes through: the refusal is agency A's scope, not the payload.
        if action == "accept":
            _resp, message, css = act(clients(AGENCY_B), deps, report, action)
            assert css == "form-message ok" and current(engine, code)["status"] == "in_progress"


@pytest.mark.parametrize("forged", ["+5", "-1", "none", "text"])
def test_a_forged_version_is_refused_and_writes_nothing(forged, clients, deps, data, engine):
    code = data.ioc_target["code"]
    with staged(engine, code, status="received", agency_id=None) as report:
        version = {"+5": report["version"] + 5, "-1": report["version"] - 1, "none": None, "text": "một"}[forged]
        events_from, audit_from = max_id(engine, "report_events"), max_id(engine, "audit_log")
        _resp, message, css = act(clients(OPERATOR), deps, {**report, "version": version, "category": "XD"},
                                  "forward", **action_extra("forward", data))
        assert css == "form-message error"
        assert STALE in message if forged in ("+5", "-1") else "thiếu phiên bản" in message
        after = current(engine, code)
        assert (after["status"], after["version"], after["agency_id"]) == ("received", report["version"], None)
        assert written_for(engine, report["id"], events_from, audit_from) == ([], [])


def test_agency_a_reading_a_report_of_agency_b_gets_not_found(clients, deps, data):
    resp = render_report(clients(AGENCY_A), deps, data.cat["code"])
    assert resp.status_code == 200
    shown = response_text(resp)
    assert text.REPORT_NOT_FOUND.format(code=data.cat["code"]) in callback_refusals(resp)[0]
    for secret in (data.cat["title"], data.cat["description"], mask(data.cat["reporter_phone"])):
        assert secret not in shown
    assert "act-reveal-go" not in resp.get_data(as_text=True)  # no reveal form either
    # Agency B, whose report it is, reads it.
    assert data.cat["title"] in response_text(render_report(clients(AGENCY_B), deps, data.cat["code"]))


REVEALED = {"type": "act-phone", "page": "report"}


def reveal(client, deps, code: str, reason: str = REASON):
    values = {"act-reveal-go.n_clicks": 1, "act-reveal-code.data": code, "act-reveal-reason.value": reason}
    resp = post(client, dash_body(deps["act-phone.children"], values))
    assert resp.status_code == 200, resp.data
    return resp, output(resp, REVEALED, "className")


@pytest.mark.parametrize("user", SIGNED_IN)
def test_phone_reveal(user, clients, deps, data, engine):
    phone, code = data.sxd["reporter_phone"], data.sxd["code"]
    audit_from = max_id(engine, "audit_log")
    resp, css = reveal(clients(user), deps, code)
    audits = [(a["username"], a["action"], a["target"]) for a in audit_since(engine, audit_from)]
    if user in (OPERATOR, ADMIN):
        assert css == "form-message ok" and phone in strings(output(resp, REVEALED, "children"))
        assert leaked_phones(response_text(resp), data) == {phone}  # the detector used everywhere sees it
        assert audits == [(user, "phone.reveal", code)]
        assert audit_since(engine, audit_from)[0]["detail"] == REASON
        return
    assert css == "form-message error" and NO_PHONE in callback_refusals(resp)[0]
    assert_nothing_leaks(resp, user, data, asked=code)
    assert audits == [(user, "phone.refused", code)]


@contextlib.contextmanager
def agency_phone_setting(engine, value: str):
    with engine.begin() as conn:
        old = conn.execute(sql("SELECT value FROM app_settings WHERE key = 'agency_sees_phone'")).scalar()
        conn.execute(sql("DELETE FROM app_settings WHERE key = 'agency_sees_phone'"))
        conn.execute(sql("INSERT INTO app_settings (key, value) VALUES ('agency_sees_phone', :v)"), {"v": value})
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sql("DELETE FROM app_settings WHERE key = 'agency_sees_phone'"))
            if old is not None:
                conn.execute(sql("INSERT INTO app_settings (key, value) VALUES ('agency_sees_phone', :v)"),
                             {"v": old})


def test_agency_heads_reveal_their_own_reports_only_when_the_admin_allows_it(clients, deps, data, engine):
    with agency_phone_setting(engine, "1"):
        resp, css = reveal(clients(AGENCY_A), deps, data.sxd["code"])
        assert css == "form-message ok" and data.sxd["reporter_phone"] in strings(output(resp, REVEALED,
                                                                                         "children"))
        for user, report in ((AGENCY_A, data.cat), (AGENCY_B, data.sxd)):
            resp, css = reveal(clients(user), deps, report["code"])
            assert css == "form-message error" and GONE in callback_refusals(resp)[0]
            assert_nothing_leaks(resp, user, data, asked=report["code"])
        resp, css = reveal(clients(LEADER), deps, data.sxd["code"])  # leaders never
        assert css == "form-message error" and not leaked_phones(response_text(resp), data)


def test_agency_a_work_list_for_agency_b_is_empty(clients, deps, data, engine):
    spec = deps["agency-work-table.data"]
    with staged(engine, data.cat_target["code"], status="forwarded"):
        resp = post(clients(AGENCY_A), dash_body(spec, {"agency-code.data": "CAT"}))
        assert resp.status_code == 200 and output(resp, ids.AG_WORK_TABLE, "data") == []
        assert_nothing_leaks(resp, AGENCY_A, data)
        # Agency B's own list has the report waiting for it.
        own = post(clients(AGENCY_B), dash_body(spec, {"agency-code.data": "CAT"}))
        assert data.cat_target["code"] in response_text(own)
        # ... which the leak check used everywhere would flag in an answer to agency A.
        assert data.cat_target["code"] in leaked_codes(response_text(own), AGENCY_A, data)


# --- 4. CSRF --------------------------------------------------------------------------------------------

def settings_write(deps) -> dict:
    return dash_body(deps["catalog-message.children"], CATALOG, ("catalog-settings-save.n_clicks",))


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost.evil.example",
                                    "http://localhost:8050", "https://localhost"])
def test_a_cross_origin_callback_is_refused_even_for_a_signed_in_admin(origin, client_for, deps, engine):
    before = db_state(engine)
    resp = post(client_for(ADMIN), settings_write(deps), headers={"Origin": origin})
    assert resp.status_code == 403 and resp.get_json() == {"error": "csrf", "message": text.CSRF_REFUSED}
    assert db_state(engine) == before


@pytest.mark.parametrize("referer", [None, "https://evil.example/admin/catalog", "http://localhost.evil.example/"])
def test_a_callback_without_origin_needs_a_same_origin_referer(referer, client_for, deps, engine):
    client = client_for(ADMIN)
    client.environ_base.pop("HTTP_ORIGIN")
    before = db_state(engine)
    resp = post(client, settings_write(deps), headers={"Referer": referer} if referer else {})
    assert resp.status_code == 403 and resp.get_json()["error"] == "csrf"
    assert db_state(engine) == before
    # From our own page the Referer suffices (a read-only callback here).
    ok = post(client, dash_body(deps["scorecard-period.options"], {"scorecard-period-kind.value": "year"}),
              headers={"Referer": "http://localhost/scorecard"})
    assert ok.status_code == 200


@pytest.mark.parametrize("headers,strip_origin", [({"Origin": "https://evil.example"}, False), ({}, True)])
def test_signing_out_needs_the_forms_token(headers, strip_origin, client_for):
    """Another site's form (no token: it cannot read ours) does not sign anyone out; our header's form does."""
    client = client_for(LEADER)
    if strip_origin:
        client.environ_base.pop("HTTP_ORIGIN")
    assert client.post("/logout", headers=headers).status_code == 400
    assert client.post("/logout", headers=headers, data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/api/v1/overview").status_code == 200  # still signed in
    resp = logout(client)
    assert resp.status_code == 302 and client.get("/api/v1/overview").status_code == 401


@pytest.mark.parametrize("path,refused", [("/logout?api_key=x", 400), ("/_dash-update-component?api_key=x", 403)])
def test_an_api_key_parameter_does_not_switch_off_the_forgery_checks(path, refused, client_for, deps):
    client = client_for(LEADER)
    body = dash_body(deps["scorecard-period.options"], {"scorecard-period-kind.value": "year"})
    resp = client.post(path, json=body, headers={"Origin": "https://evil.example"})
    assert resp.status_code == refused
    assert client.get("/api/v1/overview").status_code == 200


# --- 5. idle timeout ------------------------------------------------------------------------------------

def session_token_hash(client) -> str:
    """The sha256 of the server-side session the client's cookie names (what user_sessions keeps)."""
    with client.session_transaction() as sess:
        token = sess["_user_id"].split(":", 1)[1]
    return hashlib.sha256(token.encode()).hexdigest()


def set_last_active(client, engine, seconds_ago: float) -> None:
    with engine.begin() as conn:
        conn.execute(sql("UPDATE user_sessions SET last_active_at = :at WHERE token_hash = :h"),
                     {"at": datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=seconds_ago),
                      "h": session_token_hash(client)})


def last_active(client, engine) -> datetime:
    value = scalar(engine, "SELECT last_active_at FROM user_sessions WHERE token_hash = :h",
                   h=session_token_hash(client))
    return datetime.fromisoformat(value) if isinstance(value, str) else value


IDLE_SECONDS = config.settings().idle_timeout.total_seconds()


@pytest.mark.parametrize("request_kind", ["api", "callback", "page"])
def test_an_idle_session_expires(request_kind, client_for, deps, engine):
    client = client_for(OPERATOR)
    set_last_active(client, engine, IDLE_SECONDS + 60)
    audit_from = max_id(engine, "audit_log")
    if request_kind == "api":
        resp = client.get("/api/v1/overview")
    elif request_kind == "callback":
        resp = post(client, dash_body(deps["scorecard-period.options"], {"scorecard-period-kind.value": "year"}))
    else:
        resp = client.get("/scorecard")
    if request_kind == "page":
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")
        assert text.SESSION_EXPIRED in client.get("/login").get_data(as_text=True)
    else:
        assert resp.status_code == 401
        assert resp.get_json() == {"error": "session_expired", "message": text.SESSION_EXPIRED}
    assert [(a["username"], a["action"], a["target"]) for a in audit_since(engine, audit_from)] == [
        (OPERATOR, "auth.idle_timeout", OPERATOR)]
    assert client.get("/api/v1/overview").status_code == 401  # signed out


# (the callback, what a timer sets off, what a person does). What a timer sets off includes the updates that a
# timer's own update sets off in turn (a store written, then the map re-read), which are not the person either.
TIMERS = {"overview-kpis.children": ("overview-refresh.n_intervals", "filter-category.value"),
          "wall-kpis-today-label.children": ("wall-refresh.n_intervals", None),
          "queue-table.data": ("queue-refresh.n_intervals", None),
          "overview-map-points.url": ("overview-map-params.data", "overview-map.zoom")}


@pytest.mark.parametrize("name", list(TIMERS))
def test_timer_refreshes_are_not_activity(name, client_for, deps, engine):
    timer, person = TIMERS[name]
    client = client_for(OPERATOR)
    set_last_active(client, engine, 600)
    earlier = last_active(client, engine)
    resp = post(client, dash_body(deps[name], {}, (timer,), page="queue"))
    assert resp.status_code in (200, 204)  # 204: nothing to update for these values
    assert last_active(client, engine) == earlier
    if person:  # a person's change does count
        assert post(client, dash_body(deps[name], {}, (person,), page="queue")).status_code in (200, 204)
        assert last_active(client, engine) > earlier
    # And a timer cannot keep an idle session alive.
    set_last_active(client, engine, IDLE_SECONDS + 1)
    resp = post(client, dash_body(deps[name], {}, (timer,), page="queue"))
    assert resp.status_code == 401 and resp.get_json()["error"] == "session_expired"


# --- 6. sign-in rate limit ------------------------------------------------------------------------------

LOCKED = text.LOGIN_LOCKED.split("{")[0]


def test_five_failures_lock_the_name(throwaway_user, server, engine):
    client = server.test_client()
    audit_from = max_id(engine, "audit_log")
    for _ in range(5):
        assert login(client, throwaway_user, "sai-mat-khau-roi").status_code == 401
    resp = login(client, throwaway_user)  # the right password, too late
    assert resp.status_code == 429
    body = resp.get_data(as_text=True)
    assert LOCKED in body and text.LOGIN_LOCKED.format(minutes=15) in body
    assert client.get("/api/v1/overview").status_code == 401
    assert login(client, throwaway_user.upper()).status_code == 429  # the name, whatever its case
    actions = [(a["action"], a["target"]) for a in audit_since(engine, audit_from)]
    assert actions.count(("auth.failed", throwaway_user)) == 5 and ("auth.locked", throwaway_user) in actions
    assert login(server.test_client(), LEADER).status_code == 302  # other names from the same address: not locked


def test_thirty_failures_from_one_address_lock_the_address(server, engine):
    address = "192.0.2.77"
    client = server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    try:
        for i in range(30):
            assert login(client, f"khong-co-{i}", "sai-mat-khau-roi").status_code == 401
        resp = login(client, LEADER)
        assert resp.status_code == 429 and LOCKED in resp.get_data(as_text=True)
        assert login(server.test_client(), LEADER).status_code == 302  # another address
    finally:
        with engine.begin() as conn:
            conn.execute(sql("DELETE FROM login_failures WHERE ip = :ip"), {"ip": address})
