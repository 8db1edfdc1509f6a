"""Nothing is lost, nothing is doubled: re-imports, changed rows, the reject file, the command line, an import killed
half-way, flat memory, and property tests that throw malformed rows at the CSV importer.

Expectations come from the files the tests write themselves: each generated row knows whether it is good, and on
which physical line it starts.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text

from queries.db import Database
from queries.demo import seed_agencies
from queries.filters import utc_now
from queries.importers import MappingError, import_file
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import report_events, reports
from tests.conftest import ROOT, TEST_SECRET, create_pg_database

DATA = ROOT.parent / "shared" / "data"
BOSTON = DATA / "boston311_2015" / "boston311_2015.csv.gz"
LA_2017 = DATA / "la311_samples" / "la311_2017-12-27_to_31.csv.gz"
CHICAGO = DATA / "chicago_open311_notes" / "chicago_open311_requests_with_notes_2014.json"


def require(*paths: Path) -> None:
    for path in paths:
        assert path.exists(), f"shared data missing: {path} (expected under {DATA})"


def new_database(kind: str, where: Path, pg_server_url: str) -> tuple[Database, callable]:
    if kind == "sqlite":
        db, drop = Database(f"sqlite:///{where / f'{kind}-{os.urandom(4).hex()}.sqlite3'}"), None
    else:
        url, drop = create_pg_database(pg_server_url)
        db = Database(url)
    upgrade(db)
    load_reference_data(db)

    def close():
        db.dispose()
        if drop:
            drop()

    return db, close


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path, pg_server_url):
    """A fresh database with the schema and reference data, on each backend."""
    db, close = new_database(request.param, tmp_path, pg_server_url)
    yield db
    close()


def count(db: Database, table) -> int:
    return db.scalar(select(func.count()).select_from(table))


def read_rejects(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# --- re-import and changed rows ------------------------------------------------------------------------------------

def la_slice(n: int) -> tuple[list[str], list[list[str]]]:
    with gzip.open(LA_2017, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for _, row in zip(range(n), reader, strict=False)]
    return header, rows


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *rows])


def test_reimport_adds_nothing_and_a_changed_row_is_updated_with_new_history(empty_db, tmp_path):
    require(LA_2017)
    header, rows = la_slice(300)
    path = tmp_path / "la-300.csv"
    write_rows(path, header, rows)
    first = import_file(path, "la", db=empty_db, reject_path=tmp_path / "r1.csv")
    assert first.adds_up and first.imported + first.rejected == 300 and first.imported > 250
    events_before = count(empty_db, report_events)

    again = import_file(path, "la", db=empty_db, reject_path=tmp_path / "r2.csv")
    assert (again.read, again.imported, again.updated, again.unchanged, again.rejected) == \
        (300, 0, 0, first.imported, first.rejected)
    assert count(empty_db, reports) == first.imported and count(empty_db, report_events) == events_before

    # Edit a copy: one closed case becomes cancelled (a status change), another gets a new request type.
    col = {name.lower(): i for i, name in enumerate(header)}
    resolved = set(empty_db.read_frame(select(reports.c.external_id).where(reports.c.status == "resolved"))
                   .external_id)
    targets = [i for i, row in enumerate(rows) if row[col["srnumber"]] in resolved][:2]
    cancelled, retyped = (rows[i][col["srnumber"]] for i in targets)
    rows[targets[0]][col["status"]] = "Cancelled"
    rows[targets[1]][col["requesttype"]] = "Dead Animal Removal" if rows[targets[1]][col["requesttype"]] != \
        "Dead Animal Removal" else "Graffiti Removal"
    edited = tmp_path / "la-300-edited.csv"
    write_rows(edited, header, rows)
    changed = import_file(edited, "la", db=empty_db, reject_path=tmp_path / "r3.csv")
    assert (changed.read, changed.imported, changed.updated, changed.unchanged, changed.rejected) == \
        (300, 0, 2, first.imported - 2, first.rejected)

    frame = empty_db.read_frame(select(reports).order_by(reports.c.id)).set_index("external_id")
    assert len(frame) == first.imported
    assert frame.loc[cancelled, "status"] == "rejected" and pd.notna(frame.loc[cancelled, "rejected_at"])
    assert pd.isna(frame.loc[cancelled, "resolved_at"])
    assert frame.loc[[cancelled, retyped], "version"].tolist() == [2, 2]
    assert (frame.drop(index=[cancelled, retyped]).version == 1).all()
    # Its history was replaced, not appended to: still two events, the last one now 'rejected'.
    history = empty_db.read_frame(select(report_events.c.to_status).where(
        report_events.c.report_id == int(frame.loc[cancelled, "id"])).order_by(report_events.c.at, report_events.c.id))
    assert history.to_status.tolist() == ["received", "rejected"]
    assert count(empty_db, report_events) == events_before


def test_changed_open311_notes_replace_the_events(empty_db, tmp_path):
    require(CHICAGO)
    requests = json.loads(CHICAGO.read_text(encoding="utf-8"))
    first = import_file(CHICAGO, "open311", db=empty_db, reject_path=tmp_path / "r1.csv")
    assert (first.imported, first.rejected) == (50, 0)
    # Re-open one closed request: drop its closing note.
    target = next(r for r in requests if r["status"] == "closed" and len(r["notes"]) >= 3)
    target["status"] = "open"
    target["notes"] = [n for n in target["notes"] if n["type"] != "closed"]
    edited = tmp_path / "chicago-edited.json"
    edited.write_text(json.dumps(requests, ensure_ascii=False, indent=1), encoding="utf-8")
    again = import_file(edited, "open311", db=empty_db, reject_path=tmp_path / "r2.csv")
    assert (again.read, again.imported, again.updated, again.unchanged, again.rejected) == (50, 0, 1, 49, 0)
    row = empty_db.read_rows(select(reports).where(reports.c.external_id == target["service_request_id"]))[0]
    assert row["status"] == "in_progress" and row["resolved_at"] is None and row["version"] == 2
    events = empty_db.read_frame(select(report_events).where(report_events.c.report_id == row["id"])
                                 .order_by(report_events.c.at, report_events.c.id))
    assert len(events) == len(target["notes"])
    want = sorted(pd.Timestamp(n["datetime"]).tz_convert("UTC").tz_localize(None) for n in target["notes"])
    assert list(pd.to_datetime(events["at"])) == want
    assert events.to_status.iloc[-1] == "in_progress"
    assert count(empty_db, report_events) == sum(len(r["notes"]) for r in requests)


# --- the reject file, line by line ---------------------------------------------------------------------------------

COLUMNS = ["ma", "tiep_nhan", "hoan_thanh", "trang_thai", "noi_dung", "vi_do", "kinh_do", "linh_vuc", "don_vi", "kenh"]
STATUS_VALUES = {"Mới": "received", "Đang xử lý": "in_progress", "Đã xử lý": "resolved"}


def small_mapping(source: str, **overrides: str) -> str:
    """The mapping the hand-made files use; `overrides` replace whole top-level entries (YAML text)."""
    parts = {
        "source": source,
        "timezone": "Asia/Ho_Chi_Minh",
        "date_formats": '["%d/%m/%Y %H:%M", "iso"]',
        "external_id": "ma",
        "fields": "{created_at: tiep_nhan, closed_at: hoan_thanh, description: noi_dung, lat: vi_do, lon: kinh_do}",
        "status": "{column: trang_thai, values: {Mới: received, Đang xử lý: in_progress, Đã xử lý: resolved}}",
        "category": "{column: linh_vuc, default: KHAC}",
        "agency": "{column: don_vi, unknown: create}",
        "channel": "{column: kenh, default: portal}",
        **overrides,
    }
    return "".join(f"{k}: {v}\n" for k, v in parts.items())


def cell(value: str | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    return b'"' + raw.replace(b'"', b'""') + b'"'


def record(cells: list[str | bytes]) -> bytes:
    return b",".join(cell(c) for c in cells) + b"\n"


def line_breaks(cells: list[str | bytes]) -> int:
    return sum((c if isinstance(c, bytes) else c.encode()).count(b"\n") for c in cells)


def good_cells(ext_id: str, description: str = "Đèn đường hỏng", status: str = "Đang xử lý") -> list[str]:
    closed = "02/03/2025 10:00" if status == "Đã xử lý" else ""
    return [ext_id, "01/03/2025 08:30", closed, status, description, "16.81", "107.10", "Giao thông",
            "Phòng Quản lý đô thị", "Ứng dụng"]


def test_reject_file_lists_every_bad_row_with_its_line_field_and_reason(empty_db, tmp_path):
    seed_agencies(empty_db)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("tay_tay", agency="{column: don_vi, unknown: reject, "
                                                       "values: {Phòng Quản lý đô thị: SXD}}",
                                     channel="{column: kenh, values: {Ứng dụng: app}}"), encoding="utf-8")
    rows: list[tuple[list, str | None]] = [  # cells, the field the reject file must name (None: a good row)
        (good_cells("A1", "dòng một\ndòng hai\ndòng ba"), None),  # spans 3 physical lines
        (good_cells("A2", "xấu \x00 NUL"), "noi_dung"),
        (good_cells("A3", b"h\xc6\xb0 h\xff\xfeng"), "noi_dung"),  # bytes that are not UTF-8
        (good_cells("A4", "x" * 100_001), "noi_dung"),
        (good_cells("A5")[:-1], ""),  # one column short
        (good_cells("A6", "ok\n", status="Đã xử lý"), None),
        ([*good_cells("A7", status="Đã xử lý")[:2], "28/02/2025 10:00", *good_cells("A7", status="Đã xử lý")[3:]],
         "closed_at"),
        ([*good_cells("A8")[:5], "91", "107", *good_cells("A8")[7:]], "lat"),
        ([*good_cells("A9")[:5], "mười sáu", "107", *good_cells("A9")[7:]], "lat"),
        ([*good_cells("A10")[:5], "16.8", "", *good_cells("A10")[7:]], "lon"),
        ([*good_cells("A11")[:1], "30/02/2025 08:00", *good_cells("A11")[2:]], "created_at"),
        ([*good_cells("A12")[:3], "Đã hủy", *good_cells("A12")[4:]], "status"),
        (good_cells("A1"), "external_id"),  # repeats A1
        (good_cells(""), "external_id"),
        ([*good_cells("A13")[:8], "Sở Lạ", "Ứng dụng"], "agency"),  # unknown: reject
        ([*good_cells("A14")[:9], "Zalo"], "channel"),  # no default channel
        (good_cells("A15", "x" * 100_000), None),  # exactly the limit is fine
    ]
    body, line, want = b'"' + b'","'.join(c.encode() for c in COLUMNS) + b'"\n', 2, []
    for cells, field_name in rows:
        body += record(cells)
        want.append((line, field_name))
        line += 1 + line_breaks(cells)
        body += b"\n"  # a blank line between records is not a record
        line += 1
    path = tmp_path / "bad.csv"
    path.write_bytes(body)

    summary = import_file(path, "csv", mapping, db=empty_db, reject_path=tmp_path / "rejects.csv")
    bad = [(ln, f) for ln, f in want if f is not None]
    assert (summary.read, summary.imported, summary.rejected) == (len(rows), len(rows) - len(bad), len(bad))
    assert summary.adds_up and sum(summary.reasons.values()) == len(bad)
    rejects = read_rejects(tmp_path / "rejects.csv")
    assert list(rejects.columns) == ["line", "external_id", "field", "reason", "raw"]
    assert sorted(zip(rejects.line.astype(int), rejects.field, strict=True)) == sorted(bad)
    assert (rejects.reason.str.len() > 5).all() and (rejects.raw.str.len() > 0).all()
    kept = set(empty_db.read_frame(select(reports.c.external_id).where(reports.c.source == "tay_tay")).external_id)
    assert kept == {"A1", "A6", "A15"}


def test_reject_file_names_the_id_of_rows_the_reader_refuses(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nul.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("nul_id"), encoding="utf-8")
    path = tmp_path / "nul.csv"
    undecodable = [c.encode() for c in good_cells("B2")]
    undecodable[4] = b"\xff\xfe h\xe1ng"  # not UTF-8
    path.write_bytes(record(COLUMNS) + record(good_cells("B1", "có \x00 ở đây")) + record(undecodable)
                     + record(good_cells("B3", "x" * 100_001)) + record(good_cells("B4"))
                     + record(good_cells("B\x005")))
    summary = import_file(path, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
    rejects = read_rejects(tmp_path / "rejects.csv")
    db.dispose()
    assert (summary.read, summary.imported, summary.rejected) == (5, 1, 4)
    assert rejects.external_id.tolist() == ["B1", "B2", "B3", "B\\05"]  # a NUL in the id: a backslash and 0
    assert rejects.field.tolist() == ["noi_dung", "noi_dung", "noi_dung", "ma"]


@pytest.mark.xfail(strict=True, reason=(
    "BUG: a quoted field over csv.field_size_limit (1,000,000 chars) that spans lines is cut at the error and "
    "the text after its line break is read as new records: here a line inside the field is imported as report "
    "C99 and the field's tail becomes a phantom rejected record (read 5 for 3 records); with other quoting the "
    "tail swallows the next real row instead (readers.py sets the limit to 10 x MAX_FIELD_CHARS)"))
def test_a_field_over_a_million_characters_stays_one_rejected_record(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'huge.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("huge"), encoding="utf-8")
    inner = "x" * 1_000_001 + "\n" + ",".join(good_cells("C99")) + "\n"
    path = tmp_path / "huge.csv"
    path.write_bytes(record(COLUMNS) + record(good_cells("C1")) + record(good_cells("C2", inner))
                     + record(good_cells("C3")))
    summary = import_file(path, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
    kept = set(db.read_frame(select(reports.c.external_id).where(reports.c.source == "huge")).external_id)
    db.dispose()
    assert kept == {"C1", "C3"}
    assert (summary.read, summary.rejected) == (3, 1)


def test_two_sources_with_similar_names_keep_their_rows_apart(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'sources.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    path = tmp_path / "same-ids.csv"
    path.write_bytes(record(COLUMNS) + record(good_cells("001")) + record(good_cells("002")))

    def codes_of(source: str) -> dict[str, str]:
        return {row["external_id"]: row["code"] for row in db.read_rows(
            select(reports.c.external_id, reports.c.code).where(reports.c.source == source))}

    try:
        # Both names begin 'QUANG_TR'; and a report of the app's own has the code 'PA-001'.
        for source in ("quang_tri_dong_ha", "quang_tri_cam_lo", "PA", "quang_tri_cam_lo"):
            mapping = tmp_path / f"{source}.yaml"
            mapping.write_text(small_mapping(source), encoding="utf-8")
            summary = import_file(path, "csv", mapping, db=db, reject_path=tmp_path / f"{source}.csv")
            codes = codes_of(source)
            if source == "quang_tri_dong_ha":
                assert summary.imported == 2 and codes == {"001": "QUANG_TR-001", "002": "QUANG_TR-002"}
                with db.begin() as conn:  # a report of the app's own numbering
                    conn.execute(insert(reports).values(code="PA-001", title="t", description="d", category_id=1,
                                                        channel="app", status="received", created_at=utc_now(),
                                                        updated_at=utc_now()))
            elif source == "PA":
                assert summary.imported == 2 and codes["002"] == "PA-002"
                assert codes["001"] != "PA-001" and codes["001"].endswith("-001")
            elif summary.imported:  # the first import of the second 'QUANG_TR' source
                assert summary.imported == 2 and set(codes.values()).isdisjoint({"QUANG_TR-001", "QUANG_TR-002"})
                assert all(code.endswith(f"-{ext}") for ext, code in codes.items())
                second = codes
            else:  # imported again: nothing changed, the codes stay
                assert (summary.unchanged, summary.rejected) == (2, 0) and codes == second
        # The source corrects one report: it is updated and keeps its code.
        path.write_bytes(record(COLUMNS) + record(good_cells("001", "nội dung đã sửa")) + record(good_cells("002")))
        summary = import_file(path, "csv", tmp_path / "quang_tri_cam_lo.yaml", db=db,
                              reject_path=tmp_path / "corrected.csv")
        assert (summary.updated, summary.unchanged, summary.rejected) == (1, 1, 0)
        assert codes_of("quang_tri_cam_lo") == second
        assert count(db, reports) == 7
    finally:
        db.dispose()


# --- the command line ----------------------------------------------------------------------------------------------

def flask(db_url: str, instance: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "INSTANCE_DIR": str(instance), "SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def summary_numbers(stdout: str) -> dict[str, int]:
    """The counts the command prints ('  nhập mới      9.987'), with '.' as the thousands separator."""
    labels = {"đọc": "read", "nhập mới": "imported", "cập nhật": "updated", "không đổi": "unchanged",
              "bị loại": "rejected"}
    found = {}
    for label, key in labels.items():
        match = re.search(rf"^\s+{label}\s+([\d.]+)", stdout, flags=re.M)
        assert match, f"no '{label}' line in:\n{stdout}"
        found[key] = int(match.group(1).replace(".", ""))
    return found


def test_cli_prints_a_summary_that_adds_up(tmp_path):
    require(LA_2017)
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    header, rows = la_slice(500)
    path = tmp_path / "la-500.csv"
    write_rows(path, header, rows)
    rejects = tmp_path / "out" / "la.rejects.csv"
    result = flask(url, tmp_path, "import-reports", str(path), "--profile", "la", "--rejects", str(rejects),
                   "--batch-size", "100")
    assert result.returncode == 0, result.stderr
    numbers = summary_numbers(result.stdout)
    assert numbers["read"] == 500
    assert numbers["read"] == numbers["imported"] + numbers["updated"] + numbers["unchanged"] + numbers["rejected"]
    assert len(read_rejects(rejects)) == numbers["rejected"]
    assert result.stderr.count("đã ghi") == numbers["imported"] // 100  # one progress line per committed batch
    db = Database(url)
    assert count(db, reports) == numbers["imported"]
    db.dispose()
    again = summary_numbers(flask(url, tmp_path, "import-reports", str(path), "--profile", "la",
                                  "--rejects", str(rejects)).stdout)
    assert (again["imported"], again["unchanged"], again["rejected"]) == (0, numbers["imported"], numbers["rejected"])


def test_cli_mapping_errors_are_clear_and_exit_non_zero(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    data = tmp_path / "data.csv"
    data.write_bytes(record(COLUMNS) + record(good_cells("D1")))
    bad_status = tmp_path / "bad-status.yaml"
    bad_status.write_text(small_mapping("d", status="{column: trang_thai, values: {Mới: dang_cho}}"), "utf-8")
    bad_yaml = tmp_path / "bad-yaml.yaml"
    bad_yaml.write_text("source: d\nfields: {created_at: [tiep_nhan\n", encoding="utf-8")
    cases = {
        "csv without --mapping": (["--profile", "csv"], ["--mapping"]),
        "mapping file missing": (["--profile", "csv", "--mapping", str(tmp_path / "khong-co.yaml")],
                                 ["khong-co.yaml"]),
        "unknown status target": (["--profile", "csv", "--mapping", str(bad_status)],
                                  [str(bad_status), "status", "dang_cho"]),
        "broken YAML": (["--profile", "csv", "--mapping", str(bad_yaml)], [str(bad_yaml), "YAML"]),
        "unknown profile": (["--profile", "hanoi"], ["hanoi"]),
    }
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET}
    runs = {label: subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "import-reports", str(data), *args],
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for label, (args, _) in cases.items()}  # side by side; the app's start-up lock orders the migrations
    for label, proc in runs.items():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode != 0, label
        assert "Error" in stderr and "Traceback" not in stderr, (label, stderr)
        for word in cases[label][1]:
            assert word in stderr, (label, word, stderr)
    db = Database(url)
    assert count(db, reports) == 0  # refused before any row was read
    db.dispose()


def test_a_mapping_naming_columns_the_file_lacks_is_refused_before_the_first_row(tmp_path):
    """Both missing places are listed, with the file's own columns; no row is read, no reject file is left."""
    url = f"sqlite:///{tmp_path / 'header.sqlite3'}"
    data = tmp_path / "thieu-cot.csv"
    other = [c for c in COLUMNS if c not in ("tiep_nhan", "don_vi")]
    data.write_bytes(record(other) + record(["D1", "", "Mới", "x", "16.8", "107.1", "GT", "app"]))
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("thieu", fields="{created_at: [tiep_nhan, ngay_nhan], description: noi_dung}"),
                       "utf-8")
    run = flask(url, tmp_path, "import-reports", str(data), "--profile", "csv", "--mapping", str(mapping),
                "--rejects", str(tmp_path / "rejects.csv"))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    message = run.stderr.strip().splitlines()[-1]
    assert "fields.created_at: tiep_nhan hoặc ngay_nhan" in message and "agency.column: don_vi" in message
    assert "noi_dung" not in message.split("(")[1].split(")")[0]  # a column the file has is not listed as missing
    assert not (tmp_path / "rejects.csv").exists()
    db = Database(url)
    assert count(db, reports) == 0
    db.dispose()


