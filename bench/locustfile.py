"""Load test: wall screens refreshing every 30 s, IOC operators clicking through filters and working the queue
(search, open, forward), agency heads on their page, as a browser would (POSTs to /_dash-update-component
built from /_dash-dependencies), and a citizens' app writing. Run it with bench/load.sh, which starts
gunicorn, waits for the analytics copy, runs locust headless and prints p50 / p95 / p99 and errors.

Environment: PAHT_SCREEN_TOKEN (a display token), PAHT_USER / PAHT_PASSWORD (an operator), PAHT_AGENCY_USER
(an agency head of SXD, same password), PAHT_API_KEY (an Open311 key of the app channel, for the one simulated
citizen app that keeps writing).
"""

from __future__ import annotations

import os
import random
import re
import sys
from datetime import date, timedelta
from pathlib import Path

from locust import HttpUser, between, constant, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # locust puts only bench/ on the path
from tests.dash_calls import callback_name, dash_body  # noqa: E402

CATEGORIES = ["XD", "MT", "GT", "DT", "AN", "DV", "HC", "KHAC"]
AGENCIES = ["SXD", "SNNMT", "CAT", "DLQT", "MTDT", "SYT", None]
PRESETS = [30, 90, 365, 730]


class DashUser(HttpUser):
    abstract = True
    specs: dict

    def sign_in(self, username: str) -> None:
        page = self.client.get("/login", name="/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.client.post("/login", name="/login (POST)", headers={"Origin": self.host},
                         data={"username": username, "password": os.environ["PAHT_PASSWORD"], "csrf_token": token})
        self.load_specs()

    def load_specs(self) -> None:
        deps = self.client.get("/_dash-dependencies", name="/_dash-dependencies").json()
        self.specs = {callback_name(d): d for d in deps}

    def callback(self, callback: str, values: dict, name: str, changed: tuple[str, ...] | None = None):
        body = dash_body(self.specs[callback], values, changed, page="queue")
        return self.client.post("/_dash-update-component", json=body, name=name, headers={"Origin": self.host})

    def search(self, query: str, name: str) -> None:
        self.callback("queue-search-table.data", {"queue-search.value": query, "queue-search-go.n_clicks": 1,
                                                  "queue-search-table.page_current": 0}, name,
                      ("queue-search.value",))


class WallScreen(DashUser):
    """A wall screen: its refresh callback every 30 s, the heartbeat, the map points when data changed."""

    wait_time = constant(30)
    fixed_count = 50

    def on_start(self) -> None:
        self.client.get(f"/wall?token={os.environ['PAHT_SCREEN_TOKEN']}", name="/wall?token")
        self.load_specs()
        self.version = None

    @task
    def refresh(self) -> None:
        self.callback("wall-kpis-today-label.children", {"wall-version.data": self.version}, "wall refresh")
        self.client.get("/api/v1/wall/heartbeat", name="/api/v1/wall/heartbeat",
                        headers={"X-Requested-With": "XMLHttpRequest"})
        self.client.get("/api/v1/map/points", name="/api/v1/map/points (wall)")


