"""dashboard/cache.py: the shared answer cache, on real Flask apps, real Redis and real databases.

Covered:
- an answer is computed once per function + arguments; other arguments, and the same Filter scoped to another
  agency, are other entries;
- when the data version moves: recomputed at once with STALE_SECONDS=0; within STALE_SECONDS of the last
  computation the previous answer is served (fake clock, and once on the real clock); a new minute counts
  as a change too;
- while another worker holds the entry's ":busy" marker, the previous answer is served, not recomputed;
- REDIS_URL: two separately created apps ("workers") share entries; without it each app has its own;
- Redis unreachable (a closed port): every call computes, nothing raises;
- the warm pass (what the sync loop runs after each cycle): a shared answer (kept_warm) asked for again
  (served from the cache) that took at least WARM_MS is recomputed after a change or a new minute, by another
  worker on Redis, so the viewer's next call computes nothing; an answer not marked kept_warm, one asked for
  only once, a cheap one, one nobody read since the last pass or within HOT_SECONDS, one that is current and
  one another worker is computing are left alone;
- end to end on SQLite and PostgreSQL with ANALYTICS=off: a report submitted and one rejected through the
  project's own functions move data_version(), and after the stale window the cached count follows.

The in-process and Redis backends run the same unit tests. Only STALE_SECONDS, the clock module and
data_version() inside dashboard.cache are replaced, and only in the unit tests; the cache itself is real.
"""

from __future__ import annotations

import hashlib
import socket
import time
import uuid
from datetime import date

import pytest
import redis
from flask import Flask
from sqlalchemy import text

from dashboard import cache as cache_module
from dashboard.cache import cache, cached, init_cache
from queries import db as database
from queries import open311, workflow
from queries.access import Viewer
from queries.db import Database
from queries.filters import Filter
from queries.migrate import upgrade
from queries.overview import headline_counts
from queries.reference import load_reference_data
from tests.conftest import create_pg_database

REDIS_URL = "redis://127.0.0.1:6379/9"  # a database of its own, emptied before and after each test using it
MINUTE_START = 1_800_000_000.0  # a whole minute (divisible by 60): the fake clock starts 1 s after it


# --- helpers ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def every_answer_is_slow(set_settings, monkeypatch):
    """The stale window and the busy marker apply to answers slower than SLOW_MS; the probes here answer in
    microseconds, so they count as slow unless a test says otherwise. Each test starts with nothing noted as
    hot in this process (the fake clock starts at the same second in every test)."""
    set_settings(cache_slow_ms=0.0)
    monkeypatch.setattr(cache_module, "_noted", {})


class Probe:
    """The function handed to cached(): counts its real calls and answers (current answer, args, kwargs),
    so a value served from the wrong entry or from before a change shows. Every probe has the same
    qualname, hence the same keys: one probe per test (each test starts with an empty cache)."""

    def __init__(self, answer: str = "v1"):
        self.answer = answer
        self.calls = 0

        def probe(*args, **kwargs):
            self.calls += 1
            return self.answer, args, kwargs

        self.fn = probe


class Clock:
    """Stands in for the `time` module inside dashboard.cache."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


class Version:
    """Stands in for dashboard.cache.data_version in the unit tests; move() is a write."""

    def __init__(self):
        self.n = 1

    def __call__(self) -> str:
        return f"record-test-{self.n}"

    def move(self) -> None:
        self.n += 1


def entry_key(fn, *args, **kwargs) -> str:
    """The entry's key as dashboard.cache derives it; tests check it really is the stored one."""
    raw = repr((fn.__module__, fn.__qualname__, args, sorted(kwargs.items())))
    return "call:" + hashlib.sha1(raw.encode()).hexdigest()


def call(worker: Flask, fn, *args, **kwargs):
    with worker.app_context():
        return cached(fn, *args, **kwargs)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture
