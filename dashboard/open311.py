"""Open311 GeoReport v2 at /open311/v2 (docs/open311.md): discovery, services, requests (read and submit) and
tokens, in JSON or XML by the extension as the spec does; the OpenAPI description at /open311/v2/openapi.json.

The login guard lets /open311/ through (auth.SELF_GUARDED_PREFIXES); access is checked here. Reading needs a
signed-in session (an agency head sees only their agency's requests) or a valid `api_key`; submitting needs
a valid `api_key`. Nothing at all gives 401; an unknown or revoked key, or a submission with only a session,
gives 403. Every error, anywhere under /open311/, is the spec's list of {code, description}.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click
import orjson
import yaml
from flask import Blueprint, Flask, Response, current_app, request, url_for
from flask.cli import AppGroup
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from dashboard import text
from dashboard.auth import current_scope
from queries import open311
from queries.filters import UTC, utc_now, utc_to_local
from queries.schema import CHANNELS, CLOSED_STATUSES, media, reports

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
PREFIX = "/open311/"
FMT = "<any(json,xml):fmt>"
OPENAPI_PATH = Path(__file__).with_name("open311_openapi.yaml")
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
DISCOVERY_CHANGESET = "2026-11-28T00:00:00+07:00"  # move on when the service list or this API changes

MAX_SPAN = timedelta(days=90)
MAX_PAGE = 100_000
DESCRIPTION_MAX = 4000  # the spec's limit
TITLE_MAX = reports.c.title.type.length
ADDRESS_MAX = reports.c.address.type.length
MEDIA_URL_MAX = media.c.path.type.length
VALUE_MAX = 200  # any other single field
# A submission is a few fields; 4,000 characters of percent-encoded Vietnamese fit with room to spare.
MAX_BODY_BYTES = 128 * 1024
ECHO_MAX = 40  # how much of a bad value an error message repeats
SHORT_MAX = 40  # a date-time or a coordinate

# W3C date-time with a time zone, as the spec requires; years kept where date arithmetic cannot overflow.
_DATETIME = re.compile(r"(19\d\d|2\d{3})-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_COUNT = re.compile(r"\d{1,9}", re.ASCII)
_PHONE = re.compile(r"\+?\d{8,15}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
XML_ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "notes": "note",
             "attributes": "attribute", "endpoints": "endpoint", "formats": "format"}

NO_CREDENTIALS = "Cần đăng nhập hoặc gửi khóa API (tham số api_key)."
BAD_KEY = "Khóa API không đúng hoặc đã bị thu hồi."
KEY_NEEDED_TO_SUBMIT = "Gửi phản ánh cần khóa API (tham số api_key); phiên đăng nhập không thay được khóa."
NOT_FOUND = "Không có tài nguyên này trong API Open311."
METHOD_NOT_ALLOWED = "Phương thức này không dùng được ở địa chỉ này."
UNKNOWN_SERVICE = "Không có lĩnh vực (service_code) '{value}'."
UNKNOWN_REQUEST = "Không có phản ánh mã '{value}'."
UNKNOWN_TOKEN = "Không có phản ánh ứng với token '{value}'."
SERVICE_CODE_MISSING = "Thiếu mã lĩnh vực (service_code)."
LOCATION_MISSING = "Cần vị trí: cả lat và long, hoặc address_string."
ADDRESS_ID_UNSUPPORTED = "Hệ thống chưa dùng address_id; hãy gửi lat và long, hoặc address_string."
LAT_LONG_PAIR = "lat và long phải được gửi cùng nhau."
BAD_COORDINATE = ("'{name}' phải là số thập phân dùng dấu chấm, vĩ độ trong [-90, 90] và kinh độ trong "
                  "[-180, 180]; nhận được '{value}'.")
TOO_LONG = "'{name}' dài tối đa {limit} ký tự."
BAD_PHONE = "Số điện thoại (phone) phải gồm 8 đến 15 chữ số, có thể bắt đầu bằng +."
BAD_MEDIA_URL = "media_url phải là một địa chỉ http:// hoặc https:// đầy đủ."
MEDIA_NOT_ALLOWED = ("media_url phải là tệp trên máy chủ ảnh mà khóa API này được phép đính kèm ({hosts}); nhận "
                     "được '{value}'.")
NO_MEDIA_HOSTS = ("Khóa API này chưa được phép đính kèm media_url: quản trị viên khai báo máy chủ ảnh của kênh "
                  "bằng lệnh flask api-key media-hosts TÊN-KHÓA MÁY-CHỦ.")
BAD_IDEMPOTENCY_KEY = "Tiêu đề Idempotency-Key dài 1–200 ký tự in được (ASCII)."
IDEMPOTENCY_CONFLICT = ("Idempotency-Key này đã được dùng trong 24 giờ qua cho một phản ánh có nội dung khác; hãy "
                        "dùng một khóa mới cho mỗi phản ánh.")
BAD_DATE = ("'{name}' phải là thời điểm ISO 8601 có múi giờ, ví dụ 2026-11-01T00:00:00+07:00 hoặc "
            "2026-10-31T17:00:00Z; nhận được '{value}'.")
DATES_REVERSED = "end_date phải không sớm hơn start_date."
SPAN_TOO_LONG = "Khoảng từ start_date đến end_date dài tối đa 90 ngày."
BAD_STATUS = "status chỉ nhận open và closed, cách nhau bằng dấu phẩy; nhận được '{value}'."
BAD_COUNT = "'{name}' phải là số nguyên từ 1 đến {limit}."
TOO_MANY_IDS = "Tối đa {limit} mã service_request_id trong một lần hỏi."
SERVER_ERROR = "Lỗi hệ thống, vui lòng thử lại sau."
HTTP_ERRORS = {400: "Yêu cầu không đọc được.", 413: "Dữ liệu gửi lên quá lớn.",
               415: "Kiểu dữ liệu gửi lên không được hỗ trợ."}
INTAKE_NOTICE = "Đã tiếp nhận phản ánh {code}. Trung tâm IOC sẽ phân loại và chuyển đơn vị xử lý."
INTAKE_DEADLINE = " Hạn chuyển đơn vị xử lý: {deadline}."
CONTACT = "Trung tâm Giám sát, điều hành đô thị thông minh (IOC) tỉnh Quảng Trị."
KEY_SERVICE = "Khóa API do quản trị viên hệ thống cấp cho từng kênh tiếp nhận (lệnh flask api-key create)."
GROUP = "Phản ánh hiện trường"
SERVICE_DESCRIPTION = "Phản ánh hiện trường thuộc lĩnh vực {name}; thời hạn xử lý theo quy định SLA của tỉnh."
# One line per kind of event in a request's history (notes[].summary).
EVENT_SUMMARIES = {
    "received": "Tiếp nhận phản ánh",
    "classified": "Phân loại lĩnh vực",
    "forwarded": "Chuyển đơn vị xử lý",
    "in_progress": "Đơn vị bắt đầu xử lý",
    "resolved": "Đã giải quyết",
    "rejected": "Từ chối xử lý",
}
RETURNED_SUMMARY = "Đơn vị trả lại Trung tâm IOC"


class ApiError(Exception):
    """A request the API refuses: answered with `status` and the description in the spec's error list."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# --- rendering ------------------------------------------------------------------------------------

