"""GeoReport v2 request objects (with the notes[] history extension) -> Incoming reports."""

from __future__ import annotations

from queries.importers.convert import Incoming, finish, parse_time
from queries.importers.mapping import Mapping
from queries.importers.readers import Record, RowError

# Note types seen in GeoReport v2 extensions (Chicago's) and the status each one moves the report to.
NOTE_STATUS = {
    "opened": "received",
    "submitted": "received",
    "activity": "in_progress",
    "follow_on_created": "in_progress",
    "follow_on_closed": "in_progress",
    "closed": "resolved",
}


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value).strip()


def from_open311(record: Record, mapping: Mapping) -> Incoming:
    obj, line = record.values, record.line
    external_id = _text(obj, "service_request_id")
    if not external_id:
        raise RowError(line, "service_request_id", "thiếu service_request_id")
    created = parse_time(_text(obj, "requested_datetime"), mapping, "requested_datetime", line)
    if created is None:
        raise RowError(line, "requested_datetime", "thiếu requested_datetime")
    raw_status = _text(obj, "status")
    status = mapping.status.values.get(raw_status) or mapping.status.default
    if status is None:
        raise RowError(line, "status", f"trạng thái '{raw_status[:40]}' không có trong ánh xạ")
    extended = obj.get("extended_attributes") if isinstance(obj.get("extended_attributes"), dict) else {}
    item = Incoming(
        line=line, external_id=external_id[:100], created_at=created, status=status,
        category_value=_text(obj, "service_name") or _text(obj, "service_code"),
        agency_value=_text(obj, "agency_responsible"),
        channel_value=_text(extended, "channel"),
        title=_text(obj, "title") or _text(obj, "service_name"),
        description=_text(obj, "description"),
        address=_text(obj, "address") or None,
        deadline_at=parse_time(_text(obj, "expected_datetime"), mapping, "expected_datetime", line),
        status_note=_text(obj, "status_notes"),
    )
    lat, lon = obj.get("lat"), obj.get("long")
    if lat not in (None, "") and lon not in (None, ""):
        try:
            item.lat, item.lon = float(lat), float(lon)
        except (TypeError, ValueError):
            raise RowError(line, "lat", "tọa độ không phải số") from None
        if not (-90 <= item.lat <= 90 and -180 <= item.lon <= 180):
            raise RowError(line, "lat", f"tọa độ ngoài phạm vi: {item.lat}, {item.lon}")
    item.events = _events(obj.get("notes"), mapping, line, status)
    closed = None
    if status in ("resolved", "rejected"):
        closing = [at for at, _, to, _ in item.events if to in ("resolved", "rejected")]
        closed = closing[-1] if closing else parse_time(_text(obj, "updated_datetime"), mapping, "updated_datetime",
                                                        line)
    return finish(item, closed, parse_time(_text(obj, "updated_datetime"), mapping, "updated_datetime", line))


def _events(notes, mapping: Mapping, line: int, final_status: str) -> list:
    """The notes[] history as events in time order; the last event carries the report's own status."""
    if not isinstance(notes, list) or not notes:
        return []
    events, current = [], None
    parsed = []
    for i, note in enumerate(notes):
        if not isinstance(note, dict):
            raise RowError(line, f"notes[{i}]", "ghi chú không phải đối tượng JSON")
        at = parse_time(_text(note, "datetime"), mapping, f"notes[{i}].datetime", line)
        if at is None:
            raise RowError(line, f"notes[{i}].datetime", "ghi chú thiếu thời điểm")
        parsed.append((at, i, note))
    for at, _, note in sorted(parsed, key=lambda p: (p[0], p[1])):
        to = NOTE_STATUS.get(_text(note, "type"), current or "received")
        text = " — ".join(t for t in (_text(note, "summary"), _text(note, "description")) if t)
        events.append((at, current, to, text))
        current = to
    if events and events[-1][2] != final_status:
        at, before, _, text = events[-1]
        events[-1] = (at, before, final_status, text)
    return events
