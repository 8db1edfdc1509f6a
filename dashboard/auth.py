"""Login with flask-login, and the guard in front of every route.

The guard runs before Flask routes *and* Dash's own endpoints (/_dash-layout, /_dash-dependencies,
/_dash-update-component, component suites, assets): Dash pages alone would leave callbacks open.
Anonymous XHR and API calls get 401 JSON; anonymous page loads are redirected to the login form.

Wall screens sign in with a display token instead (`/wall?token=…`): a read-only, leader-scope session
that may reach only the wall. Its token stays in the screen's URL, so a lost session signs in again on
the next reload, and a revoked token shows the "screen revoked" page, never a login form.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from datetime import timedelta
from urllib.parse import urlencode, urlparse

from flask import Blueprint, Flask, g, jsonify, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from sqlalchemy.exc import SQLAlchemyError

from dashboard import text, validation
from queries import audit, display_tokens, sessions
from queries import users as user_store
from queries.access import Viewer
from queries.config import settings
from queries.db import get_db

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
CALLBACK_PATH = validation.CALLBACK_PATH
security_log = logging.getLogger("paht.security")

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()
csrf = CSRFProtect()
# A cap on sign-in attempts per client address, whatever their outcome (a flood, not a guess: guesses are
# counted in the database, queries/users.py). Redis when REDIS_URL is set, so every worker counts together.
limiter = Limiter(key_func=lambda: user_store.address_key(get_remote_address()), default_limits=[])


class User(UserMixin):
    """A signed-in person. Flask-Login keeps `id` in the session and remember-me cookies: the user id and the
    server-side session's token, so a cookie is worth only as much as its session (queries/sessions.py)."""

    def __init__(self, record: user_store.UserRecord, token: str):
        self.record = record
        self.token = token
        self.id = f"{record.id}:{token}"

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
        screen_settings = display_tokens.ScreenSettings.parse(snapshot["settings"])
        return DisplayUser(display_tokens.Screen(**{**snapshot, "settings": screen_settings}))
    if screen is None or not screen.active:
        return None
    return DisplayUser(screen)


@login_manager.user_loader
def _load_user(user_id: str):
    if user_id.startswith("screen:"):
        try:
            return _load_screen(int(user_id.removeprefix("screen:")))
        except ValueError:
            return None
    number, _, token = user_id.partition(":")
    if not number.isdigit() or not token:
        return None  # a cookie from before server-side sessions, or forged
    try:
        checked = sessions.check(int(number), token)
    except SQLAlchemyError:
        # Database down: keep a signed-in user signed in (from the signed session) so pages can show
        # their last data and the connection banner instead of bouncing to a login that cannot work. Only
        # down: a database that answers but failed this once (busy, locked) gives no such pass.
        if _database_answers():
            return None
        snapshot = session.get("user_snapshot")
        if not snapshot or str(snapshot["id"]) != number or session.get("_user_id") != user_id:
            return None
        record = user_store.UserRecord(**snapshot)
        return User(record, token) if record.active else None
    g.session_check = checked
    return User(checked.user, token) if checked.user else None


def _database_answers() -> bool:
    try:
        get_db().ping()
        return True
    except SQLAlchemyError:
        return False


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
    """On /wall?token=…: sign the screen in, or refuse. None when the request is not a screen sign-in.
    A person who is signed in keeps their own session: they see the screen's wall as a preview, in their own
    scope (an agency head's lists stay their agency's)."""
    token = request.args.get("token")
    if request.path != WALL_PATH or token is None:
        return None
    screen = display_tokens.verify(token)
    if screen is None:
        return _refusal(text.SCREEN_REFUSED, 403)
    if not screen.active:
        return redirect(url_for("auth.screen_revoked"))
    if current_user.is_authenticated and current_user.role != "display":
        shown = screen.settings
        return redirect(request.script_root + WALL_PATH + "?" + urlencode({
            "rotate": shown.rotate_seconds, "refresh": shown.refresh_seconds, "panels": ",".join(shown.panels)}))
    if not (current_user.is_authenticated and current_user.id == f"screen:{screen.id}"):
        session.clear()
        login_user(DisplayUser(screen), remember=True, duration=timedelta(days=3650))
        session["screen_id"] = screen.id
        session["screen_snapshot"] = asdict(screen)
    display_tokens.mark_seen(screen)
    return None


