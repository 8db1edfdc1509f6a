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
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine, text

from queries.db import Database
from queries.demo import seed_demo
from queries.migrate import upgrade
from queries.reference import load_reference_data

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


COMMANDS = {"python": [sys.executable, "app.py"],
            "gunicorn": [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"]}


class LiveApp:
    """The app as a process of its own: `python app.py`, or gunicorn with gunicorn.conf.py (command="gunicorn")."""

    def __init__(self, env: dict, log_path: Path, command: str = "python"):
        self.env, self.log_path, self.proc, self.command = env, log_path, None, COMMANDS[command]
        self.base = f"http://127.0.0.1:{env['PORT']}"

    def start(self, first_path: str = "/healthz") -> LiveApp:
        """Start, and wait until `first_path` answers (anything but a server error): the app's first request."""
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.base + first_path, timeout=1, allow_redirects=False).status_code < 500:
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


def set_database_reachable(live: dict, reachable: bool):
    """Take a live app's PostgreSQL database away (refuse and cut every connection) or give it back.
    live: {"admin": an AUTOCOMMIT engine on the server, "name": the database's name}."""
    with live["admin"].connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{live["name"]}" ALLOW_CONNECTIONS {str(reachable).lower()}'))
        if not reachable:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": live["name"]})


@contextmanager
def postgres_live_app(server_url: str, tmp: Path, reports: int, seed: int, **env: str) -> Iterator[dict]:
    """`python app.py` on a fresh PostgreSQL database seeded up to yesterday (so nothing lies in the future of
    the real clock and today starts empty), which set_database_reachable can take away.
    Yields {"app", "db" (on that database), "name" (its name), "admin" (an AUTOCOMMIT engine on the server)}."""
    from tests.conftest import create_pg_database

    url, drop = create_pg_database(server_url)
    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    yesterday = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() - timedelta(days=1)
    seed_demo(db, n=reports, seed=seed, end=yesterday)
    app = LiveApp({**os.environ, "DATABASE_URL": url, "PORT": str(free_port()), "HOST": "127.0.0.1",
                   "INSTANCE_DIR": str(tmp), "SEED_DEMO_IF_EMPTY": "0", **env}, tmp / "server.log")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    live = {"app": app, "db": db, "name": url.rsplit("/", 1)[1], "admin": admin}
    try:
        app.start()
        yield live
    finally:
        app.stop()
        set_database_reachable(live, True)
        admin.dispose()
        db.dispose()
        drop()


def in_browser(chromium: tuple[ThreadPoolExecutor, object], steps) -> list[str]:
    """Run steps(page) on the Playwright thread (chromium_on_a_thread) in a fresh context; returns the console
    and page errors seen."""
    pool, browser = chromium

    def body():
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="vi-VN",
                                      timezone_id="Asia/Ho_Chi_Minh")
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(str(err)))
        try:
            steps(page)
        finally:
            context.close()
        return errors

    return pool.submit(body).result()
