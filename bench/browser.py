"""Each page as its user sees it: the time from navigation until every panel is drawn, and from a filter change
until every panel is updated, in the system Chromium against gunicorn (2 workers, Redis cache, the analytics
copy kept by a worker), as in production.

    python bench/browser.py [--url DATABASE_URL] [--runs 5] [--port 8078]

The default database is the 1,000,000-report SQLite file of bench/overview.py. A page counts as drawn when no
callback is in flight or waiting (no request to /_dash-update-component open, no `data-dash-is-loading`), the
page's own marker is there (a KPI value, a table row) and every graph has drawn its SVG; the time is taken when
that first held, measured from the navigation's start in the browser's clock.

Two views of each page are timed:
- `after a change`: a citizen's report has just arrived (an Open311 POST) and the analytics copy has synced,
  so the app's cached answers are stale, as they are once every few seconds in a working IOC;
- `repeated`: the same page opened again at once: the cached answers and the browser's cached assets.
It prints the median of --runs runs (and the worst), ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "trinh-duyet-do-toc-do-2026"
USERS = {"leader": ("bench-browser-leader", "leader", None), "operator": ("bench-browser-ioc", "operator", None),
         "agency": ("bench-browser-sxd", "agency", "SXD"), "admin": ("bench-browser-admin", "admin", None)}

# The page, who opens it, and what shows that its data arrived.
PAGES = [
    ("overview", "leader", "/", "#overview-kpis [data-value]"),
    ("scorecard", "leader", "/scorecard", "#scorecard-table td"),
    ("wall", "leader", "/wall", "#wall-kpis-today"),
    ("agency page (SXD)", "agency", "/agency/SXD", "#agency-kpis [data-value]"),
    ("queue", "operator", "/queue", "#queue-table td"),
    ("report page", "operator", "/report/{code}", "#report-title"),
    ("audit log", "admin", "/admin/audit", "#audit-table td"),
]

# Which callbacks are open, counted in the page itself before any of its scripts runs (an init script): a
# request that the browser has sent and not yet answered.
WATCH_JS = """(() => {
  if (window.__inflight !== undefined) return;
  window.__inflight = 0;
  const orig = window.fetch;
  window.fetch = (...args) => {
    const url = String(args[0] && args[0].url || args[0]);
    if (!url.includes('_dash-update-component')) return orig(...args);
    window.__inflight++;
    if (window.__mark === null) window.__mark = performance.now();
    return orig(...args).finally(() => { window.__inflight--; window.__last = performance.now(); });
  };
})()"""

DRAWN_JS = """(marker) => {
  if ((window.__inflight || 0) > 0) return false;
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  if (!document.querySelector(marker)) return false;
  for (const g of document.querySelectorAll('.dash-graph')) {
    if (!g.querySelector('.main-svg')) return false;
  }
  return performance.now();
}"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=f"sqlite:///{ROOT}/bench/results/overview-1000000.sqlite3")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--port", type=int, default=8078)
    return p.parse_args()


def environment(args) -> dict:
    instance = ROOT / "bench" / "results" / "browser-instance"
    instance.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "DATABASE_URL": args.url, "INSTANCE_DIR": str(instance), "SEED_DEMO_IF_EMPTY": "0",
            "REDIS_URL": "redis://127.0.0.1:6379/4", "HOST": "127.0.0.1", "PORT": str(args.port),
            "WEB_CONCURRENCY": "2", "LOGIN_RATE_LIMIT": "100000 per minute"}


def flask(env: dict, *words: str) -> str:
    return subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "app", *words], cwd=ROOT, env=env,
                          capture_output=True, text=True).stdout


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def wait_for(base: str, predicate, seconds: float = 900) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            health = get_json(f"{base}/healthz")
            if predicate(health):
                return health
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base}/healthz never became ready")


def sign_in(browser, base: str, role: str):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="vi-VN")
    context.add_init_script(WATCH_JS)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", USERS[role][0])
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")
    return page


def drawn_after(page, marker: str, settle_ms: float = 300, timeout_s: float = 60) -> float:
    """performance.now() when the page was first drawn and stayed drawn for settle_ms (no new callback)."""
    deadline = time.time() + timeout_s
    first = None
    while time.time() < deadline:
        at = page.evaluate(DRAWN_JS, marker)
        if at:
            first = first or at
            if at - first >= settle_ms:
                return first
        else:
            first = None
        time.sleep(0.02)
    raise TimeoutError(f"{page.url} not drawn in {timeout_s} s")