class Operator(DashUser):
    """Someone at a desk: signs in, then changes the overview's filters, opens the scorecard and the queue."""

    wait_time = between(2, 8)
    fixed_count = 20

    def on_start(self) -> None:
        self.sign_in(os.environ["PAHT_USER"])

    @task(5)
    def overview(self) -> None:
        end = date.today()
        start = end - timedelta(days=random.choice(PRESETS))
        agency = random.choice(AGENCIES)
        self.callback("overview-kpis.children", {
            "filter-dates.start_date": start.isoformat(), "filter-dates.end_date": end.isoformat(),
            "filter-category.value": random.sample(CATEGORIES, random.choice([0, 0, 1, 2])),
            "filter-agency.value": [agency] if agency else [],
        }, "overview (filters)")
        # The browser then fetches the map for its viewport (the province at first, a district after a zoom).
        view = random.choice(["zoom=8", "zoom=11&bbox=106.35,17.27,106.90,17.63"])
        query = f"from={start.isoformat()}&to={end.isoformat()}" + (f"&agency={agency}" if agency else "")
        self.client.get(f"/api/v1/map/points?{query}&{view}", name="/api/v1/map/points (overview)")

    @task(2)
    def scorecard(self) -> None:
        self.callback("scorecard-table.data", {"scorecard-period-kind.value": random.choice(["month", "quarter"]),
                                          "scorecard-category.value": []}, "scorecard")

    @task(2)
    def agency(self) -> None:
        values = {"agency-code.data": random.choice(AGENCIES[:-1]),
                  "agency-code-period.value": random.choice(["30d", "12m"])}
        self.callback("agency-kpis.children", values, "agency page")
        self.callback("agency-overdue.data", values, "agency page, lists")

    @task(1)
    def queue(self) -> None:
        self.callback("queue-table.data", {}, "queue")
        self.callback("queue-overdue.data", {"queue-overdue.page_current": random.choice([0, 0, 3]),
                                        "queue-due-soon.page_current": 0}, "queue, deadline lists")

    @task(4)
    def work_the_queue(self) -> None:
        """Search (a code's beginning, a phone's last digits, words), open the oldest waiting report, forward it."""
        year = date.today().year
        self.search(random.choice([f"PA-{year}-00{random.randrange(10, 99)}", f"09{random.randrange(10**4):04d}",
                                   f"{random.randrange(10**6):06d}", "nắp hố ga", "đèn đường"]), "search")
        waiting = self.client.get("/api/v1/queue", name="/api/v1/queue").json().get("reports") or []
        if not waiting:
            return
        report = random.choice(waiting[:20])
        self.callback("report-body.children", {"report-code.data": report["code"]}, "report page")
        others = ("classify", "reject", "mark_duplicate", "accept", "resolve", "return")
        values = {f"act-{b}.n_clicks": 0 for b in others} | {
            "act-forward.n_clicks": 1, "act-report.data": {"code": report["code"], "version": report["version"]},
            "act-agency.value": report.get("agency_code") or "SXD", "act-urgent.value": [], "act-note.value": "",
            "act-dup-code.value": "", "act-reply.value": "", "act-return-reason.value": ""}
        self.callback("act-message.children", values, "forward", ("act-forward.n_clicks",))


class AgencyHead(DashUser):
    """The head of SXD: the agency page (cards, lists, work table page by page), a search in scope."""

    wait_time = between(3, 10)
    fixed_count = 10

    def on_start(self) -> None:
        self.sign_in(os.environ["PAHT_AGENCY_USER"])

    @task(3)
    def agency_page(self) -> None:
        values = {"agency-code.data": "SXD", "agency-code-period.value": random.choice(["30d", "12m"])}
        self.callback("agency-kpis.children", values, "agency head: cards")
        self.callback("agency-overdue.data", values, "agency head: deadline lists")
        self.callback("agency-work-table.data", {"agency-code.data": "SXD",
                                                 "agency-work-table.page_current": random.choice([0, 0, 1, 5])},
                      "agency head: work table", ("agency-work-table.page_current",))

    @task(1)
    def search_in_scope(self) -> None:
        self.search(random.choice(["nắp hố ga", "đèn đường", f"PA-{date.today().year}-01"]), "agency head: search")


class Citizen(HttpUser):
    """The citizens' app: a new report every 10 s through Open311, so the data keeps changing during the run
    (each write moves the data version: the analytics copy catches up and cached answers expire)."""

    wait_time = constant(10)
    fixed_count = 1

    @task
    def submit(self) -> None:
        lat, lon = 16.75 + random.random() * 0.3, 106.95 + random.random() * 0.3
        self.client.post(f"/open311/v2/requests.json?api_key={os.environ['PAHT_API_KEY']}",
                         name="/open311/v2/requests.json (POST)",
                         data={"service_code": random.choice(CATEGORIES[:6]), "lat": f"{lat:.5f}",
                               "long": f"{lon:.5f}", "description": "Kiểm tra tải: phản ánh thử nghiệm",
                               "phone": f"09{random.randrange(10**8):08d}"})
