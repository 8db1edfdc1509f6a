"""bench/work.py times every callback and every route of the app: a new one without an entry fails here, and
each read entry is called once, so an entry that no longer fits its callback or route fails too."""

from __future__ import annotations

import pytest

from bench.work import CALLBACK_ROUTE, CALLBACKS, ROUTES, STATIC_RULES, Bench, Sample, one_photo
from queries.db import Database
from tests.dash_calls import dash_body, value_names

READS = [entry for entry in [*CALLBACKS, *ROUTES] if not entry.writes]


@pytest.fixture(scope="module")
def bench(server, app_env):
    db = Database(app_env["DATABASE_URL"])
    with server.app_context():
        one_photo(db)  # the seeding wrote its photos' files into another media folder
    yield Bench(server, Sample.read(db))
    db.dispose()


def test_every_server_callback_has_an_entry_and_every_entry_a_callback(bench):
    server_side = {name for name, spec in bench.dependencies.items() if not spec.get("clientside_function")}
    benched = {entry.callback for entry in CALLBACKS}
    assert server_side - benched == set(), "callbacks with no entry in bench/work.py"
    assert benched - server_side == set(), "entries in bench/work.py for callbacks the app no longer has"


def test_every_route_has_an_entry_and_every_entry_a_route(server):
    routes = {(rule.rule, method) for rule in server.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.rule not in STATIC_RULES}
    benched = {(entry.rule, entry.method) for entry in ROUTES} | {CALLBACK_ROUTE}
    assert routes - benched == set(), "routes with no entry in bench/work.py"
    assert benched - routes == set(), "entries in bench/work.py for routes the app no longer has"


@pytest.mark.parametrize("entry", CALLBACKS, ids=lambda entry: entry.name)
def test_each_callback_entry_names_only_its_inputs_and_states(bench, entry):
    spec = bench.dependencies[entry.callback]
    values = entry.values(bench.sample, 0)
    assert set(values) - value_names(spec) == set()
    assert dash_body(spec, values, entry.changed, entry.page)["changedPropIds"]


@pytest.mark.parametrize("entry", READS, ids=lambda entry: entry.name)
def test_each_read_entry_answers(bench, entry):
    status, answer = bench.call(entry, 0)
    if entry in CALLBACKS:
        assert status == 200 and answer["response"], (status, answer)
    else:
        assert status == entry.status, (status, answer)
