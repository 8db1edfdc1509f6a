"""Login with flask-login, and the guard in front of every route.

The guard runs before Flask routes *and* Dash's own endpoints (/_dash-layout, /_dash-dependencies,
/_dash-update-component, component suites, assets): Dash pages alone would leave callbacks open.
Anonymous XHR and API calls get 401 JSON; anonymous page loads are redirected to the login form.

Wall screens sign in with a display token instead (`/wall?token=…`): a read-only, leader-scope session
that may reach only the wall. Its token stays in the screen's URL, so a lost session signs in again on
the next reload, and a revoked token shows the "screen revoked" page, never a login form.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import asdict
from datetime import timedelta
from urllib.parse import urlparse

from flask import Blueprint, Flask, jsonify, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard import text
from queries import audit, display_tokens
from queries import users as user_store
from queries.access import Viewer

PUBLIC_ENDPOINTS = {"auth.login", "auth.logout", "health.healthz", "auth.screen_revoked"}
WALL_PATH = "/wall"
# What a display session may reach: the wall page, Dash's plumbing and assets, the wall heartbeat and the
# (lean, personal-data-free) map points; of the Dash callbacks only the wall's and the page router's.
DISPLAY_PREFIXES = ("/wall", "/_dash-", "/assets/", "/_favicon", "/api/v1/wall/", "/api/v1/map/points")
DISPLAY_CALLBACK_PREFIXES = ("wall-", "_pages_")
XHR_PREFIXES = ("/_dash-", "/api/")
# Machine-facing APIs with their own guard (a logged-in session or an API key), checked in their blueprint.
SELF_GUARDED_PREFIXES = ("/open311/",)
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# Signed-in people are signed out after this long without doing anything; wall screens never are.
IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("IDLE_TIMEOUT_MINUTES", "30")))

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


class DisplayUser(UserMixin):
    """A wall screen: leader scope, read-only, no personal data."""

    role = "display"
    agency_code = None
    agency_name = None

    def __init__(self, screen: display_tokens.Screen):
        self.screen = screen
        self.id = f"screen:{screen.id}"

    @property
    def username(self) -> str:
        return f"screen:{self.screen.name}"

    @property
    def display_name(self) -> str:
        return self.screen.name


def _load_screen(screen_id: int):
    try:
        screen = display_tokens.screen_by_id(screen_id)
    except SQLAlchemyError:
        # Database down: the screen keeps its last data and shows the banner; revocation waits for the database.
        snapshot = session.get("screen_snapshot")
        if not snapshot or snapshot["id"] != screen_id:
            return None
        settings = display_tokens.ScreenSettings.parse(snapshot["settings"])
        return DisplayUser(display_tokens.Screen(**{**snapshot, "settings": settings}))
    if screen is None or not screen.active:
        return None
    return DisplayUser(screen)


@login_manager.user_loader
def _load_user(user_id: str):
    if user_id.startswith("screen:"):
        return _load_screen(int(user_id.removeprefix("screen:")))
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


def current_viewer() -> Viewer:
    """The signed-in person as queries/ sees them: rights and scope are decided there, from this."""
    ip = request.remote_addr or "" if request else ""
    if not current_user or not current_user.is_authenticated:
        return Viewer(user_id=None, username="anonymous", role="anonymous", ip=ip)
    if current_user.role == "display":
        return Viewer(user_id=None, username=current_user.username, role="display", ip=ip)
    return Viewer(user_id=current_user.record.id, username=current_user.username, role=current_user.role,
                  agency_code=current_user.agency_code, display_name=current_user.display_name, ip=ip)


def current_scope() -> str | None:
    """The agency code an agency head is limited to; None for province-wide roles."""
    if not current_user or not current_user.is_authenticated:
        return None
    return current_user.agency_code


def _screen_sign_in():
    """On /wall?token=…: sign the screen in, or refuse. None when the request is not a screen sign-in."""
    token = request.args.get("token")
    if request.path != WALL_PATH or token is None:
        return None
    screen = display_tokens.verify(token)
    if screen is None:
        return _refusal(text.SCREEN_REFUSED, 403)
    if not screen.active:
        return redirect(url_for("auth.screen_revoked"))
    if not (current_user.is_authenticated and current_user.id == f"screen:{screen.id}"):
        session.clear()
        login_user(DisplayUser(screen), remember=True, duration=timedelta(days=3650))
        session["screen_id"] = screen.id
        session["screen_snapshot"] = asdict(screen)
    display_tokens.mark_seen(screen)
    return None


def _display_may(req) -> bool:
    if not req.path.startswith(DISPLAY_PREFIXES):
        return False
    if req.path != "/_dash-update-component":
        return True
    body = req.get_json(silent=True) or {}
    parts = [p for p in str(body.get("output", "")).split("...") if p.strip(".")]
    ids = [p.strip(".").split(".")[0] for p in parts]
    return bool(ids) and all(i.startswith(DISPLAY_CALLBACK_PREFIXES) for i in ids)


def _same_origin(req) -> bool:
    """CSRF: a state-changing request must come from our own pages. Browsers always send Origin on
    fetch POSTs (Dash callbacks) and cross-site forms cannot fake it; Referer is the fallback."""
    expected = f"{req.scheme}://{req.host}"
    origin = req.headers.get("Origin")
    if origin:
        return origin == expected
    referer = req.headers.get("Referer", "")
    return referer == expected or referer.startswith(expected + "/")


def _background(req) -> bool:
    """A timer's refresh (dcc.Interval) is not the person doing something: it must not keep a session alive."""
    if req.path != "/_dash-update-component":
        return False
    changed = (req.get_json(silent=True) or {}).get("changedPropIds") or []
    return bool(changed) and all(str(c).endswith(".n_intervals") for c in changed)


