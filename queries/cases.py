"""Reads of single reports and short work lists: the triage queue, search, a report's detail with its
timeline and media, duplicate candidates, the routing suggestion, and phone reveals.

Every function takes the `Viewer` and applies its scope here: an agency head gets only reports currently
forwarded to their agency, and a report out of scope reads exactly like an unknown one. Phone numbers leave
this module masked; the full number only through `reveal_phone`, which writes an audit row.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import and_, false, func, literal_column, or_, select, table, text, union

from queries import audit, metrics, settings
from queries.access import AccessDenied, Viewer, WorkflowError, require
from queries.db import Database, get_db
from queries.filters import Filter, local_today, utc_now, utc_to_local
from queries.metrics import Clock
from queries.schema import (
    OPEN_STATUSES,
    admin_units,
    agencies,
    categories,
    media,
    report_events,
    reports,
    routing_rules,
)
from queries.sql import COUNT_CAP, capped_count, report_conditions, status_in
from queries.workcalendar import default_calendar

r = reports.c
QUEUE_STATUSES = ("received", "classified")
EARTH_RADIUS_M = 6_371_000
_DIGITS = re.compile(r"\D+")
_PHONE_LIKE = re.compile(r"^\+?[0-9 .\-()]+$")
_NUMBER = re.compile(r"[0-9]+")


def mask_phone(phone: str | None) -> str:
    """09xx xxx 123: the first two and last three digits stay, enough to tell numbers apart on a call."""
    digits = _DIGITS.sub("", phone or "")
    if not digits:
        return ""
    if len(digits) < 6:
        return "x" * (len(digits) - 2) + digits[-2:]
    return f"{digits[:2]}xx xxx {digits[-3:]}"


def phone_tail(phone: str | None) -> str | None:
    """The phone's digits reversed, stored beside it: "ends with 345678" becomes a prefix an index answers."""
    digits = _DIGITS.sub("", phone or "")
    return digits[::-1][:20] or None


def can_reveal_phone(viewer: Viewer, db: Database | None = None) -> bool:
    if viewer.role in ("admin", "operator"):
        return True
    return viewer.role == "agency" and settings.get_flag("agency_sees_phone", db)


def _scope_conditions(viewer: Viewer) -> list:
    require(viewer.sees_details, "Tài khoản này không xem được chi tiết phản ánh.")
    if viewer.scope is None:
        return []
    return [r.agency_id.in_(select(agencies.c.id).where(agencies.c.code == viewer.scope))]


def _list_select():
    return (select(r.id, r.code, r.title, r.status, r.urgent, r.channel, r.created_at, r.deadline_at, r.version,
                   r.commune_code, r.lat, r.lon, r.first_forwarded_at,
                   categories.c.code.label("category_code"), categories.c.short_name.label("category_name"),
                   admin_units.c.name.label("commune_name"), agencies.c.code.label("agency_code"),
                   agencies.c.short_name.label("agency_name"))
            .select_from(reports.outerjoin(categories, categories.c.id == r.category_id)
                         .outerjoin(admin_units, admin_units.c.code == r.commune_code)
                         .outerjoin(agencies, agencies.c.id == r.agency_id)))


def work_hours_until(deadlines, now: datetime | None = None) -> np.ndarray:
    """Working hours from now to each deadline (negative when past; NaN without one), to 0.1 h."""
    now = now or utc_now()
    calendar = default_calendar()
    deadlines = pd.to_datetime(pd.Series(deadlines, dtype="object")).to_numpy().astype("datetime64[s]")
    days = calendar.working_days_between(np.full(len(deadlines), np.datetime64(now, "s")), deadlines)
    return np.round(days * calendar.config.seconds_per_day / 3600, 1)


