"""`python app.py` as a subprocess for the browser tests: started on a free port, polled on /healthz,
and stoppable and startable again like a real restart."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

from queries.db import Database

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveApp:
    def __init__(self, env: dict, log_path: Path):
        self.env, self.log_path, self.proc = env, log_path, None
        self.base = f"http://127.0.0.1:{env['PORT']}"

    def start(self) -> LiveApp:
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(self.log_path.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextmanager
def private_live_app(app_env: dict, tmp_root: Path, name: str) -> Iterator[tuple[LiveApp, Database]]:
    """`python app.py` on the test's own copy of the seeded database (so the test may write), and a
    Database on that copy for checking what the app wrote."""
    db_path = tmp_root / f"{name}.sqlite3"
    shutil.copy(app_env["DATABASE_URL"].removeprefix("sqlite:///"), db_path)
    env = {**os.environ, **app_env, "DATABASE_URL": f"sqlite:///{db_path}", "PORT": str(free_port()),
           "HOST": "127.0.0.1"}
    app = LiveApp(env, tmp_root / f"live-{name}-server.log").start()
    db = Database(f"sqlite:///{db_path}")
    try:
        yield app, db
    finally:
        db.dispose()
        app.stop()


@contextmanager
def chromium_on_a_thread(thread_name: str) -> Iterator[tuple[ThreadPoolExecutor, object]]:
    """(worker thread, browser): Playwright's sync API is bound to one thread, so every call runs on it."""
    from tests.test_browser import FLAGS

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)

    def start():
        pw = sync_playwright().start()
        return pw, pw.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)

    pw, browser = pool.submit(start).result()
    try:
        yield pool, browser
    finally:
        pool.submit(lambda: (browser.close(), pw.stop())).result()
        pool.shutdown()
