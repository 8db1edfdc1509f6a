"""Structured logs: one JSON object per line on stderr, for journald, Loki or any log shipper. Every request
is logged once with its duration, status, user and role (never a phone number or a password), and the
Dash callback it ran; slow requests are logged as warnings, and so are refused forgeries (what was expected,
what came). gunicorn.conf.py gives gunicorn's own lines the same form."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request
from flask_login import current_user

from queries.config import settings

FIELDS = ("method", "path", "status", "duration_ms", "user", "role", "callback", "request_id", "ip",
          "expected", "got")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                 "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        entry |= {k: getattr(record, k) for k in FIELDS if hasattr(record, k)}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging() -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(settings().log_level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our request line replaces its access log
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." on every start


def _callback_name() -> str | None:
    """The callback a request ran, as the guard read it (dashboard/validation.py); a body refused unread, for
    its size, is never parsed here either."""
    output = g.get("callback_output")
    return str(output)[:120] if output else None


def init_request_logging(server: Flask) -> None:
    log = logging.getLogger("paht.request")

    def _start():
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]

    # First of all hooks, so that requests the login guard refuses are timed and named too.
    server.before_request_funcs.setdefault(None, []).insert(0, _start)

    @server.after_request
    def _finish(response):
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        signed_in = current_user and current_user.is_authenticated
        extra = {"method": request.method, "path": request.path, "status": response.status_code,
                 "duration_ms": round(elapsed, 1), "request_id": g.get("request_id"), "ip": request.remote_addr,
                 "user": current_user.username if signed_in else None,
                 "role": current_user.role if signed_in else None, "callback": _callback_name()}
        log.log(logging.WARNING if elapsed >= settings().slow_request_ms else logging.INFO, "request", extra=extra)
        response.headers["X-Request-ID"] = extra["request_id"]
        return response
