"""The Open311 GeoReport v2 API: every endpoint in JSON and XML against the raw database rows; access, agency
scope and privacy; the intake on SQLite and PostgreSQL; the api-key command line.

Expected values come from plain SQL and pandas over the raw tables, never from queries/open311.py. The app
tests run on the session app's database; reports submitted here are dated today with no agency, so they
stay out of what the other tests count (the demo history ends 2026-11-20; agency scopes SXD/CAT).
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

import queries.db as qdb
from queries import deadlines, open311
from queries.db import Database
from queries.filters import utc_now
from queries.migrate import upgrade
from queries.reference import load_reference_data
from tests.conftest import create_pg_database, read_raw
from tests.dash_calls import callback_spec, kpi_values, overview_values, post_callback
from tests.test_cli import flask

BASE = "/open311/v2"
OPEN = ("received", "classified", "forwarded", "in_progress")
CLOSED = ("resolved", "rejected")
XML_LISTS = {"services", "service_requests", "errors", "notes", "attributes", "endpoints", "formats"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "lat", "long", "media_url", "notes", "extended_attributes"}
# Inside the demo history (it ends 2026-11-20), so the results do not depend on today's date.
WINDOW = {"start_date": "2026-08-01T00:00:00+07:00", "end_date": "2026-10-15T00:00:00+07:00"}
WINDOW_UTC = (datetime(2026, 7, 31, 17, 0), datetime(2026, 10, 14, 17, 0))
# What each kind of event is called in notes[].summary.
SUMMARIES = {"received": "Tiếp nhận phản ánh", "classified": "Phân loại lĩnh vực",
             "forwarded": "Chuyển đơn vị xử lý", "in_progress": "Đơn vị bắt đầu xử lý",
             "resolved": "Đã giải quyết", "rejected": "Từ chối xử lý"}
RETURNED = "Đơn vị trả lại Trung tâm IOC"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    """The Open311 tests write (API keys, submissions): the systems of record only, not the analytics copy."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


# --- helpers --------------------------------------------------------------------------------------

