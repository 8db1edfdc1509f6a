"""Bad input never gives a 500: dates at the edges of the calendar, values of the wrong type in any input of
any callback, outputs no callback writes, bodies that are not callback requests, and bodies over the size
limit (refused before they are read). Each gets a 400 (or 413) with a message in Vietnamese, and changes
nothing."""

from __future__ import annotations

import json

import pytest

from dashboard import text
from tests.test_access_matrix import dash_body, db_state, post

EDGE_DATES = ["0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01"]
API_WITH_DATES = ["/api/v1/overview?from={d}", "/api/v1/overview?to={d}", "/api/v1/overview?from=2026-01-01&to={d}",
                  "/api/v1/scorecard?period=month&date={d}", "/api/v1/agencies/SXD?from={d}",
                  "/api/v1/agencies/SXD?to={d}", "/api/v1/map/points?from={d}", "/api/v1/map/points?to={d}"]
# Values a forged or broken client may send where a string, a list of strings or a number belongs.
WRONG_TYPES = [12345, -1.5e308, True, [1, {"a": 2}], {"nested": ["x"]}, "x" * 5000, "0001-01-01", "9999-12-31"]


@pytest.fixture(scope="module")
def admin_client(server):
    from tests.conftest import login

    client = server.test_client()
    assert login(client, "admin").status_code == 302
    return client


@pytest.fixture(scope="module")
def all_callbacks(admin_client):
    return admin_client.get("/_dash-dependencies").get_json()


@pytest.mark.parametrize("date", EDGE_DATES)
@pytest.mark.parametrize("route", API_WITH_DATES)
def test_dates_at_the_edges_of_the_calendar_get_a_clear_400(admin_client, route, date):
    resp = admin_client.get(route.format(d=date))
    assert resp.status_code == 400, (route, date, resp.status_code)
    body = resp.get_json()
    assert body["error"] == "bad_request" and "01/01/1900" in body["message"]


def test_dates_inside_the_range_are_fine(admin_client):
    assert admin_client.get("/api/v1/overview?from=1900-01-01&to=2199-12-31").status_code == 200


def callback_name(spec: dict) -> str:
    return spec["output"].strip(".")[:60]


def test_every_callback_survives_values_of_the_wrong_type(admin_client, all_callbacks, engine):
    """Each input and state of each callback, in turn, given each wrong value: a 200 (the value is ignored or
    read as empty), a 204 (nothing to update) or a 400 with a message; never a 500, and no write."""
    before = db_state(engine)
    failures = []
    for spec in all_callbacks:
        if spec.get("clientside_function"):
            continue
        props = [(i["id"], i["property"]) for i in spec["inputs"] + spec["state"]]
        for cid, prop in props:
            key = f"{json.dumps(cid, sort_keys=True, separators=(',', ':')) if isinstance(cid, dict) else cid}.{prop}"
            for value in WRONG_TYPES:
                body = dash_body(spec, {key: value})
                resp = post(admin_client, body)
                if resp.status_code not in (200, 204, 400):
                    failures.append((callback_name(spec), key, repr(value)[:40], resp.status_code))
                elif resp.status_code == 400:
                    assert resp.get_json()["message"], (callback_name(spec), key)
    assert failures == []
    assert db_state(engine) == before


@pytest.mark.parametrize("body", [
    {"output": "no-such-component.children", "inputs": [], "state": []},
    {"output": "overview-kpis.children..", "inputs": [], "state": []},
    {"output": 42}, {"output": None}, {}, [], "text", 17,
    {"output": "overview-kpis.children", "inputs": "not-a-list"},
    {"output": "overview-kpis.children", "inputs": [17]},
    {"output": "overview-kpis.children", "inputs": [{"id": "x"}]},
    {"output": "overview-kpis.children", "inputs": [], "changedPropIds": [1, 2]},
], ids=lambda b: json.dumps(b)[:40])
def test_malformed_callback_requests_get_a_400(admin_client, body):
    resp = admin_client.post("/_dash-update-component", json=body)
    assert resp.status_code == 400
    assert resp.get_json()["message"] in (text.UNKNOWN_CALLBACK, text.BAD_CALLBACK_REQUEST)