def open_page(page, url: str, marker: str) -> float:
    """ms from the navigation's start to drawn."""
    page.goto(url, wait_until="commit")
    return drawn_after(page, marker)  # performance.now() counts from the navigation's start


def change_filter(page, marker: str, action) -> float:
    """ms from a filter change (the first callback it sends, so that the robot's clicking is not counted) to
    every panel updated."""
    page.wait_for_timeout(200)
    page.evaluate("() => { window.__mark = null; }")
    action(page)
    page.wait_for_function("() => window.__mark !== null", timeout=10_000)
    return drawn_after(page, marker) - page.evaluate("() => window.__mark")


def choose(dropdown: str, option: str):
    def act(page):
        page.click(f"#{dropdown}")
        page.get_by_role("option", name=option, exact=True).click()
    return act


FILTERS = [
    ("overview: 12 months → 30 days", "leader", "/", "#overview-kpis [data-value]",
     choose("filter-preset", "30 ngày qua")),
    ("agency page: 12 months → this month", "agency", "/agency/SXD", "#agency-kpis [data-value]",
     choose("agency-code-period", "Tháng này")),
    ("scorecard: month → quarter", "leader", "/scorecard", "#scorecard-table td",
     lambda page: page.get_by_text("Quý", exact=True).click()),
]


def a_citizen_writes(base: str, key: str, version_before) -> None:
    """One Open311 report, then wait until the analytics copy has synced it (the health's generation moves)."""
    data = urllib.parse.urlencode({"service_code": "MT", "lat": "16.8163", "long": "107.1003",
                                   "description": f"Rác ven đường, đo tốc độ trang {time.time_ns()}"}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{base}/open311/v2/requests.json?api_key={key}", data=data),
                           timeout=30).read()
    wait_for(base, lambda h: h.get("generation") != version_before and h.get("analytics") == "ok", 120)


def main() -> None:
    args = parse_args()
    env = environment(args)
    for username, role, agency in USERS.values():
        flask(env, "create-user", "--username", username, "--role", role, "--password", PASSWORD,
              *(["--agency", agency] if agency else []))
    key = flask(env, "api-key", "create", f"bench-browser-{time.time_ns()}", "--channel", "app").strip().split()[-1]
    base = f"http://127.0.0.1:{args.port}"
    log = Path(env["INSTANCE_DIR"]) / "gunicorn.log"
    with log.open("w") as errors:
        server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=errors)
        try:
            measure(args, base, key)
        finally:
            server.terminate()
            server.wait(timeout=30)


def measure(args, base: str, key: str) -> None:
    from playwright.sync_api import sync_playwright

    health = wait_for(base, lambda h: h.get("analytics") == "ok")
    code = get_json(f"{base}/open311/v2/requests.json?api_key={key}&page_size=1")[0]["service_request_id"]
    print(f"\n{args.url.split('/')[-1]} · gunicorn 2 workers · Chromium · median of {args.runs} (worst), ms\n")
    print(f"{'page':<40} {'after a change':>20} {'repeated':>20}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        pages = {role: sign_in(browser, base, role) for role in USERS}
        for name, role, path, marker in PAGES:
            page, url = pages[role], base + path.format(code=code)
            fresh, repeated = [], []
            for _ in range(args.runs):
                a_citizen_writes(base, key, health.get("generation"))
                health = get_json(f"{base}/healthz")
                fresh.append(open_page(page, url, marker))
                repeated.append(open_page(page, url, marker))
            print(f"{name:<40} {_figure(fresh):>20} {_figure(repeated):>20}", flush=True)
        print(f"\n{'filter change':<40} {'all panels updated':>20}")
        for name, role, path, marker, action in FILTERS:
            page, times = pages[role], []
            for _ in range(args.runs):
                open_page(page, base + path, marker)
                times.append(change_filter(page, marker, action))
            print(f"{name:<40} {_figure(times):>20}", flush=True)
        browser.close()


def _figure(samples: list[float]) -> str:
    return f"{statistics.median(samples):,.0f} ({max(samples):,.0f})"


if __name__ == "__main__":
    main()
