"""One cache for the pages and the API (flask-caching): in-process by default, Redis when REDIS_URL is set,
so several gunicorn workers share it.

An entry is keyed by the function and its arguments (the Filter carries the caller's scope) and holds the
answer with the *data version* it was computed for (the analytics copy's generation, or the record's own
version when the copy is off) and the minute (deadlines move with the clock). It is fresh while both still
hold. A write moves the data version, so every answer computed before it is recomputed on its next use;
while data keeps changing, an answer that is slow to compute (CACHE_SLOW_MS, 250 ms) is recomputed at most every
CACHE_STALE_SECONDS (10), and meanwhile the previous one is served: on a large record, recomputing every
aggregate after every write would keep the cores busy. Such an answer is recomputed by one worker at a
time; the others serve the previous one meanwhile. Cheap answers are always recomputed at once.
The process that keeps the analytics copy also keeps the shared answers people keep reading warm (kept_warm):
after each sync cycle it recomputes those that are no longer current (run_warm_pass), so the first viewer after a
change seldom computes anything. With several workers that takes Redis: in-process, only the syncing
worker's own cache is warmed.
If the cache server is unreachable the value is computed as if there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import time

from flask import Flask
from flask_caching import Cache

from queries import analytics, overview
from queries.config import settings
from queries.db import database_url

log = logging.getLogger("paht.cache")
cache = Cache()
DEFAULT_TIMEOUT = 300


def init_cache(server: Flask) -> None:
    url = settings().redis_url
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


def _entry_key(fn, args: tuple, kwargs: dict) -> str:
    raw = repr((fn.__module__, fn.__qualname__, args, sorted(kwargs.items())))
    return "call:" + hashlib.sha1(raw.encode()).hexdigest()


def _stamp() -> tuple:
    return data_version(), int(time.time() // 60)


def cached(fn, *args, **kwargs):
    """fn(*args, **kwargs), from the cache when answered for the same data this minute, or within the last
    CACHE_STALE_SECONDS while another recomputation is due or under way. Only answers that took at least
    CACHE_SLOW_MS get that stale window: cheap ones are recomputed at once, so an action shows at once."""
    return _cached(fn, args, kwargs, keep_warm=False)


def kept_warm(fn, *args, **kwargs):
    """cached(fn, ...) for an answer that many viewers share (the wall, the province's rows of the agency
    pages): the warm pass recomputes it after each change while people keep reading it."""
    return _cached(fn, args, kwargs, keep_warm=True)


def _cached(fn, args: tuple, kwargs: dict, keep_warm: bool):
    key = _entry_key(fn, args, kwargs)
    stamp = _stamp()
    try:
        entry = cache.get(key)
        if entry is not None:
            computed_for, computed_at, took_ms, value = entry
            if keep_warm:
                with contextlib.suppress(Exception):
                    _note_hot(key, fn, args, kwargs, took_ms)
            if computed_for == stamp:
                return value
            if took_ms >= settings().cache_slow_ms and (time.time() - computed_at < settings().cache_stale_seconds
                                       or not cache.add(key + ":busy", 1, timeout=30)):
                return value  # recomputed a moment ago, or being recomputed by another worker
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        log.warning("cache unreachable; computing directly", exc_info=True)
        return fn(*args, **kwargs)
    value, _took_ms = _compute(key, stamp, fn, args, kwargs)
    return value


def _compute(key: str, stamp: tuple, fn, args: tuple, kwargs: dict) -> tuple:
    """fn's answer stored under key for stamp, and how long it took (ms); lets go of the busy marker."""
    try:
        started = time.time()
        value = fn(*args, **kwargs)
        took_ms = (time.time() - started) * 1000
        try:
            cache.set(key, (stamp, time.time(), took_ms, value))
        except Exception:  # noqa: BLE001
            log.warning("cache unreachable; value not stored", exc_info=True)
    finally:  # a failed recomputation must not keep other workers on the old answer for 30 s
        with contextlib.suppress(Exception):
            cache.delete(key + ":busy")
    return value, took_ms