def test_an_import_that_rejects_every_row_exits_non_zero_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'all-bad.sqlite3'}"
    data = tmp_path / "sai-ngay.csv"
    rows = [good_cells(f"B{i}") for i in range(3)]
    for row in rows:
        row[1] = "32/13/2025 08:30"  # no such day
    data.write_bytes(record(COLUMNS) + b"".join(record(row) for row in rows))
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("sai_ngay"), "utf-8")
    run = flask(url, tmp_path, "import-reports", str(data), "--profile", "csv", "--mapping", str(mapping))
    assert run.returncode != 0
    assert summary_numbers(run.stdout) == {"read": 3, "imported": 0, "updated": 0, "unchanged": 0, "rejected": 3}
    last = run.stderr.strip().splitlines()[-1]
    assert "cả 3 bản ghi bị loại" in last and "created_at" in last and "(3)" in last and "rejects.csv" in last
    # One good row among them: the import succeeds (exit 0) and keeps it.
    data.write_bytes(record(COLUMNS) + b"".join(record(row) for row in rows) + record(good_cells("G1")))
    ok = flask(url, tmp_path, "import-reports", str(data), "--profile", "csv", "--mapping", str(mapping))
    assert ok.returncode == 0, ok.stderr
    assert summary_numbers(ok.stdout)["imported"] == 1