def to_xml(root: str, body) -> bytes:
    """The spec's XML: lists become repeated child elements (services/service, notes/note, ...)."""
    element = ET.tostring(_xml_element(root, body), encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + element


def _xml_element(name: str, value) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, dict):
        element.extend(_xml_element(key, item) for key, item in value.items())
    elif isinstance(value, list):
        element.extend(_xml_element(XML_ITEMS[name], item) for item in value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _XML_ILLEGAL.sub("", str(value))
    return element


def _render(fmt: str, root: str, body, status: int = 200, headers: dict | None = None) -> Response:
    if fmt == "xml":
        resp = Response(to_xml(root, body), status=status, content_type=XML_TYPE, headers=headers)
    else:
        resp = Response(orjson.dumps(body), status=status, content_type=JSON_TYPE, headers=headers)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


def _requested_format() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt:
        return fmt
    return "xml" if request.path.endswith(".xml") else "json"


def _error(status: int, description: str, headers: dict | None = None) -> Response:
    return _render(_requested_format(), "errors", [{"code": status, "description": description}], status, headers)


def _echo(value: str) -> str:
    return value if len(value) <= ECHO_MAX else value[:ECHO_MAX] + "…"


@bp.errorhandler(ApiError)
def _api_error(err: ApiError):
    return _error(err.status, err.description)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    return _error(err.code or 500, HTTP_ERRORS.get(err.code, err.name))


@bp.errorhandler(SQLAlchemyError)
def _database_down(_err):
    return _error(503, text.DB_DOWN_NO_DATA)


@bp.errorhandler(Exception)
def _unexpected(err: Exception):
    current_app.logger.exception("Open311: unexpected error", exc_info=err)
    return _error(500, SERVER_ERROR)


@bp.before_app_request
def _unrouted_paths():
    """Everything under /open311/ answers in the API's format: without this, an unknown path would fall
    through to Dash's catch-all page, which the login guard lets through here."""
    if not request.path.startswith(PREFIX) or request.blueprint == bp.name:
        return None
    allowed = _methods_served_here()
    if allowed:
        return _error(405, METHOD_NOT_ALLOWED, {"Allow": ", ".join(sorted(allowed))})
    return _error(404, NOT_FOUND)


def _methods_served_here() -> set[str]:
    """The methods this API serves at the requested path; none for a path that is not one of ours (Dash's
    catch-all matches every path for GET, which must not turn an unknown resource into a 405)."""
    if not isinstance(request.routing_exception, MethodNotAllowed):
        return set()
    adapter = current_app.url_map.bind_to_environ(request.environ)
    methods = set()
    for method in request.routing_exception.valid_methods or ():
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint.startswith(f"{bp.name}."):
            methods.add(method)
    return methods


@bp.before_request
def _limit_body():
    request.max_content_length = MAX_BODY_BYTES  # larger bodies get 413 before they are read


# --- access ---------------------------------------------------------------------------------------

def _presented_key() -> open311.ApiKey | None:
    """The key sent as `api_key` (query or form), or None when none was sent. A key that is sent must be
    valid, even from a signed-in user."""
    plain = (request.values.get("api_key") or "").strip()
    if not plain:
        return None
    key = open311.verify_api_key(plain)
    if key is None:
        raise ApiError(403, BAD_KEY)
    return key


def _reader_scope() -> str | None:
    """The agency scope of a permitted reader: the session's scope, or the whole province for a key."""
    key = _presented_key()
    if current_user.is_authenticated:
        return current_scope()
    if key is None:
        raise ApiError(401, NO_CREDENTIALS)
    return None


def _submitting_key() -> open311.ApiKey:
    key = _presented_key()
    if key is None:
        raise ApiError(403 if current_user.is_authenticated else 401, KEY_NEEDED_TO_SUBMIT)
    return key


# --- reading parameters ---------------------------------------------------------------------------

def _clean(value: str | None, multiline: bool = False) -> str | None:
    """Text without control characters, trimmed; None when empty (the spec treats empty as absent)."""
    if value is None:
        return None
    value = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    if not multiline:
        value = " ".join(value.split())
    value = value.strip()
    return value or None


def _arg(name: str) -> str | None:
    return _clean(request.args.get(name))


def _field(name: str, limit: int = VALUE_MAX, multiline: bool = False) -> str | None:
    value = _clean(request.form.get(name), multiline)
    if value is not None and len(value) > limit:
        raise ApiError(400, TOO_LONG.format(name=name, limit=limit))
    return value


def _list_arg(name: str) -> tuple[str, ...]:
    items = []
    for raw in request.args.getlist(name):
        for part in raw.split(","):
            part = _clean(part)
            if part and part not in items:
                items.append(part)
    return tuple(items)


def _count_arg(name: str, default: int, limit: int) -> int:
    value = _arg(name)
    if value is None:
        return default
    if not _COUNT.fullmatch(value) or not 1 <= int(value) <= limit:
        raise ApiError(400, BAD_COUNT.format(name=name, limit=limit))
    return int(value)


def _datetime_arg(name: str) -> datetime | None:
    """A W3C date-time with time zone, as naive UTC."""
    value = _arg(name)
    if value is None:
        return None
    # An unencoded '+' in a query string arrives as a space: read "...T00:00:00 07:00" as +07:00.
    candidate = re.sub(r" (\d\d:\d\d)$", r"+\1", request.args.get(name, "").strip()).upper()
    try:
        if len(candidate) > SHORT_MAX or not _DATETIME.fullmatch(candidate):
            raise ValueError
        candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate).replace("Z", "+00:00")  # to microseconds
        return datetime.fromisoformat(candidate).astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        raise ApiError(400, BAD_DATE.format(name=name, value=_echo(value))) from None