def redis_db():
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def new_worker(set_settings, monkeypatch):
    """new_worker(redis_url or None) -> a fresh Flask app with the cache initialised as a worker does."""

    def make(redis_url: str | None) -> Flask:
        if redis_url:
            set_settings(redis_url=redis_url)
        else:
            monkeypatch.delenv("REDIS_URL", raising=False)
        server = Flask(__name__)
        init_cache(server)
        return server

    return make


@pytest.fixture(params=["in-process", "redis"])
def backend(request):
    """A worker factory on each backend. In-process, another 'worker' is another thread of the same process,
    so it shares the same app's cache; on Redis it is a separately created app."""
    make = request.getfixturevalue("new_worker")
    if request.param == "redis":
        request.getfixturevalue("redis_db")
        first = make(REDIS_URL)
        return request.param, first, lambda: make(REDIS_URL)
    first = make(None)
    return request.param, first, lambda: first


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(MINUTE_START + 1)
    monkeypatch.setattr(cache_module, "time", fake)
    return fake


@pytest.fixture
def version(monkeypatch) -> Version:
    fake = Version()
    monkeypatch.setattr(cache_module, "data_version", fake)
    return fake


# --- 1. keys --------------------------------------------------------------------------------------------

def test_same_call_is_computed_once_and_arguments_and_scope_are_part_of_the_key(backend, clock, version):
    _, worker, _ = backend
    p = Probe()
    first = call(worker, p.fn, 1, kind="a")
    assert call(worker, p.fn, 1, kind="a") == first == ("v1", (1,), {"kind": "a"})
    assert p.calls == 1
    with worker.app_context():
        assert cache.get(entry_key(p.fn, 1, kind="a"))[-1] == first  # the entry is where the key says

    assert call(worker, p.fn, 2, kind="a") == ("v1", (2,), {"kind": "a"})
    assert call(worker, p.fn, 1, kind="b") == ("v1", (1,), {"kind": "b"})
    assert p.calls == 3

    f = Filter(start=date(2026, 10, 1), end=date(2026, 10, 31), categories=("MT",))
    answers = {scope: call(worker, p.fn, f.scoped(scope)) for scope in (None, "SXD", "CAT")}
    assert p.calls == 6  # each scope is an entry of its own
    for scope, answer in answers.items():
        assert answer[1][0].scope_agency == scope
        assert call(worker, p.fn, f.scoped(scope)) == answer  # and each is served from its own entry
    assert p.calls == 6


# --- 2. data version and the stale window ---------------------------------------------------------------

def test_a_new_data_version_is_recomputed_at_once_without_a_stale_window(set_settings, backend, clock, version):
    set_settings(cache_stale_seconds=0.0)
    _, worker, _ = backend
    p = Probe("v1")
    assert call(worker, p.fn, "x")[0] == "v1"
    p.answer = "v2"
    assert call(worker, p.fn, "x")[0] == "v1" and p.calls == 1  # same version: served, even with no window
    version.move()
    assert call(worker, p.fn, "x")[0] == "v2" and p.calls == 2
    assert call(worker, p.fn, "x")[0] == "v2" and p.calls == 2  # stored for the new version


def test_within_the_stale_window_the_previous_answer_is_served(set_settings, backend, clock, version):
    set_settings(cache_stale_seconds=10.0)
    _, worker, _ = backend
    p = Probe("v1")
    assert call(worker, p.fn)[0] == "v1"
    version.move()
    p.answer = "v2"
    clock.now += 9.9
    assert call(worker, p.fn)[0] == "v1" and p.calls == 1
    clock.now += 0.2  # 10.1 s after the computation
    assert call(worker, p.fn)[0] == "v2" and p.calls == 2
    assert call(worker, p.fn)[0] == "v2" and p.calls == 2
    # The window runs from the last computation, not from the first.
    version.move()
    p.answer = "v3"
    clock.now += 5
    assert call(worker, p.fn)[0] == "v2" and p.calls == 2
    clock.now += 5.1
    assert call(worker, p.fn)[0] == "v3" and p.calls == 3


