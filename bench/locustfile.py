"""Load test: wall screens refreshing every 30 s plus operators clicking through filters, as a browser would
(POSTs to /_dash-update-component built from /_dash-dependencies). Run it with bench/load.sh, which starts
gunicorn, waits for the analytics copy, runs locust headless and prints p50 / p95 / p99 and errors.

Environment: PAHT_SCREEN_TOKEN (a display token), PAHT_USER / PAHT_PASSWORD (a leader or operator), PAHT_API_KEY
(an Open311 key of the app channel, for the one simulated citizen app that keeps writing).
"""

from __future__ import annotations

import os
import random
import re
from datetime import date, timedelta

from locust import HttpUser, between, constant, task

CATEGORIES = ["XD", "MT", "GT", "DT", "AN", "DV", "HC", "KHAC"]
AGENCIES = ["SXD", "SNNMT", "CAT", "DLQT", "MTDT", "SYT", None]
PRESETS = [30, 90, 365, 730]


def _body(spec: dict, values: dict) -> dict:
    def fill(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    parts = [p for p in spec["output"].split("...") if p.strip(".")]
    outputs = [{"id": p.strip(".").split(".")[0], "property": p.strip(".").split(".")[1].split("@")[0]}
               for p in parts]
    return {"output": spec["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": fill(spec["inputs"]), "state": fill(spec["state"]),
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in spec["inputs"][:1]]}


class DashUser(HttpUser):
    abstract = True
    specs: dict

    def load_specs(self) -> None:
        deps = self.client.get("/_dash-dependencies", name="/_dash-dependencies").json()
        self.specs = {d["output"].strip(".").split(".")[0].split("...")[0]: d for d in deps}

    def callback(self, first_output: str, values: dict, name: str) -> None:
        spec = self.specs[first_output]
        self.client.post("/_dash-update-component", json=_body(spec, values), name=name,
                         headers={"Origin": self.host})


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
        self.callback("wall-kpis-today-label", {"wall-version.data": self.version}, "wall refresh")
        self.client.get("/api/v1/wall/heartbeat", name="/api/v1/wall/heartbeat",
                        headers={"X-Requested-With": "XMLHttpRequest"})
        self.client.get("/api/v1/map/points", name="/api/v1/map/points (wall)")


class Operator(DashUser):
    """Someone at a desk: signs in, then changes the overview's filters, opens the scorecard and the queue."""

    wait_time = between(2, 8)
    fixed_count = 20

    def on_start(self) -> None:
        page = self.client.get("/login", name="/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.client.post("/login", name="/login (POST)", headers={"Origin": self.host},
                         data={"username": os.environ["PAHT_USER"], "password": os.environ["PAHT_PASSWORD"],
                               "csrf_token": token})
        self.load_specs()

    @task(5)
    def overview(self) -> None:
        end = date.today()
        start = end - timedelta(days=random.choice(PRESETS))
        agency = random.choice(AGENCIES)
        self.callback("overview-kpis", {
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
        self.callback("scorecard-table", {"scorecard-period-kind.value": random.choice(["month", "quarter"]),
                                          "scorecard-category.value": []}, "scorecard")

    @task(2)
    def agency(self) -> None:
        values = {"agency-code.data": random.choice(AGENCIES[:-1]),
                  "agency-code-period.value": random.choice(["30d", "12m"])}
        self.callback("agency-kpis", values, "agency page")
        self.callback("agency-overdue", values, "agency page, lists")

    @task(1)
    def queue(self) -> None:
        self.callback("queue-table", {}, "queue")


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
