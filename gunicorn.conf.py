"""gunicorn for production: `gunicorn -c gunicorn.conf.py` (DATABASE_URL pointing at PostgreSQL).

Run `flask --app app init-db` once before the first start: a database that already has a schema is
never seeded with demo data.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8050')}"
wsgi_app = "app:serve_app()"

# Threads matter more than processes: map-point requests are slow-ish I/O, callbacks are quick.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("THREADS", "4"))

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
loglevel = os.environ.get("LOG_LEVEL", "info")
