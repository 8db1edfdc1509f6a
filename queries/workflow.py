"""The handling workflow: every change to a report, as one transaction that checks the caller's rights and
the transition, updates the report (optimistic locking on `version`), and writes a report event and an
audit row.

States and who moves a report between them:

    received/classified ──classify──▶ classified (IOC: operator, admin; a classified report may be re-classified)
    received/classified ──forward──▶ forwarded   (IOC)
    received/classified ──reject / mark_duplicate──▶ rejected   (IOC)
    forwarded ──accept──▶ in_progress            (the agency it was forwarded to)
    forwarded/in_progress ──resolve──▶ resolved  (that agency; a reply is required)
    forwarded/in_progress ──return──▶ classified (that agency: not its competence; a bounce-back)

Anything else is refused. Each action takes the `version` the caller last saw; if the report changed
since, the action is refused with StaleReport and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from queries import audit, deadlines, media, policies
from queries.access import IOC_ROLES, AccessDenied, StaleReport, Viewer, WorkflowError, require
from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import CLOSE_REASONS, agencies, categories, report_events, reports, sla_policies
from queries.schema import media as media_table
from queries.workcalendar import default_calendar

r = reports.c
REPLY_MIN, REPLY_MAX = 10, 5000
REASON_MIN, NOTE_MAX = 5, 1000
NOT_FOUND = "Không tìm thấy phản ánh {code}."


@dataclass(frozen=True)
class Action:
    name: str
    allowed_from: tuple[str, ...]
    to_status: str
    roles: tuple[str, ...]


ACTIONS = {a.name: a for a in (
    Action("classify", ("received", "classified"), "classified", IOC_ROLES),
    Action("forward", ("received", "classified"), "forwarded", IOC_ROLES),
    Action("reject", ("received", "classified"), "rejected", IOC_ROLES),
    Action("mark_duplicate", ("received", "classified"), "rejected", IOC_ROLES),
    Action("accept", ("forwarded",), "in_progress", ("agency",)),
    Action("resolve", ("forwarded", "in_progress"), "resolved", ("agency",)),
    Action("return", ("forwarded", "in_progress"), "classified", ("agency",)),
)}
STATUS_WORDS = {"received": "mới tiếp nhận", "classified": "đã phân loại", "forwarded": "đã chuyển đơn vị",
                "in_progress": "đang xử lý", "resolved": "đã xử lý xong", "rejected": "đã từ chối"}


@dataclass(frozen=True)
class Outcome:
    code: str
    status: str
    version: int


def actions_for(viewer: Viewer, status: str) -> list[str]:
    """The actions this viewer may take on a report in `status` (scope is checked when acting)."""
    return [a.name for a in ACTIONS.values() if viewer.role in a.roles and status in a.allowed_from]


def _load(conn: Connection, code: str, viewer: Viewer) -> dict:
    row = conn.execute(
        select(reports, agencies.c.code.label("agency_code"), categories.c.code.label("category_code"))
        .select_from(reports.outerjoin(agencies, agencies.c.id == r.agency_id)
                     .outerjoin(categories, categories.c.id == r.category_id))
        .where(r.code == (code or "").strip())).mappings().first()
    # Out of scope reads exactly like unknown: an agency cannot probe for other agencies' codes.
    if row is None or (viewer.scope is not None and row["agency_code"] != viewer.scope):
        raise WorkflowError(NOT_FOUND.format(code=code))
    return dict(row)


def _clean(text: str | None, what: str, minimum: int = 0, maximum: int = NOTE_MAX) -> str:
    value = (text or "").strip()
    if len(value) < minimum:
        raise WorkflowError(f"{what} không được để trống." if not value else
                            f"{what} quá ngắn: cần ít nhất {minimum} ký tự.")
    if len(value) > maximum:
        raise WorkflowError(f"{what} quá dài: tối đa {maximum} ký tự.")
    return value


def _transition(code: str, version, viewer: Viewer, action: str,
                change: Callable[[Connection, dict, datetime], tuple[dict, str, int | None]],
                db: Database | None = None, extra_events: Callable | None = None) -> Outcome:
    """Run one action. `change(conn, row, now)` validates its inputs and returns (column values, event
    note, event agency id); it may raise WorkflowError, and then nothing is written."""
    spec = ACTIONS[action]
    require(viewer.role in spec.roles)
    version = _version(version)
    with get_db(db).begin() as conn:
        row = _load(conn, code, viewer)
        if row["version"] != version:
            raise StaleReport(f"Phản ánh {row['code']} vừa được người khác thay đổi. Hãy tải lại để xem bản mới "
                              "nhất; thao tác của bạn chưa được lưu.")
        if row["status"] not in spec.allowed_from:
            raise WorkflowError(f"Không thể thực hiện: phản ánh {row['code']} đang ở trạng thái "
                                f"'{STATUS_WORDS[row['status']]}'.")
        if action in ("accept", "resolve", "return") and row["agency_code"] != viewer.agency_code:
            raise AccessDenied("Phản ánh này không được chuyển cho đơn vị của bạn.")
        now = utc_now()
        values, note, event_agency = change(conn, row, now)
        values |= {"status": spec.to_status, "updated_at": now, "version": version + 1}
        done = conn.execute(update(reports).where(r.id == row["id"], r.version == version).values(**values))
        if done.rowcount != 1:
            raise StaleReport(f"Phản ánh {row['code']} vừa được người khác thay đổi. Hãy tải lại.")
        if extra_events:
            extra_events(conn, row, now)
        conn.execute(insert(report_events).values(
            report_id=row["id"], at=now, actor_user_id=viewer.user_id, actor=viewer.name[:200],
            from_status=row["status"], to_status=spec.to_status, agency_id=event_agency, note=note))
        audit.record(conn, viewer, f"report.{action}", row["code"], note)
    return Outcome(code=row["code"], status=spec.to_status, version=version + 1)


# --- IOC ----------------------------------------------------------------------------------------------

def _version(value) -> int:
    """The version the form was loaded with: a whole number, or the form is stale."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise StaleReport("Biểu mẫu thiếu phiên bản hợp lệ của phản ánh; hãy tải lại trang.")


