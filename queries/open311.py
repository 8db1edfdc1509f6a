"""Open311 GeoReport v2 on our data: services (the categories), reading requests (the reports, addressed by
their public code), the intake of new reports, and the API keys that may submit and read them.

Times are naive UTC here; dashboard/open311.py presents them in local time. The reporter's phone is
written by the intake and never selected by anything in this module, so no response can carry it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from queries import deadlines, policies
from queries.cases import phone_tail
from queries.db import Database, get_db
from queries.filters import Filter, utc_now, utc_to_local
from queries.schema import (
    CHANNELS,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    admin_units,
    agencies,
    api_keys,
    categories,
    media,
    open311_submissions,
    public_code_counters,
    report_events,
    reports,
)
from queries.sql import report_conditions

r = reports.c
SOURCE = "open311-api"  # reports submitted to our API; the importer's open311 profile pulls from other servers
STATUS_GROUPS = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES}
MAX_PAGE_SIZE = 1000  # the spec's default limit is 1,000 requests
CODE_ATTEMPTS = 10  # submissions racing for the same public code retry, with a random pause
# Without commune polygons, "inside the province" means the box around the commune centroids, widened by
# about the radius of the largest commune (Trường Sơn, ~17 km).
PROVINCE_MARGIN_DEG = 0.15
# last_used_at is refreshed at most this often, so that reading with a key is not a write every time.
KEY_USE_RESOLUTION = timedelta(minutes=1)
TITLE_FROM_DESCRIPTION = 120  # characters of the description that make a title when none is sent
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".m4v", ".3gp")
# A submission with the same service, place and text from the same key within this window is a repeat (a
# client that retried after a timeout), unless the client sends its own Idempotency-Key, which decides alone.
# Kept short: two people may well report the same thing in the same words.
REPEAT_WINDOW = timedelta(minutes=2)
# An Idempotency-Key stands for one submission this long; after it the client may use the key again.
IDEMPOTENCY_TTL = timedelta(hours=24)
_HOST = re.compile(r"^[a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)*(:\d{1,5})?$")


class UnknownService(LookupError):
    """A service_code that is not one of our categories."""


class ApiKeyError(ValueError):
    """An API key operation that cannot be done, with a message fit to show the user."""


# --- services -------------------------------------------------------------------------------------

def _services_select():
    return select(categories.c.code, categories.c.name, categories.c.short_name).order_by(categories.c.sort_order,
                                                                                          categories.c.code)


def list_services(db: Database | None = None) -> list[dict]:
    """The categories in display order: code, name, short_name."""
    return get_db(db).read_rows(_services_select())


def get_service(code: str, db: Database | None = None) -> dict | None:
    rows = get_db(db).read_rows(_services_select().where(categories.c.code == code))
    return rows[0] if rows else None


# --- reading requests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestSearch:
    """GET requests: created_at in [start, end] (naive UTC, both inclusive), newest first. `codes`
    (service_request_id) overrides every other criterion but the caller's agency scope."""

    start: datetime | None = None
    end: datetime | None = None
    service_codes: tuple[str, ...] = ()
    status_groups: tuple[str, ...] = ()  # 'open', 'closed'
    codes: tuple[str, ...] = ()
    page: int = 1
    page_size: int = MAX_PAGE_SIZE
    scope_agency: str | None = None


def _scope(scope_agency: str | None) -> list:
    return report_conditions(Filter(scope_agency=scope_agency))


def _search_conditions(search: RequestSearch) -> list:
    if search.codes:
        return [*_scope(search.scope_agency), r.code.in_(search.codes)]
    statuses = tuple(s for group in search.status_groups for s in STATUS_GROUPS[group])
    conds = report_conditions(Filter(categories=search.service_codes, statuses=statuses,
                                     scope_agency=search.scope_agency))
    if search.start is not None:
        conds.append(r.created_at >= search.start)
    if search.end is not None:
        conds.append(r.created_at <= search.end)
    return conds


def _request_select():
    """The columns the API shows. The reporter's phone is deliberately not among them."""
    return select(
        r.id, r.code, r.title, r.description, r.status, r.channel, r.lat, r.lon, r.address, r.reply,
        r.created_at, r.updated_at, r.deadline_at,
        categories.c.code.label("service_code"), categories.c.name.label("service_name"),
        agencies.c.code.label("agency_code"), agencies.c.name.label("agency_name"),
    ).select_from(
        reports.outerjoin(categories, categories.c.id == r.category_id)
        .outerjoin(agencies, agencies.c.id == r.agency_id)
    )


