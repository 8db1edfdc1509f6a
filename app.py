"""PAHT dashboard: the Flask server, the Dash app on it, and the command-line tools.

    python app.py                          serve at http://HOST:PORT (first start seeds a demo province)
    flask --app app init-db                schema + reference data, no demo reports
    flask --app app seed-demo --reports N --seed S
    flask --app app create-user --username U --password P --role R [--agency CODE]
    gunicorn -c gunicorn.conf.py           production (see gunicorn.conf.py)
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import sys
from datetime import date, timedelta
from pathlib import Path

import click
import dash
from flask import Flask, jsonify, request
from sqlalchemy.exc import DataError, SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from dashboard import api, auth, display, files, health, logs, open311, security, text
from dashboard.cache import init_cache, keep_warm_after_sync
from dashboard.components.shell import app_shell
from dashboard.formatting import query_timeout_text
from queries import admin, analytics, audit, config, deadlines, importers, policies
from queries import db as database
from queries.access import Viewer, WorkflowError
from queries.demo import DEFAULT_REPORTS, DemoDataExists, create_demo_accounts, seed_demo
from queries.filters import local_datetime_to_utc, utc_to_local
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.users import UserError, clear_failures, create_user, get_user_by_name

ROOT = Path(__file__).resolve().parent


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/."""
    if config.settings().secret_key:
        return config.settings().secret_key
    path = database.instance_dir() / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def prepare_database(db: database.Database, seed_if_empty: bool) -> list | None:
    """Migrate; on a database with no schema at all (and only then) seed the demo province.
    Returns the demo accounts it created, if any. A file lock keeps several workers from racing."""
    database.instance_dir().mkdir(parents=True, exist_ok=True)
    with open(database.instance_dir() / ".first-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_empty = not db.has_schema()
        upgrade(db)
        load_reference_data(db)
        if not (was_empty and seed_if_empty):
            return None
        seed_demo(db, n=config.settings().demo_reports)
        return create_demo_accounts(db)


def print_accounts(accounts, echo=click.echo) -> None:
    echo("Tài khoản demo (mật khẩu chỉ in một lần, hãy lưu lại):")
    for username, password, role, agency in accounts:
        suffix = f", đơn vị {agency}" if agency else ""
        echo(f"  {username:<10} mật khẩu: {password:<14} vai trò: {role}{suffix}")


def log_accounts(accounts) -> None:
    """Under gunicorn every line of output is a JSON log line, the demo accounts' too."""
    print_accounts(accounts, logging.getLogger("paht.demo").warning)


def checked_settings() -> config.Settings:
    """The settings, or the start stops here with every bad value named (exit status 2)."""
    try:
        return config.settings()
    except config.ConfigError as err:
        print(err, file=sys.stderr)
        raise SystemExit(2) from None


def create_app(first_start: bool = False, announce=print_accounts) -> Flask:
    """The Flask server with Dash mounted on it. `first_start` seeds demo data into an empty database, and
    `announce` tells the demo accounts it made."""
    cfg = checked_settings()
    security.private_files(cfg)
    logs.configure_logging()
    db = database.configure()
    accounts = prepare_database(db, seed_if_empty=first_start)
    if accounts:
        announce(accounts)

    server = Flask(__name__, instance_path=str(cfg.instance_dir))
    server.config.update(
        SECRET_KEY=_secret_key(),
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.cookie_secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=cfg.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_DURATION=timedelta(days=30),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    if cfg.proxy_hops:  # behind nginx: the client's address and scheme come from X-Forwarded-* (limits, audit)
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=cfg.proxy_hops, x_proto=cfg.proxy_hops,
                                   x_host=cfg.proxy_hops, x_port=cfg.proxy_hops)
    auth.init_auth(server)
    security.init_headers(server)
    logs.init_request_logging(server)
    init_cache(server)
    keep_warm_after_sync(server)
    server.register_blueprint(api.bp)
    server.register_blueprint(open311.bp)
    server.register_blueprint(files.bp)
    server.register_blueprint(health.bp)
    _register_health_and_errors(server)
    _register_cli(server)
    _register_user_cli(server)
    display.register_cli(server)
    open311.register_cli(server)

    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder="dashboard/pages",
        assets_folder=str(ROOT / "assets"),
        title=text.APP_TITLE,
        update_title=None,
        serve_locally=True,
    )
    app.layout = app_shell
    server.dash_app = app
    return server