def test_stale_window_on_the_real_clock(set_settings, backend, version):
    set_settings(cache_stale_seconds=0.2)
    _, worker, _ = backend
    p = Probe("v1")
    assert call(worker, p.fn, "real")[0] == "v1"
    version.move()
    p.answer = "v2"
    assert call(worker, p.fn, "real")[0] == "v1" and p.calls == 1
    time.sleep(0.25)
    assert call(worker, p.fn, "real")[0] == "v2" and p.calls == 2


def test_a_new_minute_is_a_change_too(set_settings, backend, clock, version):
    """Deadlines move with the clock: an answer is fresh for its minute only (then the stale rule applies)."""
    set_settings(cache_stale_seconds=10.0)
    _, worker, _ = backend
    p = Probe("v1")
    clock.now = MINUTE_START + 55
    assert call(worker, p.fn)[0] == "v1"
    p.answer = "v2"
    clock.now = MINUTE_START + 59.9
    assert call(worker, p.fn)[0] == "v1" and p.calls == 1  # same minute, same version
    clock.now = MINUTE_START + 64.9  # next minute, but within 10 s of the computation
    assert call(worker, p.fn)[0] == "v1" and p.calls == 1
    clock.now = MINUTE_START + 65.1
    assert call(worker, p.fn)[0] == "v2" and p.calls == 2
    clock.now = MINUTE_START + 119
    assert call(worker, p.fn)[0] == "v2" and p.calls == 2


# --- 3. one worker at a time recomputes -------------------------------------------------------------------

def test_while_another_worker_recomputes_the_previous_answer_is_served(set_settings, backend, clock, version):
    set_settings(cache_stale_seconds=0.0)  # only the marker can make it serve the old one
    _, worker, another_worker = backend
    other = another_worker()
    p = Probe("v1")
    assert call(worker, p.fn, "busy")[0] == "v1"
    busy = entry_key(p.fn, "busy") + ":busy"
    version.move()
    p.answer = "v2"
    with other.app_context():
        assert cache.add(busy, 1, timeout=30)  # the other worker starts recomputing
    assert call(worker, p.fn, "busy")[0] == "v1" and p.calls == 1
    assert call(worker, p.fn, "busy")[0] == "v1" and p.calls == 1
    with worker.app_context():
        assert cache.get(busy) == 1  # served without touching the other worker's marker
    with other.app_context():
        cache.delete(busy)  # the other worker gave up (or its marker expired) without storing anything
    assert call(worker, p.fn, "busy")[0] == "v2" and p.calls == 2
    with worker.app_context():
        assert cache.get(busy) is None  # the worker that recomputed let go of its own marker
    assert call(worker, p.fn, "busy")[0] == "v2" and p.calls == 2


# --- 4. backends ------------------------------------------------------------------------------------------

def test_workers_share_entries_through_redis(set_settings, new_worker, redis_db, clock, version):
    set_settings(cache_stale_seconds=0.0)
    one, two = new_worker(REDIS_URL), new_worker(REDIS_URL)
    for worker in (one, two):
        with worker.app_context():
            assert type(cache.cache).__name__ == "RedisCache"
            assert cache_module.ping() == "ok"
    p = Probe("v1")
    f = Filter(agencies=("SXD",)).scoped("SXD")
    assert call(one, p.fn, f)[0] == "v1" and p.calls == 1
    assert call(two, p.fn, f) == call(one, p.fn, f)
    assert p.calls == 1  # computed in one worker, served in the other
    prefix = one.config["CACHE_KEY_PREFIX"]
    assert prefix.startswith("paht:") and prefix == two.config["CACHE_KEY_PREFIX"]  # one database, one prefix
    assert redis_db.exists(prefix + entry_key(p.fn, f))  # really in Redis, under the app's prefix
    version.move()
    p.answer = "v2"
    assert call(two, p.fn, f)[0] == "v2" and p.calls == 2  # recomputed by the second worker ...
    assert call(one, p.fn, f)[0] == "v2" and p.calls == 2  # ... and served to the first
    assert not redis_db.exists(prefix + entry_key(p.fn, f) + ":busy")


