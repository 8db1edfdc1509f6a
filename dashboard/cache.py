"""One cache for the pages and the API (flask-caching): in-process by default, Redis when REDIS_URL is set,
so several gunicorn workers share it.

A key holds the function, its arguments (the Filter carries the caller's scope), the minute (deadlines
move with the clock) and the *data version*: the analytics copy's generation, or the record's own version
when the copy is off. A write changes the data version, so every key it could affect is simply never read
again and expires; nothing needs deleting by hand. If the cache server is unreachable the value is
computed as if there were no cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time

from flask import Flask
from flask_caching import Cache

from queries import analytics, overview

log = logging.getLogger("paht.cache")
cache = Cache()
DEFAULT_TIMEOUT = 300


def init_cache(server: Flask) -> None:
    url = os.environ.get("REDIS_URL", "").strip()
    config = {"CACHE_DEFAULT_TIMEOUT": DEFAULT_TIMEOUT, "CACHE_KEY_PREFIX": "paht:"}
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


def cached(fn, *args, **kwargs):
    """fn(*args, **kwargs), from the cache when the same call was answered for the same data this minute."""
    raw = repr((fn.__module__, fn.__qualname__, args, sorted(kwargs.items()), data_version(),
                int(time.time() // 60)))
    key = "call:" + hashlib.sha1(raw.encode()).hexdigest()
    try:
        hit = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        log.warning("cache unreachable; computing directly", exc_info=True)
        return fn(*args, **kwargs)
    if hit is not None:
        return hit
    value = fn(*args, **kwargs)
    try:
        cache.set(key, value)
    except Exception:  # noqa: BLE001
        log.warning("cache unreachable; value not stored", exc_info=True)
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