def with_countdown(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """Add working hours left to each row's deadline. Presentation of a short list."""
    frame = frame.copy()
    frame["work_hours_left"] = work_hours_until(frame["deadline_at"], now) if len(frame) else pd.Series(
        dtype="float64")
    return frame


def triage_queue(viewer: Viewer, limit: int = 300, db: Database | None = None,
                 now: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """New and returned reports waiting at the IOC, oldest first, with the working-time countdown;
    and how many there are in all."""
    require(viewer.triages, "Chỉ điều hành viên IOC xem hàng chờ phân loại.")
    db = get_db(db)
    waiting = status_in(QUEUE_STATUSES)
    total = db.scalar(select(func.count()).select_from(reports).where(waiting))
    frame = db.read_frame(_list_select().where(waiting).order_by(r.created_at.asc(), r.id.asc()).limit(limit))
    frame["returned"] = frame["first_forwarded_at"].notna()
    return with_countdown(frame, now), int(total or 0)


WORK_STATUSES = ("forwarded", "in_progress")  # the agency's work: to accept first, then in progress
WORK_PAGE_SIZE = 15


def agency_work(viewer: Viewer, agency_code: str, page: int = 0, page_size: int = WORK_PAGE_SIZE,
                db: Database | None = None, now: datetime | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """One page of an agency's open work, the reports waiting to be accepted first, then those in progress,
    each by deadline (soonest first, none last); and how many of each there are."""
    _scope_conditions(viewer)
    db = get_db(db)
    empty = {status: 0 for status in WORK_STATUSES}
    if viewer.scope is not None and agency_code != viewer.scope:
        return with_countdown(db.read_frame(_list_select().where(False)), now), empty
    agency_id = db.scalar(select(agencies.c.id).where(agencies.c.code == agency_code))
    mine = [r.agency_id == agency_id, status_in(OPEN_STATUSES)]  # the partial index by (agency, status, deadline)
    counts = empty | {row["status"]: int(row["n"]) for row in db.read_rows(
        select(r.status, func.count().label("n")).where(*mine, status_in(WORK_STATUSES)).group_by(r.status))}
    pages = max(1, -(-sum(counts.values()) // page_size))
    skip = max(0, min(int(page), pages - 1)) * page_size
    # One status after the other, each read in the index's order and stopped at the page's end, instead of
    # sorting all the agency's open reports for one page.
    frames = []
    for status in WORK_STATUSES:
        wanted = page_size - sum(len(frame) for frame in frames)
        if wanted and skip < counts[status]:
            frames.append(db.read_frame(_list_select().where(*mine, r.status == status)
                                        .order_by(r.deadline_at.asc().nulls_last(), r.id).limit(wanted).offset(skip)))
        skip = max(0, skip - counts[status])
    frame = pd.concat(frames, ignore_index=True) if frames else db.read_frame(_list_select().where(False))
    return with_countdown(frame, now), counts


SEARCH_PAGE_SIZE = 20
SEARCH_MIN_CHARS = 3  # the indexes hold trigrams: a shorter query would read every report
SORTED_MATCHES_UP_TO = 2_000
SEARCH_COUNT_CAP = COUNT_CAP
# PostgreSQL's trigram index (migration 0011) is on exactly this expression; a query must repeat it to use it.
SEARCH_TEXT_PG = "lower(reports.code || ' ' || coalesce(reports.title, '') || ' ' || coalesce(reports.description, ''))"


def _text_matches(db: Database, query: str):
    """Ids of the reports whose code, title or description contains `query` (case aside), by the index."""
    if db.dialect == "sqlite":
        phrase = '"' + query.replace('"', '""') + '"'  # one phrase: the words in this order, anywhere
        return select(literal_column("rowid").label("id")).select_from(table("reports_search")).where(
            text("reports_search MATCH :phrase").bindparams(phrase=phrase))
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return select(r.id).where(literal_column(SEARCH_TEXT_PG).like(f"%{escaped}%", escape="\\"))


def _number_matches(digits: str):
    """Ids of the reports numbered `digits` in any year (PA-<year>-<number>): the report's number, as an
    operator reads it out or types it, found on the code's unique index."""
    this_year = local_today().year
    return select(r.id).where(r.code.in_([f"PA-{year}-{int(digits):06d}" for year in range(this_year - 30,
                                                                                          this_year + 2)]))


def _phone_matches(db: Database, digits: str):
    """Ids of the reports whose phone ends with `digits`: a prefix of the reversed digits, by the index."""
    reversed_digits = digits[::-1]
    if db.dialect == "postgresql":  # its index is text_pattern_ops, which serves LIKE 'x%'
        return select(r.id).where(r.phone_tail.like(reversed_digits + "%"))
    return select(r.id).where(r.phone_tail >= reversed_digits, r.phone_tail < reversed_digits + ":")  # ':' > '9'


def search_reports(viewer: Viewer, query: str, page: int = 0, page_size: int = SEARCH_PAGE_SIZE,
                   db: Database | None = None, count_cap: int = SEARCH_COUNT_CAP) -> tuple[pd.DataFrame, int]:
    """One page (newest first) of the reports in scope whose code, title or description contains `query` (digits
    alone: whose number it is, PA-<year>-<number>), or, for IOC roles, whose phone number ends with the digits
    typed (at least 6); and how many match in all, or
    count_cap + 1 for more than count_cap, with the pages ending there. Phone searches are audited."""
    _scope_conditions(viewer)  # may the viewer see reports at all
    query = " ".join((query or "").split())[:100]
    if len(query) < SEARCH_MIN_CHARS:
        raise WorkflowError(f"Nhập ít nhất {SEARCH_MIN_CHARS} ký tự để tìm.")
    db = get_db(db)
    # An agency head's scope as an equality on the agency's id: the (agency, received) index then gives the
    # agency's reports newest first.
    conds = [r.agency_id == db.scalar(select(agencies.c.id).where(agencies.c.code == viewer.scope))] \
        if viewer.scope is not None else []
    digits = _DIGITS.sub("", query)
    # Typed like a phone number (digits and the usual separators): search the numbers, for IOC roles only.
    by_phone = viewer.searches_phone and len(digits) >= 6 and _PHONE_LIKE.match(query) is not None
    # Digits alone are a report's number (or a phone's), not words: every code holds digit trigrams, so as text
    # they read nearly the whole index.
    found = _number_matches(digits) if _NUMBER.fullmatch(query) else _text_matches(db, query)
    if by_phone:
        found = union(found, _phone_matches(db, digits))
    ids = select(found.subquery().c.id)
    # An agency head's count reads the reports in scope; the others' the index alone.
    counted = select(r.id).where(r.id.in_(ids), *conds) if conds else found
    total = capped_count(db, counted, count_cap)
    page = max(0, min(int(page), max(0, (min(total, count_cap) - 1) // page_size)))
    # Few matches: read them and sort. Many: walk the reports newest first and keep the matching ones until the
    # page is full ("id + 0" keeps the database from reading the matches by id and sorting them all).
    matched = (r.id + 0).in_(ids) if total > SORTED_MATCHES_UP_TO else r.id.in_(ids)
    stmt = (_list_select().where(matched, *conds).order_by(r.created_at.desc(), r.id.desc())
            .limit(page_size).offset(page * page_size))
    frame = db.read_frame(stmt)
    if by_phone:
        audit.write(viewer, "phone.search", "", f"Tìm theo số điện thoại …{digits[-3:]}: {total} kết quả", db)
    return frame, total


def report_detail(viewer: Viewer, code: str, db: Database | None = None) -> dict | None:
    """Everything the detail page shows, or None when the report is unknown or out of the viewer's scope.
    The phone number is masked (`phone_masked`); `can_reveal` says whether the viewer may reveal it."""
    conds = _scope_conditions(viewer)
    db = get_db(db)
    duplicate_of = reports.alias("duplicate_of")
    stmt = (select(reports, categories.c.code.label("category_code"),
                   categories.c.short_name.label("category_name"), admin_units.c.name.label("commune_name"),
                   agencies.c.code.label("agency_code"), agencies.c.short_name.label("agency_name"),
                   duplicate_of.c.code.label("duplicate_of_code"))
            .select_from(reports.outerjoin(categories, categories.c.id == r.category_id)
                         .outerjoin(admin_units, admin_units.c.code == r.commune_code)
                         .outerjoin(agencies, agencies.c.id == r.agency_id)
                         .outerjoin(duplicate_of, duplicate_of.c.id == r.duplicate_of_id))
            .where(r.code == (code or "").strip(), *conds))
    rows = db.read_rows(stmt)
    if not rows:
        return None
    detail = rows[0]
    for internal in ("intake_token", "source_hash"):  # the Open311 submitter's receipt; the importer's digest
        detail.pop(internal, None)
    detail["phone_masked"] = mask_phone(detail.pop("reporter_phone"))
    detail["can_reveal"] = bool(detail["phone_masked"]) and can_reveal_phone(viewer, db)
    e = report_events.c
    detail["events"] = db.read_frame(
        select(e.at, e.actor, e.from_status, e.to_status, e.note, agencies.c.short_name.label("agency_name"))
        .select_from(report_events.outerjoin(agencies, agencies.c.id == e.agency_id))
        .where(e.report_id == detail["id"]).order_by(e.at, e.id))
    detail["media"] = db.read_rows(select(media.c.id, media.c.kind, media.c.caption, media.c.role)
                                   .where(media.c.report_id == detail["id"]).order_by(media.c.id))
    detail["duplicates"] = [row["code"] for row in db.read_rows(
        select(r.code).where(r.duplicate_of_id == detail["id"], *conds).order_by(r.created_at))]
    return detail


def reveal_phone(viewer: Viewer, code: str, reason: str, db: Database | None = None) -> str:
    """The full phone number, for a viewer allowed to see it and a stated reason; the reveal is audited."""
    db = get_db(db)
    if not can_reveal_phone(viewer, db):
        audit.write(viewer, "phone.refused", (code or "")[:100], "Không có quyền xem số điện thoại", db)
        raise AccessDenied("Vai trò của bạn không được xem số điện thoại của người dân.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise WorkflowError("Hãy ghi lý do xem số điện thoại (ít nhất 5 ký tự).")
    stmt = select(r.reporter_phone).where(r.code == (code or "").strip(), *_scope_conditions(viewer))
    with db.begin() as conn:
        row = conn.execute(stmt).first()
        if row is None:
            raise WorkflowError(f"Không tìm thấy phản ánh {code}.")
        if not row.reporter_phone:
            raise WorkflowError("Phản ánh này không có số điện thoại.")
        audit.record(conn, viewer, "phone.reveal", code.strip(), reason[:500])
    return row.reporter_phone


def media_path(viewer: Viewer, media_id: int, db: Database | None = None) -> str | None:
    """The stored relative path of one media file, if its report is in the viewer's scope."""
    stmt = (select(media.c.path).join_from(media, reports, reports.c.id == media.c.report_id)
            .where(media.c.id == media_id, *_scope_conditions(viewer)))
    return get_db(db).scalar(stmt)


def duplicate_candidates(viewer: Viewer, code: str, radius_m: int | None = None, days: int | None = None,
                         limit: int = 10, db: Database | None = None) -> pd.DataFrame:
    """Other reports of the same field within `radius_m` metres and `days` days of this one (settings give
    the defaults), nearest first, with their distance. Only reports that are not duplicates themselves."""
    require(viewer.triages, "Chỉ điều hành viên IOC đánh dấu phản ánh trùng.")
    db = get_db(db)
    radius_m = radius_m or settings.get_int("duplicate_radius_m", db)
    days = days or settings.get_int("duplicate_days", db)
    this = db.read_rows(select(r.id, r.category_id, r.lat, r.lon, r.created_at).where(r.code == code))
    columns = ["code", "title", "status", "created_at", "distance_m"]
    if not this or this[0]["lat"] is None or this[0]["category_id"] is None:
        return pd.DataFrame(columns=columns)
    me = this[0]
    dlat = radius_m / 111_320
    dlon = radius_m / (111_320 * max(math.cos(math.radians(me["lat"])), 0.01))
    window = timedelta(days=days)
    stmt = (select(r.code, r.title, r.status, r.created_at, r.lat, r.lon)
            .where(r.id != me["id"], r.category_id == me["category_id"], r.duplicate_of_id.is_(None),
                   r.lat.between(me["lat"] - dlat, me["lat"] + dlat), r.lon.between(me["lon"] - dlon, me["lon"] + dlon),
                   r.created_at.between(me["created_at"] - window, me["created_at"] + window))
            .order_by(r.created_at).limit(500))
    frame = db.read_frame(stmt)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["distance_m"] = haversine_m(me["lat"], me["lon"], frame["lat"].to_numpy(), frame["lon"].to_numpy())
    frame = frame[frame["distance_m"] <= radius_m].sort_values(["distance_m", "created_at"]).head(limit)
    return frame[columns].reset_index(drop=True)


def haversine_m(lat, lon, lats, lons) -> np.ndarray:
    p1, p2 = np.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(np.asarray(lons) - lon)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.round(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h)), 0)


def suggest_agency(category_code: str | None, commune_code: str | None, db: Database | None = None) -> str | None:
    """The routing table's agency for a field in a commune: the commune's own rule, else the field's."""
    if not category_code:
        return None
    rr = routing_rules.c
    stmt = (select(agencies.c.code)
            .select_from(routing_rules.join(categories, categories.c.id == rr.category_id)
                         .join(agencies, agencies.c.id == rr.agency_id))
            .where(categories.c.code == category_code, agencies.c.active == 1,
                   or_(rr.commune_code == commune_code, rr.commune_code.is_(None)))
            .order_by(rr.commune_code.is_(None)).limit(1))
    return get_db(db).scalar(stmt)


# --- the lists of reports past or near their deadline (the agency page, the queue) -----------------------

def open_cases(code: str | None, f: Filter, which: str, db: Database | None = None, now: datetime | None = None,
               limit: int = 200) -> pd.DataFrame:
    """Open reports of an agency (None: all), `which` = 'overdue' (the registry's overdue rule, most overdue
    first) or 'due_soon' (its due-soon rule). With working days over (negative) or left."""
    now, db = now or utc_now(), get_db(db)
    conds, order = _open_case_conditions(code, f, which, db, now)
    return _open_case_rows(conds, order, limit, 0, db, now)


def open_cases_page(code: str | None, f: Filter, which: str, page: int = 0, page_size: int = 15,
                    db: Database | None = None, now: datetime | None = None,
                    count_cap: int = COUNT_CAP) -> tuple[pd.DataFrame, int]:
    """One page of open_cases and how many there are in all, or count_cap + 1 for more than count_cap, with the
    pages ending there; a page past the end is the last one."""
    now, db = now or utc_now(), get_db(db)
    conds, order = _open_case_conditions(code, f, which, db, now)
    # Counted in the list's own order: the database then walks the (agency, deadline) index of open reports
    # and stops at the cap (PostgreSQL would otherwise combine two bitmaps, which reads every match).
    total = capped_count(db, select(r.id).where(*conds).order_by(*order), count_cap)
    page = max(0, min(int(page), (min(total, count_cap) - 1) // page_size)) if total else 0
    return _open_case_rows(conds, order, page_size, page * page_size, db, now), total


def _open_case_conditions(code: str | None, f: Filter, which: str, db: Database, now: datetime
                          ) -> tuple[list, object]:
    selection, conds = replace(f, agencies=()), [status_in(OPEN_STATUSES)]
    if code is not None:
        # The agency's id, not a subquery on its code: then PostgreSQL walks the index of open reports by
        # (agency, deadline) in order and stops at `limit`.
        agency_id = db.scalar(select(agencies.c.id).where(agencies.c.code == code))
        visible = agency_id is not None and f.scope_agency in (None, code)
        selection = replace(selection, scope_agency=None)  # the agency's id says it all
        conds.append(r.agency_id == agency_id if visible else false())
    conds += report_conditions(selection)
    if which not in ("overdue", "due_soon"):
        raise ValueError("which must be 'overdue' or 'due_soon'")
    conds.append(metrics.condition(which, reports, Clock.at(now)))
    return conds, (r.deadline_at.asc(), r.id.asc())


def _open_case_rows(conds: list, order, limit: int, offset: int, db: Database, now: datetime) -> pd.DataFrame:
    stmt = (
        select(r.code, r.title, r.status, r.urgent, r.created_at, r.deadline_at,
               categories.c.short_name.label("category_name"), admin_units.c.name.label("commune_name"),
               agencies.c.short_name.label("agency_name"),
               and_(r.first_forwarded_at.is_(None)).label("at_ioc"))
        .select_from(reports.outerjoin(categories, categories.c.id == r.category_id)
                     .outerjoin(admin_units, admin_units.c.code == r.commune_code)
                     .outerjoin(agencies, agencies.c.id == r.agency_id))
        .where(*conds).order_by(*order).limit(limit).offset(offset)
    )
    df = db.read_frame(stmt)
    deadlines = pd.to_datetime(df["deadline_at"]).to_numpy().astype("datetime64[s]")
    # Presentation of at most `limit` rows: working days left (positive) or over (negative), 1 decimal.
    df["working_days_left"] = np.round(default_calendar().working_days_between(
        np.full(len(df), np.datetime64(now, "s")), deadlines), 1) if len(df) else []
    df["deadline_local"] = [utc_to_local(ts).strftime("%H:%M %d/%m/%Y") for ts in
                            pd.to_datetime(df["deadline_at"]).dt.to_pydatetime()] if len(df) else []
    return df
