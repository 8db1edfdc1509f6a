"""Case reads (queries/cases.py) on SQLite and PostgreSQL: masked phone numbers, the agency scope of every read,
audited phone reveals and phone searches, the triage queue, duplicate candidates and the routing suggestion.

Expected values come from plain SQL/pandas over the tables of a private seeded database (tests/casework.py).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy import text as sql_text

from queries import admin, cases
from queries import settings as app_settings
from queries.access import AccessDenied, Viewer, WorkflowError
from queries.importers.convert import _PHONE as IMPORT_PHONE
from queries.schema import admin_units, agencies, media, reports, routing_rules
from tests import casework
from tests.casework import VIETNAMESE, audit_since, ids, insert_report, last_audit_id

# Far from every seeded report in time (the demo ends on 20/11/2026), so only the rows a test inserts compete.
LATER = datetime(2027, 3, 10, 3, 0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory, pg_server_url):
    db, viewers, drop = casework.private_database(request.param, tmp_path_factory, pg_server_url, "cases")
    try:
        yield SimpleNamespace(db=db, v=viewers, kind=request.param)
    finally:
        drop()


def raw_reports(db) -> pd.DataFrame:
    """Reports with their agency code, read with a plain join."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(reports, agencies.c.code.label("agency_code"))
                            .select_from(reports.outerjoin(agencies, agencies.c.id == reports.c.agency_id))).mappings()
        frame = pd.DataFrame([dict(r) for r in rows])
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    return frame