def test_a_body_that_is_not_json_gets_a_400(admin_client):
    resp = admin_client.post("/_dash-update-component", data=b"\x00\xff not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_an_oversized_callback_body_is_refused_before_it_is_read(admin_client, set_settings, monkeypatch):
    set_settings(max_callback_bytes=64 * 1024)
    import flask

    read = []
    monkeypatch.setattr(flask.Request, "get_data", lambda self, *a, **k: read.append(1) or b"")
    resp = admin_client.post("/_dash-update-component", data=b"{" + b" " * (65 * 1024) + b"}",
                             headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and read == []
    assert resp.get_json()["message"] == text.REQUEST_TOO_LARGE.format(size="64 KB")


def test_json_nested_too_deep_for_the_parser_gets_a_400(admin_client):
    body = '{"output":"overview-kpis.children","inputs":' + "[" * 2000 + "]" * 2000 + "}"
    resp = admin_client.post("/_dash-update-component", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


@pytest.mark.parametrize("change", ["omitted", "empty", "one too many", "one too few", "single as a list",
                                   "another id", "another property", "pattern of another type"])
def test_outputs_that_do_not_match_the_callback_get_a_400(admin_client, all_callbacks, change):
    multi = next(s for s in all_callbacks if s["output"].startswith("..") and "{" not in s["output"]
                 and not s.get("clientside_function"))
    single = next(s for s in all_callbacks if not s["output"].startswith("..") and "{" not in s["output"]
                  and not s.get("clientside_function"))
    pattern = next(s for s in all_callbacks if "{" in s["output"] and not s.get("clientside_function"))
    spec = {"single as a list": single, "pattern of another type": pattern}.get(change, multi)
    body = dash_body(spec, {})
    outputs = body["outputs"]
    if change == "omitted":
        body.pop("outputs")
    elif change == "empty":
        body["outputs"] = []
    elif change == "one too many":
        body["outputs"] = outputs + [outputs[0]]
    elif change == "one too few":
        body["outputs"] = outputs[:-1]
    elif change == "single as a list":
        body["outputs"] = [outputs]
    elif change == "another id":
        body["outputs"] = [{**outputs[0], "id": "queue-table"}, *outputs[1:]]
    elif change == "another property":
        body["outputs"] = [{**outputs[0], "property": "style"}, *outputs[1:]]
    else:
        first = outputs if isinstance(outputs, dict) else outputs[0]
        wrong = {**first, "id": {**first["id"], "type": "zzz"}}
        body["outputs"] = wrong if isinstance(outputs, dict) else [wrong, *outputs[1:]]
    resp = post(admin_client, body)
    assert resp.status_code == 400, (change, resp.status_code)
    assert resp.get_json()["message"] == text.BAD_CALLBACK_REQUEST
    assert post(admin_client, dash_body(spec, {})).status_code in (200, 204)  # the unchanged request is fine


@pytest.fixture(scope="module")
def pg_live(pg_server_url, tmp_path_factory):
    """`python app.py` on PostgreSQL, which refuses a NUL byte in text where SQLite takes it."""
    from tests.live_server import postgres_live_app

    with postgres_live_app(pg_server_url, tmp_path_factory.mktemp("pg-bad-input"), reports=200, seed=5,
                           ANALYTICS="off") as live:
        from queries.users import create_user
        from tests.conftest import PASSWORD

        create_user("leader", PASSWORD, "leader", db=live["db"])
        yield live


def test_a_nul_byte_is_bad_input_not_a_database_outage(pg_live):
    import requests

    from tests.conftest import PASSWORD, form_token

    base = pg_live["app"].base
    web = requests.Session()
    token = form_token(web.get(base + "/login").text)
    refused = web.post(base + "/login", data={"username": "leader\x00", "password": PASSWORD, "csrf_token": token},
                       allow_redirects=False)
    assert refused.status_code == 401 and text.LOGIN_FAILED in refused.text
    assert web.post(base + "/login", data={"username": "leader", "password": PASSWORD, "csrf_token": token},
                    allow_redirects=False).status_code == 302
    assert web.get(base + "/api/v1/reports/PA%00").status_code in (400, 404)
    assert web.get(base + "/api/v1/overview?category=MT%00").status_code in (200, 400)
    assert web.get(base + "/healthz").json()["database"] == "ok"