def local_iso(ts) -> str | None:
    """Naive UTC -> 'YYYY-MM-DDTHH:MM:SS+07:00' (Viet Nam has kept UTC+7 all year since 1975)."""
    if ts is None or pd.isna(ts):
        return None
    return (pd.Timestamp(ts) + pd.Timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S+07:00")


def xml_to_python(element: ET.Element):
    if element.tag in XML_LISTS:
        return [xml_to_python(child) for child in element]
    if len(element):
        return {child.tag: xml_to_python(child) for child in element}
    return element.text


def as_xml_values(value):
    """What XML carries for a JSON value: text for scalars, 'true'/'false', nothing for null and ''."""
    if isinstance(value, dict):
        return {k: as_xml_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_xml_values(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "":
        return None
    return str(value)


def assert_error_format(resp, status: int | None = None) -> None:
    """The spec's error list with one error, in the response's format; never a page or a traceback."""
    status = status or resp.status_code
    assert resp.status_code == status, resp.data[:300]
    assert b"Traceback" not in resp.data and b"<html" not in resp.data.lower()
    if resp.mimetype == "text/xml":
        root = ET.fromstring(resp.data)
        assert root.tag == "errors" and [child.tag for child in root] == ["error"]
        assert [child.tag for child in root[0]] == ["code", "description"]
        assert root.findtext("error/code") == str(status) and root.findtext("error/description")
    else:
        assert resp.mimetype == "application/json"
        body = resp.get_json()
        assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
        assert body[0]["code"] == status and body[0]["description"]


def get_both(client, path: str, **params):
    """GET path.json and path.xml: same status, and the XML carries exactly what the JSON does."""
    as_json = client.get(f"{BASE}/{path}.json", query_string=params)
    as_xml = client.get(f"{BASE}/{path}.xml", query_string=params)
    assert as_json.status_code == as_xml.status_code
    assert as_json.content_type == "application/json; charset=utf-8"
    assert as_xml.content_type == "text/xml; charset=utf-8"
    assert as_xml.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert xml_to_python(ET.fromstring(as_xml.data)) == as_xml_values(as_json.get_json())
    return as_json, as_xml


def requests_frame(db: Database) -> pd.DataFrame:
    """Raw reports with their category and agency codes and names."""
    raw = read_raw(db)
    cats = raw["categories"][["id", "code", "name"]].rename(
        columns={"id": "category_id", "code": "service_code", "name": "service_name"})
    ags = raw["agencies"][["id", "code", "name"]].rename(
        columns={"id": "agency_id", "code": "agency_code", "name": "agency_name"})
    return raw["reports"].merge(cats, on="category_id", how="left").merge(ags, on="agency_id", how="left")


def newest_first(df: pd.DataFrame) -> list[str]:
    return df.sort_values(["created_at", "id"], ascending=False)["code"].tolist()


def in_window(df: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return df[(df["created_at"] >= start) & (df["created_at"] <= end)]


def sql_frame(db: Database, sql: str, **params) -> pd.DataFrame:
    with db.engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params)


def count_reports(db: Database) -> int:
    return int(sql_frame(db, "SELECT count(*) AS n FROM reports")["n"].iloc[0])


def haversine_km(lat, lon, lats, lons):
    lat, lon, lats, lons = map(np.radians, (lat, lon, np.asarray(lats, float), np.asarray(lons, float)))
    a = np.sin((lats - lat) / 2) ** 2 + np.cos(lat) * np.cos(lats) * np.sin((lons - lon) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def next_code(db: Database, now: datetime) -> str:
    """The year's counter plus one (or, in a year without one, its highest six-digit code plus one), past
    the codes that exist."""
    year = (now + timedelta(hours=7)).year
    codes = set(sql_frame(db, "SELECT code FROM reports")["code"])
    counter = sql_frame(db, "SELECT last_number FROM public_code_counters WHERE year = :y", y=year)["last_number"]
    numbers = [int(c[-6:]) for c in codes if re.fullmatch(rf"PA-{year}-\d{{6}}", c)]
    number = int(counter.iloc[0]) + 1 if len(counter) else max(numbers, default=0) + 1
    while f"PA-{year}-{number:06d}" in codes:
        number += 1
    return f"PA-{year}-{number:06d}"


def expected_notes(db: Database, report_id: int) -> list[dict]:
    events = sql_frame(db, """
        SELECT e.at, e.from_status, e.to_status, e.note, a.name AS agency
        FROM report_events e LEFT JOIN agencies a ON a.id = e.agency_id
        WHERE e.report_id = :rid ORDER BY e.at, e.id""", rid=int(report_id))
    def summary(e):
        return RETURNED if (e.to_status, e.from_status) == ("classified", "forwarded") else SUMMARIES[e.to_status]

    return [{"datetime": local_iso(e.at), "type": e.to_status, "summary": summary(e), "description": e.note,
             "agency": None if pd.isna(e.agency) else e.agency} for e in events.itertuples()]


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app_db(server) -> Database:
    """The session app's database (create_app configured it)."""
    return qdb.get_db()


@contextmanager
def reports_and_keys_removed_afterwards(db: Database):
    """Other modules compare the app's database with the seeded one: remove every report and key made in
    the block (events and media go with their report)."""
    def highest(table):
        return int(sql_frame(db, f"SELECT coalesce(max(id), 0) AS n FROM {table}")["n"].iloc[0])

    last_report, last_key = highest("reports"), highest("api_keys")
    try:
        yield
    finally:
        with db.begin() as conn:
            conn.execute(text("DELETE FROM reports WHERE id > :id"), {"id": last_report})
            conn.execute(text("DELETE FROM api_keys WHERE id > :id"), {"id": last_key})


@pytest.fixture(scope="module", autouse=True)
def leave_the_app_database_as_found(app_db):
    with reports_and_keys_removed_afterwards(app_db):
        yield


@pytest.fixture
def key(app_db):
    """A fresh hotline key in the app's database, allowed to attach photos from the app vendor's media host:
    (record, the key itself)."""
    return open311.create_api_key(f"kiem-thu-{uuid.uuid4().hex[:8]}", "hotline", app_db,
                                  media_hosts=("anh.example.vn",))


@pytest.fixture
def anon(server):
    return server.test_client()


def submit(client, plain: str, **fields):
    data = {"service_code": "MT", "lat": "17.4958", "long": "106.59", "description": "Rác tồn đọng", **fields}
    return client.post(f"{BASE}/requests.json", query_string={"api_key": plain}, data=data)


# --- discovery and services -----------------------------------------------------------------------

def test_discovery_is_open_and_names_this_endpoint(anon):
    body = get_both(anon, "discovery")[0].get_json()
    assert body["contact"] and body["key_service"] and body["changeset"]
    [endpoint] = body["endpoints"]
    assert endpoint["url"] == "http://localhost/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["type"] == "production" and set(endpoint["formats"]) == {"text/xml", "application/json"}


def test_services_are_the_categories(anon, key, app_db):
    body = get_both(anon, "services", api_key=key[1])[0].get_json()
    cats = sql_frame(app_db, "SELECT code, name, short_name FROM categories ORDER BY sort_order")
    assert [s["service_code"] for s in body] == cats["code"].tolist() and len(body) == 8
    for service, cat in zip(body, cats.itertuples(), strict=True):
        assert set(service) == {"service_code", "service_name", "description", "metadata", "type", "keywords",
                                "group"}
        assert service["service_name"] == cat.name
        assert service["metadata"] is False and service["type"] == "realtime" and service["group"]
        assert cat.name in service["description"]
        assert set(service["keywords"].split(", ")) == {cat.code, *(w.strip() for w in cat.short_name.split(","))}


def test_service_definition_has_no_attributes_and_unknown_services_are_404(anon, key):
    assert get_both(anon, "services/GT", api_key=key[1])[0].get_json() == {"service_code": "GT", "attributes": []}
    for resp in get_both(anon, "services/KHONG_CO", api_key=key[1]):
        assert_error_format(resp, 404)
        assert "KHONG_CO" in resp.get_data(as_text=True)


# --- one request against its row ------------------------------------------------------------------

def test_a_request_matches_its_database_row_field_by_field(anon, key, app_db):
    # A resolved report that was forwarded, bounced back to the IOC, and forwarded again.
    row = sql_frame(app_db, """
        SELECT r.*, c.code AS service_code, c.name AS service_name, a.code AS agency_code, a.name AS agency_name
        FROM reports r JOIN categories c ON c.id = r.category_id JOIN agencies a ON a.id = r.agency_id
        WHERE r.status = 'resolved' AND r.id IN (SELECT report_id FROM report_events
                                                 WHERE from_status = 'forwarded' AND to_status = 'classified')
        ORDER BY r.id LIMIT 1""").iloc[0]
    [got] = get_both(anon, f"requests/{row.code}", api_key=key[1])[0].get_json()
    notes = expected_notes(app_db, row.id)
    assert set(got) == REQUEST_FIELDS
    assert got["service_request_id"] == row.code
    assert got["status"] == "closed"
    assert got["status_notes"] == notes[-1]["description"] == row.reply  # the resolution explains the state
    assert (got["service_code"], got["service_name"]) == (row.service_code, row.service_name)
    assert got["description"] == row.description
    assert got["agency_responsible"] == row.agency_name
    assert got["service_notice"] == row.reply
    assert got["requested_datetime"] == local_iso(row.created_at)
    assert got["updated_datetime"] == local_iso(row.updated_at)
    assert got["expected_datetime"] == local_iso(row.deadline_at)
    assert (got["address"], got["lat"], got["long"], got["media_url"]) == tuple(
        None if pd.isna(v) else v for v in (row.address, row.lat, row.lon, None))
    assert got["extended_attributes"] == {"channel": row.channel, "status": "resolved",
                                          "agency_code": row.agency_code, "title": row.title}
    assert got["notes"] == notes
    assert [n["datetime"] for n in got["notes"]] == sorted(n["datetime"] for n in got["notes"])
    assert RETURNED in [n["summary"] for n in got["notes"]]


def test_a_rejected_request_is_closed_with_its_reason_and_no_agency(anon, key, app_db):
    row = sql_frame(app_db, "SELECT * FROM reports WHERE status = 'rejected' ORDER BY id LIMIT 1").iloc[0]
    reason = sql_frame(app_db, "SELECT note FROM report_events WHERE report_id = :rid AND to_status = 'rejected'",
                       rid=int(row.id))["note"].iloc[0]
    [got] = get_both(anon, f"requests/{row.code}", api_key=key[1])[0].get_json()
    assert got["status"] == "closed" and got["status_notes"] == reason and reason
    assert got["agency_responsible"] is None and got["service_notice"] is None and got["expected_datetime"] is None
    assert got["extended_attributes"]["status"] == "rejected" and got["extended_attributes"]["agency_code"] is None
    assert [n["type"] for n in got["notes"]] == ["received", "classified", "rejected"]


@pytest.mark.parametrize("path", ["requests/PA-1999-000001", "tokens/khong-co-token"])
def test_unknown_request_ids_and_tokens_are_404(anon, key, path):
    for resp in get_both(anon, path, api_key=key[1]):
        assert_error_format(resp, 404)


# --- lists, filters and pages ---------------------------------------------------------------------

def test_pages_are_disjoint_and_add_up_to_the_filtered_total(anon, key, app_db):
    df = requests_frame(app_db)
    want = in_window(df, *WINDOW_UTC)
    want = want[want["service_code"].isin(["MT", "GT"]) & want["status"].isin(CLOSED)]
    params = {**WINDOW, "status": "closed", "service_code": "MT,GT", "page_size": 20, "api_key": key[1]}
    seen, page = [], 1
    while True:
        resp = anon.get(f"{BASE}/requests.json", query_string={**params, "page": page})
        assert resp.status_code == 200 and resp.headers["X-Total-Count"] == str(len(want))
        body = resp.get_json()
        if not body:
            break
        assert len(body) <= 20
        seen += [r["service_request_id"] for r in body]
        page += 1
    assert len(want) > 40 and len(seen) == len(set(seen)) == len(want)
    assert seen == newest_first(want)
    json_page, xml_page = get_both(anon, "requests", **params, page=2)
    assert xml_page.headers["X-Total-Count"] == json_page.headers["X-Total-Count"]


@pytest.mark.parametrize("params,window,statuses,codes", [
    ({**WINDOW, "status": "closed"}, WINDOW_UTC, CLOSED, None),
    ({**WINDOW, "status": "closed,open"}, WINDOW_UTC, OPEN + CLOSED, None),
    ({**WINDOW, "service_code": "AN,KHAC"}, WINDOW_UTC, OPEN + CLOSED, ("AN", "KHAC")),
    ({"start_date": "2026-10-01T00:00:00Z"}, (datetime(2026, 10, 1), datetime(2026, 12, 30)), OPEN + CLOSED, None),
    ({"end_date": "2026-09-01T00:00:00+07:00", "status": "open"},
     (datetime(2026, 6, 2, 17), datetime(2026, 8, 31, 17)), OPEN, None),
    ({"start_date": "2026-10-01T08:30:00.5+07:00", "end_date": "2026-10-03T12:00:00Z"},
     (datetime(2026, 10, 1, 1, 30, 0, 500000), datetime(2026, 10, 3, 12)), OPEN + CLOSED, None),
    # An unencoded '+' arrives as a space; it is read as the offset it was meant to be.
    ({"start_date": "2026-10-01T00:00:00 07:00", "end_date": "2026-10-02T00:00:00 07:00"},
     (datetime(2026, 9, 30, 17), datetime(2026, 10, 1, 17)), OPEN + CLOSED, None),
])
def test_filters_select_what_pandas_selects(anon, key, app_db, params, window, statuses, codes):
    df = in_window(requests_frame(app_db), *window)
    df = df[df["status"].isin(statuses)]
    if codes:
        df = df[df["service_code"].isin(codes)]
    resp = anon.get(f"{BASE}/requests.json", query_string={**params, "api_key": key[1]})
    assert resp.status_code == 200
    assert [r["service_request_id"] for r in resp.get_json()] == newest_first(df)
    assert resp.headers["X-Total-Count"] == str(len(df)) and 0 < len(df) < 1000


def test_without_dates_the_window_is_the_last_90_days(anon, key, app_db):
    before = utc_now().replace(microsecond=0) - timedelta(seconds=1)
    resp = anon.get(f"{BASE}/requests.json", query_string={"api_key": key[1], "page_size": 1})
    after = utc_now() + timedelta(seconds=1)
    df = requests_frame(app_db)
    surely_in = len(in_window(df, after - timedelta(days=90), before))
    maybe_in = len(in_window(df, before - timedelta(days=90), after))
    assert surely_in <= int(resp.headers["X-Total-Count"]) <= maybe_in


def test_service_request_ids_override_the_other_arguments(anon, key, app_db):
    df = requests_frame(app_db)
    picked = pd.concat([df[df["status"] == "resolved"].head(2), df[df["status"] == "received"].head(1)])
    ids = ",".join([*picked["code"], "PA-1999-000001"])
    resp = anon.get(f"{BASE}/requests.json", query_string={"service_request_id": ids, "status": "closed",
                                                           "start_date": "2030-01-01T00:00:00Z",
                                                           "api_key": key[1]})
    assert [r["service_request_id"] for r in resp.get_json()] == newest_first(picked)


@pytest.mark.parametrize("params", [
    {"start_date": "2026-10-01"},  # no time, no zone
    {"start_date": "2026-10-01T00:00:00"},  # no zone
    {"start_date": "01/10/2026 00:00"},
    {"end_date": "2026-13-01T00:00:00Z"},
    {"end_date": "2026-10-01T00:00:00+25:00"},
    {"start_date": "0001-01-01T00:00:00+07:00"},
    {"start_date": "2026-10-10T00:00:00Z", "end_date": "2026-10-01T00:00:00Z"},  # reversed
    {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-01T00:00:01Z"},  # 90 days and a second
    {"status": "pending"},
    {"status": "open,deleted"},
    {"service_code": "MT,KHONG_CO"},
    {"page": "0"}, {"page": "-1"}, {"page": "1.5"}, {"page": "100001"}, {"page": "٣"},
    {"page_size": "0"}, {"page_size": "1001"}, {"page_size": "abc"}, {"page_size": "1e3"},
    {"service_request_id": ",".join(f"PA-2026-{i:06d}" for i in range(1, 1002))},
])
def test_bad_parameters_get_400_in_the_spec_format(anon, key, params):
    for resp in get_both(anon, "requests", **params, api_key=key[1]):
        assert_error_format(resp, 400)


# --- access ---------------------------------------------------------------------------------------

READ_PATHS = ["services", "services/MT", "requests", "requests/PA-2026-000001", "tokens/abc"]


@pytest.mark.parametrize("path", READ_PATHS)
def test_reading_without_session_or_key_is_401(anon, path):
    for resp in get_both(anon, path):
        assert_error_format(resp, 401)
        assert "api_key" in resp.get_data(as_text=True)


def test_unknown_and_revoked_keys_are_refused_with_403(anon, key, client_for, app_db):
    record, plain = key
    for bad in ("khong-phai-khoa", plain + "x", plain.upper()):
        for resp in get_both(anon, "requests", api_key=bad):
            assert_error_format(resp, 403)
    assert anon.get(f"{BASE}/services.json", query_string={"api_key": plain}).status_code == 200
    open311.revoke_api_key(record.name, app_db)
    before = count_reports(app_db)
    for resp in get_both(anon, "services", api_key=plain):
        assert_error_format(resp, 403)
    assert_error_format(submit(anon, plain), 403)
    # A key that is sent must be valid, even from a signed-in user.
    assert_error_format(client_for("leader").get(f"{BASE}/requests.json", query_string={"api_key": plain}), 403)
    assert count_reports(app_db) == before


def test_submitting_needs_a_key_even_when_signed_in(anon, client_for, app_db):
    before = count_reports(app_db)
    data = {"service_code": "MT", "lat": "17.49", "long": "106.59"}
    assert_error_format(client_for("leader").post(f"{BASE}/requests.json", data=data), 403)
    assert_error_format(client_for("admin").post(f"{BASE}/requests.xml", data=data), 403)
    assert_error_format(anon.post(f"{BASE}/requests.json", data=data), 401)
    assert count_reports(app_db) == before


def test_a_session_of_any_role_can_read(client_for):
    for username in ("admin", "leader", "operator", "agency_a"):
        resp = client_for(username).get(f"{BASE}/requests.json", query_string={**WINDOW, "page_size": 1})
        assert resp.status_code == 200 and len(resp.get_json()) == 1, username


def test_a_key_opens_nothing_outside_open311(anon, key):
    params = {"api_key": key[1]}
    assert anon.get("/api/v1/overview", query_string=params).status_code == 401
    assert anon.get("/api/v1/map/points", query_string=params).status_code == 401
    assert anon.get("/_dash-layout", query_string=params).status_code == 401
    assert anon.get("/", query_string=params).status_code == 302


def test_an_agency_head_reads_only_their_agency(client_for, app_db):
    df = in_window(requests_frame(app_db), *WINDOW_UTC)
    own, other = df[df["agency_code"] == "SXD"], df[df["agency_code"] == "CAT"]
    client = client_for("agency_a")
    resp = client.get(f"{BASE}/requests.json", query_string=WINDOW)
    body = resp.get_json()
    assert [r["service_request_id"] for r in body] == newest_first(own) and len(own) > 0
    assert {r["extended_attributes"]["agency_code"] for r in body} == {"SXD"}
    assert resp.headers["X-Total-Count"] == str(len(own))
    stranger = other["code"].iloc[0]
    for resp in get_both(client, f"requests/{stranger}"):
        assert_error_format(resp, 404)
    # Asking by id cannot widen the scope.
    mine = own["code"].iloc[0]
    mixed = client.get(f"{BASE}/requests.json", query_string={"service_request_id": f"{stranger},{mine}"})
    assert [r["service_request_id"] for r in mixed.get_json()] == [mine]
    assert client_for("leader").get(f"{BASE}/requests/{stranger}.json").status_code == 200


def test_keys_are_stored_only_as_hashes(app_db, key):
    record, plain = key
    row = sql_frame(app_db, "SELECT * FROM api_keys WHERE name = :name", name=record.name).iloc[0]
    assert row.key_hash == hashlib.sha256(plain.encode()).hexdigest() and row.key_prefix == plain[:8]
    assert row.channel == "hotline" and row.revoked_at is None
    for table in app_db.table_names():
        if table.startswith("reports_search"):  # the search index's binary pages: the file check below reads them
            continue
        cells = sql_frame(app_db, f'SELECT * FROM "{table}"').astype(str)
        assert not cells.apply(lambda col: col.str.contains(plain, regex=False)).any().any(), table
    files = [Path(app_db.engine.url.database + suffix) for suffix in ("", "-wal")]
    assert all(plain.encode() not in f.read_bytes() for f in files if f.exists())


def test_using_a_key_notes_when(anon, key, app_db):
    record, plain = key
    assert record.last_used_at is None
    start = utc_now()
    anon.get(f"{BASE}/services.json", query_string={"api_key": plain})
    used = sql_frame(app_db, "SELECT last_used_at FROM api_keys WHERE name = :n", n=record.name)["last_used_at"]
    assert start <= pd.Timestamp(used.iloc[0]).to_pydatetime() <= utc_now()


def test_an_unreachable_database_gives_503_in_the_spec_format(client_for, key):
    leader = client_for("leader")
    working = qdb.get_db()
    qdb._current = qdb.Database("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    try:
        responses = [leader.get(f"{BASE}/requests.xml"), leader.get(f"{BASE}/services.json"),
                     leader.get(f"{BASE}/services.json", query_string={"api_key": key[1]})]
    finally:
        qdb._current.dispose()
        qdb._current = working
    for resp in responses:
        assert_error_format(resp, 503)


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/open311/v2/khong-co.json", 404), ("GET", "/open311/v2/requests.csv", 404),
    ("GET", "/open311/v2/requests", 404), ("GET", "/open311/khac.xml", 404),
    ("DELETE", "/open311/v2/requests.json", 405), ("PUT", "/open311/v2/requests/PA-2026-000001.xml", 405),
    ("POST", "/open311/v2/services.json", 405),
])
def test_every_path_under_open311_answers_in_the_spec_format(anon, method, path, status):
    resp = anon.open(path, method=method)
    assert resp.mimetype == ("text/xml" if path.endswith(".xml") else "application/json")
    assert_error_format(resp, status)
    if status == 405:
        assert "GET" in resp.headers["Allow"] or "POST" in resp.headers["Allow"]


# --- submitting -----------------------------------------------------------------------------------

def test_a_submission_is_stored_as_a_received_report(anon, key, app_db):
    record, plain = key
    communes = sql_frame(app_db, "SELECT code, lat, lon FROM admin_units WHERE level = 'commune'")
    target = communes.iloc[10]
    lat, lon = round(target.lat + 0.002, 6), round(target.lon - 0.003, 6)
    want_commune = communes["code"].iloc[int(np.argmin(haversine_km(lat, lon, communes["lat"], communes["lon"])))]
    start = utc_now()
    want_code = next_code(app_db, start)
    resp = anon.post(f"{BASE}/requests.xml", query_string={"api_key": plain}, data={
        "service_code": "GT", "lat": str(lat), "long": str(lon),
        "description": "Ổ gà lớn giữa đường\x00\nXe máy dễ ngã", "phone": "+84 912.345.678",
        "first_name": "Văn", "last_name": "Nguyễn", "email": "nguoidan@example.vn",
        "media_url": "https://anh.example.vn/o-ga.jpg", "device_id": "d-1", "jurisdiction_id": "quangtri.gov.vn",
    })
    end = utc_now()
    assert resp.status_code == 201, resp.data
    answer = xml_to_python(ET.fromstring(resp.data))
    [item] = answer
    assert item["service_request_id"] == want_code and item["account_id"] is None
    assert want_code in item["service_notice"] and re.fullmatch(r"[0-9a-f]{32}", item["token"])
    assert resp.headers["Location"] == f"/open311/v2/requests/{want_code}.xml"

    row = sql_frame(app_db, """SELECT r.*, c.code AS category FROM reports r JOIN categories c ON c.id = r.category_id
                               WHERE r.code = :code""", code=want_code).iloc[0]
    created = pd.Timestamp(row.created_at).to_pydatetime()
    assert start <= created <= end and pd.Timestamp(row.updated_at) == pd.Timestamp(row.created_at)
    # A new report is in the IOC stage: its deadline is that stage's, by the SLA policy in force.
    ioc_due = deadlines.deadline_for("GT", "ioc", False, created, app_db)
    assert pd.Timestamp(row.deadline_at) == pd.Timestamp(row.ioc_deadline_at) == pd.Timestamp(ioc_due) > created
    assert local_iso(ioc_due)[11:16] in item["service_notice"]
    assert (row.category, row.status, row.channel, row.source) == ("GT", "received", "hotline", "open311-api")
    assert (row.lat, row.lon, row.commune_code) == (lat, lon, want_commune)
    assert row.title == "Ổ gà lớn giữa đường" and row.description == "Ổ gà lớn giữa đường\nXe máy dễ ngã"
    assert row.reporter_phone == "+84912345678" and row.intake_token == item["token"]
    assert row.agency_id is None and row.address is None and row.external_id is None
    events = sql_frame(app_db, "SELECT * FROM report_events WHERE report_id = :rid", rid=int(row.id))
    assert len(events) == 1
    event = events.iloc[0]
    assert (event.from_status, event.to_status, event.actor) == (None, "received", record.name)
    assert pd.Timestamp(event["at"]) == pd.Timestamp(row.created_at)
    stored_media = sql_frame(app_db, "SELECT kind, path FROM media WHERE report_id = :rid", rid=int(row.id))
    assert stored_media.to_dict("records") == [{"kind": "photo", "path": "https://anh.example.vn/o-ga.jpg"}]

    [shown] = anon.get(f"{BASE}/requests/{want_code}.json", query_string={"api_key": plain}).get_json()
    assert shown["media_url"] == "https://anh.example.vn/o-ga.jpg" and shown["status"] == "open"
    assert shown["notes"] == expected_notes(app_db, row.id)
    token = anon.get(f"{BASE}/tokens/{item['token']}.json", query_string={"api_key": plain}).get_json()
    assert token == [{"service_request_id": want_code, "token": item["token"]}]


def test_the_reporters_phone_name_and_email_are_never_returned(anon, key, client_for, app_db):
    plain = key[1]
    secret = {"phone": "0987 654 321", "first_name": "Thị Riêng", "last_name": "Trần Bí Mật",
              "email": "bi.mat.rieng@example.vn"}
    resp = submit(anon, plain, address_string="Thôn Bí Mật, xã Trường Sơn", **secret)
    assert resp.status_code == 201
    [done] = resp.get_json()
    stored = sql_frame(app_db, "SELECT reporter_phone FROM reports WHERE code = :c", c=done["service_request_id"])
    assert stored["reporter_phone"].iloc[0] == "0987654321"  # kept, for the IOC
    forbidden = ["0987654321", "0987 654 321", "987654321", "Thị Riêng", "Trần Bí Mật", "bi.mat.rieng"]
    # Demo phones of the reports listed in the window must not show either.
    df = in_window(requests_frame(app_db), *WINDOW_UTC)
    demo_phones = df["reporter_phone"].dropna().tolist()
    assert len(demo_phones) > 100
    readers = [(anon, {"api_key": plain}), (client_for("leader"), {}), (client_for("operator"), {})]
    for client, auth in readers:
        today = {"start_date": (utc_now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), **auth}
        for fmt in ("json", "xml"):
            bodies = [client.get(f"{BASE}/requests.{fmt}", query_string=today),
                      client.get(f"{BASE}/requests/{done['service_request_id']}.{fmt}", query_string=auth),
                      client.get(f"{BASE}/tokens/{done['token']}.{fmt}", query_string=auth)]
            listed = client.get(f"{BASE}/requests.{fmt}", query_string={**WINDOW, **auth}).get_data(as_text=True)
            for body in bodies:
                assert body.status_code == 200
                assert not [s for s in forbidden if s in body.get_data(as_text=True)]
            assert done["service_request_id"] in bodies[0].get_data(as_text=True)
            assert not [p for p in demo_phones if p in listed]


def test_a_submission_shows_on_the_overview_and_its_json_twin(anon, key, client_for):
    leader = client_for("leader")
    today = utc_now() + timedelta(hours=7)
    span = {"from": (today - timedelta(days=1)).strftime("%Y-%m-%d"),
            "to": (today + timedelta(days=1)).strftime("%Y-%m-%d"), "channel": "hotline"}
    spec = callback_spec(leader, "overview-kpis.children")

    def numbers():
        api = leader.get("/api/v1/overview", query_string=span).get_json()
        kpis = kpi_values(post_callback(leader, spec, overview_values(span["from"], span["to"],
                                                                      channels=["hotline"])).get_json())
        return api["total"], api["pending"], int(kpis["total"]), int(kpis["pending"])

    before = numbers()
    assert submit(anon, key[1]).status_code == 201
    assert numbers() == tuple(n + 1 for n in before)


@pytest.mark.parametrize("fields,status", [
    ({"service_code": ""}, 400),
    ({"service_code": "KHONG_CO"}, 404),
    ({"lat": "", "long": ""}, 400),  # no location at all
    ({"lat": "", "long": "", "address_id": "12345"}, 400),
    ({"long": ""}, 400),  # lat without long
    ({"lat": "91"}, 400), ({"long": "-180.5"}, 400), ({"lat": "16,8"}, 400), ({"lat": "nan"}, 400),
    ({"lat": "inf"}, 400), ({"lat": "1e400"}, 400), ({"lat": "0x10"}, 400),
    ({"description": "x" * 4001}, 400), ({"title": "t" * 301}, 400), ({"description": "ổ" * 100_000}, 413),
    ({"address_string": "a" * 301}, 400),
    ({"phone": "gọi tôi"}, 400), ({"phone": "123"}, 400), ({"phone": "+84 9" + "1" * 20}, 400),
    ({"media_url": "ftp://anh.example.vn/a.jpg"}, 400), ({"media_url": "javascript:alert(1)"}, 400),
    ({"media_url": "https://"}, 400),
])
def test_bad_submissions_are_refused_and_create_nothing(anon, key, app_db, fields, status):
    before = count_reports(app_db)
    resp = submit(anon, key[1], **fields)
    assert_error_format(resp, status)
    assert count_reports(app_db) == before


def test_a_location_outside_the_province_or_only_an_address_has_no_commune(anon, key, app_db):
    far = submit(anon, key[1], lat="21.0285", long="105.8542")  # Hà Nội
    spoken = submit(anon, key[1], lat="", long="", address_string="Chợ Đông Hà, phường Đông Hà")
    for resp in (far, spoken):
        assert resp.status_code == 201
    rows = sql_frame(app_db, "SELECT code, lat, lon, address, commune_code FROM reports WHERE code IN (:a, :b) "
                             "ORDER BY code", a=far.get_json()[0]["service_request_id"],
                     b=spoken.get_json()[0]["service_request_id"])
    assert rows["commune_code"].isna().all()
    assert rows.iloc[1].address == "Chợ Đông Hà, phường Đông Hà" and pd.isna(rows.iloc[1].lat)


# --- the query functions on both databases --------------------------------------------------------

def test_search_requests_matches_pandas_on_both_databases(db, raw):
    search = open311.RequestSearch(start=WINDOW_UTC[0], end=WINDOW_UTC[1], service_codes=("XD", "MT"),
                                   status_groups=("closed",), page=2, page_size=25)
    rows, total = open311.search_requests(search, db)
    cats = raw["categories"].set_index("id")["code"]
    rep = in_window(raw["reports"], *WINDOW_UTC)
    want = rep[rep["category_id"].map(cats).isin(["XD", "MT"]) & rep["status"].isin(CLOSED)]
    assert total == len(want) > 50
    assert [row["code"] for row in rows] == newest_first(want)[25:50]
    events = raw["report_events"]
    for row in rows:
        mine = events[events["report_id"] == row["id"]].sort_values(["at", "id"])
        assert [e["to_status"] for e in row["events"]] == mine["to_status"].tolist()
        assert [e["note"] for e in row["events"]] == mine["note"].tolist()
        assert "reporter_phone" not in row


def test_get_request_tokens_and_scope_on_both_databases(db, raw):
    rep = raw["reports"]
    ags = raw["agencies"].set_index("id")["code"]
    row = rep[rep["agency_id"].notna()].iloc[0]
    agency = ags[int(row.agency_id)]
    got = open311.get_request(row.code, None, db)
    assert got["agency_code"] == agency and len(got["events"]) > 0 and "reporter_phone" not in got
    assert open311.get_request(row.code, agency, db)["code"] == row.code
    assert open311.get_request(row.code, "KHONG_CO", db) is None
    assert open311.get_request("PA-1999-000001", None, db) is None
    assert open311.code_for_token("khong-co", None, db) is None
    in_order = raw["categories"].sort_values("sort_order")["code"].tolist()
    assert [s["code"] for s in open311.list_services(db)] == in_order


def test_api_keys_on_both_databases(db):
    name = f"kenh-{uuid.uuid4().hex[:8]}"
    t0 = datetime(2026, 11, 1, 8, 0)
    record, plain = open311.create_api_key(name, "portal", db, now=t0)
    assert (record.name, record.channel, record.key_prefix, record.created_at) == (name, "portal", plain[:8], t0)
    with pytest.raises(open311.ApiKeyError):
        open311.create_api_key(name, "app", db)
    with pytest.raises(open311.ApiKeyError):
        open311.create_api_key("kenh-khac", "fax", db)
    with pytest.raises(open311.ApiKeyError):
        open311.create_api_key("  ", "app", db)
    assert open311.verify_api_key(plain, db, now=t0).last_used_at == t0
    # Uses within a minute are not written again; later ones are.
    open311.verify_api_key(plain, db, now=t0 + timedelta(seconds=30))
    assert open311.get_api_key(name, db).last_used_at == t0
    open311.verify_api_key(plain, db, now=t0 + timedelta(minutes=5))
    assert open311.get_api_key(name, db).last_used_at == t0 + timedelta(minutes=5)
    assert open311.verify_api_key(plain[:-1], db) is None and open311.verify_api_key("", db) is None
    assert name in [k.name for k in open311.list_api_keys(db)]
    revoked = open311.revoke_api_key(name, db, now=t0 + timedelta(hours=1))
    assert revoked.revoked_at == t0 + timedelta(hours=1)
    assert open311.revoke_api_key(name, db).revoked_at == t0 + timedelta(hours=1)  # the first revocation stays
    assert open311.verify_api_key(plain, db) is None
    with pytest.raises(open311.ApiKeyError):
        open311.revoke_api_key("khong-co-khoa", db)
    with db.begin() as conn:  # the seeded databases are shared with other modules
        conn.execute(text("DELETE FROM api_keys WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def intake_db(request, tmp_path_factory, pg_server_url):
    """An empty database with the reference data, for submissions that must not touch the seeded ones."""
    if request.param == "sqlite":
        db, drop = Database(f"sqlite:///{tmp_path_factory.mktemp('intake') / 'intake.sqlite3'}"), None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = Database(url)
    upgrade(db)
    load_reference_data(db)
    yield db
    db.dispose()
    if drop:
        drop()


def insert_report(db: Database, code: str) -> None:
    at = datetime(2027, 6, 1)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO reports (code, title, description, channel, status, created_at, updated_at, "
                          "source, version) VALUES (:code, 't', '', 'app', 'received', :at, :at, 'nhap', 1)"),
                     {"code": code, "at": at})


def test_public_codes_follow_the_local_year_on_both_databases(intake_db):
    key = open311.create_api_key(f"nam-{uuid.uuid4().hex[:6]}", "portal", intake_db)[0]
    new = open311.NewReport(service_code="XD", address="Số 1 Hùng Vương")

    def code_at(now):
        return open311.submit_report(new, key, intake_db, now=now).code

    assert code_at(datetime(2026, 12, 31, 16, 59)) == "PA-2026-000001"  # 23:59 local, still 2026
    assert code_at(datetime(2026, 12, 31, 17, 0)) == "PA-2027-000001"  # 00:00 local, 1 January 2027
    assert code_at(datetime(2027, 3, 1)) == "PA-2027-000002"
    # Codes of other shapes (imports) change nothing; an imported code the count reaches is skipped.
    for odd in ("PA-2027-12345678", "PA-2027-0000x9", "PA-2027-99999", "PA-2027-000004"):
        insert_report(intake_db, odd)
    assert code_at(datetime(2027, 3, 2)) == "PA-2027-000003"
    assert code_at(datetime(2027, 3, 3)) == "PA-2027-000005"
    # Friday 5 March 2027, 09:00 local: XD's IOC stage is 1 working day of office hours (07:30-11:30,
    # 13:30-17:00), so it is due on Monday at 09:00 local, 02:00 UTC.
    friday = code_at(datetime(2027, 3, 5, 2, 0))
    due = sql_frame(intake_db, "SELECT deadline_at, ioc_deadline_at FROM reports WHERE code = :c", c=friday).iloc[0]
    assert pd.Timestamp(due.deadline_at) == pd.Timestamp(due.ioc_deadline_at) == pd.Timestamp(2027, 3, 8, 2, 0)
    submitted = sql_frame(intake_db, "SELECT r.code, r.channel, r.source, r.lat, r.commune_code, e.actor, e.to_status "
                                     "FROM reports r JOIN report_events e ON e.report_id = r.id "
                                     "WHERE r.source = 'open311-api' ORDER BY r.code")
    assert len(submitted) == 6 and set(submitted["channel"]) == {"portal"} and set(submitted["actor"]) == {key.name}
    assert submitted["lat"].isna().all() and submitted["commune_code"].isna().all()
    with pytest.raises(open311.UnknownService):
        open311.submit_report(open311.NewReport(service_code="KHONG_CO", address="x"), key, intake_db)


def test_public_codes_grow_past_six_digits_and_are_never_given_twice(intake_db):
    key = open311.create_api_key(f"trieu-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    new = open311.NewReport(service_code="GT", address="Quốc lộ 1")
    now = datetime(2029, 5, 1, 3, 0)

    def submit():
        return open311.submit_report(new, key, intake_db, now=now).code

    # A year's first code counts on from the year's highest six-digit code, given before the counter existed;
    # codes of other shapes (imports) do not count.
    for code in ("PA-2029-000120", "PA-2029-12345678", "PA-2029-0000x9", "PA-2029-99999", "PA-2029-00012a"):
        insert_report(intake_db, code)
    assert submit() == "PA-2029-000121"
    # A province-wide or national load: the millionth report of a year still gets a code.
    with intake_db.begin() as conn:
        conn.execute(text("UPDATE public_code_counters SET last_number = 999998 WHERE year = 2029"))
    insert_report(intake_db, "PA-2029-1000001")
    assert [submit() for _ in range(3)] == ["PA-2029-999999", "PA-2029-1000000", "PA-2029-1000002"]
    # A deleted report's code is not given again.
    with intake_db.begin() as conn:
        conn.execute(text("DELETE FROM reports WHERE code = 'PA-2029-1000002'"))
    assert submit() == "PA-2029-1000003"
    assert sql_frame(intake_db, "SELECT last_number FROM public_code_counters WHERE year = 2029")[
        "last_number"].tolist() == [1000003]


def test_a_years_first_two_submissions_at_once_count_on_from_each_other(pg_server_url):
    """PostgreSQL: both find no counter for the year; the second's insert waits on the first's row, then
    counts on from it (on SQLite writers take turns from the first statement)."""
    url, drop = create_pg_database(pg_server_url)
    db = Database(url)
    try:
        upgrade(db)
        second: list[int] = []
        with db.begin() as first:
            mine = open311._count_up(first, 2031)
            waiting = threading.Thread(target=lambda: second.append(_count_up_in(db, 2031)))
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive() and second == []  # held by the first's uncommitted row
        waiting.join(10)
        assert (mine, second) == (1, [2])
        assert sql_frame(db, "SELECT last_number FROM public_code_counters")["last_number"].tolist() == [2]
    finally:
        db.dispose()
        drop()


def _count_up_in(db: Database, year: int) -> int:
    with db.begin() as conn:
        return open311._count_up(conn, year)


def test_racing_submissions_get_distinct_consecutive_codes_on_both_databases(intake_db):
    key = open311.create_api_key(f"dua-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    now = datetime(2028, 3, 1, 3, 0)
    new = open311.NewReport(service_code="MT", lat=17.4958, lon=106.59, phone="0912345678")
    codes, errors = [], []

    def worker():
        try:
            for _ in range(3):
                codes.append(open311.submit_report(new, key, intake_db, now=now).code)
        except Exception as err:  # noqa: BLE001 - collected and reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(codes) == [f"PA-2028-{i:06d}" for i in range(1, 19)]
    rows = sql_frame(intake_db, "SELECT count(DISTINCT intake_token) AS tokens, count(*) AS n, "
                                "min(commune_code) AS lo, max(commune_code) AS hi FROM reports "
                                "WHERE code LIKE 'PA-2028-%'").iloc[0]
    assert (rows.tokens, rows.n, rows.lo, rows.hi) == (18, 18, "18859", "18859")


def test_nearest_commune_agrees_with_an_independent_great_circle_search(sqlite_db):
    units = sql_frame(sqlite_db, "SELECT code, lat, lon FROM admin_units WHERE level = 'commune' ORDER BY code")
    centroids = list(units.itertuples(index=False, name=None))
    for code, lat, lon in centroids:
        assert open311.nearest_commune(centroids, lat + 0.001, lon - 0.001) == code
    rng = np.random.default_rng(311)
    lats = rng.uniform(units["lat"].min(), units["lat"].max(), 300)
    lons = rng.uniform(units["lon"].min(), units["lon"].max(), 300)
    for lat, lon in zip(lats, lons, strict=True):
        want = units["code"].iloc[int(np.argmin(haversine_km(lat, lon, units["lat"], units["lon"])))]
        assert open311.nearest_commune(centroids, lat, lon) == want
    for lat, lon in ((21.0285, 105.8542), (10.7769, 106.7009), (17.2, 108.0), (18.5, 106.0), (16.0, 107.0)):
        assert open311.nearest_commune(centroids, lat, lon) is None
    assert open311.nearest_commune([], 17.0, 106.0) is None


# --- command line ---------------------------------------------------------------------------------

def test_api_key_commands_create_list_and_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    created = flask(url, tmp_path, "api-key", "create", "Ứng dụng PAHT", "--channel", "app",
                    "--media-host", "Anh.UngDung.gov.vn")
    assert created.returncode == 0, created.stderr
    plain = created.stdout.strip().splitlines()[-1]
    assert "chỉ in một lần" in created.stdout and len(plain) >= 40
    db = Database(url)
    try:
        assert open311.verify_api_key(plain, db).channel == "app"
        duplicate = flask(url, tmp_path, "api-key", "create", "Ứng dụng PAHT", "--channel", "portal")
        assert duplicate.returncode != 0 and "Đã có khóa tên" in duplicate.stderr

        listed = flask(url, tmp_path, "api-key", "list")
        assert listed.returncode == 0, listed.stderr
        line = next(row for row in listed.stdout.splitlines() if row.startswith("Ứng dụng PAHT"))
        assert plain[:8] in line and " app " in line and plain not in listed.stdout
        assert line.split()[-1] == "anh.ungdung.gov.vn" and line.split()[-2] != "—"  # used once above
        hosts = flask(url, tmp_path, "api-key", "media-hosts", "Ứng dụng PAHT", "cdn.ungdung.gov.vn:8443")
        assert hosts.returncode == 0 and "cdn.ungdung.gov.vn:8443" in hosts.stdout
        assert open311.get_api_key("Ứng dụng PAHT", db).media_hosts == ("cdn.ungdung.gov.vn:8443",)
        bad = flask(url, tmp_path, "api-key", "media-hosts", "Ứng dụng PAHT", "http://x/y")
        assert bad.returncode != 0 and "không phải tên máy chủ" in bad.stderr

        revoked = flask(url, tmp_path, "api-key", "revoke", "Ứng dụng PAHT")
        assert revoked.returncode == 0 and "đã bị thu hồi" in revoked.stdout
        assert open311.verify_api_key(plain, db) is None
        assert open311.get_api_key("Ứng dụng PAHT", db).revoked_at is not None
        unknown = flask(url, tmp_path, "api-key", "revoke", "khong-co")
        assert unknown.returncode != 0 and "Không có khóa tên" in unknown.stderr
    finally:
        db.dispose()


# --- media URLs: only files the key may attach --------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://anh.khac.vn/o-ga.jpg",  # another host
    "http://localhost/media/1",  # one of our own files
    "https://u:p@anh.example.vn/o-ga.jpg",  # credentials
    "https://anh.example.vn/a/../../proof/x.jpg", "https://anh.example.vn/a/%2e%2e/x.jpg",  # traversal
    "https://anh.example.vn.evil.example/x.jpg", "https://anh.example.vn:8443/x.jpg",  # look-alike, other port
])
def test_a_media_url_must_name_a_file_on_the_keys_media_hosts(anon, key, app_db, url):
    before = count_reports(app_db)
    resp = submit(anon, key[1], media_url=url)
    assert_error_format(resp, 400)
    assert "anh.example.vn" in resp.get_json()[0]["description"]
    assert count_reports(app_db) == before


def test_a_key_without_media_hosts_attaches_no_media(anon, app_db):
    _record, plain = open311.create_api_key(f"khong-anh-{uuid.uuid4().hex[:6]}", "portal", app_db)
    before = count_reports(app_db)
    resp = submit(anon, plain, media_url="https://anh.example.vn/o-ga.jpg")
    assert_error_format(resp, 400)
    assert "media-hosts" in resp.get_json()[0]["description"] and count_reports(app_db) == before
    assert submit(anon, plain).status_code == 201  # without media it is accepted


def test_a_stored_url_or_path_outside_the_media_folder_never_serves_a_file(set_settings, tmp_path):
    from queries import media as media_store

    set_settings(media_dir=tmp_path)
    (tmp_path / "proof").mkdir()
    (tmp_path / "proof" / "PA-1.jpg").write_bytes(b"\xff\xd8\xff")
    assert media_store.resolve_path("proof/PA-1.jpg") == (tmp_path / "proof" / "PA-1.jpg").resolve()
    for stored in ("http://anh.example.vn/../../proof/PA-1.jpg", "https://x/proof/PA-1.jpg", "../proof/PA-1.jpg",
                   "proof/../proof/PA-1.jpg", "/etc/passwd", str(tmp_path / "proof" / "PA-1.jpg"), ""):
        assert media_store.resolve_path(stored) is None, stored


# --- a repeated submission returns the first one's request ---------------------------------------------

def test_the_same_idempotency_key_returns_the_first_request(anon, key, app_db):
    before = count_reports(app_db)
    first = anon.post(f"{BASE}/requests.json", query_string={"api_key": key[1]},
                      data={"service_code": "GT", "address_string": "Cầu Đông Hà", "description": "Đèn hỏng"},
                      headers={"Idempotency-Key": "ung-dung-42"})
    again = anon.post(f"{BASE}/requests.json", query_string={"api_key": key[1]},
                      data={"service_code": "GT", "address_string": "Cầu  đông hà", "description": "Đèn hỏng "},
                      headers={"Idempotency-Key": "ung-dung-42"})  # the same words, spaced and cased otherwise
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.get_json()[0]["service_request_id"] == first.get_json()[0]["service_request_id"]
    assert again.get_json()[0]["token"] == first.get_json()[0]["token"]
    assert count_reports(app_db) == before + 1
    other = anon.post(f"{BASE}/requests.json", query_string={"api_key": key[1]},
                      data={"service_code": "GT", "address_string": "Cầu Đông Hà", "description": "Đèn hỏng"},
                      headers={"Idempotency-Key": "ung-dung-43"})
    assert other.status_code == 201 and count_reports(app_db) == before + 2


def test_an_idempotency_key_used_again_for_other_content_is_refused(anon, key, app_db):
    data = {"service_code": "GT", "address_string": "Cầu Đông Hà", "description": "Đèn hỏng"}
    first = anon.post(f"{BASE}/requests.json", query_string={"api_key": key[1]}, data=data,
                      headers={"Idempotency-Key": "dat-lai-1"})
    before = count_reports(app_db)
    other = anon.post(f"{BASE}/requests.json", query_string={"api_key": key[1]},
                      data={**data, "service_code": "MT", "description": "Rác tồn đọng"},
                      headers={"Idempotency-Key": "dat-lai-1"})
    assert first.status_code == 201
    assert_error_format(other, 422)
    assert "Idempotency-Key" in other.get_json()[0]["description"] and count_reports(app_db) == before


def test_an_idempotency_key_stands_for_a_day(intake_db):
    key = open311.create_api_key(f"ngay-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    new = open311.NewReport(service_code="GT", address="Ngã tư Lê Duẩn", description="Đèn hỏng")
    t0 = datetime(2030, 3, 1, 3, 0)
    first = open311.submit_report(new, key, intake_db, now=t0, idempotency_key="1")
    same_day = open311.submit_report(new, key, intake_db, now=t0 + timedelta(hours=23), idempotency_key="1")
    next_day = open311.submit_report(replace(new, service_code="MT"), key, intake_db,
                                     now=t0 + open311.IDEMPOTENCY_TTL + timedelta(seconds=1), idempotency_key="1")
    assert same_day.repeated and same_day.code == first.code
    assert not next_day.repeated and next_day.code != first.code


def test_two_callers_saying_the_same_thing_are_two_reports(intake_db):
    """The hotline's templated words, the same place, two people: their phones (or photos) tell them apart."""
    key = open311.create_api_key(f"hai-nguoi-{uuid.uuid4().hex[:6]}", "hotline", intake_db,
                                 media_hosts=("anh.example.vn",))[0]
    new = open311.NewReport(service_code="MT", address="Chợ Đông Hà", description="Rác tồn đọng", phone="0912345678")
    t0 = datetime(2030, 4, 1, 3, 0)
    codes = {open311.submit_report(new, key, intake_db, now=t0).code,
             open311.submit_report(replace(new, phone="0987654321"), key, intake_db, now=t0).code,
             open311.submit_report(replace(new, media_url="https://anh.example.vn/b.jpg"), key, intake_db,
                                   now=t0).code}
    assert len(codes) == 3


def test_racing_repeats_of_the_same_content_make_one_report(intake_db):
    """A client that retries while its first attempt is still being stored, without an Idempotency-Key."""
    key = open311.create_api_key(f"thu-lai-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    new = open311.NewReport(service_code="GT", lat=17.4, lon=106.6, description="Ổ gà lớn giữa đường")
    codes = at_once(4, lambda: open311.submit_report(new, key, intake_db).code)
    assert len(codes) == 4 and len(set(codes)) == 1


def at_once(n: int, send) -> list:
    """What `send` returns, called from n threads that start together."""
    barrier = threading.Barrier(n)
    answers: list = []

    def run():
        barrier.wait()
        answers.append(send())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


@pytest.mark.parametrize("url", ["https://anh.example.vn:99999/a.jpg", "https://anh.example.vn:abc/a.jpg",
                                 "https://[::1/a.jpg"])
def test_a_media_url_with_a_broken_port_or_address_is_a_400(anon, key, app_db, url):
    before = count_reports(app_db)
    assert_error_format(submit(anon, key[1], media_url=url), 400)
    assert count_reports(app_db) == before


@pytest.mark.parametrize("header", ["", "x" * 201, "khóa-có-dấu", "a\tb"])
def test_a_malformed_idempotency_key_is_refused(anon, key, app_db, header):
    before = count_reports(app_db)
    resp = anon.post(f"{BASE}/requests.json", query_string={"api_key": key[1]},
                     data={"service_code": "GT", "address_string": "x"}, headers={"Idempotency-Key": header})
    assert_error_format(resp, 400)
    assert count_reports(app_db) == before


def test_the_same_content_from_the_same_key_within_the_window_is_one_report(intake_db):
    key = open311.create_api_key(f"lap-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    other_key = open311.create_api_key(f"lap-khac-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    new = open311.NewReport(service_code="MT", lat=17.49581, lon=106.59, description="Rác  tồn đọng\n")
    t0 = datetime(2030, 2, 1, 3, 0)
    first = open311.submit_report(new, key, intake_db, now=t0)
    retried = open311.submit_report(replace(new, description="rác tồn đọng"), key, intake_db,
                                    now=t0 + timedelta(seconds=30))
    assert retried.repeated and not first.repeated and retried.code == first.code
    later = open311.submit_report(new, key, intake_db, now=t0 + open311.REPEAT_WINDOW + timedelta(seconds=1))
    elsewhere = open311.submit_report(replace(new, lat=17.5), key, intake_db, now=t0 + timedelta(seconds=40))
    another_client = open311.submit_report(new, other_key, intake_db, now=t0 + timedelta(seconds=50))
    assert len({first.code, later.code, elsewhere.code, another_client.code}) == 4
    # Without text, two callers reporting the same place are two reports.
    quiet = open311.NewReport(service_code="GT", address="Quốc lộ 9")
    assert open311.submit_report(quiet, key, intake_db, now=t0).code != open311.submit_report(
        quiet, key, intake_db, now=t0 + timedelta(seconds=5)).code


def test_racing_submissions_with_one_idempotency_key_make_one_report(intake_db):
    key = open311.create_api_key(f"dua-{uuid.uuid4().hex[:6]}", "app", intake_db)[0]
    new = open311.NewReport(service_code="GT", address="Ngã tư Lê Duẩn")
    codes = at_once(4, lambda: open311.submit_report(new, key, intake_db, idempotency_key="cung-mot-lan").code)
    assert len(codes) == 4 and len(set(codes)) == 1
    rows = sql_frame(intake_db, "SELECT count(*) AS n FROM open311_submissions WHERE api_key_id = :k", k=key.id)
    assert rows["n"].iloc[0] == 1