# --- keeping answers warm ----------------------------------------------------------------------------
# A shared answer (kept_warm) that took CACHE_WARM_MS or more and that was served from the cache within HOT_SECONDS
# is recomputed by the process that keeps the analytics copy, right after each new generation and at each new
# minute (run_warm_pass), if someone read it since it was last computed. The first viewer after a change then
# finds it ready: the wall screens, every agency page's province rows. Per-viewer answers (an operator's
# filters) are not warmed: warming those too slows every page while writes keep coming (bench/README.md).

HOT_SECONDS = 600
HOT_LIMIT = 64  # the most recently asked-for answers kept warm; the rest wait for their viewer
HOT_KEY = "hot-calls"
NOTE_EVERY_SECONDS = 10  # how often one process re-notes an answer it keeps serving
_noted: dict[str, float] = {}  # entry key -> when this process last noted it


def _note_hot(key: str, fn, args: tuple, kwargs: dict, took_ms: float) -> None:
    """Remember (in the shared cache) that this answer was served again, if it is worth keeping warm."""
    now = time.time()
    if took_ms < settings().cache_warm_ms or now - _noted.get(key, -NOTE_EVERY_SECONDS) < NOTE_EVERY_SECONDS:
        return
    _noted[key] = now
    hot = cache.get(HOT_KEY) or {}  # read-modify-write: a note lost to a race is made again at the next read
    hot[key] = (fn.__module__, fn.__qualname__, args, kwargs, now)
    recent = sorted((item for item in hot.items() if now - item[1][4] < HOT_SECONDS), key=lambda kv: kv[1][4])
    cache.set(HOT_KEY, dict(recent[-HOT_LIMIT:]), timeout=HOT_SECONDS)


def _function(module: str, qualname: str):
    """The noted function, looked up again in this process; None for what cannot be (a local function)."""
    if "<locals>" in qualname:
        return None
    try:
        target = importlib.import_module(module)
    except ImportError:
        return None
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return target if callable(target) else None


def run_warm_pass(budget_seconds: float = 2.0) -> list[str]:
    """Recompute the hot answers that are not current, most recently asked-for first, for at most about
    budget_seconds; the names of those recomputed."""
    try:
        hot = cache.get(HOT_KEY) or {}
    except Exception:  # noqa: BLE001
        log.warning("cache unreachable; nothing warmed", exc_info=True)
        return []
    now, stamp = time.time(), _stamp()
    done = []
    for key, (module, qualname, args, kwargs, asked_at) in sorted(hot.items(), key=lambda kv: -kv[1][4]):
        if now - asked_at >= HOT_SECONDS or time.time() - now > budget_seconds:
            break
        fn = _function(module, qualname)
        entry = cache.get(key)
        slow_and_recent = entry is not None and entry[2] >= settings().cache_slow_ms and \
            now - entry[1] < settings().cache_stale_seconds
        if fn is None or entry is not None and (entry[0] == stamp or asked_at < entry[1] or slow_and_recent):
            continue  # current; or nobody asked since it was computed; or slow and computed a moment ago
        if not cache.add(key + ":busy", 1, timeout=30):
            continue  # a viewer's worker is computing it
        try:
            _compute(key, stamp, fn, args, kwargs)
            done.append(qualname)
        except Exception:  # noqa: BLE001 - one failing answer must not stop the others
            log.exception("warming %s failed", qualname)
    return done


def keep_warm_after_sync(server: Flask) -> None:
    """Run a warm pass after every cycle of the analytics sync loop, in whichever process runs it."""

    def warm() -> None:
        with server.app_context():
            started = time.time()
            done = run_warm_pass()
            if done:
                log.info("warmed %d answers in %.2f s: %s", len(done), time.time() - started,
                         ", ".join(sorted(set(done))))

    analytics.after_sync_cycle["warm cached answers"] = warm


def ping() -> str:
    """'ok', 'in-process' or 'unreachable', for /healthz."""
    if not settings().redis_url:
        return "in-process"
    try:
        cache.set("healthz", "1", timeout=10)
        return "ok" if cache.get("healthz") == "1" else "unreachable"
    except Exception:  # noqa: BLE001
        return "unreachable"
