"""Streaming imports with nothing lost: every input record ends imported (new, updated or unchanged) or in
the reject file with its line, field and reason. Batches commit one by one; re-running the same file
after an interruption finishes the job, because rows are keyed by (source, external id).

    summary = import_file("boston311_2015.csv.gz", profile="boston")
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, delete, insert, select, update

from queries import db as database
from queries.cases import phone_tail
from queries.db import Database, get_db
from queries.filters import utc_now
from queries.importers.convert import Incoming, from_csv
from queries.importers.mapping import Mapping, MappingError, load_mapping, load_profile, profile_names
from queries.importers.open311 import from_open311
from queries.importers.readers import Record, RowError, csv_header, read_csv, read_json_array
from queries.schema import admin_units, agencies, categories, report_events, reports
from queries.workcalendar import default_calendar

DEFAULT_BATCH = 2_000
_CODE_SAFE = re.compile(r"^[\w.\-]+$")

__all__ = ["DEFAULT_BATCH", "ImportSummary", "MappingError", "import_file", "profile_names", "resolve_mapping",
           "summary_text"]


@dataclass
class ImportSummary:
    source: str
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    unknown_categories: Counter = field(default_factory=Counter)
    unknown_channels: Counter = field(default_factory=Counter)
    created_agencies: list[str] = field(default_factory=list)
    reject_path: Path | None = None

    @property
    def adds_up(self) -> bool:
        return self.read == self.imported + self.updated + self.unchanged + self.rejected

    @property
    def all_rejected(self) -> bool:
        return self.read > 0 and self.rejected == self.read

    def why_all_rejected(self) -> str:
        """One line: how many, and the most common reasons."""
        reasons = ", ".join(f"{reason} ({count})" for reason, count in self.reasons.most_common(3))
        return (f"Không nhập được phản ánh nào: cả {self.read} bản ghi bị loại; lý do chính: {reasons}. "
                f"Xem {self.reject_path}")


def summary_text(s: ImportSummary, file: str | Path) -> str:
    """What the command prints: the counts (which add up) and what needs a look."""
    def n(value: int) -> str:
        return f"{value:,}".replace(",", ".")

    lines = [
        f"Nhập {file} (nguồn '{s.source}'):",
        f"  đọc        {n(s.read):>10}",
        f"  nhập mới   {n(s.imported):>10}",
        f"  cập nhật   {n(s.updated):>10}",
        f"  không đổi  {n(s.unchanged):>10}",
        f"  bị loại    {n(s.rejected):>10}" + (f"  → {s.reject_path}" if s.rejected else ""),
    ]
    for reason, count in s.reasons.most_common(15):
        lines.append(f"      {n(count):>8}  {reason}")
    if s.unknown_categories:
        lines.append(f"  {n(sum(s.unknown_categories.values()))} phản ánh có lĩnh vực không có trong ánh xạ → 'Khác' "
                     f"({len(s.unknown_categories)} giá trị, nhiều nhất: "
                     + "; ".join(f"{k} ({n(v)})" for k, v in s.unknown_categories.most_common(5)) + ")")
    if s.unknown_channels:
        lines.append(f"  {n(sum(s.unknown_channels.values()))} phản ánh có kênh không có trong ánh xạ → mặc định "
                     + "; ".join(f"{k} ({n(v)})" for k, v in s.unknown_channels.most_common(5)))
    if s.created_agencies:
        lines.append(f"  {n(len(s.created_agencies))} đơn vị mới được tạo: " + "; ".join(s.created_agencies[:8])
                     + (" …" if len(s.created_agencies) > 8 else ""))
    return "\n".join(lines)


def resolve_mapping(profile: str, mapping_path: str | Path | None) -> Mapping:
    if profile == "csv":
        if not mapping_path:
            raise MappingError("Hồ sơ 'csv' cần --mapping TỆP.yaml")
        return load_mapping(mapping_path)
    mapping = load_profile(profile)
    return load_mapping(mapping_path) if mapping_path else mapping


def import_file(path: str | Path, profile: str = "csv", mapping_path: str | Path | None = None,
                db: Database | None = None, batch_size: int = DEFAULT_BATCH, reject_path: str | Path | None = None,
                progress: Callable[[str], None] | None = None) -> ImportSummary:
    db = get_db(db)
    path = Path(path)
    mapping = resolve_mapping(profile, mapping_path)
    check_header(path, mapping)
    writer = _Writer(db, mapping)
    summary = ImportSummary(source=mapping.source)
    summary.reject_path = Path(reject_path) if reject_path else _default_reject_path(path)
    summary.reject_path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with open(summary.reject_path, "w", encoding="utf-8", newline="") as rejects_file:
        rejects = csv.writer(rejects_file)
        rejects.writerow(["line", "external_id", "field", "reason", "raw"])

        def reject(err: RowError) -> None:
            summary.rejected += 1
            summary.reasons[f"{err.field or 'dòng'}: {_reason_kind(err.reason)}"] += 1
            rejects.writerow([err.line, err.external_id, err.field, err.reason, err.raw])

        batch: list[Incoming] = []
        for item in _records(path, mapping):
            summary.read += 1
            if isinstance(item, RowError):
                item.external_id = item.external_id or _guess_id(item.values, mapping)
                reject(item)
                continue
            try:
                incoming = from_open311(item, mapping) if mapping.format == "open311" else from_csv(item, mapping)
                if incoming.external_id in seen:
                    raise RowError(item.line, "external_id", f"mã '{incoming.external_id}' lặp lại trong tệp")
                writer.check(incoming)
            except RowError as err:
                err.raw = err.raw or item.raw[:2000]
                err.external_id = err.external_id or _guess_id(item.values, mapping)
                reject(err)
                continue
            seen.add(incoming.external_id)
            batch.append(incoming)
            if len(batch) >= batch_size:
                writer.write(batch, summary)
                if progress:
                    progress(f"đã ghi {summary.imported + summary.updated + summary.unchanged} phản ánh "
                             f"(dòng {incoming.line})")
                batch = []
        if batch:
            writer.write(batch, summary)
    summary.created_agencies = writer.created_agencies
    summary.unknown_categories = writer.unknown_categories
    summary.unknown_channels = writer.unknown_channels
    return summary


def check_header(path: Path, mapping: Mapping) -> None:
    """Before the first row: a MappingError naming every column the mapping reads and the file lacks."""
    if mapping.format != "csv":
        return
    header = csv_header(path, mapping.encoding, mapping.delimiter)
    if header is None:
        return  # an empty file: reported as its one rejected record
    missing = mapping.missing_in(header)
    if missing:
        wanted = "; ".join(f"{key}: {' hoặc '.join(columns)}" for key, columns in missing.items())
        raise MappingError(f"{path.name}: tệp không có các cột mà ánh xạ {mapping.path or mapping.source} cần "
                           f"({wanted}). Cột của tệp: {', '.join(header)}")


def _records(path: Path, mapping: Mapping) -> Iterator[Record | RowError]:
    try:
        if mapping.format == "open311":
            yield from read_json_array(path, mapping.encoding)
        else:
            yield from read_csv(path, mapping.encoding, mapping.delimiter)
    except RowError as fatal:
        # The rest of the file cannot be read (no header, broken JSON structure): say so as one rejected record.
        yield fatal


def _default_reject_path(path: Path) -> Path:
    stamp = utc_now().strftime("%Y%m%d-%H%M%S")
    name = path.name.split(".")[0]
    return database.instance_dir() / "imports" / f"{name}-{stamp}.rejects.csv"


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: drop the quoted values that differ from row to row."""
    return re.sub(r"'[^']*'", "'…'", reason)