def _date_window(now: datetime) -> tuple[datetime, datetime]:
    """[start, end] from start_date/end_date; the spec's default is the last 90 days."""
    start, end = _datetime_arg("start_date"), _datetime_arg("end_date")
    if start is None and end is None:
        return now - MAX_SPAN, now
    start = start if start is not None else end - MAX_SPAN
    end = end if end is not None else start + MAX_SPAN
    if end < start:
        raise ApiError(400, DATES_REVERSED)
    if end - start > MAX_SPAN:
        raise ApiError(400, SPAN_TOO_LONG)
    return start, end


def _service_codes_arg() -> tuple[str, ...]:
    codes = _list_arg("service_code")
    known = {service["code"] for service in open311.list_services()}
    for code in codes:
        if code not in known:
            raise ApiError(400, UNKNOWN_SERVICE.format(value=_echo(code)))
    return codes


def _status_arg() -> tuple[str, ...]:
    groups = tuple(dict.fromkeys(value.lower() for value in _list_arg("status")))
    for group in groups:
        if group not in open311.STATUS_GROUPS:
            raise ApiError(400, BAD_STATUS.format(value=_echo(group)))
    return groups


def _search(scope: str | None) -> open311.RequestSearch:
    codes = _list_arg("service_request_id")
    if codes:  # the spec: this overrides every other argument
        if len(codes) > open311.MAX_PAGE_SIZE:
            raise ApiError(400, TOO_MANY_IDS.format(limit=open311.MAX_PAGE_SIZE))
        return open311.RequestSearch(codes=codes, scope_agency=scope)
    start, end = _date_window(utc_now())
    return open311.RequestSearch(
        start=start, end=end, service_codes=_service_codes_arg(), status_groups=_status_arg(),
        page=_count_arg("page", 1, MAX_PAGE),
        page_size=_count_arg("page_size", open311.MAX_PAGE_SIZE, open311.MAX_PAGE_SIZE),
        scope_agency=scope,
    )