def _classification(conn: Connection, row: dict, category_code: str | None, urgent,
                    db: Database | None) -> tuple[dict, str]:
    """Column values for a field and urgency: the SLA policy in force on arrival and the IOC deadline
    (none when the field has no policy)."""
    category_code = (category_code or row["category_code"] or "").strip()
    if not category_code:
        raise WorkflowError("Hãy chọn lĩnh vực cho phản ánh.")
    category = conn.execute(select(categories.c.id, categories.c.short_name)
                            .where(categories.c.code == category_code)).first()
    if category is None:
        raise WorkflowError(f"Không có lĩnh vực mã '{category_code}'.")
    urgent = bool(row["urgent"]) if urgent is None else bool(urgent)
    policy = policies.policy_at(category_code, urgent, row["created_at"], db)
    ioc_deadline = deadlines.stage_deadline(policy, "ioc", row["created_at"]) if policy is not None else None
    values = {"category_id": category.id, "urgent": int(urgent),
              "sla_policy_id": int(policy["id"]) if policy is not None else None, "ioc_deadline_at": ioc_deadline}
    if row["first_forwarded_at"] is None:  # a returned report keeps its re-forwarding deadline
        values["deadline_at"] = ioc_deadline
    return values, f"Lĩnh vực: {category.short_name}; {'khẩn' if urgent else 'thường'}"


def classify(code: str, version, viewer: Viewer, category_code: str, urgent: bool,
             db: Database | None = None) -> Outcome:
    def change(conn, row, now):
        values, note = _classification(conn, row, category_code, urgent, db)
        return values | {"classified_at": row["classified_at"] or now}, note, None
    return _transition(code, version, viewer, "classify", change, db)


def forward(code: str, version, viewer: Viewer, agency_code: str, note: str = "",
            category_code: str | None = None, urgent: bool | None = None, db: Database | None = None) -> Outcome:
    """Forward to an agency; a field and urgency given here are saved in the same transaction."""
    def change(conn, row, now):
        target = conn.execute(select(agencies.c.id, agencies.c.short_name, agencies.c.active)
                              .where(agencies.c.code == (agency_code or "").strip())).first()
        if target is None or not target.active:
            raise WorkflowError(f"Không có đơn vị đang hoạt động mã '{agency_code}'." if agency_code
                                else "Hãy chọn đơn vị xử lý.")
        values, classified_note = _classification(conn, row, category_code, urgent, db)
        values |= {"classified_at": row["classified_at"] or now, "agency_id": target.id, "forwarded_at": now}
        if row["first_forwarded_at"] is None:
            values["first_forwarded_at"] = now
            values["ioc_work_days"] = _work_days(row["created_at"], now)
        policy = _policy(conn, values["sla_policy_id"])
        agency_deadline = deadlines.stage_deadline(policy, "agency", now) if policy else None
        values |= {"agency_deadline_at": agency_deadline, "deadline_at": agency_deadline}
        text = f"Chuyển {target.short_name}. {classified_note}"
        extra = _clean(note, "Ghi chú")
        return values, f"{text}. {extra}" if extra else text, target.id
    return _transition(code, version, viewer, "forward", change, db)


