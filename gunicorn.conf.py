"""gunicorn for production: `gunicorn -c gunicorn.conf.py` (DATABASE_URL pointing at PostgreSQL).

Run `flask --app app init-db` once before the first start. Under gunicorn an empty database is never seeded
with demo data unless SEED_DEMO_IF_EMPTY=1 asks for it. Settings come from the environment through
queries/config.py; a bad value stops the start here, before any worker, with the setting named.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from queries.config import ConfigError, settings  # noqa: E402

try:
    _settings = settings()
except ConfigError as err:
    sys.exit(str(err))

bind = f"{_settings.host}:{_settings.port}"
wsgi_app = "app:serve_app()"

# Threads matter more than processes: map-point requests are slow-ish I/O, callbacks are quick.
worker_class = "gthread"
workers = _settings.web_concurrency
threads = _settings.threads

timeout = 60  # a callback slower than this is a bug; let the worker restart
graceful_timeout = 30
# Longer than nginx keeps an idle upstream connection (60 s) and than a wall's 30 s refresh: when the server
# closes an idle connection first, a request sent on it at that moment is reset (the load test saw one).
# gthread keeps idle connections in its poller, not on a thread, so this costs no worker.
keepalive = 75
max_requests = 2000  # recycle workers now and then to bound memory growth
max_requests_jitter = 200
preload_app = False  # each worker builds its own engine and connection pool

control_socket_disable = True  # no runtime control socket under ~/.gunicorn
accesslog = None  # the app logs every request itself, as one JSON line (dashboard/logs.py)
errorlog = "-"
loglevel = _settings.log_level.lower()
# gunicorn's own lines (start, workers booting and dying) are JSON too, like the app's: `journalctl -o cat | jq`.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "dashboard.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"level": _settings.log_level, "handlers": ["stderr"], "propagate": False},
                "gunicorn.access": {"level": _settings.log_level, "handlers": ["stderr"], "propagate": False}},
    "root": {"level": _settings.log_level, "handlers": ["stderr"]},
}