def test_without_redis_each_app_has_its_own_in_process_cache(new_worker, clock, version):
    one, two = new_worker(None), new_worker(None)
    with one.app_context():
        assert type(cache.cache).__name__ == "SimpleCache"
        assert cache_module.ping() == "in-process"
    p = Probe()
    call(one, p.fn, "x")
    call(one, p.fn, "x")
    assert p.calls == 1
    call(two, p.fn, "x")
    assert p.calls == 2


def test_the_app_from_create_app_caches(server, clock):
    """The app the project builds (conftest `server`: create_app on the seeded SQLite copy, ANALYTICS=off):
    init_cache ran, and data_version() reads the record's version."""
    p = Probe()
    arg = uuid.uuid4().hex  # the session app's cache outlives this test: a key no other run has used
    with server.app_context():
        assert cache_module.data_version().startswith("record-")
        assert cached(p.fn, arg) == cached(p.fn, arg) == ("v1", (arg,), {})
    assert p.calls == 1


# --- 5. Redis unreachable ---------------------------------------------------------------------------------

def test_unreachable_redis_computes_every_time_and_never_raises(new_worker, clock, version):
    worker = new_worker(f"redis://127.0.0.1:{closed_port()}/0")
    p = Probe()
    for n in range(3):
        assert call(worker, p.fn, "down") == ("v1", ("down",), {})
        assert p.calls == n + 1
    with worker.app_context():
        assert cache_module.ping() == "unreachable"


# --- 6. end to end: a real write moves the data version ---------------------------------------------------

CALLS: list[Filter] = []


def count_reports(f: Filter) -> tuple[int, int]:
    """Total and rejected reports, from the record (a module-level function, as the pages cache)."""
    CALLS.append(f)
    row = headline_counts(f).iloc[0]
    return int(row["total"]), int(row["rejected"])


@pytest.fixture(params=["sqlite", "postgresql"])
def record(set_settings, request, tmp_path, pg_server_url, monkeypatch):
    """A fresh system of record (schema and reference data, no reports), configured as the app's database,
    with the analytics copy off so data_version() is the record's own."""
    if request.param == "sqlite":
        db, drop = Database(f"sqlite:///{tmp_path / 'record.sqlite3'}"), None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = Database(url)
    upgrade(db)
    load_reference_data(db)
    set_settings(analytics="off")
    monkeypatch.setattr(database, "_current", db)  # get_db() is this database for the test only
    yield db
    db.dispose()
    if drop:
        drop()


def test_a_real_write_moves_the_version_and_the_next_answer_after_the_window_is_new(set_settings,
        record, new_worker, redis_db, clock):
    set_settings(cache_stale_seconds=5.0)
    CALLS.clear()
    key = open311.create_api_key(f"cache-{uuid.uuid4().hex[:6]}", "portal", record)[0]
    report = open311.NewReport(service_code="XD", address="Số 1 Hùng Vương")
    open311.submit_report(report, key, record)
    open311.submit_report(report, key, record)
    one, two = new_worker(REDIS_URL), new_worker(REDIS_URL)
    f = Filter()

    with one.app_context():
        before = cache_module.data_version()
        assert before.startswith("record-")
    assert call(one, count_reports, f) == (2, 0)
    assert call(two, count_reports, f) == (2, 0)
    assert len(CALLS) == 1

    # A citizen submits a report: the version moves; inside the window the previous count is served.
    third = open311.submit_report(report, key, record)
    with one.app_context():
        after_insert = cache_module.data_version()
    assert after_insert != before
    clock.now += 4
    assert call(two, count_reports, f) == (2, 0) and len(CALLS) == 1
    clock.now += 2  # 6 s after the computation
    assert call(two, count_reports, f) == (3, 0) and len(CALLS) == 2
    assert call(one, count_reports, f) == (3, 0) and len(CALLS) == 2

    # An operator rejects it: an update (not an insert) moves the version too.
    with record.engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM reports WHERE code = :c"), {"c": third.code}).scalar()
    workflow.reject(third.code, version, Viewer(None, "dieuhanh", "operator"), "untrue", db=record)
    with one.app_context():
        assert cache_module.data_version() not in (before, after_insert)
    assert call(one, count_reports, f) == (3, 0) and len(CALLS) == 2
    clock.now += 6
    assert call(one, count_reports, f) == (3, 1) and len(CALLS) == 3
    assert call(two, count_reports, f) == (3, 1) and len(CALLS) == 3