# --- an interrupted import -----------------------------------------------------------------------------------------

def db_state(url: str) -> dict:
    db = Database(url)
    with db.engine.connect() as conn:
        frame = pd.read_sql(text("SELECT r.*, a.name AS agency_name FROM reports r "
                                 "LEFT JOIN agencies a ON a.id = r.agency_id"), conn)
        events = pd.read_sql(text("SELECT r.external_id, e.at, e.from_status, e.to_status, e.note "
                                  "FROM report_events e JOIN reports r ON r.id = e.report_id"), conn)
    db.dispose()
    frame = frame.drop(columns=["id", "agency_id", "updated_at"]).sort_values("external_id", ignore_index=True)
    events = events.sort_values(["external_id", "at", "to_status"], ignore_index=True)
    return {"reports": frame, "events": events}


def test_killed_import_finishes_when_run_again(tmp_path):
    """SIGKILL after a few committed batches, run again: the database equals one clean import (SQLite)."""
    require(BOSTON)
    clean_url, url = f"sqlite:///{tmp_path / 'clean.sqlite3'}", f"sqlite:///{tmp_path / 'killed.sqlite3'}"
    env = {**os.environ, "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "flask", "--app", "app", "import-reports", str(BOSTON), "--profile", "boston",
               "--batch-size", "2000"]
    # The clean reference import runs alongside (another process, another file).
    clean = subprocess.Popen([*command, "--rejects", str(tmp_path / "clean.csv")], cwd=ROOT,
                             env={**env, "DATABASE_URL": clean_url}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    victim = subprocess.Popen([*command, "--rejects", str(tmp_path / "killed.csv")], cwd=ROOT,
                              env={**env, "DATABASE_URL": url}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    committed = 0
    try:
        for line in victim.stderr:
            committed += "đã ghi" in line
            if committed == 3:
                victim.send_signal(signal.SIGKILL)
                break
    finally:
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    assert committed == 3 and victim.returncode == -signal.SIGKILL
    db = Database(url)
    partial = count(db, reports)
    db.dispose()

    rerun = subprocess.run([*command, "--rejects", str(tmp_path / "rerun.csv")], cwd=ROOT,
                           env={**env, "DATABASE_URL": url}, capture_output=True, text=True, timeout=600)
    clean_out, _ = clean.communicate(timeout=600)
    assert rerun.returncode == 0 and clean.returncode == 0, rerun.stderr
    first, second = summary_numbers(clean_out), summary_numbers(rerun.stdout)
    assert 3 * 2000 <= partial < first["imported"]  # it really stopped half-way
    # The rows committed before the kill are found unchanged, the rest are new, the same rows are refused.
    assert (second["read"], second["unchanged"], second["imported"], second["updated"], second["rejected"]) == \
        (first["read"], partial, first["imported"] - partial, 0, first["rejected"])

    want, got = db_state(clean_url), db_state(url)
    assert len(got["reports"]) == first["imported"]
    for column in ("status", "agency_name", "category_id", "channel"):
        assert got["reports"][column].value_counts().to_dict() == want["reports"][column].value_counts().to_dict()
    assert got["events"].to_status.value_counts().to_dict() == want["events"].to_status.value_counts().to_dict()
    pd.testing.assert_frame_equal(got["reports"], want["reports"])
    pd.testing.assert_frame_equal(got["events"], want["events"])


# --- memory --------------------------------------------------------------------------------------------------------

MEMORY_PROBE = r"""
import json, re, sys
from sqlalchemy import event
from queries.db import Database
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.importers import import_file

path, mapping, url, rejects = sys.argv[1:5]
db = Database(url)

@event.listens_for(db.engine, "connect")
def small_page_cache(dbapi_conn, _record):
    # The app asks SQLite for a 256 MiB page cache, which fills as the file grows; keep it at 8 MiB so that
    # peak RSS shows the importer's own memory.
    dbapi_conn.execute("PRAGMA cache_size=-8000")

def peak_kib():
    # VmHWM is this process's own peak RSS; getrusage's ru_maxrss would also count the pytest parent's pages
    # that the fork shared before exec.
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))

upgrade(db)
load_reference_data(db)
before = peak_kib()
s = import_file(path, "csv", mapping, db=db, reject_path=rejects)
print(json.dumps({"read": s.read, "imported": s.imported, "before_kib": before, "peak_kib": peak_kib()}))
"""


def synthetic_csv(path: Path, n: int) -> int:
    """n rows of ~1.4 KB each (a padded, unmapped note column), gzip; returns the uncompressed size."""
    padding = [f"ghi chú nội bộ {k} " * 60 for k in range(50)]
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=1) as f:
        writer = csv.writer(f)
        writer.writerow([*COLUMNS, "ghi_chu"])
        for i in range(n):
            closed = i % 2 == 0
            writer.writerow([f"M{i:07d}", "01/03/2025 08:30", "03/03/2025 17:00" if closed else "",
                             "Đã xử lý" if closed else "Đang xử lý", "Rác thải", f"{16 + i % 97 / 100:.2f}",
                             "107.10", "Môi trường", f"Đơn vị {i % 5}", "Ứng dụng", padding[i % 50]])
    with gzip.open(path, "rb") as f:
        return sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))