def _coordinate(name: str, limit: float) -> float | None:
    value = _field(name)
    if value is None:
        return None
    if len(value) > SHORT_MAX or not _DECIMAL.fullmatch(value) or not abs(float(value)) <= limit:
        raise ApiError(400, BAD_COORDINATE.format(name=name, value=_echo(value)))
    return float(value)


def _phone() -> str | None:
    value = _field("phone")
    if value is None:
        return None
    compact = re.sub(r"[\s.\-()]", "", value)
    if not _PHONE.fullmatch(compact):
        raise ApiError(400, BAD_PHONE)
    return compact


def _media_url(key: open311.ApiKey) -> str | None:
    """A media URL the key may attach: on one of its media hosts (never one of our own files)."""
    value = _field("media_url", MEDIA_URL_MAX)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. a broken [IPv6] address
        raise ApiError(400, BAD_MEDIA_URL) from None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ApiError(400, BAD_MEDIA_URL)
    if not key.media_hosts:
        raise ApiError(400, NO_MEDIA_HOSTS)
    if not open311.media_url_allowed(key, value):
        raise ApiError(400, MEDIA_NOT_ALLOWED.format(hosts=", ".join(key.media_hosts), value=_echo(value)))
    return value


def _idempotency_key() -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= 200 or not value.isascii() or not value.isprintable():
        raise ApiError(400, BAD_IDEMPOTENCY_KEY)
    return value


def _new_report(key: open311.ApiKey) -> open311.NewReport:
    """The submission from the form. first_name, last_name, email, device_id and account_id are accepted
    for compatibility and not kept: we store no more personal data than the phone."""
    service_code = _field("service_code")
    if service_code is None:
        raise ApiError(400, SERVICE_CODE_MISSING)
    lat, lon = _coordinate("lat", 90), _coordinate("long", 180)
    if (lat is None) != (lon is None):
        raise ApiError(400, LAT_LONG_PAIR)
    address = _field("address_string", ADDRESS_MAX)
    if lat is None and address is None:
        raise ApiError(400, ADDRESS_ID_UNSUPPORTED if _field("address_id") else LOCATION_MISSING)
    return open311.NewReport(
        service_code=service_code, description=_field("description", DESCRIPTION_MAX, multiline=True) or "",
        title=_field("title", TITLE_MAX) or "", lat=lat, lon=lon, address=address, phone=_phone(),
        media_url=_media_url(key),
    )