def _guess_id(values: dict, mapping: Mapping) -> str:
    """The record's external id as far as it can be read, for the reject file."""
    if mapping.format == "open311":
        return str(values.get("service_request_id") or "")[:100]
    for col in mapping.external_id:
        value = values.get(col.lower())
        if value:
            return str(value)[:100]
    return ""


class _Writer:
    """Resolves categories, agencies and channels, then upserts batches keyed by (source, external_id)."""

    def __init__(self, db: Database, mapping: Mapping):
        self.db, self.mapping = db, mapping
        self.calendar = default_calendar()
        self.category_ids = {r["code"]: r["id"] for r in db.read_rows(select(categories.c.code, categories.c.id))}
        self.agency_ids = {r["code"]: r["id"] for r in db.read_rows(select(agencies.c.code, agencies.c.id))}
        self.agency_names = {r["name"]: r["id"] for r in db.read_rows(select(agencies.c.name, agencies.c.id))}
        self.communes = {r["code"] for r in db.read_rows(select(admin_units.c.code))}
        self.created_agencies: list[str] = []
        self.unknown_categories: Counter = Counter()
        self.unknown_channels: Counter = Counter()
        for target in [*mapping.category.values.values(), mapping.category.default or "KHAC"]:
            if target not in self.category_ids:
                raise MappingError(f"{mapping.path}: category.values: lĩnh vực '{target}' không có trong cơ sở dữ liệu")
        for target in mapping.agency.values.values():
            if target not in self.agency_ids:
                raise MappingError(f"{mapping.path}: agency.values: đơn vị '{target}' không có trong cơ sở dữ liệu")
        if mapping.agency_unknown not in ("create", "reject") and mapping.agency_unknown not in self.agency_ids:
            raise MappingError(f"{mapping.path}: agency.unknown phải là create, reject hoặc một mã đơn vị có sẵn")

    def check(self, item: Incoming) -> None:
        """Row-level checks that need reference data."""
        if item.agency_value and self.mapping.agency_unknown == "reject" and \
                item.agency_value not in self.mapping.agency.values:
            raise RowError(item.line, "agency", f"đơn vị '{item.agency_value[:60]}' không có trong ánh xạ")
        if not self.mapping.channel.default and item.channel_value not in self.mapping.channel.values:
            raise RowError(item.line, "channel", f"kênh '{item.channel_value[:40]}' không có trong ánh xạ")

    def _category_id(self, value: str) -> int:
        code = self.mapping.category.values.get(value)
        if code is None:
            self.unknown_categories[value or "(trống)"] += 1
            code = self.mapping.category.default or "KHAC"
        return self.category_ids[code]

    def _channel(self, value: str) -> str:
        channel = self.mapping.channel.values.get(value)
        if channel is None:
            self.unknown_channels[value or "(trống)"] += 1
            channel = self.mapping.channel.default
        return channel

    def _agency_id(self, conn, value: str) -> int | None:
        if not value:
            return None
        mapped = self.mapping.agency.values.get(value)
        if mapped:
            return self.agency_ids[mapped]
        if self.mapping.agency_unknown != "create":
            return self.agency_ids[self.mapping.agency_unknown]
        name = value[:200]
        if name in self.agency_names:
            return self.agency_names[name]
        code = _agency_code(self.mapping.source, value)
        new_id = conn.execute(insert(agencies).values(code=code, name=name, short_name=value[:80], kind="other")
                              .returning(agencies.c.id)).scalar_one()
        self.agency_ids[code] = self.agency_names[name] = new_id
        self.created_agencies.append(name)
        return new_id

    def _row(self, conn, item: Incoming) -> dict:
        status = item.status
        agency_id = self._agency_id(conn, item.agency_value)
        # Source systems have no IOC stage: an assigned report is with its agency from the moment it arrived,
        # and the source's own due time is the agency-stage deadline.
        with_agency = agency_id is not None and status not in ("received", "classified")
        work_days = self.calendar.working_days_between(np.datetime64(item.created_at, "s"),
                                                       np.datetime64(item.closed_at, "s")) \
            if with_agency and status == "resolved" else np.nan
        row = {
            "code": _report_code(self.mapping.source, item.external_id),
            "title": item.title, "description": item.description, "category_id": self._category_id(item.category_value),
            "commune_code": item.commune if item.commune in self.communes else None,
            "channel": self._channel(item.channel_value), "lat": item.lat, "lon": item.lon,
            "reporter_phone": item.phone, "phone_tail": phone_tail(item.phone), "status": status,
            "agency_id": agency_id,
            "forwarded_at": item.created_at if with_agency else None,
            "first_forwarded_at": item.created_at if with_agency else None,
            "agency_deadline_at": item.deadline_at if with_agency else None,
            "agency_work_days": None if work_days != work_days else round(float(work_days), 6),
            "created_at": item.created_at, "resolved_at": item.closed_at if status == "resolved" else None,
            "rejected_at": item.closed_at if status == "rejected" else None, "deadline_at": item.deadline_at,
            "address": item.address, "source": self.mapping.source, "external_id": item.external_id,
        }
        digest = hashlib.sha1(json.dumps([row, item.events], default=str, sort_keys=True).encode()).hexdigest()
        return {**row, "source_hash": digest}

    def write(self, batch: list[Incoming], summary: ImportSummary) -> None:
        now = utc_now()
        with self.db.begin() as conn:
            rows = {item.external_id: (item, self._row(conn, item)) for item in batch}
            existing = {r.external_id: (r.id, r.source_hash) for r in conn.execute(
                select(reports.c.id, reports.c.external_id, reports.c.source_hash)
                .where(reports.c.source == self.mapping.source, reports.c.external_id.in_(list(rows))))}
            new = [row for ext, (_, row) in rows.items() if ext not in existing]
            changed = [row for ext, (_, row) in rows.items()
                       if ext in existing and existing[ext][1] != row["source_hash"]]
            changed_ids = [existing[row["external_id"]][0] for row in changed]
            summary.unchanged += len(rows) - len(new) - len(changed)
            taken = set(conn.execute(select(reports.c.code).where(
                reports.c.code.in_([row["code"] for row in new]))).scalars()) if new else set()
            for row in new:
                if row["code"] in taken:
                    row["code"] = _report_code(self.mapping.source, row["external_id"], taken=True)
            # A report keeps the code it was given (perhaps a digest one, above) when its source corrects it.
            changed = [{k: v for k, v in row.items() if k != "code"} for row in changed]
            if new:
                conn.execute(insert(reports), [{**row, "updated_at": now} for row in new])
            if changed:
                # Bind names must differ from column names in an executemany UPDATE, hence the b_ prefix.
                conn.execute(update(reports).where(reports.c.id == bindparam("b_id"))
                             .values(**{k: bindparam(f"b_{k}") for k in changed[0]},
                                     updated_at=now, version=reports.c.version + 1),
                             [{"b_id": rid, **{f"b_{k}": v for k, v in row.items()}}
                              for rid, row in zip(changed_ids, changed, strict=True)])
            ids = dict(conn.execute(
                select(reports.c.external_id, reports.c.id).where(
                    reports.c.source == self.mapping.source,
                    reports.c.external_id.in_([r["external_id"] for r in [*new, *changed]]))).all()) \
                if new or changed else {}
            if changed:
                conn.execute(delete(report_events).where(report_events.c.report_id.in_(changed_ids)))
            events = [
                {"report_id": ids[row["external_id"]], "at": at, "actor": f"Nhập dữ liệu ({self.mapping.source})",
                 "from_status": before, "to_status": to, "agency_id": row["agency_id"], "note": note or ""}
                for row in [*new, *changed] for at, before, to, note in rows[row["external_id"]][0].events
            ]
            if events:
                conn.execute(insert(report_events), events)
        summary.imported += len(new)
        summary.updated += len(changed)


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    return slug[:limit] or "X"


def _agency_code(source: str, value: str) -> str:
    digest = hashlib.sha1(value.encode()).hexdigest()[:4]
    return f"{_slug(source, 6)}.{_slug(value, 18)}.{digest}"


def _report_code(source: str, external_id: str, taken: bool = False) -> str:
    """A report's public code: the source's name, cut to 8 letters, and its id. `taken`: that code belongs to
    another report (a source whose name begins alike, or the app's own numbering), so the source is named by
    a digest of its whole name instead."""
    prefix = hashlib.sha1(source.encode()).hexdigest()[:8].upper() if taken else _slug(source, 8)
    code = f"{prefix}-{external_id}"
    if len(code) <= 30 and _CODE_SAFE.match(code):
        return code
    return f"{prefix}-{hashlib.sha1(external_id.encode()).hexdigest()[:16]}"
