"""Log in and screenshot a page with Playwright and the system Chromium (for people and CI artefacts).

    python scripts/screenshot.py URL USER PASSWORD OUT.png [PATH]
"""

import shutil
import sys

from playwright.sync_api import sync_playwright

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def main(base: str, user: str, password: str, out: str, path: str = "/") -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000}, locale="vi-VN")
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(base + "/login?next=" + path)
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("#login-submit")
        page.wait_for_selector(".kpi-value", timeout=20000)
        page.wait_for_timeout(2500)
        page.screenshot(path=out, full_page=True)
        print("console errors:", errors)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