# --- bodies ---------------------------------------------------------------------------------------

def _w3c(ts: datetime | None) -> str | None:
    return utc_to_local(ts).isoformat(timespec="seconds") if ts is not None else None


def _service_body(service: dict) -> dict:
    # Keywords are comma-separated in the spec, so a short name with commas gives several.
    tags = [part.strip() for part in service["short_name"].split(",")] + [service["code"]]
    keywords = ", ".join(dict.fromkeys(tag for tag in tags if tag))
    return {
        "service_code": service["code"],
        "service_name": service["name"],
        "description": SERVICE_DESCRIPTION.format(name=service["name"]),
        "metadata": False,
        "type": "realtime",
        "keywords": keywords,
        "group": GROUP,
    }


def _note_body(event: dict) -> dict:
    returned = event["to_status"] == "classified" and event["from_status"] in ("forwarded", "in_progress")
    return {
        "datetime": _w3c(event["at"]),
        "type": event["to_status"],
        "summary": RETURNED_SUMMARY if returned else EVENT_SUMMARIES.get(event["to_status"], event["to_status"]),
        "description": event["note"],
        "agency": event["agency_name"],
    }


def _status_notes(row: dict) -> str:
    """Why the request is where it is: the latest event's note, else the status in words."""
    latest = row["events"][-1]["note"] if row["events"] else ""
    return latest or text.STATUS_LABELS.get(row["status"], row["status"])


def request_body(row: dict) -> dict:
    """A report as an Open311 request, with the notes[] and extended_attributes extensions."""
    return {
        "service_request_id": row["code"],
        "status": "closed" if row["status"] in CLOSED_STATUSES else "open",
        "status_notes": _status_notes(row),
        "service_name": row["service_name"],
        "service_code": row["service_code"],
        "description": row["description"],
        "agency_responsible": row["agency_name"],
        "service_notice": row["reply"],
        "requested_datetime": _w3c(row["created_at"]),
        "updated_datetime": _w3c(row["updated_at"]),
        "expected_datetime": _w3c(row["deadline_at"]),
        "address": row["address"],
        "lat": row["lat"],
        "long": row["lon"],
        "media_url": row["media_url"],
        "notes": [_note_body(event) for event in row["events"]],
        "extended_attributes": {"channel": row["channel"], "status": row["status"],
                                "agency_code": row["agency_code"], "title": row["title"]},
    }


# --- routes ---------------------------------------------------------------------------------------

@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    """Open: it says how to get a key, so it cannot need one."""
    endpoint = {"specification": SPECIFICATION, "url": request.url_root.rstrip("/") + bp.url_prefix,
                "changeset": DISCOVERY_CHANGESET, "type": "production", "formats": ["text/xml", "application/json"]}
    body = {"changeset": DISCOVERY_CHANGESET, "contact": CONTACT, "key_service": KEY_SERVICE,
            "endpoints": [endpoint]}
    return _render(fmt, "discovery", body)


