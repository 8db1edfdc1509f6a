"""Every Dash callback and every HTTP route of the app, timed as the browser (or an Open311 client) calls it:
through the app's sign-in guard, checks and JSON, on the system of record, with the analytics copy on as the
app runs it.

    python bench/work.py [--reports 1000000] [--runs 5] [--url DATABASE_URL] [--only TEXT] [--no-writes]

Uses the seeded database of bench/overview.py and the analytics copy of bench/callbacks.py (caught up here,
built on first use). For each entry it prints the median of --runs runs after one warm-up (ms), the worst, and
what the answer held (rows, count), so a fast wrong answer shows.

Reads come first. Entries marked `writes` then act as their users would, each run on another report or name:
an operator forwards the oldest waiting reports, an admin creates users and screens and saves an SLA version
valid from 2040, an Open311 key submits reports. They change the benchmark database, as a load test does.
Answers the app caches (the leaders' aggregates) are served from its cache on repeat: bench/callbacks.py
times them after a data change.

tests/test_bench_coverage.py fails when a callback or a route has no entry here.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overview import BENCH_PASSWORD  # noqa: E402
from tests.dash_calls import callback_name, dash_body, form_token, layout_form_token  # noqa: E402

# Every callback is posted to this route: CALLBACKS time it.
CALLBACK_ROUTE = ("/_dash-update-component", "POST")
# Served as files by Dash or Flask: no query, nothing of ours to time.
STATIC_RULES = {"/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
                "/assets/<path:filename>", "/static/<path:filename>", "/_favicon.ico", "/_reload-hash"}

USERS = {"ioc": ("bench-ioc", "operator", None), "sxd": ("bench-sxd", "agency", "SXD"),
         "admin": ("bench-admin", "admin", None), "leader": ("bench-leader", "leader", None)}


@dataclass(frozen=True)
class Sample:
    """Facts read from the benchmark database once, untimed, that the entries ask about."""

    newest_code: str
    some_code: str
    phone: str
    month: str
    waiting: list[dict]  # the oldest reports waiting for the IOC: code, version, agency
    media_id: int | None
    year_range: tuple[str, str]  # the filter bar's default, 12 months through today
    stamp: str  # makes each run's new names unique

    @classmethod
    def read(cls, db, waiting: int = 12) -> Sample:
        from sqlalchemy import func, select

        from dashboard.components.filter_bar import preset_range
        from queries import scorecard
        from queries.schema import agencies, media, reports

        newest = db.scalar(select(reports.c.code).order_by(reports.c.id.desc()).limit(1))
        middle = db.scalar(select(func.max(reports.c.id))) // 2
        waiting_reports = db.read_rows(
            select(reports.c.code, reports.c.version, agencies.c.code.label("agency"))
            .select_from(reports.outerjoin(agencies, agencies.c.id == reports.c.agency_id))
            .where(reports.c.status == "received").order_by(reports.c.created_at).limit(waiting))
        return cls(
            newest_code=newest,
            some_code=db.scalar(select(reports.c.code).where(reports.c.id >= middle).order_by(reports.c.id).limit(1)),
            phone=db.scalar(select(reports.c.reporter_phone).where(reports.c.reporter_phone.isnot(None))
                            .order_by(reports.c.id.desc()).limit(1)),
            month=scorecard.recent_periods("month", 1)[0].key,
            waiting=waiting_reports,
            media_id=db.scalar(select(func.min(media.c.id))),
            year_range=tuple(day.isoformat() for day in preset_range("12m")),
            stamp=time.strftime("%H%M%S"),
        )

    @property
    def year(self) -> str:
        return self.newest_code.split("-")[1]


@dataclass(frozen=True)
class Callback:
    name: str
    user: str
    callback: str  # the callback's name: its first output as 'id.prop', a pattern-matching id by its type
    values: Callable[[Sample, int], dict]  # the inputs and states of run i
    changed: tuple[str, ...] | None = None  # default: the first input
    writes: bool = False
    page: str = "report"  # the page that pattern-matching ids are made concrete with


@dataclass(frozen=True)
class Route:
    name: str
    user: str | None  # None: no session (Open311 with a key, health, the sign-in page)
    rule: str  # the Flask rule it times, as app.url_map writes it
    method: str
    request: Callable[[Sample, int], dict]  # the test client's arguments for run i: path, query_string, data…
    writes: bool = False
    status: int = 200  # the answer expected (a redirect, a refusal on purpose)


def _search(query: str, page: int = 0) -> dict:
    return {"queue-search.value": query, "queue-search-go.n_clicks": 1, "queue-search-table.page_current": page}


def _forward(s: Sample, i: int) -> dict:
    report = s.waiting[i % len(s.waiting)]
    others = ("classify", "reject", "mark_duplicate", "accept", "resolve", "return")
    return {f"act-{b}.n_clicks": 0 for b in others} | {
        "act-forward.n_clicks": 1, "act-report.data": {"code": report["code"], "version": report["version"]},
        "act-category.value": None, "act-urgent.value": [], "act-agency.value": report["agency"] or "SXD",
        "act-note.value": "", "act-reason.value": None, "act-dup-of.value": None, "act-dup-code.value": "",
        "act-reply.value": "", "act-proof.contents": None, "act-return-reason.value": ""}


def _catalog_settings(_s: Sample, _i: int) -> dict:
    return {"catalog-settings-phone.value": ["on"], "catalog-settings-radius.value": 150,
            "catalog-settings-days.value": 7}


SEARCH = "queue-search.value"

CALLBACKS = [
    # The IOC's queue and search
    Callback("queue: waiting reports and the lists", "ioc", "queue-table.data",
             lambda s, i: {"queue-refresh.n_intervals": 1}, ("queue-refresh.n_intervals",)),
    Callback("search: a whole code", "ioc", "queue-search-table.data", lambda s, i: _search(s.some_code), (SEARCH,)),
    Callback("search: a code's beginning", "ioc", "queue-search-table.data",
             lambda s, i: _search(f"PA-{s.year}-0001"), (SEARCH,)),
    Callback("search: a phone's last 6 digits", "ioc", "queue-search-table.data",
             lambda s, i: _search(s.phone[-6:]), (SEARCH,)),
    Callback("search: 4 digits (a report's number)", "ioc", "queue-search-table.data",
             lambda s, i: _search(s.phone[-4:]), (SEARCH,)),
    Callback("search: a common phrase", "ioc", "queue-search-table.data", lambda s, i: _search("nắp hố ga"),
             (SEARCH,)),
    Callback("search: a rare word", "ioc", "queue-search-table.data", lambda s, i: _search("zqxw"), (SEARCH,)),
    Callback("search: words in every report", "ioc", "queue-search-table.data", lambda s, i: _search("phản ánh"),
             (SEARCH,)),
    Callback("search: words in every report, agency head", "sxd", "queue-search-table.data",
             lambda s, i: _search("phản ánh"), (SEARCH,)),
    Callback("search: page 40 of a common phrase", "ioc", "queue-search-table.data",
             lambda s, i: _search("nắp hố ga", 40), ("queue-search-table.page_current",)),
    Callback("queue: page 3 of the province's overdue list", "ioc", "queue-overdue.data",
             lambda s, i: {"queue-overdue.page_current": 2, "queue-due-soon.page_current": 0},
             ("queue-overdue.page_current",)),
    Callback("queue: a waiting report's panel", "ioc", "queue-panel.children",
             lambda s, i: {"queue-table.selected_rows": [0], "queue-table.data": [{"code": s.waiting[0]["code"]}]},
             ("queue-table.selected_rows",)),
    # A report's page
    Callback("report page: body", "ioc", "report-body.children", lambda s, i: {"report-code.data": s.some_code}),
    Callback("report page: a proof photo chosen", "sxd", "act-proof-name.children",
             lambda s, i: {"act-proof.filename": "anh-hien-truong.jpg"}),
    # An agency head's page
    Callback("agency head: cards and trends (SXD)", "sxd", "agency-kpis.children",
             lambda s, i: {"agency-code.data": "SXD", "agency-code-period.value": "12m"}),
    Callback("agency head: work table (SXD)", "sxd", "agency-work-table.data",
             lambda s, i: {"agency-code.data": "SXD"}),
    Callback("agency head: overdue and due-soon (SXD)", "sxd", "agency-overdue.data",
             lambda s, i: {"agency-code.data": "SXD", "agency-code-period.value": "12m",
                           "agency-overdue.page_current": 0, "agency-due-soon.page_current": 0}),
    # The leaders' screens
    Callback("overview: cards, charts and map (12 months)", "leader", "overview-kpis.children",
             lambda s, i: {"filter-dates.start_date": s.year_range[0], "filter-dates.end_date": s.year_range[1]}),
    Callback("overview: the map's request for a view", "leader", "overview-map-points.url",
             lambda s, i: {"overview-map-params.data": {}, "overview-map.zoom": 12,
                           "overview-map.bounds": [[16.7, 106.9], [16.9, 107.2]]}),
    Callback("overview: a preset chosen", "leader", "filter-dates.start_date",
             lambda s, i: {"filter-preset.value": "30d"}),
    Callback("overview: filters reset", "leader", "filter-preset.value",
             lambda s, i: {"filter-reset.n_clicks": 1, "filter-agency.disabled": False}),
    Callback("wall: every panel", "leader", "wall-kpis-today-label.children",
             lambda s, i: {"wall-refresh.n_intervals": 1}),
    Callback("scorecard: the periods of a kind", "leader", "scorecard-period.options",
             lambda s, i: {"scorecard-period-kind.value": "quarter"}),
    Callback("scorecard: the table for a month", "leader", "scorecard-table.data",
             lambda s, i: {"scorecard-period.value": s.month, "scorecard-category.value": [],
                           "scorecard-period-kind.value": "month"}),
    Callback("scorecard: an agency clicked", "leader", "scorecard-table-nav.pathname",
             lambda s, i: {"scorecard-table.active_cell": {"row": 0, "column": 1, "column_id": "name"},
                           "scorecard-table.derived_viewport_data": [{"key": "SXD", "name": "Sở Xây dựng"}]}),
    Callback("page router: an agency's page", "leader", "_pages_content.children",
             lambda s, i: {"_pages_location.pathname": "/agency/SXD", "_pages_location.search": ""}),
    # Administration
    Callback("admin: the audit log, one action", "admin", "audit-table.data",
             lambda s, i: {"audit-action.value": "auth.login"}, ("audit-action.value",)),
    Callback("admin: the audit log, one user and a year", "admin", "audit-table.data",
             lambda s, i: {"audit-user.value": "bench-ioc", "audit-dates.start_date": "2026-01-01",
                           "audit-dates.end_date": "2026-12-31"}, ("audit-user.value",)),
    Callback("admin: a user picked", "admin", "users-username.value",
             lambda s, i: {"users-table.selected_rows": [0], "users-table.derived_virtual_data": [
                 {"username": "bench-ioc", "full_name": "", "role": "operator", "agency_code": None}]}),
    # Writes, each run on another report or name
    Callback("write: an operator forwards a report", "ioc", "act-message.children", _forward,
             ("act-forward.n_clicks",), writes=True, page="queue"),
    Callback("write: a phone number revealed (audited)", "ioc", "act-phone.children",
             lambda s, i: {"act-reveal-go.n_clicks": 1, "act-reveal-code.data": s.some_code,
                           "act-reveal-reason.value": "Gọi lại xác minh vị trí"}, writes=True),
    Callback("write: a user created", "admin", "users-message.children",
             lambda s, i: {"users-create.n_clicks": 1, "users-username.value": f"bench-{s.stamp}-{i}",
                           "users-full-name.value": "Người dùng thử", "users-role.value": "leader",
                           "users-agency.value": None, "users-password.value": "Mat-khau-thu-2026!"},
             ("users-create.n_clicks",), writes=True),
    Callback("write: the catalog's settings saved", "admin", "catalog-message.children", _catalog_settings,
             ("catalog-settings-save.n_clicks",), writes=True),
    Callback("write: an SLA version saved", "admin", "sla-message.children",
             lambda s, i: {"sla-save.n_clicks": 1, "sla-category.value": "HC", "sla-urgent.value": [],
                           "sla-ioc.value": 1, "sla-agency.value": 5, "sla-note.value": "bench",
                           "sla-valid-from.value": f"2040-01-01 {int(s.stamp[:2]):02d}:{i:02d}"}, writes=True),
    Callback("write: a wall screen created", "admin", "screens-message.children",
             lambda s, i: {"screens-create.n_clicks": 1, "screens-name.value": f"Màn hình {s.stamp}-{i}",
                           "screens-rotate.value": 20, "screens-refresh.value": 30},
             ("screens-create.n_clicks",), writes=True),
]


def _get(path: str, **query) -> Callable[[Sample, int], dict]:
    return lambda s, i: {"path": path, "query_string": query}


def _open311(path: str, **query) -> Callable[[Sample, int], dict]:
    return _get(f"/open311/v2/{path}", **query)


ROUTES = [
    Route("sign-in page", None, "/login", "GET", _get("/login")),
    Route("sign-in (password hash, session row)", None, "/login", "POST", _get("/login"),
          writes=True, status=302),
    Route("sign-out", "fresh", "/logout", "POST", _get("/logout"), writes=True, status=302),
    Route("a page's HTML shell (/queue)", "ioc", "/<path:path>", "GET", _get("/queue")),
    Route("the home page's HTML shell", "leader", "/", "GET", _get("/")),
    Route("Dash layout", "ioc", "/_dash-layout", "GET", _get("/_dash-layout")),
    Route("Dash dependencies", "ioc", "/_dash-dependencies", "GET", _get("/_dash-dependencies")),
    Route("health", None, "/healthz", "GET", _get("/healthz")),
    Route("a revoked screen's page", None, "/wall/revoked", "GET", _get("/wall/revoked"), status=403),
    Route("API: overview (12 months)", "leader", "/api/v1/overview", "GET", _get("/api/v1/overview")),
    Route("API: map points, a town at zoom 14", "leader", "/api/v1/map/points", "GET",
          lambda s, i: {"path": "/api/v1/map/points",
                        "query_string": {"zoom": 14, "bbox": "107.05,16.78,107.15,16.85"}}),
    Route("API: scorecard, last month", "leader", "/api/v1/scorecard", "GET",
          lambda s, i: {"path": "/api/v1/scorecard", "query_string": {"period": "month", "date": s.month}}),
    Route("API: an agency (SXD)", "sxd", "/api/v1/agencies/<code>", "GET", _get("/api/v1/agencies/SXD")),
    Route("API: the IOC queue", "ioc", "/api/v1/queue", "GET", _get("/api/v1/queue")),
    Route("API: a report", "ioc", "/api/v1/reports/<code>", "GET",
          lambda s, i: {"path": f"/api/v1/reports/{s.some_code}"}),
    Route("API: wall heartbeat", "leader", "/api/v1/wall/heartbeat", "GET",
          _get("/api/v1/wall/heartbeat")),
    Route("a photo", "ioc", "/media/<int:media_id>", "GET", lambda s, i: {"path": f"/media/{s.media_id or 1}"}),
    Route("Open311: discovery", "key", "/open311/v2/discovery.<any(json,xml):fmt>", "GET", _open311("discovery.json")),
    Route("Open311: OpenAPI", None, "/open311/v2/openapi.json", "GET", _get("/open311/v2/openapi.json")),
    Route("Open311: services", "key", "/open311/v2/services.<any(json,xml):fmt>", "GET", _open311("services.json")),
    Route("Open311: a service's definition", "key", "/open311/v2/services/<service_code>.<any(json,xml):fmt>", "GET",
          _open311("services/MT.json")),
    Route("Open311: requests, newest page", "key", "/open311/v2/requests.<any(json,xml):fmt>", "GET",
          _open311("requests.json")),
    Route("Open311: requests, one service, closed, this year", "key", "/open311/v2/requests.<any(json,xml):fmt>", "GET",
          _open311("requests.json", service_code="MT", status="closed",
                   start_date=f"{time.strftime('%Y')}-01-01T00:00:00+07:00")),
    Route("Open311: one request", "key", "/open311/v2/requests/<request_id>.<any(json,xml):fmt>", "GET",
          lambda s, i: {"path": f"/open311/v2/requests/{s.some_code}.json"}),
    Route("Open311: a token (unknown)", "key", "/open311/v2/tokens/<token>.<any(json,xml):fmt>", "GET",
          _open311("tokens/khong-co-token-nay.json"), status=404),
    Route("Open311: a report submitted", "key", "/open311/v2/requests.<any(json,xml):fmt>", "POST",
          lambda s, i: {"path": "/open311/v2/requests.json", "data": {
              "service_code": "MT", "lat": "16.8163", "long": "107.1003",
              "description": f"Rác tồn đọng ven đường (bench {s.stamp}-{i})"}}, writes=True, status=201),
]


def sign_in(app, who: str):
    """A test client signed in as the bench user for `who` (made on first use)."""
    from queries.users import create_user, get_user_by_name

    username, role, agency = USERS.get(who, ("bench-fresh", "leader", None))
    if get_user_by_name(username) is None:
        create_user(username, BENCH_PASSWORD, role, agency)
    client = app.test_client()
    client.environ_base["HTTP_ORIGIN"] = "http://localhost"
    token = form_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"username": username, "password": BENCH_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    client.get("/")
    return client


def summary(body) -> str:
    """What the answer held: the rows of each table output, and any count shown."""
    if not isinstance(body, dict):
        return ""
    parts = []
    for component, props in body.get("response", {}).items():
        for prop, value in props.items():
            if prop == "data" and isinstance(value, list):
                parts.append(f"{component}: {len(value)} rows")
            elif prop == "children" and isinstance(value, str) and re.search(r"\d", value):
                parts.append(value[:40])
    for key in ("total", "count", "status"):
        if key in body:
            parts.append(f"{key}: {body[key]}")
    return "; ".join(parts)[:90]


class Bench:
    """The app, its bench users and what an entry needs to be called; also used by the coverage test."""

    def __init__(self, app, sample: Sample):
        self.app, self.sample = app, sample
        self.clients: dict[str, object] = {}
        self.dependencies = {callback_name(spec): spec
                             for spec in self.client("admin").get("/_dash-dependencies").get_json()}
        self._key = None

    def client(self, who: str | None):
        if who is None or who == "key":
            return self.app.test_client()
        if who not in self.clients:
            self.clients[who] = sign_in(self.app, who)
        return self.clients[who]

    def api_key(self) -> str:
        from queries import open311

        if self._key is None:
            self._key = open311.create_api_key(f"bench-{self.sample.stamp}-{time.time_ns()}", "app")[1]
        return self._key

    def prepared(self, entry: Callback | Route, i: int) -> Callable[[], object]:
        """Run i's request, ready to send: whatever must come first (a sign-in, a form's token) is done here,
        untimed."""
        if isinstance(entry, Callback):
            body = dash_body(self.dependencies[entry.callback], entry.values(self.sample, i), entry.changed,
                             entry.page)
            client = self.client(entry.user)
            return lambda: client.post("/_dash-update-component", json=body)
        args = entry.request(self.sample, i)
        client = self.client(entry.user)
        if entry.user == "fresh":  # sign-out ends the session: a new one each run
            client = sign_in(self.app, "fresh")
            args["data"] = {"csrf_token": layout_form_token(client)}
        if entry.rule == "/login" and entry.method == "POST":
            args["data"] = {"username": USERS["leader"][0], "password": BENCH_PASSWORD,
                            "csrf_token": form_token(client.get("/login").get_data(as_text=True))}
        if entry.user == "key":
            args["query_string"] = {**args.get("query_string", {}), "api_key": self.api_key()}
        path = args.pop("path")
        return lambda: client.open(path, method=entry.method, **args)

    def call(self, entry: Callback | Route, i: int):
        """One call of run i: (status, JSON or None)."""
        resp = self.prepared(entry, i)()
        return resp.status_code, (resp.get_json(silent=True) if resp.is_json else None)

    def timed(self, entry, runs: int) -> tuple[list[float], int, object]:
        samples, resp = [], None
        for i in range(runs + 1):
            send = self.prepared(entry, i)
            t0 = time.perf_counter()
            resp = send()
            took = (time.perf_counter() - t0) * 1000
            if i:  # the first run warms up
                samples.append(took)
        return samples, resp.status_code, (resp.get_json(silent=True) if resp.is_json else None)


def one_photo(db) -> None:
    """The demo's pictures in this app's media folder, and one report with a photo: the seeded database of
    bench/overview.py has none (no status history), so that the photo route serves a file."""
    from sqlalchemy import func, insert, select

    from queries import demo_media
    from queries.schema import media, reports

    paths = demo_media.ensure_pictures(db)
    if db.scalar(select(func.count()).select_from(media)):
        return
    report = db.read_rows(select(reports.c.id, reports.c.category_id, reports.c.created_at)
                          .where(reports.c.category_id.in_(list(paths))).order_by(reports.c.id.desc()).limit(1))
    with db.begin() as conn:
        conn.execute(insert(media), demo_media.media_rows(report, [True], paths))


def parse_args():
    from bench.overview import parse_args as base_args

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--only", default="", help="Only the entries whose name contains this text")
    extra.add_argument("--no-writes", action="store_true", help="Leave out the entries that write")
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = base_args()
    args.only, args.no_writes = known.only, known.no_writes
    return args


def use_the_copy(db, reports: int) -> None:
    """The analytics copy of bench/callbacks.py for this database, caught up (built when missing)."""
    from queries import analytics, config

    directory = config.settings().instance_dir / f"analytics-{db.dialect}-{reports}"
    config.use(config.changed(analytics_dir=directory, analytics="duckdb"))
    t0 = time.perf_counter()
    analytics.sync(db, directory)
    print(f"analytics copy {directory.name}: ready in {time.perf_counter() - t0:.1f} s", flush=True)


def main() -> None:
    from bench.overview import prepare
    from queries.db import configure

    args = parse_args()
    # The bench signs in more often than a person: the app's flood cap would refuse it (bench/load.sh too).
    os.environ.setdefault("LOGIN_RATE_LIMIT", "100000 per minute")
    db, leader = prepare(args)
    logging.getLogger("paht.request").disabled = True  # a line per request would bury the figures
    configure(db.url)
    use_the_copy(db, args.reports)
    with leader.application.app_context():
        one_photo(db)
    bench = Bench(leader.application, Sample.read(db))
    chosen = [e for e in [*CALLBACKS, *ROUTES] if args.only.lower() in e.name.lower()]
    chosen = sorted((e for e in chosen if not (args.no_writes and e.writes)), key=lambda e: e.writes)
    print(f"\n{args.reports:,} reports · {db.dialect} · median of {args.runs} runs after a warm-up (worst), ms\n")
    for entry in chosen:
        samples, status, answer = bench.timed(entry, args.runs)
        expected = entry.status if isinstance(entry, Route) else 200
        flag = "" if status == expected else f"  HTTP {status}, not {expected}"
        print(f"  {entry.name:<50} {statistics.median(samples):>9.1f} ({max(samples):>7.1f})   "
              f"{summary(answer)}{flag}", flush=True)


if __name__ == "__main__":
    main()