def reject(code: str, version, viewer: Viewer, reason: str, note: str = "", db: Database | None = None) -> Outcome:
    def change(conn, row, now):
        if reason not in CLOSE_REASONS or reason == "duplicate":
            raise WorkflowError("Hãy chọn lý do từ chối trong danh sách.")
        extra = _clean(note, "Ghi chú")
        return ({"rejected_at": now, "close_reason": reason},
                f"Từ chối: {REASON_LABELS[reason]}" + (f". {extra}" if extra else ""), None)
    return _transition(code, version, viewer, "reject", change, db)


def mark_duplicate(code: str, version, viewer: Viewer, of_code: str, db: Database | None = None) -> Outcome:
    def change(conn, row, now):
        of_code_clean = (of_code or "").strip()
        if not of_code_clean:
            raise WorkflowError("Hãy chọn phản ánh gốc mà phản ánh này trùng với.")
        if of_code_clean == row["code"]:
            raise WorkflowError("Một phản ánh không thể trùng với chính nó.")
        original = conn.execute(select(r.id, r.code, r.duplicate_of_id).where(r.code == of_code_clean)).first()
        if original is None:
            raise WorkflowError(NOT_FOUND.format(code=of_code_clean))
        if original.duplicate_of_id is not None:
            raise WorkflowError(f"{original.code} cũng là phản ánh trùng; hãy chọn phản ánh gốc.")
        return ({"rejected_at": now, "close_reason": "duplicate", "duplicate_of_id": original.id},
                f"Trùng với {original.code}", None)
    return _transition(code, version, viewer, "mark_duplicate", change, db)


# --- agency -------------------------------------------------------------------------------------------

def accept(code: str, version, viewer: Viewer, note: str = "", db: Database | None = None) -> Outcome:
    def change(conn, row, now):
        extra = _clean(note, "Ghi chú")
        return {"first_response_at": row["first_response_at"] or now}, extra or "Tiếp nhận xử lý", row["agency_id"]
    return _transition(code, version, viewer, "accept", change, db)


def resolve(code: str, version, viewer: Viewer, reply: str, proof: bytes | None = None,
            db: Database | None = None) -> Outcome:
    """Resolve with a reply to the citizen and, optionally, a proof photo (JPEG, PNG or WebP bytes)."""
    reply = _clean(reply, "Nội dung trả lời", REPLY_MIN, REPLY_MAX)
    suffix = media.image_suffix(proof) if proof else None
    saved: list[str] = []

    def change(conn, row, now):
        return ({"resolved_at": now, "reply": reply, "first_response_at": row["first_response_at"] or now,
                 "agency_work_days": _work_days(row["forwarded_at"], now)}, reply, row["agency_id"])

    def attach(conn, row, now):
        if proof:
            saved.append(media.save_file("proof", row["code"], proof, suffix))
            conn.execute(insert(media_table).values(report_id=row["id"], kind="photo", path=saved[0], role="proof",
                                                    caption="Ảnh minh chứng kết quả xử lý", created_at=now))
    try:
        return _transition(code, version, viewer, "resolve", change, db, extra_events=attach)
    except Exception:
        for path in saved:  # the transaction rolled back: do not leave an orphan file behind
            media.remove_file(path)
        raise


def return_to_ioc(code: str, version, viewer: Viewer, reason: str, db: Database | None = None) -> Outcome:
    """Not this agency's competence: back to the IOC queue with a fresh IOC deadline for re-forwarding."""
    def change(conn, row, now):
        why = _clean(reason, "Lý do trả lại", REASON_MIN)
        policy = _policy(conn, row["sla_policy_id"])
        return ({"agency_id": None, "forwarded_at": None, "agency_deadline_at": None,
                 "deadline_at": deadlines.stage_deadline(policy, "ioc", now) if policy else None},
                f"Trả lại IOC (không thuộc thẩm quyền): {why}", row["agency_id"])
    return _transition(code, version, viewer, "return", change, db)


# --- helpers ------------------------------------------------------------------------------------------

REASON_LABELS = {
    "out_of_scope": "Không thuộc phạm vi phản ánh hiện trường",
    "duplicate": "Trùng với phản ánh đã tiếp nhận",
    "insufficient_info": "Thông tin không đủ để xác minh",
    "untrue": "Nội dung không đúng sự thật",
    "not_in_province": "Không thuộc địa bàn tỉnh",
}


def _work_days(start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    days = default_calendar().working_days_between(np.datetime64(start, "s"), np.datetime64(end, "s"))
    return None if np.isnan(days) else round(float(days), 6)


def _policy(conn: Connection, policy_id: int | None) -> dict | None:
    if policy_id is None:
        return None
    row = conn.execute(select(sla_policies).where(sla_policies.c.id == policy_id)).mappings().first()
    return dict(row) if row else None