def _idle_expired() -> bool:
    """Sign out a person idle for longer than IDLE_TIMEOUT; note activity otherwise."""
    now = time.time()
    last = session.get("last_active")
    if last is not None and now - last > IDLE_TIMEOUT.total_seconds():
        audit.write(current_viewer(), "auth.idle_timeout", current_user.username)
        logout_user()
        session.clear()
        session["expired"] = True
        return True
    if last is None or not _background(request):
        session["last_active"] = now
    return False


def _guard():
    if request.method in STATE_CHANGING and request.endpoint != "auth.login" and not request.path.startswith(
            SELF_GUARDED_PREFIXES) and not _same_origin(request):
        # Open311 submissions are exempt: they are accepted only with an API key, never on a session cookie.
        return jsonify(error="csrf", message=text.CSRF_REFUSED), 403
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    signed_in = _screen_sign_in()
    if signed_in is not None:
        return signed_in
    if current_user.is_authenticated:
        if current_user.role == "display" and not _display_may(request):
            if request.path.startswith(XHR_PREFIXES):
                return jsonify(error="forbidden", message=text.SCREEN_ONLY_WALL), 403
            return _refusal(text.SCREEN_ONLY_WALL, 403)
        if current_user.role != "display" and _idle_expired():
            if request.path.startswith(XHR_PREFIXES):
                return jsonify(error="session_expired", message=text.SESSION_EXPIRED), 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return None
    if session.get("screen_id") is not None:
        # A screen whose session no longer loads: it was revoked (or the token deleted).
        if request.path.startswith(XHR_PREFIXES):
            return jsonify(error="screen_revoked", message=text.SCREEN_REVOKED), 403
        return redirect(url_for("auth.screen_revoked"))
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
    error, status = None, 200
    if request.method == "GET" and session.pop("expired", None):
        error = text.SESSION_EXPIRED
    if request.method == "POST":
        username, ip = request.form.get("username", "").strip(), request.remote_addr or ""
        attempt = Viewer(user_id=None, username=username[:80] or "?", role="anonymous", ip=ip)
        wait = user_store.locked_out(username, ip)
        if not secrets.compare_digest(request.form.get("csrf_token", ""), session.get("csrf_token", "")):
            error, status = text.LOGIN_EXPIRED, 401
        elif wait:
            audit.write(attempt, "auth.locked", username[:100])
            error, status = text.LOGIN_LOCKED.format(minutes=wait), 429
        else:
            record = user_store.authenticate(username, request.form.get("password", ""))
            if record:
                user_store.clear_failures(username)
                session.clear()
                login_user(User(record), remember=bool(request.form.get("remember")))
                session["user_snapshot"] = asdict(record)
                session["last_active"] = time.time()
                audit.write(current_viewer(), "auth.login", record.username)
                return redirect(_safe_next(request.args.get("next")))
            user_store.record_failure(username, ip)
            audit.write(attempt, "auth.failed", username[:100])
            error, status = text.LOGIN_FAILED, 401
    session.setdefault("csrf_token", secrets.token_urlsafe(24))
    return render_template("login.html", text=text, error=error, csrf_token=session["csrf_token"],
                           username=request.form.get("username", "")), status


def _refusal(message: str, status: int):
    return render_template("screen.html", text=text, message=message), status


@bp.route("/wall/revoked")
def screen_revoked():
    return render_template("screen.html", text=text, message=text.SCREEN_REVOKED), 403


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated and current_user.role != "display":
        audit.write(current_viewer(), "auth.logout", current_user.username)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def init_auth(server: Flask) -> None:
    login_manager.init_app(server)
    login_manager.session_protection = "basic"
    server.register_blueprint(bp)
    # Registered first, so it runs before Dash's own before_request hooks.
    server.before_request_funcs.setdefault(None, []).insert(0, _guard)