def test_memory_stays_flat_as_the_file_grows_tenfold(tmp_path):
    """Peak RSS of an import of 20k and of 200k rows, each in its own process.

    Bound: at most 300 bytes of extra peak memory per extra row, a fifth of one row's size in the file (~1.45 KB,
    and more once decoded), so the importer cannot be holding the rows or the file. What the larger run does need
    is ~100 B per row: the set of external ids `import_file` keeps to spot repeats (measured +18 MB for 180k more
    rows; the 200k-row file is 289 MB uncompressed).
    """
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("mem"), encoding="utf-8")
    sizes = {n: synthetic_csv(tmp_path / f"{n}.csv.gz", n) for n in (20_000, 200_000)}
    procs = {n: subprocess.Popen([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / f"{n}.csv.gz"), str(mapping),
                                  f"sqlite:///{tmp_path / f'{n}.sqlite3'}", str(tmp_path / f"{n}.rejects.csv")],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in sizes}
    runs = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        runs[n] = json.loads(out)
        assert (runs[n]["read"], runs[n]["imported"]) == (n, n)
    small, large = runs[20_000], runs[200_000]
    extra_per_row = (large["peak_kib"] - small["peak_kib"]) * 1024 / 180_000
    print(f"\npeak RSS: 20k rows {small['peak_kib'] / 1024:.0f} MiB, 200k rows {large['peak_kib'] / 1024:.0f} MiB "
          f"({extra_per_row:.0f} B per extra row; 200k file {sizes[200_000] / 2**20:.0f} MiB uncompressed)")
    assert extra_per_row < 300
    assert (large["peak_kib"] - large["before_kib"]) * 1024 < sizes[200_000] / 4