def _callback_outputs(body: dict) -> list[str]:
    """The component ids a Dash callback request writes to."""
    parts = [p for p in str(body.get("output", "")).split("...") if p.strip(".")]
    return [p.strip(".").split(".")[0] for p in parts]


def _display_may(req) -> bool:
    if not req.path.startswith(DISPLAY_PREFIXES):
        return False
    if req.path != CALLBACK_PATH:
        return True
    ids = _callback_outputs(callback_body(req))
    return bool(ids) and all(i.startswith(DISPLAY_CALLBACK_PREFIXES) for i in ids)


def callback_body(req) -> dict:
    """The JSON body of a Dash callback request; {} when it is not a JSON object (refused by the guard)."""
    body = validation.request_json(req)
    return body if isinstance(body, dict) else {}


def trusted_origins(req) -> list[str]:
    """Where state-changing requests may come from: this server as the request names it, and TRUSTED_ORIGINS
    (nginx on another host name or port than the one the app sees)."""
    return [f"{req.scheme}://{req.host}", *settings().trusted_origins]


def _same_origin(req) -> bool:
    """CSRF for Dash callbacks: a state-changing request must come from our own pages. Browsers always send
    Origin on fetch POSTs and cross-site pages cannot fake it; Referer is the fallback."""
    allowed = trusted_origins(req)
    origin = req.headers.get("Origin")
    if origin:
        ok = origin.rstrip("/") in allowed
    else:
        referer = req.headers.get("Referer", "")
        ok = any(referer == a or referer.startswith(a + "/") for a in allowed)
    if not ok:
        security_log.warning("refused a %s %s: its origin is not ours", req.method, req.path, extra={
            "expected": allowed, "got": origin or req.headers.get("Referer") or None, "ip": req.remote_addr})
    return ok


# What a person changes with the mouse or keyboard. A page's own updates (a timer's tick, and what it sets off:
# a store written, a table's data or selection refreshed) are not the person doing something, so they do not
# keep an idle session alive.
PERSON_PROPS = frozenset({"value", "n_clicks", "n_submit", "start_date", "end_date", "date", "page_current",
                          "active_cell", "sort_by", "contents", "pathname", "search", "zoom", "bounds", "clickData"})


def _person_acted(req) -> bool:
    """A page loaded, or a page update set off by a person's input; not a timer, a poll or what they set off."""
    if req.path != CALLBACK_PATH:
        return req.method == "GET" and not req.path.startswith((*XHR_PREFIXES, "/assets/", "/media/"))
    changed = callback_body(req).get("changedPropIds") or []
    return isinstance(changed, list) and any(str(c).rsplit(".", 1)[-1] in PERSON_PROPS for c in changed)


def _session_refused():
    """The request's session cookie named a session that no longer holds: say why, forget the cookies."""
    checked = g.get("session_check")
    if checked is None or checked.refused not in ("idle", "ended", "inactive"):
        return None
    if checked.refused == "idle":
        audit.write(Viewer(user_id=None, username=checked.username or "?", role="anonymous",
                           ip=request.remote_addr or ""), "auth.idle_timeout", checked.username or "")
    message = text.SESSION_EXPIRED if checked.refused == "idle" else text.SESSION_ENDED
    session.clear()
    session["_remember"] = "clear"  # Flask-Login deletes the remember-me cookie on the way out
    session["expired"] = message
    if request.path.startswith(XHR_PREFIXES):
        return jsonify(error="session_expired", message=message), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _guard():
    refused = validation.check_size()
    if refused is not None:
        return refused
    if request.method in STATE_CHANGING and not request.path.startswith(SELF_GUARDED_PREFIXES):
        # Dash callbacks carry no form token: their origin is checked. Forms (sign-in, sign-out) carry
        # Flask-WTF's token. Open311 submissions are exempt: they need an API key, never a session cookie.
        if request.path.startswith("/_dash-"):
            if not _same_origin(request):
                return jsonify(error="csrf", message=text.CSRF_REFUSED), 403
        else:
            csrf.protect()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    signed_in = _screen_sign_in()
    if signed_in is not None:
        return signed_in
    if current_user.is_authenticated:
        if current_user.role == "display":
            if not _display_may(request):
                if request.path.startswith(XHR_PREFIXES):
                    return jsonify(error="forbidden", message=text.SCREEN_ONLY_WALL), 403
                return _refusal(text.SCREEN_ONLY_WALL, 403)
        elif _person_acted(request) and g.get("session_check") is not None:
            with contextlib.suppress(SQLAlchemyError):
                sessions.note_activity(g.session_check)
        return validation.check_callback_body()
    refused = _session_refused()
    if refused is not None:
        return refused
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


