"""The handling workflow (queries/workflow.py) on SQLite and PostgreSQL: the happy path with every timestamp,
deadline and duration checked against hand-worked values and the independent calendar; the full transition
matrix against a hand-written table; optimistic locking (sequential and two racing threads); refused input;
rights and scope; bounce-backs in the SLA metrics; proof photos; and the KPIs after a day of actions against
pandas over the raw rows.

Each test module works on a private seeded database (tests/casework.py). The clock the workflow and the audit
log read is replaced by a fixed one so that every timestamp is known; the database itself is always real.
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event, insert
from sqlalchemy.exc import IntegrityError

import queries.db as qdb
from queries import audit, cases, overview, sla, workflow
from queries.access import AccessDenied, StaleReport, Viewer, WorkflowError
from queries.db import Database
from queries.filters import Filter
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import agencies, categories, report_events, reports, sla_policies
from queries.workcalendar import default_calendar
from tests import casework, independent
from tests.casework import VIETNAMESE, audit_since, events_of, ids, insert_report, last_audit_id, report, snapshot
from tests.conftest import read_raw
from tests.test_sla_metrics import assert_metrics_equal, expected_metrics
from tests.test_workcalendar import ref_calendar

# A new MT (normal) version from Saturday 21/11/2026 00:00 UTC: IOC 2 working days, agency 3 (defaults 1 and 5).
NEW_POLICY_FROM = datetime(2026, 11, 21)
# Monday 23/11/2026, 09:00 local = 02:00 UTC. Office hours 07:30–11:30 and 13:30–17:00 (7.5 h a day); Tuesday
# 24/11/2026 is a public holiday (Ngày Văn hóa Việt Nam).
MONDAY_9 = datetime(2026, 11, 23, 2, 0)
REPLY = "Đã thu gom toàn bộ rác thải và vệ sinh khu vực."
RETURN_REASON = "Không thuộc thẩm quyền của Sở Xây dựng"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory, pg_server_url):
    db, viewers, drop = casework.private_database(request.param, tmp_path_factory, pg_server_url, "workflow")
    with db.begin() as conn:
        policy_id = conn.execute(insert(sla_policies).values(
            category_id=ids(db, categories)["MT"], urgent=0, ioc_limit=2, agency_limit=3, unit="days",
            valid_from=NEW_POLICY_FROM, created_at=NEW_POLICY_FROM, created_by="test", note="Rút ngắn")
            .returning(sla_policies.c.id)).scalar_one()
        conn.execute(insert(agencies).values(code="NGUNG", name="Ban quản lý đã giải thể", short_name="BQL cũ",
                                             kind="other", active=0))
    try:
        yield SimpleNamespace(db=db, v=viewers, policy_id=policy_id, kind=request.param)
    finally:
        drop()


@pytest.fixture(autouse=True)
def configured(env, monkeypatch):
    """The app's configured database is the one under test. classify/forward need this: they look the SLA
    policy up in the configured database instead of the one passed (see
    test_classify_uses_the_policies_of_the_database_it_is_given)."""
    monkeypatch.setattr(qdb, "_current", env.db)


class FixedClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return now


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fixed = FixedClock(MONDAY_9 + timedelta(hours=1))
    monkeypatch.setattr(workflow, "utc_now", fixed)
    monkeypatch.setattr(audit, "utc_now", fixed)
    return fixed


def act(env, action: str, row: dict, viewer=None, version=None, **kw):
    """Run one action with valid input; `viewer` defaults to the role that may do it."""
    v, db = env.v, env.db
    code, version = row["code"], row["version"] if version is None else version
    if action == "classify":
        return workflow.classify(code, version, viewer or v["operator"], kw.get("category", "MT"),
                                 kw.get("urgent", False), db=db)
    if action == "forward":
        return workflow.forward(code, version, viewer or v["operator"], kw.get("agency", "SXD"), db=db)
    if action == "reject":
        return workflow.reject(code, version, viewer or v["operator"], "untrue", db=db)
    if action == "mark_duplicate":
        return workflow.mark_duplicate(code, version, viewer or v["operator"], kw["of"], db=db)
    if action == "accept":
        return workflow.accept(code, version, viewer or v["agency_a"], db=db)
    if action == "resolve":
        return workflow.resolve(code, version, viewer or v["agency_a"], REPLY, db=db)
    if action == "return":
        return workflow.return_to_ioc(code, version, viewer or v["agency_a"], RETURN_REASON, db=db)
    raise AssertionError(action)


def assert_nothing_written(env, before: dict, code: str) -> None:
    after = snapshot(env.db, code)
    assert after["report"] == before["report"]
    assert after["events"] == before["events"]
    assert after["media"] == before["media"]
    assert after["audit"] == before["audit"], audit_since(env.db, before["audit"])
    assert after["all_events"] == before["all_events"]


# --- the happy path ------------------------------------------------------------------------------------

def test_happy_path_received_to_resolved(env, clock):
    db, v = env.db, env.v
    ref = ref_calendar()
    sxd = ids(db, agencies)["SXD"]
    row = insert_report(db, category="MT", created_at=MONDAY_9)
    code = row["code"]
    first_audit = last_audit_id(db)

    # Classify at 10:00 local.
    t_classify = clock.set(MONDAY_9 + timedelta(hours=1))
    out = workflow.classify(code, 1, v["operator"], "MT", False, db=db)
    assert (out.code, out.status, out.version) == (code, "classified", 2)
    got = report(db, code)
    policy = casework.policy_in_force(db, "MT", False, MONDAY_9)
    assert policy["id"] == env.policy_id  # the version in force at arrival is the new one
    assert got["sla_policy_id"] == env.policy_id
    assert (got["status"], got["version"], got["classified_at"], got["updated_at"]) == (
        "classified", 2, t_classify, t_classify)
    # IOC: 2 working days from Monday 09:00 local = Mon 6 h + (Tue off) Wed 7.5 h + Thu 1.5 h -> Thursday 09:00.
    ioc_deadline = datetime(2026, 11, 26, 2, 0)
    assert ioc_deadline == casework.utc(ref.add_days(casework.local(MONDAY_9), days=policy["ioc_limit"]))
    assert got["ioc_deadline_at"] == ioc_deadline and got["deadline_at"] == ioc_deadline
    assert got["agency_id"] is None and got["forwarded_at"] is None

    # Forward to SXD at 16:00 local.
    t_forward = clock.set(MONDAY_9 + timedelta(hours=7))
    out = workflow.forward(code, 2, v["operator"], "SXD", note="Đề nghị xử lý sớm", db=db)
    assert (out.status, out.version) == ("forwarded", 3)
    got = report(db, code)
    assert (got["status"], got["version"], got["agency_id"]) == ("forwarded", 3, sxd)
    assert got["forwarded_at"] == t_forward and got["first_forwarded_at"] == t_forward
    assert got["classified_at"] == t_classify  # not moved by the forwarding
    # Agency: 3 working days from Monday 16:00 = Mon 1 h + Wed 7.5 + Thu 7.5 + Fri 6.5 h -> Friday 16:00 local.
    agency_deadline = datetime(2026, 11, 27, 9, 0)
    assert agency_deadline == default_calendar().deadline(t_forward, days=float(policy["agency_limit"]))
    assert agency_deadline == casework.utc(ref.add_days(casework.local(t_forward), days=policy["agency_limit"]))
    assert got["agency_deadline_at"] == agency_deadline and got["deadline_at"] == agency_deadline
    assert got["ioc_deadline_at"] == ioc_deadline
    # IOC stage: Monday 09:00–11:30 and 13:30–16:00 = 5 h of a 7.5 h day.
    assert got["ioc_work_days"] == pytest.approx(5 / 7.5, abs=1e-6)
    assert got["ioc_work_days"] == pytest.approx(
        ref.working_days_between(casework.local(MONDAY_9), casework.local(t_forward)), abs=1e-6)

    # Accept at 08:00 local on Wednesday.
    t_accept = clock.set(datetime(2026, 11, 25, 1, 0))
    assert workflow.accept(code, 3, v["agency_a"], db=db).status == "in_progress"
    got = report(db, code)
    assert (got["status"], got["version"], got["first_response_at"], got["updated_at"]) == (
        "in_progress", 4, t_accept, t_accept)

    # Resolve at 10:00 local on Wednesday.
    t_resolve = clock.set(datetime(2026, 11, 25, 3, 0))
    out = workflow.resolve(code, 4, v["agency_a"], "  " + REPLY + "  ", db=db)
    assert (out.status, out.version) == ("resolved", 5)
    got = report(db, code)
    assert (got["status"], got["version"], got["resolved_at"], got["reply"]) == ("resolved", 5, t_resolve, REPLY)
    assert got["first_response_at"] == t_accept  # the first response stays the acceptance
    assert got["deadline_at"] == agency_deadline and got["resolved_at"] <= got["agency_deadline_at"]
    # Agency stage: Mon 1 h + Wed 07:30–10:00 2.5 h = 3.5 h.
    assert got["agency_work_days"] == pytest.approx(3.5 / 7.5, abs=1e-6)
    assert got["agency_work_days"] == pytest.approx(
        ref.working_days_between(casework.local(t_forward), casework.local(t_resolve)), abs=1e-6)

    events = events_of(db, row["id"])
    assert [(e["from_status"], e["to_status"], e["agency_id"], e["at"]) for e in events] == [
        ("received", "classified", None, t_classify),
        ("classified", "forwarded", sxd, t_forward),
        ("forwarded", "in_progress", sxd, t_accept),
        ("in_progress", "resolved", sxd, t_resolve),
    ]
    assert [(e["actor"], e["actor_user_id"]) for e in events] == [
        ("Cán bộ operator", v["operator"].user_id), ("Cán bộ operator", v["operator"].user_id),
        ("Cán bộ agency_a", v["agency_a"].user_id), ("Cán bộ agency_a", v["agency_a"].user_id)]
    assert "Đề nghị xử lý sớm" in events[1]["note"] and events[3]["note"] == REPLY

    rows = audit_since(db, first_audit)
    assert [(a["action"], a["target"], a["username"], a["role"], a["user_id"], a["at"], a["ip"]) for a in rows] == [
        ("report.classify", code, "operator", "operator", v["operator"].user_id, t_classify, "10.0.0.1"),
        ("report.forward", code, "operator", "operator", v["operator"].user_id, t_forward, "10.0.0.1"),
        ("report.accept", code, "agency_a", "agency", v["agency_a"].user_id, t_accept, "10.0.0.1"),
        ("report.resolve", code, "agency_a", "agency", v["agency_a"].user_id, t_resolve, "10.0.0.1"),
    ]


def test_urgent_classification_counts_working_hours_under_the_old_version(env, clock):
    """A report that arrived before the new MT version keeps the old one; urgent limits are working hours."""
    db, v = env.db, env.v
    arrived = datetime(2026, 11, 20, 9, 0)  # Friday 16:00 local, before NEW_POLICY_FROM
    row = insert_report(db, category="MT", created_at=arrived)
    clock.set(MONDAY_9)
    workflow.classify(row["code"], 1, v["operator"], "MT", True, db=db)
    got = report(db, row["code"])
    policy = casework.policy_in_force(db, "MT", True, arrived)
    assert policy["id"] != env.policy_id and policy["unit"] == "hours"
    assert got["sla_policy_id"] == policy["id"] and got["urgent"] == 1
    # 2 working hours from Friday 16:00 local: Friday 1 h, then Monday 07:30 + 1 h = Monday 08:30 local.
    assert policy["ioc_limit"] == 2
    assert got["ioc_deadline_at"] == datetime(2026, 11, 23, 1, 30) == got["deadline_at"]
    assert got["ioc_deadline_at"] == default_calendar().deadline(arrived, hours=2)


def test_reject_and_mark_duplicate_close_the_report(env, clock):
    db, v = env.db, env.v
    original = insert_report(db)
    copy = insert_report(db)
    other = insert_report(db)
    out = workflow.mark_duplicate(copy["code"], 1, v["operator"], " " + original["code"] + " ", db=db)
    assert (out.status, out.version) == ("rejected", 2)
    got = report(db, copy["code"])
    assert (got["close_reason"], got["duplicate_of_id"], got["rejected_at"]) == ("duplicate", original["id"],
                                                                                clock.now)
    assert events_of(db, copy["id"])[-1]["note"] == f"Trùng với {original['code']}"
    workflow.reject(other["code"], 1, v["admin"], "not_in_province", note="Địa chỉ ở tỉnh khác", db=db)
    got = report(db, other["code"])
    assert (got["status"], got["close_reason"], got["rejected_at"], got["duplicate_of_id"]) == (
        "rejected", "not_in_province", clock.now, None)
    note = events_of(db, other["id"])[-1]["note"]
    assert "Không thuộc địa bàn tỉnh" in note and "Địa chỉ ở tỉnh khác" in note
    assert report(db, original["code"])["version"] == 1  # the original is not touched


# --- the transition matrix -----------------------------------------------------------------------------

# Written by hand from the module docstring of queries/workflow.py: the statuses each action may start from.
ALLOWED_FROM = {
    "classify": {"received", "classified"},  # a classified report may be re-classified
    "forward": {"received", "classified"},
    "reject": {"received", "classified"},
    "mark_duplicate": {"received", "classified"},
    "accept": {"forwarded"},
    "resolve": {"forwarded", "in_progress"},
    "return": {"forwarded", "in_progress"},
}
LEADS_TO = {"classify": "classified", "forward": "forwarded", "reject": "rejected", "mark_duplicate": "rejected",
            "accept": "in_progress", "resolve": "resolved", "return": "classified"}
STATUSES = ("received", "classified", "forwarded", "in_progress", "resolved", "rejected")
IOC_ACTIONS = {"classify", "forward", "reject", "mark_duplicate"}
AGENCY_ACTIONS = {"accept", "resolve", "return"}
CELLS = [pytest.param(a, s) for a in ALLOWED_FROM for s in STATUSES]


def test_the_hand_written_table_is_the_docstrings():
    """Read the arrows drawn in the docstring and compare them with ALLOWED_FROM / LEADS_TO."""
    drawn: dict[str, set] = {}
    for line in workflow.__doc__.splitlines():
        match = re.match(r"^\s+(\S+) ──(.+?)──▶ (\w+)", line)
        if match:
            for action in match.group(2).split("/"):
                drawn.setdefault(action.strip(), set()).update(match.group(1).split("/"))
                assert LEADS_TO[action.strip()] == match.group(3), line
    assert drawn == ALLOWED_FROM


@pytest.mark.parametrize("action,status", CELLS)
def test_each_action_in_each_status(env, clock, action, status):
    """The report always belongs to the acting agency, so only the status can stand in the way."""
    db = env.db
    original = insert_report(db)
    row = insert_report(db, status=status, agency="SXD")
    before = snapshot(db, row["code"])
    if status not in ALLOWED_FROM[action]:
        with pytest.raises(WorkflowError) as err:
            act(env, action, row, of=original["code"])
        assert type(err.value) is WorkflowError
        assert str(err.value) == (f"Không thể thực hiện: phản ánh {row['code']} đang ở trạng thái "
                                  f"'{STATUS_WORDS[status]}'.")
        assert_nothing_written(env, before, row["code"])
        return
    out = act(env, action, row, of=original["code"])
    got = report(db, row["code"])
    assert (out.status, got["status"], out.version, got["version"]) == (LEADS_TO[action], LEADS_TO[action], 2, 2)
    assert [(e["from_status"], e["to_status"]) for e in events_of(db, row["id"])] == [(status, LEADS_TO[action])]
    assert [(a["action"], a["target"]) for a in audit_since(db, before["audit"])] == [(f"report.{action}",
                                                                                       row["code"])]


# How each status is named to the user in a refusal (written by hand).
STATUS_WORDS = {"received": "mới tiếp nhận", "classified": "đã phân loại", "forwarded": "đã chuyển đơn vị",
                "in_progress": "đang xử lý", "resolved": "đã xử lý xong", "rejected": "đã từ chối"}
OFFERED = [pytest.param(role, status) for role in ("admin", "operator", "leader", "agency_a") for status in STATUSES]


@pytest.mark.parametrize("role,status", OFFERED)
def test_actions_offered_match_the_table(env, role, status):
    viewer = env.v[role]
    may = IOC_ACTIONS if viewer.role in ("admin", "operator") else AGENCY_ACTIONS if viewer.role == "agency" else set()
    want = {action for action in may if status in ALLOWED_FROM[action]}
    assert set(workflow.actions_for(viewer, status)) == want


# --- optimistic locking --------------------------------------------------------------------------------

def test_the_second_of_two_viewers_with_the_same_version_is_refused(env, clock):
    db, v = env.db, env.v
    row = insert_report(db)
    loaded = row["version"]
    first = workflow.classify(row["code"], loaded, v["operator"], "MT", False, db=db)
    assert first.version == loaded + 1
    before = snapshot(db, row["code"])
    with pytest.raises(StaleReport) as err:
        workflow.forward(row["code"], loaded, v["operator2"], "CAT", db=db)
    assert "tải lại" in str(err.value) and row["code"] in str(err.value)
    assert_nothing_written(env, before, row["code"])
    # The same action with the version the first one left goes through.
    assert workflow.forward(row["code"], first.version, v["operator2"], "CAT", db=db).version == loaded + 2


def _race(env, row: dict, interleave: bool) -> list:
    """Two threads forward the same report from the same loaded version (one to SXD, one to CAT). With
    `interleave`, each waits before its UPDATE until the other has loaded the row too, so both pass the
    version check on read and only the UPDATE ... WHERE version = v can tell them apart."""
    db, v = env.db, env.v
    start = threading.Barrier(2, timeout=60)
    before_update = threading.Barrier(2, timeout=60)
    racers: set[int] = set()
    results: list = [None, None]
    updates: list[int] = []

    def hold(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() in racers and statement.lstrip().upper().startswith("UPDATE REPORTS"):
            updates.append(threading.get_ident())
            before_update.wait()

    def run(i: int, viewer, agency: str):
        racers.add(threading.get_ident())
        start.wait()
        try:
            results[i] = workflow.forward(row["code"], row["version"], viewer, agency, db=db)
        except Exception as err:  # the outcome is what the test inspects
            results[i] = err

    if interleave:
        event.listen(db.engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=run, args=(0, v["operator"], "SXD")),
                   threading.Thread(target=run, args=(1, v["operator2"], "CAT"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if interleave:
            event.remove(db.engine, "before_cursor_execute", hold)
    if interleave:
        assert len(set(updates)) == 2, "both threads must have reached their UPDATE"
    return results


@pytest.mark.parametrize("interleave", [False, True], ids=["free", "both-loaded"])
def test_two_threads_racing_forward_exactly_one_wins(env, clock, interleave):
    db = env.db
    rounds = 5 if not interleave else 2
    for _ in range(rounds):
        row = insert_report(db, status="classified")
        audit_before = last_audit_id(db)
        results = _race(env, row, interleave)
        winners = [r for r in results if isinstance(r, workflow.Outcome)]
        losers = [r for r in results if not isinstance(r, workflow.Outcome)]
        assert len(winners) == 1, results
        assert len(losers) == 1 and isinstance(losers[0], StaleReport), results
        winner_agency = "SXD" if isinstance(results[0], workflow.Outcome) else "CAT"
        got = report(db, row["code"])
        assert (got["status"], got["version"], got["agency_id"]) == ("forwarded", 2, ids(db, agencies)[winner_agency])
        events = events_of(db, row["id"])
        assert [(e["to_status"], e["agency_id"]) for e in events] == [("forwarded", got["agency_id"])]
        assert [a["action"] for a in audit_since(db, audit_before) if a["target"] == row["code"]] == [
            "report.forward"]


# --- refused input ---------------------------------------------------------------------------------------

def _dup_of_dup(env, row):
    original = insert_report(env.db)
    dup = insert_report(env.db, status="rejected", close_reason="duplicate", duplicate_of_id=original["id"])
    return workflow.mark_duplicate(row["code"], 1, env.v["operator"], dup["code"], db=env.db)


BAD_INPUT = {
    # name: (status of the report, the call, a phrase the message must contain)
    "empty reply": ("in_progress", lambda e, r: workflow.resolve(r["code"], 1, e.v["agency_a"], "", db=e.db),
                    "không được để trống"),
    "whitespace-only reply": ("in_progress",
                              lambda e, r: workflow.resolve(r["code"], 1, e.v["agency_a"], " \n\t  ", db=e.db),
                              "không được để trống"),
    "too short reply": ("in_progress", lambda e, r: workflow.resolve(r["code"], 1, e.v["agency_a"], "Đã xong",
                                                                     db=e.db), "quá ngắn"),
    "too long reply": ("forwarded", lambda e, r: workflow.resolve(r["code"], 1, e.v["agency_a"], "x" * 5001,
                                                                  db=e.db), "quá dài"),
    "unknown agency": ("received", lambda e, r: workflow.forward(r["code"], 1, e.v["operator"], "KHONGCO", db=e.db),
                       "KHONGCO"),
    "inactive agency": ("classified", lambda e, r: workflow.forward(r["code"], 1, e.v["operator"], "NGUNG",
                                                                    db=e.db), "NGUNG"),
    "no agency": ("received", lambda e, r: workflow.forward(r["code"], 1, e.v["operator"], "", db=e.db),
                  "Hãy chọn đơn vị"),
    "too long forwarding note": ("received", lambda e, r: workflow.forward(r["code"], 1, e.v["operator"], "SXD",
                                                                           note="n" * 1001, db=e.db), "quá dài"),
    "unknown field": ("received", lambda e, r: workflow.classify(r["code"], 1, e.v["operator"], "ZZ", False,
                                                                 db=e.db), "ZZ"),
    "duplicate of itself": ("received", lambda e, r: workflow.mark_duplicate(r["code"], 1, e.v["operator"],
                                                                             r["code"], db=e.db), "chính nó"),
    "duplicate of an unknown code": ("classified", lambda e, r: workflow.mark_duplicate(
        r["code"], 1, e.v["operator"], "PA-0000-999999", db=e.db), "Không tìm thấy phản ánh PA-0000-999999"),
    "duplicate of a duplicate": ("received", _dup_of_dup, "cũng là phản ánh trùng"),
    "duplicate of nothing": ("received", lambda e, r: workflow.mark_duplicate(r["code"], 1, e.v["operator"], "  ",
                                                                              db=e.db), "phản ánh gốc"),
    "reject for an unknown reason": ("received", lambda e, r: workflow.reject(r["code"], 1, e.v["operator"],
                                                                              "khong_thich", db=e.db), "lý do"),
    "reject as duplicate without the original": ("received", lambda e, r: workflow.reject(
        r["code"], 1, e.v["operator"], "duplicate", db=e.db), "lý do"),
    "too short return reason": ("forwarded", lambda e, r: workflow.return_to_ioc(r["code"], 1, e.v["agency_a"],
                                                                                 "sai", db=e.db), "quá ngắn"),
    "empty return reason": ("in_progress", lambda e, r: workflow.return_to_ioc(r["code"], 1, e.v["agency_a"], None,
                                                                               db=e.db), "không được để trống"),
    "missing version": ("received", lambda e, r: workflow.classify(r["code"], None, e.v["operator"], "MT", False,
                                                                   db=e.db), "phiên bản"),
    "empty version": ("received", lambda e, r: workflow.forward(r["code"], "", e.v["operator"], "SXD", db=e.db),
                      "phiên bản"),
    "text version": ("forwarded", lambda e, r: workflow.accept(r["code"], "abc", e.v["agency_a"], db=e.db),
                     "phiên bản"),
    "decimal text version": ("received", lambda e, r: workflow.reject(r["code"], "1.5", e.v["operator"], "untrue",
                                                                      db=e.db), "phiên bản"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_and_nothing_is_written(env, clock, case):
    status, call, phrase = BAD_INPUT[case]
    row = insert_report(env.db, status=status, agency="SXD" if status in ("forwarded", "in_progress") else None)
    before = snapshot(env.db, row["code"])
    with pytest.raises(WorkflowError) as err:
        call(env, row)
    message = str(err.value)
    assert phrase in message, message
    assert VIETNAMESE.search(message), message
    assert not isinstance(err.value, AccessDenied)
    assert_nothing_written(env, before, row["code"])


def test_a_non_integer_number_version_is_refused(env, clock):
    row = insert_report(env.db)
    before = snapshot(env.db, row["code"])
    with pytest.raises(WorkflowError):
        workflow.classify(row["code"], 1.5, env.v["operator"], "MT", False, db=env.db)
    assert_nothing_written(env, before, row["code"])


# --- rights and scope --------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", sorted(AGENCY_ACTIONS))
def test_another_agency_gets_not_found_like_an_unknown_code(env, clock, action):
    db, v = env.db, env.v
    row = insert_report(db, status="forwarded", agency="SXD")
    before = snapshot(db, row["code"])
    with pytest.raises(WorkflowError) as out_of_scope:
        act(env, action, row, viewer=v["agency_b"])
    unknown = dict(row, code="TW-KHONG-CO")
    with pytest.raises(WorkflowError) as not_there:
        act(env, action, unknown, viewer=v["agency_b"])
    assert type(out_of_scope.value) is type(not_there.value) is WorkflowError
    assert str(out_of_scope.value) == f"Không tìm thấy phản ánh {row['code']}."
    assert str(out_of_scope.value).replace(row["code"], "<mã>") == str(not_there.value).replace("TW-KHONG-CO", "<mã>")
    # A stale version does not tell it apart either.
    with pytest.raises(WorkflowError) as stale_probe:
        act(env, action, row, viewer=v["agency_b"], version=7)
    assert str(stale_probe.value) == str(out_of_scope.value)
    assert_nothing_written(env, before, row["code"])
    # The agency it was forwarded to can.
    assert act(env, action, row, viewer=v["agency_a"]).version == 2


WRONG_ROLE = [("operator", a) for a in sorted(AGENCY_ACTIONS)] + [("admin", a) for a in sorted(AGENCY_ACTIONS)] \
    + [("agency_a", a) for a in sorted(IOC_ACTIONS)] + [("leader", a) for a in sorted(ALLOWED_FROM)]


@pytest.mark.parametrize("who,action", WRONG_ROLE)
def test_roles_outside_the_table_are_refused(env, clock, who, action):
    db = env.db
    original = insert_report(db)
    status = "forwarded" if action in AGENCY_ACTIONS else "received"
    row = insert_report(db, status=status, agency="SXD")  # in the agency's scope: only the role is wrong
    before = snapshot(db, row["code"])
    with pytest.raises(AccessDenied) as err:
        act(env, action, row, viewer=env.v[who], of=original["code"])
    assert VIETNAMESE.search(str(err.value))
    assert_nothing_written(env, before, row["code"])


# --- return to the IOC: a bounce-back -------------------------------------------------------------------------

def _agency_row(metrics: pd.DataFrame, code: str) -> dict:
    found = metrics[metrics["key"] == code]
    return found.iloc[0].to_dict() if len(found) else {"forwardings": 0, "bounce_backs": 0}


def test_return_to_ioc_is_a_bounce_back_and_goes_back_to_the_queue(env, clock):
    db, v = env.db, env.v
    ref = ref_calendar()
    row = insert_report(db, category="MT", created_at=MONDAY_9)
    code = row["code"]
    before = sla.sla_metrics(Filter(), by="agency", db=db)
    t_forward = clock.set(MONDAY_9 + timedelta(hours=2))
    workflow.forward(code, 1, v["operator"], "SXD", category_code="MT", urgent=False, db=db)
    forwarded = report(db, code)
    assert forwarded["ioc_work_days"] == pytest.approx(2 / 7.5, abs=1e-6)

    # Returned on Wednesday at 14:00 local.
    t_return = clock.set(datetime(2026, 11, 25, 7, 0))
    out = workflow.return_to_ioc(code, 2, v["agency_a"], RETURN_REASON, db=db)
    assert (out.status, out.version) == ("classified", 3)
    got = report(db, code)
    assert got["agency_id"] is None and got["forwarded_at"] is None and got["agency_deadline_at"] is None
    # The IOC stage ended at the first forwarding; the new IOC deadline runs from the return (2 working days:
    # Wed 3 h + Thu 7.5 h + Fri 4.5 h -> Friday 13:30 + 0.5 h = 14:00 local).
    assert got["first_forwarded_at"] == t_forward and got["ioc_work_days"] == forwarded["ioc_work_days"]
    assert got["deadline_at"] == datetime(2026, 11, 27, 7, 0)
    assert got["deadline_at"] == casework.utc(ref.add_days(casework.local(t_return), days=2))
    last = events_of(db, row["id"])[-1]
    assert (last["from_status"], last["to_status"], last["agency_id"], last["at"]) == (
        "forwarded", "classified", ids(db, agencies)["SXD"], t_return)
    assert RETURN_REASON in last["note"]

    after = sla.sla_metrics(Filter(), by="agency", db=db)
    sxd_before, sxd_after = _agency_row(before, "SXD"), _agency_row(after, "SXD")
    assert sxd_after["bounce_backs"] == sxd_before["bounce_backs"] + 1
    assert sxd_after["forwardings"] == sxd_before["forwardings"] + 1
    assert _agency_row(after, "CAT")["bounce_backs"] == _agency_row(before, "CAT")["bounce_backs"]

    queue, total = cases.triage_queue(v["operator"], limit=100_000, db=db)
    assert total == len(queue)
    mine = queue[queue["code"] == code]
    assert len(mine) == 1 and bool(mine.iloc[0]["returned"]) and mine.iloc[0]["status"] == "classified"

    # Forwarded again to CAT: the IOC stage keeps its first end, the agency stage starts again.
    t_again = clock.set(datetime(2026, 11, 25, 8, 0))
    workflow.forward(code, 3, v["operator"], "CAT", db=db)
    got = report(db, code)
    assert got["first_forwarded_at"] == t_forward and got["forwarded_at"] == t_again
    assert got["ioc_work_days"] == forwarded["ioc_work_days"]
    assert got["agency_deadline_at"] == casework.utc(ref.add_days(casework.local(t_again), days=3))
    assert code not in set(cases.triage_queue(v["operator"], limit=100_000, db=db)[0]["code"])


# --- proof photos ----------------------------------------------------------------------------------------

def png_bytes() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def files_under(path) -> list:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_resolve_with_a_proof_photo(env, clock, tmp_path, set_settings):
    set_settings(media_dir=tmp_path)
    db = env.db
    row = insert_report(db, status="in_progress", agency="SXD")
    photo = png_bytes()
    workflow.resolve(row["code"], 1, env.v["agency_a"], REPLY, proof=photo, db=db)
    rows = casework.media_of(db, row["id"])
    assert len(rows) == 1
    m = rows[0]
    assert (m["role"], m["kind"], m["created_at"]) == ("proof", "photo", clock.now)
    assert m["path"].startswith(f"proof/{row['code']}-") and m["path"].endswith(".png")
    assert files_under(tmp_path) == [tmp_path / m["path"]]
    assert (tmp_path / m["path"]).read_bytes() == photo
    assert report(db, row["code"])["status"] == "resolved"


@pytest.mark.parametrize("data", [b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", b"%PDF-1.4 hello",
                                  b"RIFF\x24\x00\x00\x00AVI LIST", b"<svg xmlns='http://www.w3.org/2000/svg'/>"],
                         ids=["gif", "pdf", "riff-avi", "svg"])
def test_a_non_image_proof_is_refused_without_a_trace(env, clock, tmp_path, set_settings, data):
    set_settings(media_dir=tmp_path)
    row = insert_report(env.db, status="in_progress", agency="SXD")
    before = snapshot(env.db, row["code"])
    with pytest.raises(WorkflowError) as err:
        workflow.resolve(row["code"], 1, env.v["agency_a"], REPLY, proof=data, db=env.db)
    assert "JPEG, PNG hoặc WebP" in str(err.value)
    assert files_under(tmp_path) == []
    assert_nothing_written(env, before, row["code"])


def test_a_proof_is_not_left_behind_when_the_resolve_fails(env, clock, tmp_path, set_settings):
    set_settings(media_dir=tmp_path)
    row = insert_report(env.db, status="in_progress", agency="SXD")
    before = snapshot(env.db, row["code"])
    with pytest.raises(StaleReport):
        workflow.resolve(row["code"], 9, env.v["agency_a"], REPLY, proof=png_bytes(), db=env.db)
    assert files_under(tmp_path) == []
    # A failure after the file was written (the event's actor is not a user: a foreign-key violation) rolls the
    # transaction back, and the file goes with it.
    ghost = Viewer(user_id=987654, username="ghost", role="agency", agency_code="SXD")
    with pytest.raises(IntegrityError):
        workflow.resolve(row["code"], 1, ghost, REPLY, proof=png_bytes(), db=env.db)
    assert files_under(tmp_path) == []
    assert_nothing_written(env, before, row["code"])


# --- the database a caller passes ----------------------------------------------------------------------------

def test_classify_uses_the_policies_of_the_database_it_is_given(env, clock, tmp_path, monkeypatch):
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    upgrade(other)
    load_reference_data(other)  # the default policies only: no new MT version
    monkeypatch.setattr(qdb, "_current", other)
    try:
        row = insert_report(env.db, category="MT", created_at=MONDAY_9)
        workflow.classify(row["code"], 1, env.v["operator"], "MT", False, db=env.db)
        got = report(env.db, row["code"])
        assert got["sla_policy_id"] == env.policy_id
        assert got["ioc_deadline_at"] == datetime(2026, 11, 26, 2, 0)
    finally:
        other.dispose()


def test_a_report_moved_to_a_field_without_a_policy_keeps_no_other_fields_policy(env, clock):
    db, v = env.db, env.v
    with db.begin() as conn:
        conn.execute(insert(categories).values(code="CAYXANH", name="Cây xanh đô thị", short_name="Cây xanh",
                                               default_handling_days=5, color="#22aa44", sort_order=99))
    row = insert_report(db, category="MT", created_at=MONDAY_9)
    workflow.classify(row["code"], 1, v["operator"], "MT", False, db=db)
    assert report(db, row["code"])["sla_policy_id"] == env.policy_id
    clock.set(MONDAY_9 + timedelta(hours=2))
    workflow.forward(row["code"], 2, v["operator"], "SXD", category_code="CAYXANH", db=db)
    got = report(db, row["code"])
    assert got["category_id"] == ids(db, categories)["CAYXANH"]
    policies = {p["id"]: p for p in casework.policy_rows(db)}
    # Whatever policy the report carries must be one of its own field; with none, there is no agency deadline.
    assert got["sla_policy_id"] is None or policies[got["sla_policy_id"]]["category_code"] == "CAYXANH"
    assert got["agency_deadline_at"] is None


# --- the KPIs after a day of actions --------------------------------------------------------------------------

def test_kpis_after_a_day_of_actions_match_pandas(env, clock):
    db, v = env.db, env.v
    day = datetime(2026, 11, 27, 0, 30)  # Friday 27/11/2026, 07:30 local
    steps = iter(range(1, 1000))

    def tick():
        return clock.set(day + timedelta(minutes=13 * next(steps)))

    tick()
    new = [insert_report(db, category=c, created_at=day + timedelta(minutes=i), lat=16.7 + i / 1000)
           for i, c in enumerate(["MT", "GT", "XD", "MT", "AN", "DV", "HC", "MT"])]
    done = 0
    # Three through the whole path within the day.
    for row in new[:3]:
        tick()
        workflow.classify(row["code"], 1, v["operator"], None, False, db=db)
        tick()
        workflow.forward(row["code"], 2, v["operator"], "SXD", db=db)
        tick()
        workflow.accept(row["code"], 3, v["agency_a"], db=db)
        tick()
        workflow.resolve(row["code"], 4, v["agency_a"], REPLY, db=db)
        done += 4
    tick()
    workflow.forward(new[3]["code"], 1, v["operator2"], "CAT", urgent=True, db=db)
    tick()
    workflow.reject(new[4]["code"], 1, v["operator"], "untrue", db=db)
    tick()
    workflow.mark_duplicate(new[5]["code"], 1, v["operator"], new[0]["code"], db=db)
    tick()
    workflow.forward(new[6]["code"], 1, v["admin"], "SXD", db=db)
    tick()
    workflow.return_to_ioc(new[6]["code"], 2, v["agency_a"], RETURN_REASON, db=db)
    done += 5
    # Older open reports of the seeded province: SXD takes up and resolves what was waiting for it.
    with db.engine.connect() as conn:
        waiting = conn.execute(reports.select().where(reports.c.status.in_(("forwarded", "in_progress")),
                                                      reports.c.agency_id == ids(db, agencies)["SXD"])
                               .order_by(reports.c.id)).mappings().all()
    assert waiting, "the seeded province must have open reports at SXD"
    for old in waiting:
        version = old["version"]
        if old["status"] == "forwarded":
            tick()
            version = workflow.accept(old["code"], version, v["agency_a"], db=db).version
            done += 1
        tick()
        workflow.resolve(old["code"], version, v["agency_a"], REPLY, db=db)
        done += 1
    with db.engine.connect() as conn:
        today = conn.execute(report_events.select().where(report_events.c.at > day, report_events.c.at <= clock.now)
                             ).all()
    assert len(today) == done

    now = clock.now + timedelta(hours=1)
    raw = read_raw(db)
    got = overview.headline_counts(Filter(), db, now=now).iloc[0]
    want = independent.headline(raw, Filter(), now)
    for key, value in want.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9), key
    for by in ("agency", "category", None):
        assert_metrics_equal(sla.sla_metrics(Filter(), by, db, now), expected_metrics(raw, Filter(), by, now),
                             check_names=by is not None)
    # The day shows in the numbers: the returned report is a bounce-back of SXD, and nothing is left forwarded to
    # or in progress at SXD.
    assert expected_metrics(raw, Filter(), "agency", now).loc["SXD", "bounce_backs"] >= 1
    rep = raw["reports"]
    assert not (rep["status"].isin(["forwarded", "in_progress"]) & (rep["agency_id"] == ids(db, agencies)["SXD"])).any()


