"""The deployment guide works as written: the environment file reads the same in a shell and in systemd, every
setting is checked once at start and a bad one stops every entry point with its name, gunicorn never seeds an
empty database unless asked and logs JSON lines only, the systemd units are valid, and no module but
queries/config.py reads the environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from queries import config
from queries.db import Database
from queries.schema import reports, users
from tests.conftest import ROOT, TEST_SECRET
from tests.live_server import COMMANDS, LiveApp, free_port

EXAMPLE = ROOT / "deploy" / "paht.env.example"
GUIDE = ROOT / "docs" / "deployment.md"


# --- the environment file ------------------------------------------------------------------------------

def systemd_environment_file(text: str) -> dict[str, str]:
    """systemd.exec(5), EnvironmentFile=: lines starting with '#' or ';' are comments; the rest is NAME=VALUE
    where the value runs to the end of the line (a '#' inside it is part of it), surrounding quotes are removed
    and whitespace around the whole assignment is dropped."""
    found = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[name.strip()] = value
    return found


def shell_environment_file(path: Path) -> dict[str, str]:
    """What `set -a; . FILE; set +a` (the guide's shell way, and deploy/paht's) puts into the environment."""
    out = subprocess.run(["bash", "-c", f'set -a; . "{path}"; set +a; env -0'], env={"PATH": os.environ["PATH"]},
                         capture_output=True, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def test_the_example_environment_file_reads_the_same_in_a_shell_and_in_systemd():
    text = EXAMPLE.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s'\"$\\#`]*", line), f"line {number} is outside the subset: {line}"
    by_systemd = systemd_environment_file(text)
    by_shell = shell_environment_file(EXAMPLE)
    assert by_systemd and all(by_shell.get(name) == value for name, value in by_systemd.items())
    assert set(by_systemd) <= {config.env_name(f) for f in config.Settings.model_fields}, "an unknown setting"


def test_the_example_is_refused_until_its_secret_key_is_made_as_the_guide_says(tmp_path):
    values = systemd_environment_file(EXAMPLE.read_text(encoding="utf-8"))
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.changed(**{k.lower(): v for k, v in values.items()})
    # The guide's own line, run on a copy of the file.
    [sed] = [line for line in GUIDE.read_text(encoding="utf-8").splitlines() if line.startswith("sed -i ")]
    copy = tmp_path / "paht.env"
    shutil.copy(EXAMPLE, copy)
    subprocess.run(["bash", "-c", sed.replace("/etc/paht/paht.env", str(copy))], check=True)
    made = systemd_environment_file(copy.read_text(encoding="utf-8"))
    assert re.fullmatch(r"[0-9a-f]{64}", made["SECRET_KEY"])
    checked = config.changed(**{k.lower(): v for k, v in made.items()})
    assert checked.port == 8050 and checked.analytics_sync == "external" and checked.cookie_secure is True


# --- a bad setting stops every entry point ---------------------------------------------------------------

ENTRY_POINTS = {"python app.py": COMMANDS["python"], "flask command": [sys.executable, "-m", "flask", "--app", "app",
                                                                         "list-users"],
                "gunicorn": COMMANDS["gunicorn"]}
BAD = {"PORT": ("abc", "số nguyên 1–65535"), "SEED_DEMO_IF_EMPTY": ("maybe", "0 hoặc 1"),
       "SECRET_KEY": ("short", "32 ký tự"), "TRUSTED_ORIGINS": ("paht.gov.vn", "origin")}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_bad_setting_stops_the_start_with_its_name_and_what_is_expected(entry, tmp_path):
    for name, (value, expected) in BAD.items():
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "INSTANCE_DIR": str(tmp_path),
               "SECRET_KEY": TEST_SECRET, name: value}
        run = subprocess.run(ENTRY_POINTS[entry], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode != 0, (entry, name)
        assert f"{name}=" in run.stderr and expected in run.stderr, (entry, name, run.stderr[-600:])
        assert "Traceback" not in run.stderr, (entry, name)
        if name == "SECRET_KEY":
            assert value not in run.stderr  # a secret is never echoed
    assert not (tmp_path / "x.sqlite3").exists()  # nothing was started or written


def test_nothing_but_the_settings_module_reads_the_environment():
    readers = []
    for path in [ROOT / "app.py", ROOT / "gunicorn.conf.py", *ROOT.glob("dashboard/**/*.py"),
                 *ROOT.glob("queries/**/*.py")]:
        if path == ROOT / "queries" / "config.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ|getenv\(|environ\[", text):
            readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [config.env_name(f) for f in config.Settings.model_fields if f"`{config.env_name(f)}`" not in readme]
    assert missing == []


# --- gunicorn: no demo data unless asked, JSON lines only --------------------------------------------------

def gunicorn_on_empty(tmp_path, **env) -> tuple[LiveApp, str]:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    full = {**os.environ, "DATABASE_URL": url, "INSTANCE_DIR": str(tmp_path / "instance"), "SECRET_KEY": TEST_SECRET,
            "PORT": str(free_port()), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "THREADS": "2",
            "ANALYTICS": "off", **env}
    if "SEED_DEMO_IF_EMPTY" not in env:
        full.pop("SEED_DEMO_IF_EMPTY", None)
    return LiveApp(full, tmp_path / "gunicorn.log", command="gunicorn"), url


def json_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def test_gunicorn_never_seeds_an_empty_database_unless_asked(tmp_path):
    live, url = gunicorn_on_empty(tmp_path)
    live.start()
    try:
        assert requests.get(live.base + "/healthz", timeout=10).json()["database"] == "ok"
        assert requests.get(live.base + "/login", timeout=10).status_code == 200
    finally:
        live.stop()
    db = Database(url)
    try:
        assert db.scalar(select(func.count()).select_from(reports)) == 0
        assert db.scalar(select(func.count()).select_from(users)) == 0
    finally:
        db.dispose()
    logged = json_lines(tmp_path / "gunicorn.log")
    loggers = {entry["logger"] for entry in logged}
    assert "gunicorn.error" in loggers and "paht.request" in loggers  # gunicorn's own lines are JSON too


def test_gunicorn_seeds_the_demo_when_asked_and_says_so_in_json(tmp_path):
    live, url = gunicorn_on_empty(tmp_path, SEED_DEMO_IF_EMPTY="1", DEMO_REPORTS="60")
    live.start()
    live.stop()
    db = Database(url)
    try:
        assert db.scalar(select(func.count()).select_from(reports)) == 60
        assert db.scalar(select(func.count()).select_from(users)) == 5
    finally:
        db.dispose()
    accounts = [e for e in json_lines(tmp_path / "gunicorn.log") if e["logger"] == "paht.demo"]
    assert len(accounts) == 6 and "admin" in accounts[1]["msg"]


def test_production_responses_do_not_name_werkzeug(tmp_path):
    live, _url = gunicorn_on_empty(tmp_path)
    live.start()
    try:
        for path in ("/login", "/healthz", "/does-not-exist", "/assets/app.css"):
            resp = requests.get(live.base + path, timeout=10)
            assert "werkzeug" not in resp.headers.get("Server", "").lower()
            assert "werkzeug" not in resp.text.lower()
    finally:
        live.stop()


# --- the systemd units -----------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", ["paht.service", "paht-analytics.service"])
def test_the_systemd_units_are_valid_and_keep_the_code_read_only(unit, tmp_path):
    text = (ROOT / "deploy" / unit).read_text(encoding="utf-8")
    for line in ("User=paht", "StateDirectory=paht", "StateDirectoryMode=0700", "UMask=0077", "ProtectSystem=strict",
                 "EnvironmentFile=/etc/paht/paht.env", "WorkingDirectory=/opt/paht"):
        assert line in text.splitlines(), line
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # The unit as it would be on a machine where the code is this checkout.
    local = tmp_path / unit
    local.write_text(text.replace("/opt/paht", str(ROOT)).replace("/etc/paht/paht.env", str(EXAMPLE)), "utf-8")
    run = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr.strip() == "", run.stderr
