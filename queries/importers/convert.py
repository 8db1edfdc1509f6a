"""One source record -> one Incoming report (or a RowError naming the field and the reason)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from queries.importers.mapping import Mapping
from queries.importers.readers import Record, RowError

UTC = ZoneInfo("UTC")
CLOSED = ("resolved", "rejected")
_POINT = re.compile(r"^\s*\(?\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)?\s*$")
_PHONE = re.compile(r"^\+?[0-9 .\-]{6,20}$")
LIMITS = {"title": 300, "address": 300, "description": 20_000, "status_note": 2_000}


@dataclass
class Incoming:
    line: int
    external_id: str
    created_at: datetime
    status: str
    category_value: str = ""
    agency_value: str = ""
    channel_value: str = ""
    title: str = ""
    description: str = ""
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    phone: str | None = None
    deadline_at: datetime | None = None
    closed_at: datetime | None = None
    commune: str | None = None
    status_note: str = ""
    events: list[tuple[datetime, str | None, str, str]] = field(default_factory=list)  # at, from, to, note


def parse_time(text: str, mapping: Mapping, field_name: str, line: int) -> datetime | None:
    """Local or offset-carrying text -> naive UTC. Empty -> None; unreadable -> RowError."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in mapping.date_formats:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00")) if fmt == "iso" else \
                datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=mapping.tz)
        return parsed.astimezone(UTC).replace(tzinfo=None)
    formats = ", ".join(mapping.date_formats)
    raise RowError(line, field_name, f"không đọc được thời gian '{text[:40]}' (định dạng {formats})")


def _first(values: dict, columns: tuple[str, ...]) -> str:
    for col in columns:
        value = values.get(col.lower())
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _coordinates(mapping: Mapping, get, line: int) -> tuple[float | None, float | None]:
    if "point" in mapping.fields:
        point = get("point")
        if not point:
            return None, None
        match = _POINT.match(point)
        if not match:
            raise RowError(line, "point", f"tọa độ '{point[:40]}' không đúng dạng '(vĩ độ, kinh độ)'")
        lat_text, lon_text = match.groups()
    else:
        lat_text, lon_text = get("lat"), get("lon")
        if not lat_text and not lon_text:
            return None, None
        if not lat_text or not lon_text:
            raise RowError(line, "lat" if not lat_text else "lon", "chỉ có một trong hai tọa độ")
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise RowError(line, "lat", f"tọa độ không phải số: '{lat_text[:20]}', '{lon_text[:20]}'") from None
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180) or lat != lat or lon != lon:
        raise RowError(line, "lat", f"tọa độ ngoài phạm vi: {lat}, {lon}")
    for plat, plon in mapping.no_location_points:
        if abs(lat - plat) <= mapping.no_location_tolerance and abs(lon - plon) <= mapping.no_location_tolerance:
            return None, None  # a placeholder point means "not geocoded"
    if lat == 0 and lon == 0:
        return None, None
    return lat, lon


def _status(mapping: Mapping, values: dict, get_col, line: int) -> str:
    for rule in mapping.status_rules:
        if get_col(rule.column).startswith(rule.startswith):
            return rule.status
    raw = _first(values, mapping.status.columns)
    status = mapping.status.values.get(raw) or mapping.status.default
    if status is None:
        raise RowError(line, "status", f"trạng thái '{raw[:40]}' không có trong ánh xạ")
    return status


def from_csv(record: Record, mapping: Mapping) -> Incoming:
    values, line = record.values, record.line

    def get(name: str) -> str:
        return _first(values, mapping.fields.get(name, ()))

    external_id = _first(values, mapping.external_id)
    if not external_id:
        raise RowError(line, "external_id", "thiếu mã phản ánh của nguồn")
    if len(external_id) > 100:
        raise RowError(line, "external_id", "mã phản ánh dài quá 100 ký tự")
    created = parse_time(get("created_at"), mapping, "created_at", line)
    if created is None:
        raise RowError(line, "created_at", "thiếu thời điểm tiếp nhận")
    item = Incoming(
        line=line, external_id=external_id, created_at=created,
        status=_status(mapping, values, lambda c: _first(values, (c,)), line),
        category_value=_first(values, mapping.category.columns),
        agency_value=_first(values, mapping.agency.columns),
        channel_value=_first(values, mapping.channel.columns),
        title=get("title"), description=get("description"), address=get("address") or None,
        deadline_at=parse_time(get("deadline_at"), mapping, "deadline_at", line),
        status_note=get("status_note"), commune=get("commune") or None,
    )
    item.lat, item.lon = _coordinates(mapping, get, line)
    phone = get("phone")
    if phone:
        if not _PHONE.match(phone):
            raise RowError(line, "phone", "số điện thoại không hợp lệ")
        item.phone = phone
    closed = parse_time(get("closed_at"), mapping, "closed_at", line)
    updated = parse_time(get("updated_at"), mapping, "updated_at", line)
    return finish(item, closed, updated)


def finish(item: Incoming, closed: datetime | None, updated: datetime | None) -> Incoming:
    """Checks that need several fields, trims text to the column sizes, and the default history."""
    line = item.line
    if item.status in CLOSED:
        closed = closed or updated
        if closed is None:
            raise RowError(line, "closed_at", f"trạng thái '{item.status}' nhưng thiếu thời điểm đóng")
        if closed < item.created_at:
            raise RowError(line, "closed_at", "thời điểm đóng trước thời điểm tiếp nhận")
        item.closed_at = closed
    for name, limit in LIMITS.items():
        value = getattr(item, name)
        if value and len(value) > limit:
            setattr(item, name, value[: limit - 1] + "…")
    item.title = item.title or item.category_value or "(không có tiêu đề)"
    if not item.events:
        item.events.append((item.created_at, None, "received", "Nhập từ dữ liệu nguồn"))
        if item.status != "received":
            at = item.closed_at or updated or item.created_at
            item.events.append((max(at, item.created_at), "received", item.status, item.status_note))
    return item