def search_requests(search: RequestSearch, db: Database | None = None) -> tuple[list[dict], int]:
    """One page of matching requests, newest first, each with `events` and `media_url`; and how many
    match in all."""
    db = get_db(db)
    conds = _search_conditions(search)
    total = db.scalar(select(func.count()).select_from(reports).where(*conds))
    page = (_request_select().where(*conds).order_by(r.created_at.desc(), r.id.desc())
            .limit(search.page_size).offset((search.page - 1) * search.page_size))
    return _with_history(db, db.read_rows(page)), int(total or 0)


def get_request(code: str, scope_agency: str | None = None, db: Database | None = None) -> dict | None:
    """One request by its public code, with `events` and `media_url`; None if unknown or out of scope."""
    db = get_db(db)
    rows = db.read_rows(_request_select().where(*_scope(scope_agency), r.code == code))
    return _with_history(db, rows)[0] if rows else None


def code_for_token(token: str, scope_agency: str | None = None, db: Database | None = None) -> str | None:
    """The public code of the report submitted with this intake token."""
    stmt = select(r.code).where(*_scope(scope_agency), r.intake_token == token)
    return get_db(db).scalar(stmt)


def _with_history(db: Database, rows: list[dict]) -> list[dict]:
    """Attach each report's status history (`events`, in time order) and its first media URL."""
    ids = [row["id"] for row in rows]
    if not ids:
        return rows
    ev = report_events.c
    events = db.read_rows(
        select(ev.report_id, ev.at, ev.from_status, ev.to_status, ev.note,
               agencies.c.code.label("agency_code"), agencies.c.name.label("agency_name"))
        .select_from(report_events.outerjoin(agencies, agencies.c.id == ev.agency_id))
        .where(ev.report_id.in_(ids))
        .order_by(ev.report_id, ev.at, ev.id)
    )
    by_report = defaultdict(list)
    for event in events:
        by_report[event.pop("report_id")].append(event)
    urls = {}
    # Only absolute URLs can be shown: other media paths point into a folder the API does not serve.
    for row in db.read_rows(select(media.c.report_id, media.c.path)
                            .where(media.c.report_id.in_(ids),
                                   or_(media.c.path.startswith("http://"), media.c.path.startswith("https://")))
                            .order_by(media.c.report_id, media.c.id)):
        urls.setdefault(row["report_id"], row["path"])
    for row in rows:
        row["events"] = by_report.get(row["id"], [])
        row["media_url"] = urls.get(row["id"])
    return rows


# --- API keys -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    channel: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    media_hosts: tuple[str, ...] = ()  # the hosts whose media URLs the key may attach

    @classmethod
    def from_row(cls, row: dict) -> ApiKey:
        hosts = tuple(h for h in (row.pop("media_hosts") or "").split(",") if h)
        return cls(**row, media_hosts=hosts)