@functools.cache
def _openapi_document() -> bytes:
    return orjson.dumps(yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8")))


@bp.get("/openapi.json")
def openapi():
    return Response(_openapi_document(), content_type=JSON_TYPE)


@bp.get(f"/services.{FMT}")
def services(fmt: str):
    _reader_scope()
    return _render(fmt, "services", [_service_body(service) for service in open311.list_services()])


@bp.get(f"/services/<service_code>.{FMT}")
def service_definition(service_code: str, fmt: str):
    _reader_scope()
    service = open311.get_service(service_code)
    if service is None:
        raise ApiError(404, UNKNOWN_SERVICE.format(value=_echo(service_code)))
    # Our categories ask for nothing beyond the standard fields.
    return _render(fmt, "service_definition", {"service_code": service["code"], "attributes": []})


@bp.get(f"/requests.{FMT}")
def requests_list(fmt: str):
    rows, total = open311.search_requests(_search(_reader_scope()))
    return _render(fmt, "service_requests", [request_body(row) for row in rows],
                   headers={"X-Total-Count": str(total)})


@bp.get(f"/requests/<request_id>.{FMT}")
def request_detail(request_id: str, fmt: str):
    row = open311.get_request(request_id, _reader_scope())
    if row is None:
        raise ApiError(404, UNKNOWN_REQUEST.format(value=_echo(request_id)))
    return _render(fmt, "service_requests", [request_body(row)])


@bp.get(f"/tokens/<token>.{FMT}")
def token_lookup(token: str, fmt: str):
    code = open311.code_for_token(token, _reader_scope())
    if code is None:
        raise ApiError(404, UNKNOWN_TOKEN.format(value=_echo(token)))
    return _render(fmt, "service_requests", [{"service_request_id": code, "token": token}])


@bp.post(f"/requests.{FMT}")
def submit(fmt: str):
    key = _submitting_key()
    idempotency_key = _idempotency_key()
    new = _new_report(key)
    try:
        done = open311.submit_report(new, key, idempotency_key=idempotency_key)
    except open311.UnknownService:
        raise ApiError(404, UNKNOWN_SERVICE.format(value=_echo(new.service_code))) from None
    except open311.IdempotencyConflict:
        raise ApiError(422, IDEMPOTENCY_CONFLICT) from None
    notice = INTAKE_NOTICE.format(code=done.code)
    if done.deadline_at is not None:
        notice += INTAKE_DEADLINE.format(deadline=utc_to_local(done.deadline_at).strftime("%H:%M %d/%m/%Y"))
    body = [{"service_request_id": done.code, "token": done.token, "service_notice": notice, "account_id": None}]
    # A repeat answers 200 with the first submission's request, and says so; a new report answers 201.
    headers = {"Location": url_for(".request_detail", request_id=done.code, fmt=fmt)}
    if done.repeated:
        headers["Idempotent-Replayed"] = "true"
    return _render(fmt, "service_requests", body, 200 if done.repeated else 201, headers=headers)


# --- command line ---------------------------------------------------------------------------------

def _local(ts: datetime | None) -> str:
    return utc_to_local(ts).strftime("%d/%m/%Y %H:%M") if ts else "—"


def register_cli(server: Flask) -> None:
    """flask --app app api-key create NAME --channel CH | list | revoke NAME"""
    group = AppGroup("api-key", help="Khóa API Open311: mỗi khóa thuộc một kênh, chỉ gửi và đọc phản ánh.")

    @group.command("create")
    @click.argument("name")
    @click.option("--channel", required=True, type=click.Choice(CHANNELS), help="Kênh tiếp nhận của khóa.")
    @click.option("--media-host", "media_hosts", multiple=True,
                  help="Máy chủ ảnh mà khóa được đính kèm media_url (lặp lại được).")
    def create(name, channel, media_hosts):
        """Create a key and print it (only this once)."""
        try:
            key, plain = open311.create_api_key(name, channel, media_hosts=media_hosts)
        except open311.ApiKeyError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Đã tạo khóa API '{key.name}' (kênh {key.channel}). Khóa chỉ in một lần, hãy lưu lại:")
        click.echo(plain)

    @group.command("list")
    def list_keys():
        """List the keys (never the keys themselves)."""
        keys = open311.list_api_keys()
        if not keys:
            click.echo("Chưa có khóa API nào.")
            return
        header = ("Tên", "Kênh", "Tiền tố", "Tạo lúc", "Thu hồi lúc", "Dùng lần cuối", "Máy chủ ảnh")
        rows = [header] + [(k.name, k.channel, k.key_prefix, _local(k.created_at), _local(k.revoked_at),
                            _local(k.last_used_at), ",".join(k.media_hosts) or "—") for k in keys]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    @group.command("media-hosts")
    @click.argument("name")
    @click.argument("hosts", nargs=-1)
    def media_hosts_command(name, hosts):
        """Set the hosts whose media URLs key NAME may attach (none: it attaches no media)."""
        try:
            key = open311.set_media_hosts(name, hosts)
        except open311.ApiKeyError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Khóa '{key.name}' đính kèm được ảnh từ: {', '.join(key.media_hosts) or '(không máy chủ nào)'}.")

    @group.command("revoke")
    @click.argument("name")
    def revoke(name):
        """Revoke a key: it stops working at once."""
        try:
            key = open311.revoke_api_key(name)
        except open311.ApiKeyError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Khóa API '{key.name}' đã bị thu hồi lúc {_local(key.revoked_at)}.")

    server.cli.add_command(group)