def test_a_failed_recomputation_lets_go_of_its_busy_marker(set_settings, new_worker, clock, version):
    set_settings(cache_stale_seconds=0.0)
    worker = new_worker(None)
    p = Probe("v1")
    assert call(worker, p.fn, "x")[0] == "v1"
    version.move()

    def failing(*_args):
        raise RuntimeError("query failed")

    p_fn, p.fn = p.fn, failing
    with worker.app_context():
        failing.__module__, failing.__qualname__ = p_fn.__module__, p_fn.__qualname__  # the same entry
        with pytest.raises(RuntimeError):
            cache_module.cached(failing, "x")
        assert cache.get(entry_key(p_fn, "x") + ":busy") is None  # the next worker may recompute at once
    p.fn, p.answer = p_fn, "v2"
    assert call(worker, p.fn, "x")[0] == "v2"


def test_deployments_on_one_redis_database_do_not_share_entries(set_settings, new_worker):
    set_settings(database_url="sqlite:////tmp/one.sqlite3")
    one = new_worker(REDIS_URL)
    set_settings(database_url="sqlite:////tmp/two.sqlite3")
    two = new_worker(REDIS_URL)
    assert one.config["CACHE_KEY_PREFIX"] != two.config["CACHE_KEY_PREFIX"]


def test_a_cheap_answer_is_recomputed_at_once_even_within_the_stale_window(set_settings, new_worker, clock, version,
                                                                          monkeypatch):
    set_settings(cache_stale_seconds=10.0)
    set_settings(cache_slow_ms=10_000.0)  # the probe is far quicker than that
    worker = new_worker(None)
    p = Probe("v1")
    assert call(worker, p.fn, "x")[0] == "v1" and p.calls == 1
    version.move()
    p.answer = "v2"
    assert call(worker, p.fn, "x")[0] == "v2" and p.calls == 2  # no stale answer after a write


# --- 7. the warm pass -------------------------------------------------------------------------------------

class Slow:
    """What the module-level `slow_answer` answers, how long it takes on the fake clock, and its calls."""
    answer = "v1"
    takes = 0.1
    calls = 0


def slow_answer(*args, **kwargs):
    """Module-level, as the warm pass needs: it looks a noted function up again by module and name."""
    Slow.calls += 1
    cache_module.time.now += Slow.takes  # the fake clock: this answer "takes" Slow.takes seconds
    return Slow.answer, args


@pytest.fixture
def slow(set_settings, monkeypatch, clock, version):
    monkeypatch.setattr(Slow, "answer", "v1")
    monkeypatch.setattr(Slow, "takes", 0.1)
    monkeypatch.setattr(Slow, "calls", 0)
    set_settings(cache_warm_ms=50.0)
    set_settings(cache_stale_seconds=0.0)
    return Slow


def warm(worker: Flask) -> list[str]:
    with worker.app_context():
        return cache_module.run_warm_pass()


def read(worker: Flask, *args):
    """A viewer reading slow_answer as a shared answer (kept_warm)."""
    with worker.app_context():
        return cache_module.kept_warm(slow_answer, *args)


def ask_twice(worker: Flask, *args):
    """Computed, then served from the cache: what makes an answer one to keep warm."""
    read(worker, *args)
    return read(worker, *args)


def test_an_answer_not_marked_kept_warm_is_never_warmed(new_worker, slow, version):
    worker = new_worker(None)
    for _ in range(3):
        call(worker, slow_answer, "x")
    version.move()
    assert warm(worker) == [] and slow.calls == 1