def _hash(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def _key_select():
    k = api_keys.c
    return select(k.id, k.name, k.channel, k.key_prefix, k.created_at, k.revoked_at, k.last_used_at, k.media_hosts)


def create_api_key(name: str, channel: str, db: Database | None = None, now: datetime | None = None,
                   media_hosts: tuple[str, ...] = ()) -> tuple[ApiKey, str]:
    """A new key for `channel`. Returns the record and the key itself, which is stored only as a hash."""
    db = get_db(db)
    hosts = checked_media_hosts(media_hosts)
    name = (name or "").strip()
    if not name or len(name) > api_keys.c.name.type.length:
        raise ApiKeyError(f"Tên khóa không được để trống và dài tối đa {api_keys.c.name.type.length} ký tự.")
    if channel not in CHANNELS:
        raise ApiKeyError(f"Kênh phải là một trong: {', '.join(CHANNELS)}.")
    plain = secrets.token_urlsafe(32)
    with db.begin() as conn:
        if conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first():
            raise ApiKeyError(f"Đã có khóa tên '{name}'.")
        conn.execute(insert(api_keys).values(name=name, channel=channel, key_prefix=plain[:8],
                                             key_hash=_hash(plain), created_at=now or utc_now(),
                                             media_hosts=",".join(hosts)))
    return get_api_key(name, db), plain


def checked_media_hosts(hosts) -> tuple[str, ...]:
    """Host names (optionally with a port), lower-cased; an ApiKeyError names one that is not."""
    checked = []
    for host in hosts:
        host = (host or "").strip().lower()
        if not _HOST.fullmatch(host):
            raise ApiKeyError(f"'{host}' không phải tên máy chủ (ví dụ anh.ungdung.gov.vn hoặc 10.0.0.5:8080).")
        checked.append(host)
    return tuple(dict.fromkeys(checked))


def set_media_hosts(name: str, hosts, db: Database | None = None) -> ApiKey:
    """Replace the hosts whose media URLs a key may attach (none: the key attaches no media)."""
    db = get_db(db)
    checked = checked_media_hosts(hosts)
    with db.begin() as conn:
        if not conn.execute(update(api_keys).where(api_keys.c.name == name)
                            .values(media_hosts=",".join(checked))).rowcount:
            raise ApiKeyError(f"Không có khóa tên '{name}'.")
    return get_api_key(name, db)


def media_url_allowed(key: ApiKey, url: str) -> bool:
    """A media URL names a file the key may attach: http(s), on one of the key's hosts, with no credentials
    and no '..' in its path. Our own /media/ files are never on a key's hosts, so no key attaches them."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range or not a number, a broken [IPv6] address
        return False
    if parts.scheme not in ("http", "https") or parts.username or parts.password or not parts.hostname:
        return False
    host = parts.hostname.lower() + (f":{port}" if port else "")
    segments = unquote(parts.path).split("/")
    return host in key.media_hosts and ".." not in segments and "\\" not in unquote(parts.path)


def get_api_key(name: str, db: Database | None = None) -> ApiKey | None:
    rows = get_db(db).read_rows(_key_select().where(api_keys.c.name == name))
    return ApiKey.from_row(rows[0]) if rows else None


def list_api_keys(db: Database | None = None) -> list[ApiKey]:
    return [ApiKey.from_row(row) for row in get_db(db).read_rows(_key_select().order_by(api_keys.c.created_at,
                                                                                 api_keys.c.id))]


def revoke_api_key(name: str, db: Database | None = None, now: datetime | None = None) -> ApiKey:
    """Revoke a key by name; a key revoked before keeps its first revocation time."""
    db = get_db(db)
    with db.begin() as conn:
        found = conn.execute(update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                             .values(revoked_at=now or utc_now())).rowcount
        if not found and not conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first():
            raise ApiKeyError(f"Không có khóa tên '{name}'.")
    return get_api_key(name, db)


def verify_api_key(plain: str, db: Database | None = None, now: datetime | None = None) -> ApiKey | None:
    """The key's record if `plain` is a key that exists and is not revoked, else None. Notes the use."""
    if not plain:
        return None
    db = get_db(db)
    now = now or utc_now()
    rows = db.read_rows(_key_select().where(api_keys.c.key_hash == _hash(plain), api_keys.c.revoked_at.is_(None)))
    if not rows:
        return None
    key = ApiKey.from_row(rows[0])
    if key.last_used_at is None or now - key.last_used_at >= KEY_USE_RESOLUTION:
        with db.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(last_used_at=now))
        key = replace(key, last_used_at=now)
    return key


# --- intake ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewReport:
    """A submission as the API accepted it (already checked for shape and length)."""

    service_code: str
    description: str = ""
    title: str = ""
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    phone: str | None = None
    media_url: str | None = None


@dataclass(frozen=True)
class Submission:
    code: str
    token: str
    created_at: datetime
    deadline_at: datetime | None
    commune_code: str | None
    repeated: bool = False  # an earlier submission's report, returned again (Idempotency-Key or same content)


