"""Attacking the Open311 API's inputs: schemathesis over its own OpenAPI description (valid and invalid data),
and hypothesis strategies for malformed forms, query strings and paths. Whatever comes in: never a 5xx,
errors in the spec's format, every body parses, and a refused submission leaves no row behind."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import queries.db as qdb
from queries import open311
from tests.test_open311 import BASE, assert_error_format, count_reports, reports_and_keys_removed_afterwards

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Values that have broken parsers before: empty, blanks, control characters, other digits, numbers in other
# notations, markup, SQL, long strings.
NASTY = st.sampled_from([
    "", " ", "\t", "\x00", "\x01\x02", "\u202e", "nan", "NaN", "inf", "-inf", "1e400", "-0", "0x1F", "1_000",
    "١٢٣", "１２", "16,8", "17.5.1", "99999999999999999999999", "-1", "0", "1.0", "open", "closed", "OPEN",
    "open,,closed", ",", "MT", "mt", "MT,GT", "KHAC", "PA-2026-000001", "<a>&amp;</a>", "]]>", "' OR 1=1 --",
    "%00", "../../etc/passwd", "2026-10-01T00:00:00Z", "2026-10-01T00:00:00+07:00", "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59-12:00", "1900-01-01T00:00:00+14:00", "2026-10-01T24:00:00Z", "x" * 5000,
    "Ổ gà 🚧", "https://anh.example.vn/a.jpg", "javascript:alert(1)", "+84 912 345 678",
])
VALUE = st.one_of(NASTY, st.text(max_size=40), st.integers(-10**12, 10**12).map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(str))
FORM_FIELDS = ["service_code", "lat", "long", "address_string", "address_id", "description", "title", "phone",
               "media_url", "first_name", "last_name", "email", "device_id", "account_id", "jurisdiction_id",
               "attribute[WHAT]", "api_key"]
QUERY_FIELDS = ["start_date", "end_date", "status", "service_code", "service_request_id", "page", "page_size",
                "jurisdiction_id", "api_key", "extensions"]


@pytest.fixture(scope="module")
def app_db(server):
    return qdb.get_db()


@pytest.fixture(scope="module", autouse=True)
def leave_the_app_database_as_found(app_db):
    with reports_and_keys_removed_afterwards(app_db):
        yield


@pytest.fixture(scope="module")
def plain_key(app_db) -> str:
    return open311.create_api_key(f"fuzz-{uuid.uuid4().hex[:8]}", "portal", app_db)[1]


def assert_well_formed(resp) -> None:
    """No server error; errors in the spec's format; every body parses in its declared format."""
    assert resp.status_code < 500, resp.data[:300]
    if resp.status_code >= 400:
        assert_error_format(resp)
    elif resp.mimetype == "text/xml":
        ET.fromstring(resp.data)
    else:
        assert resp.mimetype == "application/json"
        assert resp.get_json() is not None


def aim_at_real_records(case, data) -> None:
    """Half the time, point the lookups at records that exist, so that what comes after them is reached too."""
    if not data.draw(st.booleans(), label="aim"):
        return
    real = {"service_code": data.draw(st.sampled_from(["MT", "GT", "KHAC"])), "service_request_id": "PA-2026-000001"}
    for values in (case.path_parameters, case.body):
        if isinstance(values, dict):
            values.update({name: value for name, value in real.items() if name in values})


def test_schemathesis_valid_and_invalid_calls_conform_to_the_description(server, app_db, plain_key):
    schema = schemathesis.openapi.from_wsgi(f"{BASE}/openapi.json", server)
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        @given(case=schema.as_strategy(generation_mode=mode), data=st.data())
        @settings(FUZZ, max_examples=100)
        def call(case, data):
            aim_at_real_records(case, data)
            before = count_reports(app_db) if case.method == "POST" else None
            response = case.call(params={"api_key": plain_key})
            case.validate_response(response, checks=CHECKS)
            assert response.status_code < 500
            if response.status_code >= 400 and response.headers.get("Content-Type", [""])[0].startswith("app"):
                body = response.json()
                assert isinstance(body, list) and body[0]["code"] == response.status_code
            if before is not None and response.status_code != 201:
                assert count_reports(app_db) == before

        call()


@given(form=st.dictionaries(st.sampled_from(FORM_FIELDS), VALUE, max_size=8), fmt=st.sampled_from(["json", "xml"]))
@FUZZ
def test_malformed_submissions_never_fail_and_never_leave_a_row(server, app_db, plain_key, form, fmt):
    client = server.test_client()
    before = count_reports(app_db)
    resp = client.post(f"{BASE}/requests.{fmt}", query_string={"api_key": plain_key}, data=form)
    assert_well_formed(resp)
    assert resp.status_code in (201, 400, 403, 404), resp.data[:300]
    assert count_reports(app_db) == before + (1 if resp.status_code == 201 else 0)


@given(query=st.dictionaries(st.sampled_from(QUERY_FIELDS), VALUE, max_size=6),
       path=st.sampled_from(["requests", "services", "services/MT", "requests/PA-2026-000001", "tokens/x",
                             "discovery"]),
       fmt=st.sampled_from(["json", "xml"]), with_key=st.booleans())
@FUZZ
def test_malformed_query_strings_never_fail(server, plain_key, query, path, fmt, with_key):
    if with_key:
        query = {**query, "api_key": plain_key}
    resp = server.test_client().get(f"{BASE}/{path}.{fmt}", query_string=query)
    assert_well_formed(resp)
    assert resp.status_code in (200, 400, 401, 403, 404), resp.data[:300]


@given(raw=st.binary(max_size=200), segment=st.text(max_size=60), fmt=st.sampled_from(["json", "xml", "html", ""]))
@FUZZ
def test_raw_bytes_in_query_and_path_never_fail(server, plain_key, raw, segment, fmt):
    client = server.test_client()
    query = quote(raw, safe="=&") + f"&api_key={plain_key}"
    for path in (f"{BASE}/requests.json?{query}", f"{BASE}/requests/{quote(segment, safe='')}.{fmt}?{query}",
                 f"{BASE}/tokens/{quote(segment, safe='')}.{fmt}?{query}", f"/open311/{quote(segment)}"):
        resp = client.get(path)
        assert resp.status_code < 500, (path, resp.data[:300])
        assert resp.status_code in (200, 400, 401, 403, 404) and resp.mimetype != "text/html"
        if resp.status_code >= 400:
            assert_error_format(resp)