def _login_page(error: str | None, status: int, username: str = ""):
    return render_template("login.html", text=text, error=error, csrf_token=generate_csrf(),
                           username=username), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: settings().login_rate_limit, methods=["POST"])
def login():
    if request.method != "POST":  # GET, and HEAD (a monitor's probe is not a failed sign-in)
        return _login_page(session.pop("expired", None), 200)
    username, ip = request.form.get("username", "").strip(), request.remote_addr or ""
    shown = "".join(c for c in username if c.isprintable())[:80]  # for the audit log: no NUL or control bytes
    attempt = Viewer(user_id=None, username=shown or "?", role="anonymous", ip=ip)
    wait = user_store.locked_out(username, ip)
    if wait:
        audit.write(attempt, "auth.locked", shown)
        return _login_page(text.LOGIN_LOCKED.format(minutes=wait), 429, username)
    verified = user_store.verify_password(username, request.form.get("password", ""))
    token = None
    if verified is not None:
        record, password_hash = verified
        remember = bool(request.form.get("remember"))
        token = sessions.start(record.id, remember, ip, request.headers.get("User-Agent", ""),
                               password_hash=password_hash)
    if token is None:  # a wrong password, or one an admin replaced while it was being checked
        user_store.record_failure(username, ip)
        audit.write(attempt, "auth.failed", shown)
        return _login_page(text.LOGIN_FAILED, 401, username)
    user_store.clear_failures(username, ip)
    session.clear()
    login_user(User(record, token), remember=remember)
    session["user_snapshot"] = asdict(record)
    audit.write(current_viewer(), "auth.login", record.username, "ghi nhớ trên máy này" if remember else "")
    return redirect(_safe_next(request.args.get("next")))


def _refusal(message: str, status: int):
    return render_template("screen.html", text=text, message=message), status


@bp.route("/wall/revoked")
def screen_revoked():
    return render_template("screen.html", text=text, message=text.SCREEN_REVOKED), 403


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated and current_user.role != "display":
        with contextlib.suppress(SQLAlchemyError):
            sessions.end(current_user.token, "logout")
        audit.write(current_viewer(), "auth.logout", current_user.username)
    session.clear()
    logout_user()  # after clear(): it marks the remember-me cookie for deletion in the session
    return redirect(url_for("auth.login"))


def _csrf_refused(err: CSRFError):
    security_log.warning("refused a %s %s: %s", request.method, request.path, err.description,
                         extra={"expected": "the form's CSRF token", "got": "missing or wrong token",
                                "ip": request.remote_addr})
    if request.endpoint == "auth.login":
        return _login_page(text.LOGIN_EXPIRED, 400, request.form.get("username", "").strip())
    if request.path.startswith(XHR_PREFIXES):
        return jsonify(error="csrf", message=text.CSRF_REFUSED), 400
    return _refusal(text.FORM_EXPIRED, 400)


def _too_many(_err):
    message = text.LOGIN_TOO_FAST
    if request.endpoint == "auth.login":
        return _login_page(message, 429, request.form.get("username", "").strip())
    return jsonify(error="too_many_requests", message=message), 429


def _limits_storage(redis_url: str | None) -> str:
    """Flask-Limiter's name for the Redis of REDIS_URL (it spells a socket redis+unix://), or this process."""
    if not redis_url:
        return "memory://"
    return "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url


def init_auth(server: Flask) -> None:
    login_manager.init_app(server)
    login_manager.session_protection = "basic"
    server.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # the guard decides which requests need the token (forms, not Dash)
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a page left open still signs out
        WTF_CSRF_SSL_STRICT=False,  # the Origin check covers HTTPS, with TRUSTED_ORIGINS for proxies
        RATELIMIT_STORAGE_URI=_limits_storage(settings().redis_url),
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        # Redis unreachable: count in this process instead, and never refuse a sign-in for it.
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX="paht-limits",
    )
    csrf.init_app(server)
    limiter.init_app(server)
    server.register_error_handler(CSRFError, _csrf_refused)
    server.register_error_handler(429, _too_many)
    for error in validation.INPUT_ERRORS:
        server.register_error_handler(error, validation.bad_callback_input)
    server.register_blueprint(bp)
    # Registered first, so it runs before Dash's own before_request hooks.
    server.before_request_funcs.setdefault(None, []).insert(0, _guard)