def fingerprint(new: NewReport) -> str:
    """What a submission says: service, place (to about a metre), text, phone and media, case and spacing aside.
    The same from the same key is the same report sent again."""
    def words(value: str | None) -> str:
        return " ".join((value or "").split()).lower()

    place = [round(new.lat, 5), round(new.lon, 5)] if new.lat is not None else None
    raw = json.dumps([new.service_code, place, words(new.address), words(new.title), words(new.description),
                      new.phone, new.media_url], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


class IdempotencyConflict(ValueError):
    """An Idempotency-Key the client used, within IDEMPOTENCY_TTL, for a submission that said something else."""


def submit_report(new: NewReport, key: ApiKey, db: Database | None = None, now: datetime | None = None,
                  idempotency_key: str | None = None) -> Submission:
    """Insert a received report, its 'received' event and its media URL in one transaction. The public code
    is the next in the local year; two submissions racing for it make one retry. Raises UnknownService.
    A repeat returns the first submission's report instead of a second one: the same Idempotency-Key within
    IDEMPOTENCY_TTL (with other content: IdempotencyConflict), or without a key, the same content from the
    same key within REPEAT_WINDOW (only with a description: two callers may report one place by the hotline)."""
    db = get_db(db)
    now = now or utc_now()
    deadline = _ioc_deadline(new.service_code, now, db)
    digest = fingerprint(new)
    for attempt in range(CODE_ATTEMPTS):
        try:
            with db.begin() as conn:
                # One submission of a key at a time: the check for a repeat and the insert are then one step
                # (the key's row is locked on PostgreSQL; SQLite takes its write lock here).
                conn.execute(update(api_keys).where(api_keys.c.id == key.id)
                             .values(last_used_at=api_keys.c.last_used_at))
                earlier = _earlier_submission(conn, key, idempotency_key, digest, new, now)
                if earlier is not None:
                    return earlier
                done = _insert_report(conn, new, key, now, deadline)
                conn.execute(insert(open311_submissions).values(
                    api_key_id=key.id, idempotency_key=idempotency_key, fingerprint=digest,
                    report_id=done.report_id, created_at=now))
                return done.submission
        except IntegrityError:
            if attempt == CODE_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def _ioc_deadline(service_code: str, now: datetime, db: Database) -> datetime | None:
    """A new report is in the IOC stage: its deadline by the SLA policy in force on arrival (Open311 has no
    urgency, so the normal limit). None, "no SLA", for a field without a policy."""
    try:
        return deadlines.deadline_for(service_code, "ioc", False, now, db)
    except policies.PolicyError:
        return None


def _insert_report(conn: Connection, new: NewReport, key: ApiKey, now: datetime,
                   deadline: datetime | None) -> _Inserted:
    category = conn.execute(select(categories.c.id, categories.c.name)
                            .where(categories.c.code == new.service_code)).first()
    if category is None:
        raise UnknownService(new.service_code)
    commune = _commune_at(conn, new.lat, new.lon)
    code = _next_public_code(conn, now)  # locks the year's counter until commit: the reads come first
    token = secrets.token_hex(16)
    report_id = conn.execute(insert(reports).values(
        code=code, title=_title(new, category.name), description=new.description, category_id=category.id,
        commune_code=commune, channel=key.channel, lat=new.lat, lon=new.lon, reporter_phone=new.phone,
        phone_tail=phone_tail(new.phone),
        status="received", created_at=now, deadline_at=deadline, ioc_deadline_at=deadline, address=new.address,
        source=SOURCE,
        intake_token=token, updated_at=now, version=1,
    )).inserted_primary_key[0]
    conn.execute(insert(report_events).values(
        report_id=report_id, at=now, actor=key.name, from_status=None, to_status="received",
        note=f"Tiếp nhận qua API Open311, kênh {key.channel}",
    ))
    if new.media_url:
        kind = "video" if new.media_url.lower().split("?")[0].endswith(VIDEO_SUFFIXES) else "photo"
        conn.execute(insert(media).values(report_id=report_id, kind=kind, path=new.media_url, created_at=now))
    return _Inserted(report_id, Submission(code=code, token=token, created_at=now, deadline_at=deadline,
                                           commune_code=commune))


@dataclass(frozen=True)
class _Inserted:
    report_id: int
    submission: Submission


def _earlier_submission(conn: Connection, key: ApiKey, idempotency_key: str | None, digest: str,
                        new: NewReport, now: datetime) -> Submission | None:
    """The report an earlier submission of the same key made, if this one repeats it."""
    o = open311_submissions.c
    if idempotency_key:
        same = and_(o.idempotency_key == idempotency_key, o.created_at >= now - IDEMPOTENCY_TTL)
    elif new.description.strip():
        same = and_(o.fingerprint == digest, o.created_at >= now - REPEAT_WINDOW)
    else:
        return None
    row = conn.execute(select(r.code, r.intake_token, r.created_at, r.ioc_deadline_at, r.commune_code,
                              o.fingerprint)
                       .join_from(open311_submissions, reports, r.id == o.report_id)
                       .where(o.api_key_id == key.id, same).order_by(o.id.desc()).limit(1)).first()
    if row is None:
        return None
    if row.fingerprint != digest:
        raise IdempotencyConflict(idempotency_key)
    return Submission(code=row.code, token=row.intake_token, created_at=row.created_at,
                      deadline_at=row.ioc_deadline_at, commune_code=row.commune_code, repeated=True)


def _title(new: NewReport, service_name: str) -> str:
    if new.title:
        return new.title
    first_line = new.description.strip().split("\n", 1)[0].strip()
    if len(first_line) > TITLE_FROM_DESCRIPTION:
        first_line = first_line[:TITLE_FROM_DESCRIPTION - 1].rstrip() + "…"
    return first_line or service_name


def _public_code_shape(dialect: str, prefix: str) -> list:
    """code is `prefix` and exactly six digits (imported codes of other shapes must not count). The range
    lets both databases read the year's codes from the code index instead of scanning every report."""
    in_range = r.code.between(prefix + "000000", prefix + "999999")
    if dialect == "postgresql":
        return [in_range, r.code.regexp_match(f"^{prefix}[0-9]{{6}}$")]
    return [in_range, r.code.op("GLOB")(prefix + "[0-9]" * 6)]


def _next_public_code(conn: Connection, now: datetime) -> str:
    """PA-<local year>-<number>: six digits, more past 999,999 a year. The number is the year's counter, one
    up; a code that exists already (an imported report's) is skipped."""
    year = utc_to_local(now).year
    prefix = f"PA-{year}-"
    while True:
        code = f"{prefix}{_count_up(conn, year):06d}"
        if conn.execute(select(r.id).where(r.code == code)).first() is None:
            return code


def _count_up(conn: Connection, year: int) -> int:
    """The year's counter plus one, stored. The row locks until the submission commits, so concurrent
    submissions take their numbers in turn. A year's first counts on from its highest six-digit code (those
    given before the counter existed, or imported)."""
    c, prefix = public_code_counters.c, f"PA-{year}-"
    number = conn.execute(update(public_code_counters).where(c.year == year)
                          .values(last_number=c.last_number + 1).returning(c.last_number)).scalar()
    if number is not None:
        return number
    highest = conn.execute(select(func.max(r.code)).where(*_public_code_shape(conn.dialect.name, prefix))).scalar()
    insert_for = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    first = insert_for(public_code_counters).values(year=year, last_number=int(highest[len(prefix):]) + 1
                                                    if highest else 1)
    # Two first submissions of a year at once: the second counts on from the first's.
    return conn.execute(first.on_conflict_do_update(index_elements=[c.year], set_={"last_number": c.last_number + 1})
                        .returning(c.last_number)).scalar()


def _commune_at(conn: Connection, lat: float | None, lon: float | None) -> str | None:
    if lat is None or lon is None:
        return None
    units = conn.execute(select(admin_units.c.code, admin_units.c.lat, admin_units.c.lon)
                         .where(admin_units.c.level == "commune", admin_units.c.lat.isnot(None),
                                admin_units.c.lon.isnot(None))
                         .order_by(admin_units.c.code)).all()
    return nearest_commune([(u.code, u.lat, u.lon) for u in units], lat, lon)


def nearest_commune(centroids: list[tuple[str, float, float]], lat: float, lon: float) -> str | None:
    """The code of the centroid nearest (great-circle) to the point, or None when the point lies outside
    the province's box (see PROVINCE_MARGIN_DEG) or there are no centroids."""
    if not centroids:
        return None
    lats = [c[1] for c in centroids]
    lons = [c[2] for c in centroids]
    if not (min(lats) - PROVINCE_MARGIN_DEG <= lat <= max(lats) + PROVINCE_MARGIN_DEG
            and min(lons) - PROVINCE_MARGIN_DEG <= lon <= max(lons) + PROVINCE_MARGIN_DEG):
        return None
    return min(centroids, key=lambda c: _haversine_km(lat, lon, c[1], c[2]))[0]


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
