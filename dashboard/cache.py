"""One cache for the pages and the API (flask-caching): in-process by default, Redis when REDIS_URL is set,
so several gunicorn workers share it.

An entry is keyed by the function and its arguments (the Filter carries the caller's scope) and holds the
answer with the *data version* it was computed for (the analytics copy's generation, or the record's own
version when the copy is off) and the minute (deadlines move with the clock). It is fresh while both still
hold. A write moves the data version, so every answer computed before it is recomputed on its next use;
while data keeps changing, an answer that is slow to compute (SLOW_MS, 250 ms) is recomputed at most every
STALE_SECONDS (10), and meanwhile the previous one is served: at ten million reports, recomputing every
aggregate after every write would keep both cores busy. Such an answer is recomputed by one worker at a
time; the others serve the previous one meanwhile. Cheap answers are always recomputed at once.
If the cache server is unreachable the value is computed as if
there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time

from flask import Flask
from flask_caching import Cache

from queries import analytics, overview
from queries.db import database_url

log = logging.getLogger("paht.cache")
cache = Cache()
DEFAULT_TIMEOUT = 300


def init_cache(server: Flask) -> None:
    url = os.environ.get("REDIS_URL", "").strip()
    # Two deployments sharing one Redis database must not answer from each other's entries.
    database = hashlib.sha1(database_url().encode()).hexdigest()[:8]
    config = {"CACHE_DEFAULT_TIMEOUT": DEFAULT_TIMEOUT, "CACHE_KEY_PREFIX": f"paht:{database}:"}
    if url:
        config |= {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url,
                   "CACHE_OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}}
    else:
        config |= {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000}
    server.config.update(config)
    cache.init_app(server)


def data_version() -> str:
    """What the aggregates read now: the copy's generation when they read the copy, else the record's."""
    source = analytics.reader()
    generation = getattr(source, "generation", None)
    return f"copy-{generation}" if generation is not None else f"record-{overview.data_version()}"


STALE_SECONDS = float(os.environ.get("CACHE_STALE_SECONDS", "10"))
# Only answers that took at least this long get the stale window: cheap ones are always recomputed at once,
# so after an action the overview shows it at once on a small or mid-sized database.
SLOW_MS = float(os.environ.get("CACHE_SLOW_MS", "250"))


def cached(fn, *args, **kwargs):
    """fn(*args, **kwargs), from the cache when answered for the same data this minute, or within the last
    STALE_SECONDS while another recomputation is due or under way."""
    raw = repr((fn.__module__, fn.__qualname__, args, sorted(kwargs.items())))
    key = "call:" + hashlib.sha1(raw.encode()).hexdigest()
    stamp = (data_version(), int(time.time() // 60))
    try:
        entry = cache.get(key)
        if entry is not None:
            computed_for, computed_at, took_ms, value = entry
            if computed_for == stamp:
                return value
            if took_ms >= SLOW_MS and (time.time() - computed_at < STALE_SECONDS
                                       or not cache.add(key + ":busy", 1, timeout=30)):
                return value  # recomputed a moment ago, or being recomputed by another worker
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        log.warning("cache unreachable; computing directly", exc_info=True)
        return fn(*args, **kwargs)
    try:
        started = time.time()
        value = fn(*args, **kwargs)
        try:
            cache.set(key, (stamp, time.time(), (time.time() - started) * 1000, value))
        except Exception:  # noqa: BLE001
            log.warning("cache unreachable; value not stored", exc_info=True)
    finally:  # a failed recomputation must not keep other workers on the old answer for 30 s
        with contextlib.suppress(Exception):
            cache.delete(key + ":busy")
    return value


def ping() -> str:
    """'ok', 'in-process' or 'unreachable', for /healthz."""
    if not os.environ.get("REDIS_URL", "").strip():
        return "in-process"
    try:
        cache.set("healthz", "1", timeout=10)
        return "ok" if cache.get("healthz") == "1" else "unreachable"
    except Exception:  # noqa: BLE001
        return "unreachable"