# --- property tests: malformed rows mixed with good ones -----------------------------------------------------------

VI_TEXT = st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạềếểễệờớởỡợ ,;\"'\n", max_size=40)
BASE = datetime(2020, 1, 1)


@dataclass
class Case:
    body: bytes = b""
    good: list[str] = field(default_factory=list)
    bad: dict[int, tuple[str, set[str]]] = field(default_factory=dict)  # line -> (kind, fields allowed)
    records: int = 0


def fmt_time(draw, moment: datetime) -> str:
    style = draw(st.sampled_from(["vn", "iso", "iso_offset"]))
    if style == "vn":
        return moment.strftime("%d/%m/%Y %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M") if style == "iso" else moment.strftime("%Y-%m-%dT%H:%M:00+07:00")


def good_row(draw, ext_id: str) -> list[str | bytes]:
    created = BASE + timedelta(minutes=draw(st.integers(0, 3_000_000)))
    status = draw(st.sampled_from(list(STATUS_VALUES)))
    if status == "Đã xử lý":
        closed = fmt_time(draw, created + timedelta(minutes=draw(st.integers(0, 200_000))))
    elif draw(st.booleans()):  # an open report may carry any closing time, even an earlier one
        closed = fmt_time(draw, BASE + timedelta(minutes=draw(st.integers(0, 3_000_000))))
    else:
        closed = ""
    located = draw(st.booleans())
    lat = f"{draw(st.floats(-90, 90, allow_nan=False)):.6f}" if located else ""
    lon = f"{draw(st.floats(-180, 180, allow_nan=False)):.6f}" if located else ""
    description = draw(VI_TEXT) if draw(st.integers(0, 19)) else "ư" * 100_000  # the limit itself is fine
    return [ext_id, fmt_time(draw, created), closed, status, description, lat, lon,
            draw(st.sampled_from(["Giao thông", "Môi trường", "Lạ"])),
            draw(st.sampled_from(["Phòng QLĐT", "UBND xã Gio Linh", ""])),
            draw(st.sampled_from(["Ứng dụng", "Tổng đài", "Zalo", ""]))]