def test_the_warm_pass_recomputes_a_hot_answer_after_a_change_and_at_a_new_minute(backend, slow, clock, version):
    _name, viewer, another_worker = backend
    sync_process = another_worker()  # on Redis a separately created app, as the sync process is
    assert ask_twice(viewer, "x") == ("v1", ("x",)) and slow.calls == 1
    assert warm(sync_process) == [] and slow.calls == 1  # current: nothing to do

    version.move()
    slow.answer = "v2"
    assert warm(sync_process) == ["slow_answer"] and slow.calls == 2
    assert read(viewer, "x") == ("v2", ("x",)) and slow.calls == 2  # ready: not computed again

    clock.now += cache_module.NOTE_EVERY_SECONDS
    assert read(viewer, "x")[0] == "v2"  # read again since the warm pass: still wanted
    clock.now += 60  # deadlines move with the clock: a new minute is a change too
    slow.answer = "v3"
    assert warm(sync_process) == ["slow_answer"] and slow.calls == 3
    assert read(viewer, "x") == ("v3", ("x",)) and slow.calls == 3


def test_an_answer_asked_for_once_is_left_to_its_viewer(new_worker, slow, version):
    worker = new_worker(None)
    read(worker, "x")
    version.move()
    assert warm(worker) == [] and slow.calls == 1


def test_a_cheap_answer_is_left_to_its_viewer(new_worker, slow, version):
    worker = new_worker(None)
    slow.takes = 0.01  # 10 ms, under WARM_MS
    ask_twice(worker, "x")
    version.move()
    assert warm(worker) == [] and slow.calls == 1
    slow.answer = "v2"
    assert read(worker, "x")[0] == "v2" and slow.calls == 2


def test_an_answer_nobody_asked_for_lately_is_let_go(new_worker, slow, clock, version):
    worker = new_worker(None)
    ask_twice(worker, "x")
    clock.now += cache_module.HOT_SECONDS + 1
    version.move()
    assert warm(worker) == [] and slow.calls == 1


def test_a_viewer_asking_again_keeps_the_answer_hot(new_worker, slow, clock, version):
    """Served from the cache, not computed, an answer is still noted again (at most once a minute)."""
    worker = new_worker(None)
    ask_twice(worker, "x")
    for _ in range(12):  # every 60 s for 12 minutes, past HOT_SECONDS: answered from the warm pass each time
        clock.now += 60
        version.move()
        assert warm(worker) == ["slow_answer"]
        read(worker, "x")
    assert slow.calls == 1 + 12  # once by the viewer, then once per warm pass


def test_an_answer_nobody_read_since_the_last_warm_pass_is_not_warmed_again(new_worker, slow, clock, version):
    """With a write every few seconds, recomputing what no one reads in between is wasted work."""
    worker = new_worker(None)
    ask_twice(worker, "x")
    version.move()
    assert warm(worker) == ["slow_answer"]
    clock.now += 5
    version.move()
    assert warm(worker) == [] and slow.calls == 2
    read(worker, "x")  # the viewer computes it himself: the data moved since the pass
    clock.now += cache_module.NOTE_EVERY_SECONDS
    read(worker, "x")  # and reads it again: wanted once more
    version.move()
    assert warm(worker) == ["slow_answer"] and slow.calls == 4


def test_the_warm_pass_leaves_what_another_worker_is_computing(new_worker, slow, version):
    worker = new_worker(None)
    ask_twice(worker, "x")
    version.move()
    with worker.app_context():
        cache.add(entry_key(slow_answer, "x") + ":busy", 1, timeout=30)
    assert warm(worker) == [] and slow.calls == 1


def test_a_slow_answer_is_warmed_at_most_once_per_stale_window(set_settings, new_worker, slow, clock, version):
    """As cached() serves a slow answer (>= SLOW_MS) for STALE_SECONDS after computing it while data keep
    changing, the warm pass does not recompute it more often either."""
    set_settings(cache_slow_ms=50.0)
    set_settings(cache_stale_seconds=10.0)
    worker = new_worker(None)
    ask_twice(worker, "x")
    version.move()
    assert warm(worker) == []  # computed 0.1 s ago
    clock.now += 10
    assert warm(worker) == ["slow_answer"] and slow.calls == 2