def walk(value):
    """Every leaf of a detail: dict values and keys, list items, DataFrame cells and column names."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from walk(item)
    elif isinstance(value, pd.DataFrame):
        yield from value.columns
        for item in value.itertuples(index=False):
            yield from walk(list(item))
    else:
        yield value


# --- masking -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phone,masked", [
    ("0912345123", "09xx xxx 123"),
    ("0912 345 123", "09xx xxx 123"),
    ("091.234.5678", "09xx xxx 678"),
    ("+84 912 345 123", "84xx xxx 123"),
    ("02333123456", "02xx xxx 456"),
    ("123456", "12xx xxx 456"),
    ("12345", "xxx45"),
    ("", ""),
    (None, ""),
    ("không có", ""),
])
def test_mask_phone(phone, masked):
    assert cases.mask_phone(phone) == masked


@settings(max_examples=200, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=6, max_size=15), sep=st.sampled_from(["", " ", ".", "-"]))
def test_a_masked_number_keeps_only_two_leading_and_three_trailing_digits(digits, sep):
    shown = cases.mask_phone(sep.join(digits))
    assert re.sub(r"\D", "", shown) == digits[:2] + digits[-3:]
    assert shown == f"{digits[:2]}xx xxx {digits[-3:]}"


# --- report detail -------------------------------------------------------------------------------------------

def test_report_detail_never_holds_the_raw_phone(env):
    db, v = env.db, env.v
    frame = raw_reports(db)
    with_phone = frame[frame["reporter_phone"].notna()]
    sample = with_phone.sample(40, random_state=3)
    # And one with a separated number, events, a duplicate pointing at it and media.
    special = insert_report(db, phone="0912.777.456", agency="SXD", status="forwarded")
    insert_report(db, status="rejected", close_reason="duplicate", duplicate_of_id=special["id"])
    with db.begin() as conn:
        conn.execute(insert(media).values(report_id=special["id"], kind="photo", path="citizen/x.jpg",
                                          caption="Ảnh người dân gửi", created_at=LATER))
    codes = [*sample["code"], special["code"]]
    phones = dict(zip(frame["code"], frame["reporter_phone"], strict=True)) | {special["code"]: "0912.777.456"}
    checked = 0
    for viewer in (v["operator"], v["leader"], v["admin"], v["agency_a"]):
        for code in codes:
            detail = cases.report_detail(viewer, code, db=db)
            if detail is None:
                continue
            checked += 1
            raw_phone = phones[code]
            digits = re.sub(r"\D", "", raw_phone)
            assert "reporter_phone" not in detail
            for leaf in walk(detail):
                text = str(leaf)
                assert raw_phone not in text and digits not in re.sub(r"\D", "", text), (code, leaf)
            assert detail["phone_masked"] == f"{digits[:2]}xx xxx {digits[-3:]}"
    assert checked > len(codes) * 3  # the IOC roles see every sampled report
    detail = cases.report_detail(v["operator"], special["code"], db=db)
    assert len(detail["duplicates"]) == 1 and detail["media"][0]["caption"] == "Ảnh người dân gửi"


def test_an_agency_reads_only_its_own_agency(env):
    db, v = env.db, env.v
    frame = raw_reports(db)
    sample = pd.concat([frame[frame["agency_code"] == "SXD"].sample(15, random_state=1),
                        frame[frame["agency_code"] == "CAT"].sample(15, random_state=1),
                        frame[frame["agency_code"].isna()].head(5),
                        frame[~frame["agency_code"].isin(["SXD", "CAT"]) & frame["agency_code"].notna()]
                        .sample(15, random_state=1)])
    for row in sample.itertuples():
        for who, agency in (("agency_a", "SXD"), ("agency_b", "CAT")):
            detail = cases.report_detail(v[who], row.code, db=db)
            assert (detail is not None) == (row.agency_code == agency), (who, row.code, row.agency_code)
            if detail is not None:
                assert detail["agency_code"] == agency and detail["id"] == row.id
        assert cases.report_detail(v["leader"], row.code, db=db)["code"] == row.code
    assert cases.report_detail(v["leader"], "KHONG-CO", db=db) is None

    # The work list, page by page: every open report of the agency, once, in order; another agency's, never.
    for who, agency in (("agency_a", "SXD"), ("agency_b", "CAT"), ("operator", "SXD")):
        mine = frame[(frame["agency_code"] == agency) & frame["status"].isin(["forwarded", "in_progress"])].copy()
        mine["rank"] = (mine["status"] != "forwarded").astype(int)
        want = mine.sort_values(["rank", "deadline_at", "id"], na_position="last")["code"].tolist()
        pages, counts = [], None
        for page in range(-(-len(want) // cases.WORK_PAGE_SIZE) + 1):  # one past the end: the last again
            got, counts = cases.agency_work(v[who], agency, page, db=db)
            assert set(got["agency_code"]) <= {agency}
            pages.append(got["code"].tolist())
        assert counts == {s: int((mine["status"] == s).sum()) for s in ("forwarded", "in_progress")}
        assert [code for page in pages[:-1] for code in page] == want and pages[-1] == pages[-2], who
    # Another agency's list, asked for by an agency head: nothing, on any page.
    for page in (0, 1, 5):
        got, counts = cases.agency_work(v["agency_b"], "SXD", page, db=db)
        assert got.empty and counts == {"forwarded": 0, "in_progress": 0}
    # Search stays in scope too.
    found = searched(v["agency_a"], "phản ánh", page_size=1000, db=db)
    assert len(found) and set(found["agency_code"]) == {"SXD"}


def test_media_paths_follow_the_scope(env):
    db, v = env.db, env.v
    mine = insert_report(db, agency="SXD", status="forwarded")
    theirs = insert_report(db, agency="CAT", status="forwarded")
    with db.begin() as conn:
        ids_ = [conn.execute(insert(media).values(report_id=r["id"], kind="photo", path=f"citizen/{r['code']}.jpg",
                                                  created_at=LATER).returning(media.c.id)).scalar_one()
                for r in (mine, theirs)]
    assert cases.media_path(v["agency_a"], ids_[0], db=db) == f"citizen/{mine['code']}.jpg"
    assert cases.media_path(v["agency_a"], ids_[1], db=db) is None
    assert cases.media_path(v["leader"], ids_[1], db=db) == f"citizen/{theirs['code']}.jpg"
    with pytest.raises(AccessDenied):
        cases.media_path(Viewer(None, "screen", "display"), ids_[0], db=db)


@pytest.mark.parametrize("role", ["display", "visitor"])
def test_roles_without_details_read_nothing(env, role):
    viewer = Viewer(None, "screen", role)
    code = raw_reports(env.db)["code"].iloc[0]
    with pytest.raises(AccessDenied):
        cases.report_detail(viewer, code, db=env.db)
    with pytest.raises(AccessDenied):
        cases.search_reports(viewer, code, db=env.db)


# --- revealing a phone number --------------------------------------------------------------------------------

REASON = "Gọi lại xác minh địa điểm"


def test_an_operator_reveals_and_it_is_audited(env):
    db, v = env.db, env.v
    row = insert_report(db, phone="0977123456")
    last = last_audit_id(db)
    assert cases.reveal_phone(v["operator"], " " + row["code"] + " ", "  " + REASON + " ", db=db) == "0977123456"
    rows = audit_since(db, last)
    assert [(a["action"], a["target"], a["detail"], a["username"], a["role"], a["user_id"]) for a in rows] == [
        ("phone.reveal", row["code"], REASON, "operator", "operator", v["operator"].user_id)]
    assert cases.report_detail(v["operator"], row["code"], db=db)["can_reveal"] is True


@pytest.mark.parametrize("who", ["leader", "agency_a"])
def test_a_leader_or_agency_is_refused_and_the_refusal_is_audited(env, who):
    db, v = env.db, env.v
    row = insert_report(db, phone="0977123457", agency="SXD", status="forwarded")
    assert app_settings.get_flag("agency_sees_phone", db) is False
    last = last_audit_id(db)
    with pytest.raises(AccessDenied) as err:
        cases.reveal_phone(v[who], row["code"], REASON, db=db)
    assert VIETNAMESE.search(str(err.value)) and "0977123457" not in str(err.value)
    rows = audit_since(db, last)
    assert [(a["action"], a["target"], a["username"]) for a in rows] == [("phone.refused", row["code"], who)]
    assert cases.report_detail(v[who], row["code"], db=db)["can_reveal"] is False


def test_an_agency_reveals_once_the_admin_allows_it(env):
    db, v = env.db, env.v
    mine = insert_report(db, phone="0977123458", agency="SXD", status="in_progress")
    theirs = insert_report(db, phone="0977123459", agency="CAT", status="in_progress")
    try:
        assert app_settings.set_value(v["admin"], "agency_sees_phone", True, db=db) == "1"
        assert cases.report_detail(v["agency_a"], mine["code"], db=db)["can_reveal"] is True
        last = last_audit_id(db)
        assert cases.reveal_phone(v["agency_a"], mine["code"], REASON, db=db) == "0977123458"
        assert [(a["action"], a["target"]) for a in audit_since(db, last)] == [("phone.reveal", mine["code"])]
        # Another agency's report still reads as unknown, and nothing is revealed.
        last = last_audit_id(db)
        with pytest.raises(WorkflowError) as err:
            cases.reveal_phone(v["agency_a"], theirs["code"], REASON, db=db)
        assert str(err.value) == f"Không tìm thấy phản ánh {theirs['code']}."
        assert audit_since(db, last) == []
        # The leader is still refused.
        with pytest.raises(AccessDenied):
            cases.reveal_phone(v["leader"], mine["code"], REASON, db=db)
    finally:
        app_settings.set_value(v["admin"], "agency_sees_phone", 0, db=db)
    with pytest.raises(AccessDenied):
        cases.reveal_phone(v["agency_a"], mine["code"], REASON, db=db)


@pytest.mark.parametrize("reason", ["", "   ", "gọi", "abcd "])
def test_a_reveal_needs_a_reason(env, reason):
    db, v = env.db, env.v
    row = insert_report(db, phone="0977123460")
    last = last_audit_id(db)
    with pytest.raises(WorkflowError) as err:
        cases.reveal_phone(v["operator"], row["code"], reason, db=db)
    assert "lý do" in str(err.value).lower() and "0977123460" not in str(err.value)
    assert audit_since(db, last) == []


def test_a_reveal_without_a_number_or_report(env):
    db, v = env.db, env.v
    row = insert_report(db, phone=None)
    assert cases.report_detail(v["operator"], row["code"], db=db)["can_reveal"] is False
    last = last_audit_id(db)
    with pytest.raises(WorkflowError) as err:
        cases.reveal_phone(v["operator"], row["code"], REASON, db=db)
    assert "không có số điện thoại" in str(err.value)
    with pytest.raises(WorkflowError):
        cases.reveal_phone(v["operator"], "KHONG-CO", REASON, db=db)
    assert audit_since(db, last) == []


# --- search ---------------------------------------------------------------------------------------------------

def test_search_by_code_and_by_text(env):
    db, v = env.db, env.v
    frame = raw_reports(db)
    code = frame["code"].iloc[len(frame) // 2]
    assert searched(v["operator"], code, db=db)["code"].tolist() == [code]
    assert code in set(searched(v["leader"], code.lower(), db=db)["code"])
    row = insert_report(db, title="Cột điện nghiêng nguy hiểm zqxwv", description="Gần chợ", created_at=LATER)
    assert searched(v["leader"], "ZQXWV", db=db)["code"].tolist() == [row["code"]]
    # A common phrase: newest first, page by page, with the count pandas finds.
    phrase = "nắp hố ga"
    text = (frame["code"] + " " + frame["title"] + " " + frame["description"]).str.lower()
    want = frame[text.str.contains(phrase, regex=False)].sort_values(["created_at", "id"], ascending=False)
    assert len(want) > 2 * cases.SEARCH_PAGE_SIZE
    for page in (0, 1, 99):
        got, total = cases.search_reports(v["operator"], phrase, page=page, db=db)
        assert total == len(want)
        first = min(page, (total - 1) // cases.SEARCH_PAGE_SIZE) * cases.SEARCH_PAGE_SIZE  # past the end: the last
        assert got["code"].tolist() == want["code"].iloc[first:first + cases.SEARCH_PAGE_SIZE].tolist(), page
    for short in (" a ", "ab", " đ  "):
        with pytest.raises(WorkflowError, match="ít nhất 3 ký tự"):
            searched(v["operator"], short, db=db)


@pytest.mark.parametrize("who,agency", [("operator", None), ("agency_a", "SXD")])
def test_a_search_past_the_count_cap_says_more_and_pages_up_to_it(env, who, agency):
    db, v = env.db, env.v
    frame = raw_reports(db)
    if agency:
        frame = frame[frame["agency_code"] == agency]
    text = (frame["code"] + " " + frame["title"] + " " + frame["description"]).str.lower()
    want = frame[text.str.contains("nắp hố ga", regex=False)].sort_values(["created_at", "id"], ascending=False)
    size, cap = 2, len(want) - 2
    assert cap >= 3
    last = (cap - 1) // size * size  # the last page's first row: the pages end at the cap
    for page, first in ((0, 0), (1, size), (10_000, last)):
        got, total = cases.search_reports(v[who], "nắp hố ga", page=page, page_size=size, db=db, count_cap=cap)
        assert total == cap + 1  # "more than cap"
        assert got["code"].tolist() == want["code"].iloc[first:first + size].tolist(), page
    # Exactly at the cap the count is exact.
    got, total = cases.search_reports(v[who], "nắp hố ga", db=db, count_cap=len(want))
    assert total == len(want)


@pytest.mark.parametrize("who,agency", [("operator", None), ("leader", None), ("agency_a", "SXD")])
def test_digits_alone_find_the_reports_of_that_number_in_every_year(env, who, agency):
    db, v = env.db, env.v
    frame = raw_reports(db)
    numbers = frame["code"].str.extract(r"^PA-\d{4}-(\d+)$")[0].astype(float)
    seen = frame[numbers.notna()]
    number = int(numbers.value_counts().index[0])  # a number several years share
    for typed in {f"{number:06d}", f"{number:03d}"}:  # as written in the code, and without its leading zeros
        want = frame[(numbers == number) & ((frame["agency_code"] == agency) if agency else True)]
        want = want.sort_values(["created_at", "id"], ascending=False)["code"].tolist()
        got, total = cases.search_reports(v[who], typed, page_size=100, db=db)
        assert got["code"].tolist() == want and total == len(want), typed
    assert len(seen) > 0 and (who == "agency_a" or total >= 2)


def searched(*args, **kwargs):
    """The page of reports a search finds (without the count)."""
    return cases.search_reports(*args, **kwargs)[0]


def test_search_ignores_the_case_of_vietnamese_capitals(env):
    db, v = env.db, env.v
    row = insert_report(db, title="Đèn đường ở ngõ Ánh Dương không sáng", description="", created_at=LATER)
    assert row["code"] in set(searched(v["operator"], "Ánh Dương", db=db)["code"])
    assert row["code"] in set(searched(v["operator"], "đèn đường", db=db)["code"])


def test_search_by_phone_is_for_the_ioc_and_audited(env):
    db, v = env.db, env.v
    frame = raw_reports(db)
    phone = "0209876543"
    assert not frame["reporter_phone"].fillna("").str.endswith("876543").any()
    row = insert_report(db, phone=phone, agency="SXD", status="forwarded", created_at=LATER)
    for query in ("876543", "0209876543", "020 987 6543", "9876543"):
        last = last_audit_id(db)
        assert searched(v["operator"], query, db=db)["code"].tolist() == [row["code"]], query
        rows = audit_since(db, last)
        assert [(a["action"], a["username"]) for a in rows] == [("phone.search", "operator")], query
        assert "543" in rows[0]["detail"] and "876543" not in rows[0]["detail"] and "1 kết quả" in rows[0]["detail"]
    # Neither a leader nor the agency it is forwarded to finds it by the number, and nothing is audited.
    for who in ("leader", "agency_a"):
        last = last_audit_id(db)
        assert searched(v[who], "0209876543", db=db).empty, who
        assert audit_since(db, last) == []
    # Fewer than 6 digits is not a phone search.
    last = last_audit_id(db)
    searched(v["operator"], "76543", db=db)
    assert audit_since(db, last) == []


@pytest.mark.parametrize("typed", ["0207.654.321", "0207-654-329"])
def test_search_by_phone_typed_with_dots_or_dashes(env, typed):
    db, v = env.db, env.v
    row = insert_report(db, phone=typed.replace(".", "").replace("-", ""), created_at=LATER)
    assert searched(v["operator"], typed, db=db)["code"].tolist() == [row["code"]]


def test_search_by_phone_finds_a_number_stored_with_separators(env):
    db, v = env.db, env.v
    stored = "0208 765 432"
    assert IMPORT_PHONE.match(stored)  # the importer accepts and keeps numbers written like this
    row = insert_report(db, phone=stored, created_at=LATER)
    assert searched(v["operator"], "0208765432", db=db)["code"].tolist() == [row["code"]]


# --- the triage queue -----------------------------------------------------------------------------------------

def test_triage_queue_is_the_waiting_reports_oldest_first(env):
    db, v = env.db, env.v
    older = insert_report(db, status="classified", created_at=datetime(2020, 1, 2, 3, 4))
    insert_report(db, status="forwarded", agency="SXD", created_at=datetime(2020, 1, 1))
    insert_report(db, status="rejected", created_at=datetime(2020, 1, 1))
    frame = raw_reports(db)
    waiting = frame[frame["status"].isin(["received", "classified"])].sort_values(["created_at", "id"])
    queue, total = cases.triage_queue(v["operator"], limit=100_000, db=db)
    assert total == len(waiting) and queue["code"].tolist() == waiting["code"].tolist()
    assert queue["code"].iloc[0] == older["code"]
    assert set(queue["status"]) <= {"received", "classified"}
    first, total = cases.triage_queue(v["admin"], limit=2, db=db)
    assert first["code"].tolist() == waiting["code"].head(2).tolist() and total == len(waiting)
    for who in ("leader", "agency_a"):
        with pytest.raises(AccessDenied):
            cases.triage_queue(v[who], db=db)


def test_triage_countdown_in_working_hours(env):
    db, v = env.db, env.v
    now = datetime(2026, 11, 23, 2, 0)  # Monday 09:00 local; Tuesday 24/11 is a public holiday
    due = insert_report(db, created_at=datetime(2019, 5, 5), deadline_at=datetime(2026, 11, 26, 2, 0))
    late = insert_report(db, created_at=datetime(2019, 5, 6), deadline_at=datetime(2026, 11, 20, 9, 0))
    queue = cases.triage_queue(v["operator"], limit=100_000, db=db, now=now)[0].set_index("code")
    # Monday 09:00 -> Thursday 09:00: Mon 6 h + Wed 7.5 h + Thu 1.5 h.
    assert queue.loc[due["code"], "work_hours_left"] == 15.0
    # Friday 16:00 -> Monday 09:00: Fri 1 h + Mon 1.5 h, overdue.
    assert queue.loc[late["code"], "work_hours_left"] == -2.5


# --- duplicate candidates -------------------------------------------------------------------------------------

def haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def north(lat, metres):
    return lat + metres / (6_371_000 * math.pi / 180)


def east(lat, lon, metres):
    return lon + metres / (6_371_000 * math.pi / 180 * math.cos(math.radians(lat)))


def test_duplicate_candidates_are_the_near_ones(env):
    db, v = env.db, env.v
    lat, lon = 16.8123, 107.1042
    me = insert_report(db, category="GT", lat=lat, lon=lon, created_at=LATER)
    near = insert_report(db, category="GT", lat=north(lat, 50), lon=lon, created_at=LATER + timedelta(hours=3))
    further = insert_report(db, category="GT", lat=north(lat, 180), lon=east(lat, lon, 160),
                            created_at=LATER - timedelta(days=5))
    far = insert_report(db, category="GT", lat=lat, lon=east(lat, lon, 2000), created_at=LATER + timedelta(hours=1))
    insert_report(db, category="MT", lat=north(lat, 40), lon=lon, created_at=LATER)  # another field
    insert_report(db, category="GT", lat=north(lat, 30), lon=lon, created_at=LATER + timedelta(days=20))  # later
    insert_report(db, category="GT", lat=north(lat, 20), lon=lon, created_at=LATER, status="rejected",
                  close_reason="duplicate", duplicate_of_id=near["id"])  # itself a duplicate

    got = cases.duplicate_candidates(v["operator"], me["code"], db=db)
    assert got["code"].tolist() == [near["code"], further["code"]]
    for row, other in zip(got.itertuples(), (near, further), strict=True):
        assert abs(row.distance_m - haversine(lat, lon, other["lat"], other["lon"])) <= 1
    assert abs(got["distance_m"].iloc[0] - 50) <= 1

    wide = cases.duplicate_candidates(v["operator"], me["code"], radius_m=3000, db=db)
    assert wide["code"].tolist() == [near["code"], further["code"], far["code"]]
    assert abs(wide["distance_m"].iloc[2] - haversine(lat, lon, lat, far["lon"])) <= 1
    assert abs(wide["distance_m"].iloc[2] - 2000) <= 2

    try:
        app_settings.set_value(v["admin"], "duplicate_radius_m", 100, db=db)
        assert cases.duplicate_candidates(v["admin"], me["code"], db=db)["code"].tolist() == [near["code"]]
    finally:
        app_settings.set_value(v["admin"], "duplicate_radius_m", 300, db=db)
    with pytest.raises(AccessDenied):
        cases.duplicate_candidates(v["leader"], me["code"], db=db)
    unplaced = insert_report(db, category="GT", lat=None, lon=None, created_at=LATER)
    assert cases.duplicate_candidates(v["operator"], unplaced["code"], db=db).empty


# --- the routing suggestion -----------------------------------------------------------------------------------

def test_suggest_agency_prefers_the_commune_rule(env):
    db, v = env.db, env.v
    with db.engine.connect() as conn:
        communes = conn.execute(select(admin_units.c.code).where(admin_units.c.level == "commune")
                                .order_by(admin_units.c.code).limit(2)).scalars().all()
    here, elsewhere = communes
    assert admin.set_route(v["admin"], "GT", None, "SXD", db=db) == "set"
    assert admin.set_route(v["admin"], "GT", here, "CAT", db=db) == "set"
    assert admin.set_route(v["admin"], "GT", elsewhere, None, db=db) == "deleted"
    assert cases.suggest_agency("GT", here, db=db) == "CAT"
    assert cases.suggest_agency("GT", elsewhere, db=db) == "SXD"
    assert cases.suggest_agency("GT", None, db=db) == "SXD"
    assert cases.suggest_agency(None, here, db=db) is None

    # A commune rule whose agency has closed gives way to the field rule.
    admin.save_agency(v["admin"], "TAMTHOI", "Ban tạm thời", "Ban tạm", "other", None, True, db=db)
    admin.set_route(v["admin"], "GT", here, "TAMTHOI", db=db)
    assert cases.suggest_agency("GT", here, db=db) == "TAMTHOI"
    admin.save_agency(v["admin"], "TAMTHOI", "Ban tạm thời", "Ban tạm", "other", None, False, db=db)
    assert cases.suggest_agency("GT", here, db=db) == "SXD"

    # Deleting the commune rule leaves the field rule; the table holds one GT rule per commune.
    assert admin.set_route(v["admin"], "GT", here, "", db=db) == "deleted"
    assert cases.suggest_agency("GT", here, db=db) == "SXD"
    with db.engine.connect() as conn:
        rules = conn.execute(select(routing_rules.c.commune_code, routing_rules.c.agency_id)
                             .where(routing_rules.c.category_id == ids(db, casework.categories)["GT"])).all()
    assert (None, ids(db, agencies)["SXD"]) in rules and not any(c == here for c, _ in rules)
    assert len({c for c, _ in rules}) == len(rules)



def test_the_search_reads_its_indexes_not_every_report(env):
    """The plan of each part of a search: the text by SQLite's trigram table or PostgreSQL's trigram index, the
    phone's last digits by the reversed-digits index. (PostgreSQL is told not to scan: on a small table it would
    rather, but what matters is that it can use the index.)"""
    db = env.db
    text_part = cases._text_matches(db, "nắp hố ga")
    phone_part = cases._phone_matches(db, "876543")
    with db.engine.connect() as conn:
        if env.kind == "sqlite":
            def plan(stmt):
                compiled = stmt.compile(conn, compile_kwargs={"literal_binds": False})
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params.values()))
                return " ".join(row[-1] for row in rows)
            assert "VIRTUAL TABLE INDEX" in plan(text_part)
            assert "USING INDEX ix_reports_phone_tail" in plan(phone_part) or \
                "USING COVERING INDEX ix_reports_phone_tail" in plan(phone_part)
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")

            def plan(stmt):
                return " ".join(row[0] for row in conn.execute(sql_text("EXPLAIN " + str(stmt.compile(
                    conn, compile_kwargs={"literal_binds": True})))))
            assert "ix_reports_search_trgm" in plan(text_part)
            assert "ix_reports_phone_tail" in plan(phone_part)