def break_row(draw, kind: str, row: list) -> tuple[list, set[str]]:
    """Corrupt a good row in one way README says must be refused; returns the row and the fields it may name."""
    if kind == "encoding":
        junk = draw(st.sampled_from([b"\xff", b"\xc3(", b"\x80\x80", b"\xed\xa0\x80", b"\xe1\xbb"]))
        row[4] = row[4][:5].encode("utf-8") + junk + b" cu\xe1\xbb\x91i"
        return row, {"noi_dung"}
    if kind == "nul":
        row[4] = row[4][:10] + "\x00" + row[4][10:]
        return row, {"noi_dung"}
    if kind == "huge":
        row[4] = "đường " * (draw(st.integers(100_001, 150_000)) // 6 + 1)
        return row, {"noi_dung"}
    if kind == "columns":
        at = draw(st.integers(0, len(row) - 2))
        if draw(st.booleans()):  # a missing delimiter: two cells run together
            return [*row[:at], f"{row[at]}{row[at + 1]}", *row[at + 2:]], {""}
        return [*row, "thừa"], {""}
    if kind == "order":
        created = BASE + timedelta(minutes=draw(st.integers(0, 3_000_000)))
        row[1] = fmt_time(draw, created)
        row[2] = fmt_time(draw, created - timedelta(minutes=draw(st.integers(1, 500_000))))
        row[3] = "Đã xử lý"
        return row, {"closed_at"}
    if kind == "coordinates":
        row[5], row[6] = draw(st.sampled_from([
            ("abc", "107.1"), ("16.5", "xyz"), ("91", "107"), ("-90.0001", "107"), ("16", "180.5"),
            ("16", "-181"), ("16.5", ""), ("", "107.2"), ("nan", "107"), ("16", "inf"), ("16,5", "107"),
            ("1e3", "10")]))
        return row, {"lat", "lon"}
    if kind == "bad_time":
        which = draw(st.sampled_from([1, 2]))
        row[which] = draw(st.sampled_from(["31/02/2025 10:00", "2025/13/01", "hôm qua", "25:61", "1/1/25 8h"]))
        if which == 2:
            row[3] = "Đã xử lý"
        return row, {"created_at" if which == 1 else "closed_at"}
    if kind == "no_time":
        row[1] = draw(st.sampled_from(["", "   "]))
        return row, {"created_at"}
    if kind == "status":
        row[3] = draw(st.sampled_from(["Đã hủy", "", "đã xử lý", "Moi"]))
        return row, {"status"}
    if kind == "no_id":
        row[0] = draw(st.sampled_from(["", "  "]))
        return row, {"external_id"}
    raise AssertionError(kind)


BAD_KINDS = ["encoding", "nul", "huge", "columns", "order", "coordinates", "bad_time", "no_time", "status", "no_id",
             "duplicate"]


@st.composite
def csv_cases(draw) -> Case:
    kinds = ["good", *draw(st.lists(st.sampled_from(["good", "good", *BAD_KINDS]), min_size=1, max_size=24))]
    case, line = Case(body=record(COLUMNS)), 2
    for i, kind in enumerate(kinds):
        if kind == "duplicate":  # an otherwise good row reusing an id already imported above
            row, fields = good_row(draw, draw(st.sampled_from(case.good))), {"external_id"}
        elif kind == "good":
            row, fields = good_row(draw, f"PA-{i:03d}"), None
        else:
            row, fields = break_row(draw, kind, good_row(draw, f"PA-{i:03d}"))
        case.body += record(row)
        case.records += 1
        if fields is None:
            case.good.append(row[0])
        else:
            case.bad[line] = (kind, fields)
        line += 1 + line_breaks(row)
        if draw(st.integers(0, 9)) == 0:
            case.body += b"\n"
            line += 1
    return case


SOURCES = itertools.count()


def check_case(db: Database, case: Case) -> None:
    source = f"prop{next(SOURCES)}_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        mapping, path, reject_path = Path(tmp) / "m.yaml", Path(tmp) / "in.csv", Path(tmp) / "rejects.csv"
        mapping.write_text(small_mapping(source), encoding="utf-8")
        path.write_bytes(case.body)
        summary = import_file(path, "csv", mapping, db=db, reject_path=reject_path)
        rejects = read_rejects(reject_path)
    for kind in sorted({kind for kind, _ in case.bad.values()}):
        event(f"bad row: {kind}")  # shown by --hypothesis-show-statistics
    assert (summary.read, summary.imported, summary.updated, summary.unchanged, summary.rejected) == \
        (case.records, len(case.good), 0, 0, len(case.bad))
    assert summary.adds_up and sum(summary.reasons.values()) == len(case.bad)
    got = {int(ln): fld for ln, fld in zip(rejects.line, rejects.field, strict=True)}
    assert sorted(got) == sorted(case.bad)  # every bad row, on the physical line its record starts
    for ln, (kind, allowed) in case.bad.items():
        assert got[ln] in allowed, (ln, kind, got[ln], allowed)
    assert (rejects.reason.str.len() > 0).all()
    kept = db.read_frame(select(reports.c.external_id).where(reports.c.source == source)).external_id
    assert sorted(kept) == sorted(case.good)  # every good row, exactly once


@pytest.fixture(scope="module")
def property_sqlite(tmp_path_factory):
    db, close = new_database("sqlite", tmp_path_factory.mktemp("prop"), "")
    yield db
    close()


@pytest.fixture(scope="module")
def property_pg(pg_server_url, tmp_path_factory):
    db, close = new_database("postgresql", tmp_path_factory.mktemp("prop-pg"), pg_server_url)
    yield db
    close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=csv_cases())
def test_malformed_rows_are_refused_and_good_rows_kept_sqlite(property_sqlite, case):
    check_case(property_sqlite, case)


@pytest.mark.postgres
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=csv_cases())
def test_malformed_rows_are_refused_and_good_rows_kept_postgresql(property_pg, case):
    check_case(property_pg, case)


def test_mapping_errors_surface_before_any_row(tmp_path):
    """A mapping naming a category the database lacks stops the import before the reject file is even opened."""
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(small_mapping("loi", category="{column: linh_vuc, values: {Giao thông: ZZ}}"), "utf-8")
    path = tmp_path / "in.csv"
    path.write_bytes(record(COLUMNS) + record(good_cells("E1")))
    with pytest.raises(MappingError, match="ZZ"):
        import_file(path, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
    assert not (tmp_path / "rejects.csv").exists() and count(db, reports) == 0
    db.dispose()
