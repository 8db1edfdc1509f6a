"""Login with flask-login, and the guard in front of every route.

The guard runs before Flask routes *and* Dash's own endpoints (/_dash-layout, /_dash-dependencies,
/_dash-update-component, component suites, assets): Dash pages alone would leave callbacks open.
Anonymous XHR and API calls get 401 JSON; anonymous page loads are redirected to the login form.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from urllib.parse import urlparse

from flask import Blueprint, Flask, jsonify, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard import text
from queries import users as user_store

PUBLIC_ENDPOINTS = {"auth.login", "auth.logout", "healthz"}
XHR_PREFIXES = ("/_dash-", "/api/")
# Machine-facing APIs with their own guard (a logged-in session or an API key), checked in their blueprint.
SELF_GUARDED_PREFIXES = ("/open311/",)

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()


class User(UserMixin):
    def __init__(self, record: user_store.UserRecord):
        self.record = record
        self.id = str(record.id)

    @property
    def username(self) -> str:
        return self.record.username

    @property
    def display_name(self) -> str:
        return self.record.full_name or self.record.username

    @property
    def role(self) -> str:
        return self.record.role

    @property
    def agency_code(self) -> str | None:
        return self.record.agency_code if self.record.role == "agency" else None

    @property
    def agency_name(self) -> str | None:
        return self.record.agency_name

    @property
    def is_active(self) -> bool:
        return self.record.active


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        record = user_store.get_user(int(user_id))
    except (ValueError, TypeError):
        return None
    except SQLAlchemyError:
        # Database down: keep a signed-in user signed in (from the signed session) so pages can show
        # their last data and the connection banner instead of bouncing to a login that cannot work.
        snapshot = session.get("user_snapshot")
        record = user_store.UserRecord(**snapshot) if snapshot and str(snapshot["id"]) == user_id else None
    return User(record) if record and record.active else None


def current_scope() -> str | None:
    """The agency code an agency head is limited to; None for province-wide roles."""
    if not current_user or not current_user.is_authenticated:
        return None
    return current_user.agency_code


def _guard():
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.path.startswith(SELF_GUARDED_PREFIXES):
        return None
    if request.path.startswith(XHR_PREFIXES) or request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return jsonify(error="unauthorized", message=text.UNAUTHORIZED), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot be used as an open redirect."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        if not secrets.compare_digest(request.form.get("csrf_token", ""), session.get("csrf_token", "")):
            error = text.LOGIN_EXPIRED
        else:
            record = user_store.authenticate(request.form.get("username", ""), request.form.get("password", ""))
            if record:
                session.clear()
                login_user(User(record), remember=bool(request.form.get("remember")))
                session["user_snapshot"] = asdict(record)
                return redirect(_safe_next(request.args.get("next")))
            error = text.LOGIN_FAILED
    session.setdefault("csrf_token", secrets.token_urlsafe(24))
    status = 401 if error else 200
    return render_template("login.html", text=text, error=error, csrf_token=session["csrf_token"],
                           username=request.form.get("username", "")), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def init_auth(server: Flask) -> None:
    login_manager.init_app(server)
    login_manager.session_protection = "basic"
    server.register_blueprint(bp)
    # Registered first, so it runs before Dash's own before_request hooks.
    server.before_request_funcs.setdefault(None, []).insert(0, _guard)