def _register_health_and_errors(server: Flask) -> None:
    @server.errorhandler(SQLAlchemyError)
    def _database_down(err):
        if isinstance(err, DataError):  # a value the database refuses (a NUL byte, say): the request's fault
            body = {"error": "bad_request", "message": text.BAD_INPUT.format(detail="giá trị không hợp lệ")}
            return (jsonify(body), 400) if request.path.startswith(("/_dash-", "/api/")) else (
                f"<h1>{body['message']}</h1>", 400)
        if database.is_timeout(err):
            body = {"error": "query_timeout", "message": query_timeout_text()}
        else:
            body = {"error": "database_unavailable", "message": text.DB_DOWN_NO_DATA}
        if request.path.startswith("/_dash-"):
            # A page's callback: assets/session.js shows the message over the page, which keeps its last data;
            # `since` is the message for a page that has data, with the time it was loaded.
            since = text.DB_DOWN if body["error"] == "database_unavailable" else body["message"]
            return jsonify(body | {"since": since}), 503
        if request.path.startswith("/api/"):
            return jsonify(body), 503
        return f"<h1>{body['message']}</h1>", 503


def _register_cli(server: Flask) -> None:
    @server.cli.command("analytics-sync")
    def analytics_sync_command():
        """Keep the analytics copy fresh, in this process, until stopped (with ANALYTICS_SYNC=external)."""
        if not analytics.enabled():
            raise click.ClickException("ANALYTICS=off: không có bản sao phân tích để cập nhật.")
        # A service's output: a JSON log line like every other (dashboard/logs.py), not plain text.
        logging.getLogger("paht.analytics").info("keeping the analytics copy at %s (Ctrl+C stops)",
                                                 analytics.analytics_dir())
        analytics.run_sync_loop()

    @server.cli.command("init-db")
    def init_db():
        """Create or upgrade the schema and load categories and administrative units (no demo reports)."""
        db = database.get_db()
        upgrade(db)
        load_reference_data(db)
        click.echo(f"Đã tạo lược đồ và dữ liệu danh mục: {db.engine.url.render_as_string(hide_password=True)}")

    @server.cli.command("seed-demo")
    @click.option("--reports", "n", type=click.IntRange(0, 50_000_000), default=DEFAULT_REPORTS, show_default=True)
    @click.option("--seed", type=int, default=2026, show_default=True)
    @click.option("--end", "end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Last day of the demo period (default: today, Asia/Ho_Chi_Minh).")
    @click.option("--months", type=click.IntRange(1, 240), default=24, show_default=True)
    @click.option("--replace", is_flag=True, help="Delete all existing reports first.")
    @click.option("--no-events", is_flag=True, help="Skip the status history (faster for benchmarks).")
    def seed_demo_command(n, seed, end, months, replace, no_events):
        """Seed the demo province: 38 agencies, N reports, and demo accounts that do not exist yet."""
        db = database.get_db()
        upgrade(db)
        load_reference_data(db)
        end_day: date | None = end.date() if end else None
        try:
            seed_demo(db, n=n, seed=seed, end=end_day, months=months, with_events=not no_events, replace=replace)
        except DemoDataExists as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Đã tạo {n} phản ánh demo (seed {seed}).")
        if get_user_by_name("admin", db) is None:
            print_accounts(create_demo_accounts(db))

    @server.cli.command("import-reports")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--profile", type=click.Choice(importers.profile_names()), default="csv", show_default=True)
    @click.option("--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="Mapping file (YAML) for a CSV of any other shape; see README.")
    @click.option("--rejects", "reject_path", type=click.Path(dir_okay=False), default=None,
                  help="Where to write rejected rows (default instance/imports/NAME-TIME.rejects.csv).")
    @click.option("--batch-size", type=click.IntRange(1, 100_000), default=importers.DEFAULT_BATCH, show_default=True)
    def import_reports_command(file, profile, mapping_path, reject_path, batch_size):
        """Import reports from FILE; re-running it updates changed rows and adds no duplicates."""
        try:
            summary = importers.import_file(file, profile, mapping_path, batch_size=batch_size,
                                            reject_path=reject_path, progress=lambda m: click.echo(m, err=True))
        except importers.MappingError as err:
            raise click.ClickException(str(err)) from None
        click.echo(importers.summary_text(summary, file))
        if not summary.adds_up:
            raise click.ClickException("Số dòng không khớp: đọc ≠ nhập + cập nhật + không đổi + loại")
        if summary.all_rejected:
            raise click.ClickException(summary.why_all_rejected())

    @server.cli.command("deadline")
    @click.option("--category", "category_code", required=True, help="Field code, e.g. MT.")
    @click.option("--stage", type=click.Choice(["ioc", "agency"]), required=True)
    @click.option("--urgent", is_flag=True, help="Urgent report: limits in working hours.")
    @click.option("--from", "start", required=True, type=click.DateTime(formats=["%Y-%m-%d %H:%M"]),
                  help='Local time the stage starts, "YYYY-MM-DD HH:MM".')
    def deadline_command(category_code, stage, urgent, start):
        """Print when a stage is due (local time), by the policy in force at --from."""
        try:
            due = deadlines.deadline_for(category_code, stage, urgent, local_datetime_to_utc(start))
        except policies.PolicyError as err:
            raise click.ClickException(str(err)) from None
        click.echo(utc_to_local(due).strftime("%Y-%m-%d %H:%M"))

    @server.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--role", required=True, type=click.Choice(["admin", "leader", "operator", "agency"]))
    @click.option("--agency", "agency_code", default=None, help="Agency code, required for role 'agency'.")
    @click.option("--full-name", default="")
    def create_user_command(username, password, role, agency_code, full_name):
        """Create a user account."""
        try:
            user = create_user(username, password, role, agency_code, full_name=full_name)
        except UserError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Đã tạo tài khoản {user.username} ({role}{', ' + agency_code if agency_code else ''}).")


CLI_ADMIN = Viewer(user_id=None, username="cli", role="admin")  # the server's command line acts as an admin


def _register_user_cli(server: Flask) -> None:
    """Account commands for whoever runs the server: reset a password, unlock a name, list the accounts."""

    @server.cli.command("reset-password")
    @click.option("--username", required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def reset_password_command(username, password):
        """Set a user's password; every session of that user ends."""
        try:
            admin.reset_password(CLI_ADMIN, username, password)
        except WorkflowError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Đã đặt mật khẩu mới cho {username}; mọi phiên đăng nhập của tài khoản này đã kết thúc.")

    @server.cli.command("unlock")
    @click.option("--username", required=True)
    def unlock_command(username):
        """Forget a name's failed sign-ins, so that no address is refused for it."""
        if get_user_by_name(username) is None:
            raise click.ClickException(f"Không có tài khoản '{username}'.")
        cleared = clear_failures(username)
        audit.write(CLI_ADMIN, "user.unlock", username, f"xoá {cleared} lần đăng nhập sai")
        click.echo(f"Đã mở khoá {username} (xoá {cleared} lần đăng nhập sai).")

    @server.cli.command("list-users")
    def list_users_command():
        """List the accounts: role, agency, state and when each was created."""
        rows = admin.list_users(CLI_ADMIN)
        header = ("Tài khoản", "Họ tên", "Vai trò", "Đơn vị", "Trạng thái", "Tạo lúc")
        table = [header] + [(r.username, r.full_name, r.role, r.agency_code if isinstance(r.agency_code, str) else "—",
                             "đang dùng" if r.active else "đã khoá", utc_to_local(r.created_at).strftime("%d/%m/%Y"))
                            for r in rows.itertuples()]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
        for row in table:
            click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def serve_app(seed_demo_by_default: bool = False, announce=log_accounts) -> Flask:
    """The app as a real start serves it: gunicorn (`app:serve_app()`) seeds an empty database only when
    SEED_DEMO_IF_EMPTY=1 asks for it, `python app.py` unless SEED_DEMO_IF_EMPTY=0; one of the serving
    processes keeps the analytics copy fresh (queries/analytics.py; command-line runs never do)."""
    asked = checked_settings().seed_demo_if_empty
    server = create_app(first_start=seed_demo_by_default if asked is None else asked, announce=announce)
    if config.settings().analytics_sync != "external":
        analytics.start_background_sync()
    return server


class _QuietRequestHandler(WSGIRequestHandler):
    """The development server without its name and version in every response's Server header."""

    def version_string(self) -> str:
        return "PAHT"


def main() -> None:
    server = serve_app(seed_demo_by_default=True, announce=print_accounts)
    cfg = config.settings()
    click.echo(f"Bảng điều hành PAHT: http://{cfg.host}:{cfg.port}")
    server.dash_app.run(host=cfg.host, port=cfg.port, debug=cfg.dash_debug, request_handler=_QuietRequestHandler)


if __name__ == "__main__":
    main()
