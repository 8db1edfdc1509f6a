"""The screens people work on all day, timed as the browser calls them: one POST to /_dash-update-component per
callback, through the app (sign-in guard, the callback, JSON), on the system of record.

    python bench/work.py [--reports 1000000] [--runs 5] [--url DATABASE_URL]

Uses the seeded database of bench/overview.py. For each entry it prints the median of --runs warm runs (ms) and
the worst, and what the answer held (rows, count), so a fast wrong answer shows. Nothing is written: the entries
read (the queue, search, a report's page, an agency's lists).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overview import BENCH_PASSWORD, parse_args, prepare  # noqa: E402


def sign_in(app, username: str, role: str, agency: str | None = None):
    """A test client signed in as `username` (made on first use)."""
    from queries.users import create_user, get_user_by_name

    if get_user_by_name(username) is None:
        create_user(username, BENCH_PASSWORD, role, agency)
    client = app.test_client()
    client.environ_base["HTTP_ORIGIN"] = "http://localhost"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": username, "password": BENCH_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    client.get("/")
    return client


def callback_body(dependencies: list[dict], output_start: str, values: dict, changed: str) -> dict:
    """The body the browser posts for the callback whose output begins with `output_start`."""
    spec = next(d for d in dependencies if d["output"].lstrip(".").startswith(output_start))

    def fill(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
               for part in spec["output"].strip(".").split("...")]
    return {"output": spec["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": fill(spec["inputs"]), "state": fill(spec["state"]), "changedPropIds": [changed]}


def entries(db):
    """(name, user, output, values, changed input): what each screen asks for."""
    from sqlalchemy import func, select

    from queries.schema import reports

    newest = db.scalar(select(reports.c.code).order_by(reports.c.id.desc()).limit(1))
    year = newest.split("-")[1]
    phone = db.scalar(select(reports.c.reporter_phone).where(reports.c.reporter_phone.isnot(None))
                      .order_by(reports.c.id.desc()).limit(1))
    middle = db.scalar(select(func.max(reports.c.id)).select_from(reports)) // 2
    some_code = db.scalar(select(reports.c.code).where(reports.c.id == middle))

    def search(query: str) -> dict:
        return {"queue-search.value": query, "queue-search-go.n_clicks": 1, "queue-search-table.page_current": 0}

    return [
        ("queue: waiting reports and the lists", "ioc", "queue-table.data", {"queue-refresh.n_intervals": 1},
         "queue-refresh.n_intervals"),
        ("search: a whole code", "ioc", "queue-search-table.data", search(some_code), "queue-search.value"),
        ("search: a code's beginning", "ioc", "queue-search-table.data", search(f"PA-{year}-0001"),
         "queue-search.value"),
        ("search: a phone's last 6 digits", "ioc", "queue-search-table.data", search(phone[-6:]),
         "queue-search.value"),
        ("search: 4 digits (as text)", "ioc", "queue-search-table.data", search(phone[-4:]), "queue-search.value"),
        ("search: a common phrase", "ioc", "queue-search-table.data", search("nắp hố ga"), "queue-search.value"),
        ("search: a rare word", "ioc", "queue-search-table.data", search("zqxw"), "queue-search.value"),
        ("search: words in every report", "ioc", "queue-search-table.data", search("phản ánh"),
         "queue-search.value"),
        ("search: words in every report, agency head", "sxd", "queue-search-table.data", search("phản ánh"),
         "queue-search.value"),
        ("search: page 40 of a common phrase", "ioc", "queue-search-table.data",
         {**search("nắp hố ga"), "queue-search-table.page_current": 40}, "queue-search-table.page_current"),
        ("report page: body", "ioc", "report-body.children", {"report-code.data": some_code}, "report-code.data"),
        ("agency head: work table (SXD)", "sxd", "agency-work-table.data", {"agency-code.data": "SXD"},
         "agency-code.data"),
        ("agency head: overdue and due-soon (SXD)", "sxd", "agency-overdue.data",
         {"agency-code.data": "SXD", "agency-code-period.value": "12m"}, "agency-code.data"),
    ]


def summary(body: dict) -> str:
    """What the answer held: the rows of each table output, and any count shown."""
    response = body.get("response", {})
    parts = []
    for component, props in response.items():
        for prop, value in props.items():
            if prop == "data" and isinstance(value, list):
                parts.append(f"{component}: {len(value)} rows")
            elif prop == "children" and isinstance(value, str) and re.search(r"\d", value):
                parts.append(value[:40])
    return "; ".join(parts)[:90]


def main() -> None:
    args = parse_args()
    db, _leader = prepare(args)
    app = _leader.application
    clients = {"ioc": sign_in(app, "bench-ioc", "operator"), "sxd": sign_in(app, "bench-sxd", "agency", "SXD")}
    dependencies = clients["ioc"].get("/_dash-dependencies").get_json()
    print(f"\n{args.reports:,} reports · {db.dialect} · median of {args.runs} warm runs (worst), ms\n")
    for name, who, output, values, changed in entries(db):
        body = callback_body(dependencies, output, values, changed)
        client = clients[who]
        samples, answer = [], None
        for i in range(args.runs + 1):
            t0 = time.perf_counter()
            resp = client.post("/_dash-update-component", json=body)
            took = (time.perf_counter() - t0) * 1000
            assert resp.status_code in (200, 204), (name, resp.status_code, resp.get_data(as_text=True)[:300])
            answer = resp.get_json() if resp.status_code == 200 else {}
            if i:  # the first run warms up
                samples.append(took)
        print(f"  {name:<42} {statistics.median(samples):>9.1f} ({max(samples):>7.1f})   {summary(answer)}",
              flush=True)


if __name__ == "__main__":
    main()
