"""The mapping file: README's complete example works as written, and a wrong mapping is refused with a clear
Vietnamese message naming the file and the key, before any row is read."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from queries.db import Database
from queries.demo import seed_agencies
from queries.importers import MappingError, import_file
from queries.importers.mapping import load_mapping
from queries.migrate import upgrade
from queries.reference import load_reference_data
from queries.schema import admin_units, agencies, categories, report_events, reports
from tests.conftest import ROOT, create_pg_database

VIETNAMESE = re.compile("[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.I)


def readme_mapping() -> str:
    """The YAML block of README's "The mapping file" section, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "### The mapping file" in readme
    section = readme.split("### The mapping file", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert match, "no yaml block in README's mapping section"
    return match.group(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded_db(request, tmp_path, pg_server_url):
    """Schema, reference data and the demo agencies (the example maps to SXD); no reports."""
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mapping.sqlite3'}"
    else:
        url, drop = create_pg_database(pg_server_url)
    db = Database(url)
    upgrade(db)
    load_reference_data(db)
    seed_agencies(db)
    yield db
    db.dispose()
    if drop:
        drop()


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M")


# Headers in mixed case on purpose: README says column names match without regard to case.
HEADER = ["MA_PA", "ngay_tiep_nhan", "Han_Xu_Ly", "Ngay_hoan_thanh", "NGAY_CAP_NHAT", "Tieu_de", "Loai", "Noi_dung",
          "Dia_chi", "Vi_do", "Kinh_do", "So_dien_thoai", "Ket_qua", "Ma_xa", "Trang_thai", "Linh_vuc", "Don_vi",
          "Kenh"]


def example_rows(commune: str) -> list[dict]:
    base = dict.fromkeys(HEADER, "")
    return [
        {**base, "MA_PA": "HA-001", "ngay_tiep_nhan": "05/03/2025 08:30", "Han_Xu_Ly": "15/03/2025",
         "Tieu_de": "Đèn đường hỏng", "Loai": "Chiếu sáng", "Noi_dung": "Đèn trước số 12 Lê Duẩn không sáng; đã 3 đêm",
         "Dia_chi": "12 Lê Duẩn, Đông Hà", "Vi_do": "16.8163", "Kinh_do": "107.1003", "So_dien_thoai": "0912 345 678",
         "Ma_xa": commune, "Trang_thai": "Moi", "Linh_vuc": "Giao thong", "Don_vi": "Phong QLDT", "Kenh": "Ung dung"},
        {**base, "MA_PA": "HA-002", "ngay_tiep_nhan": "06/03/2025 09:00", "Ngay_hoan_thanh": "07/03/2025 16:45",
         "NGAY_CAP_NHAT": "08/03/2025 08:00", "Loai": "Rác thải", "Noi_dung": "Rác tồn đọng\nở cổng chợ",
         "Dia_chi": "Chợ Đông Hà", "Vi_do": "16.75", "Kinh_do": "107.18", "Ket_qua": "Đã thu gom xong",
         "Ma_xa": "99999", "Trang_thai": "Da xu ly", "Linh_vuc": "Moi truong",
         "Don_vi": "Phòng Tài nguyên và Môi trường", "Kenh": "Facebook"},
        {**base, "MA_PA": "HA-003", "ngay_tiep_nhan": "07/03/2025", "NGAY_CAP_NHAT": "08/03/2025 10:00",
         "Tieu_de": "Tụ tập gây ồn", "Vi_do": "0", "Kinh_do": "0", "Ket_qua": "Không thuộc thẩm quyền",
         "Trang_thai": "Tu choi", "Linh_vuc": "An ninh", "Kenh": "Zalo"},
        {**base, "MA_PA": "HA-004", "ngay_tiep_nhan": "2025-03-09T14:20:00+07:00", "Han_Xu_Ly": "20/03/2025 17:00",
         "Ngay_hoan_thanh": "10/03/2025 11:00", "Tieu_de": "Xây dựng trái phép", "Loai": "Xây dựng",
         "Noi_dung": "Công trình không phép", "Vi_do": "16.7403", "Kinh_do": "107.1854",
         "Ket_qua": "Trùng với phản ánh HA-001", "Trang_thai": "Dang xu ly", "Linh_vuc": "Xay dung",
         "Don_vi": "Phong QLDT", "Kenh": "Tong dai"},
        {**base, "MA_PA": "HA-005", "ngay_tiep_nhan": "10/03/2025 07:05", "Tieu_de": "Ổ gà", "Vi_do": "16.8",
         "Kinh_do": "107.09", "So_dien_thoai": "+84 233 3852 123", "Trang_thai": "Dang xu ly",
         "Linh_vuc": "Giao thong", "Don_vi": "Phong QLDT", "Kenh": "Cong TTDT"},
    ]


def write_example(tmp_path: Path, mapping_text: str, rows: list[dict]) -> tuple[Path, Path]:
    mapping = tmp_path / "huyen_a.yaml"
    mapping.write_text(mapping_text, encoding="utf-8")
    data = tmp_path / "huyen_a.csv"
    with open(data, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return mapping, data


def test_readme_example_mapping_imports_every_field(seeded_db, tmp_path):
    db = seeded_db
    commune = db.scalar(select(admin_units.c.code).where(admin_units.c.level == "commune").order_by(admin_units.c.code))
    mapping, data = write_example(tmp_path, readme_mapping(), example_rows(commune))
    summary = import_file(data, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
    assert (summary.source, summary.read, summary.imported, summary.rejected) == ("huyen_a", 5, 5, 0)
    assert dict(summary.unknown_categories) == {"An ninh": 1}  # -> KHAC, and listed
    assert dict(summary.unknown_channels) == {"Zalo": 1}  # -> the default channel, and listed
    assert summary.created_agencies == ["Phòng Tài nguyên và Môi trường"]  # unknown: create

    query = (select(reports, agencies.c.code.label("agency_code"), agencies.c.name.label("agency_name"),
                    categories.c.code.label("category_code"))
             .outerjoin(agencies, agencies.c.id == reports.c.agency_id)
             .join(categories, categories.c.id == reports.c.category_id))
    got = {r["external_id"]: r for r in db.read_rows(query)}
    assert set(got) == {"HA-001", "HA-002", "HA-003", "HA-004", "HA-005"}
    assert {r["source"] for r in got.values()} == {"huyen_a"}

    a = got["HA-001"]  # times in the file are Asia/Ho_Chi_Minh (UTC+7); the database keeps UTC
    assert (a["created_at"], a["deadline_at"]) == (utc("2025-03-05 01:30"), utc("2025-03-14 17:00"))
    assert (a["status"], a["resolved_at"], a["rejected_at"]) == ("received", None, None)
    assert (a["title"], a["description"], a["address"]) == \
        ("Đèn đường hỏng", "Đèn trước số 12 Lê Duẩn không sáng; đã 3 đêm", "12 Lê Duẩn, Đông Hà")
    assert (a["lat"], a["lon"], a["reporter_phone"], a["commune_code"]) == (16.8163, 107.1003, "0912 345 678", commune)
    assert (a["category_code"], a["agency_code"], a["channel"]) == ("GT", "SXD", "app")

    b = got["HA-002"]
    assert (b["status"], b["resolved_at"]) == ("resolved", utc("2025-03-07 09:45"))
    assert b["title"] == "Rác thải"  # title: [Tieu_de, Loai] -> the first non-empty
    assert b["description"] == "Rác tồn đọng\nở cổng chợ"
    assert (b["lat"], b["lon"]) == (None, None)  # [16.75, 107.18] is a no_location point
    assert b["commune_code"] is None  # not a commune code of ours
    assert (b["category_code"], b["agency_name"], b["channel"]) == ("MT", "Phòng Tài nguyên và Môi trường", "fanpage")

    c = got["HA-003"]
    assert c["created_at"] == utc("2025-03-06 17:00")  # "%d/%m/%Y": local midnight
    assert (c["status"], c["rejected_at"]) == ("rejected", utc("2025-03-08 03:00"))  # no closing time: updated_at
    assert (c["lat"], c["lon"], c["agency_id"]) == (None, None, None)
    assert (c["category_code"], c["channel"]) == ("KHAC", "portal")

    d = got["HA-004"]  # "iso" with its own offset; Ket_qua starting "Trùng" overrides Dang xu ly
    assert (d["created_at"], d["deadline_at"]) == (utc("2025-03-09 07:20"), utc("2025-03-20 10:00"))
    assert (d["status"], d["rejected_at"], d["resolved_at"]) == ("rejected", utc("2025-03-10 04:00"), None)
    assert (d["category_code"], d["agency_code"], d["channel"]) == ("XD", "SXD", "hotline")

    e = got["HA-005"]
    assert (e["status"], e["channel"], e["reporter_phone"]) == ("in_progress", "portal", "+84 233 3852 123")

    events = {}
    for row in db.read_rows(select(report_events, reports.c.external_id).join(reports)
                            .order_by(report_events.c.at, report_events.c.id)):
        events.setdefault(row["external_id"], []).append(row)
    assert [ev["to_status"] for ev in events["HA-001"]] == ["received"]
    assert [(ev["to_status"], ev["at"], ev["note"]) for ev in events["HA-002"]][1:] == \
        [("resolved", utc("2025-03-07 09:45"), "Đã thu gom xong")]  # status_note: Ket_qua
    assert (events["HA-004"][-1]["to_status"], events["HA-004"][-1]["note"]) == \
        ("rejected", "Trùng với phản ánh HA-001")

    again = import_file(data, "csv", mapping, db=db, reject_path=tmp_path / "again.csv")
    assert (again.imported, again.unchanged, again.created_agencies) == (0, 5, [])


# --- mapping errors ------------------------------------------------------------------------------------------------

def edited(change) -> str:
    data = yaml.safe_load(readme_mapping())
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _set(path: str, value):
    def change(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key] if not key.isdigit() else node[int(key)]
        node[last] = value
    return change


def _drop(path: str):
    def change(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]
    return change


ERRORS = {  # label: (mapping text, words the message must contain besides the file name)
    "unknown status": (edited(_set("status.values.Moi", "moi_nhan")), ["status", "moi_nhan"]),
    "unknown status in a rule": (edited(_set("status.rules.0.status", "huy")), ["status.rules[0]", "huy"]),
    "unknown channel": (edited(_set("channel.values.Ung dung", "zalo")), ["channel", "zalo"]),
    "unknown default channel": (edited(_set("channel.default", "email")), ["channel", "email"]),
    "unknown category": (edited(_set("category.values.Moi truong", "MTX")), ["MTX"]),
    "unknown default category": (edited(_set("category.default", "KHONG")), ["KHONG"]),
    "unknown agency": (edited(_set("agency.values.Phong QLDT", "SXD_CU")), ["SXD_CU"]),
    "unknown agency fallback": (edited(_set("agency.unknown", "PHONG_X")), ["agency.unknown"]),
    "bad timezone": (edited(_set("timezone", "Asia/Quang_Tri")), ["Asia/Quang_Tri"]),
    "bad encoding": (edited(_set("encoding", "utf-9")), ["utf-9"]),
    "two-character delimiter": (edited(_set("delimiter", ";;")), ["delimiter"]),
    "missing source": (edited(_drop("source")), ["source"]),
    "missing created_at": (edited(_drop("fields.created_at")), ["fields.created_at"]),
    "missing external_id": (edited(_drop("external_id")), ["external_id"]),
    "unknown key": (edited(_set("dinh_dang", "xlsx")), ["dinh_dang"]),
    "unknown field": (edited(_set("fields.so_nha", "So_nha")), ["so_nha"]),
    "lat without lon": (edited(_drop("fields.lon")), ["fields.lat", "fields.lon"]),
    "bad YAML": ("source: huyen_a\nfields: {created_at: [Ngay_tiep_nhan\n", ["YAML"]),
    "not a mapping": ("- source\n- huyen_a\n", ["YAML"]),
}


@pytest.mark.parametrize("label", list(ERRORS))
def test_a_wrong_mapping_is_refused_with_file_and_key(label, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'errors.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    seed_agencies(db)
    text, words = ERRORS[label]
    mapping, data = write_example(tmp_path, text, example_rows("99999"))
    with pytest.raises(MappingError) as err:
        import_file(data, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
    message = str(err.value)
    db_reports = db.scalar(select(func.count()).select_from(reports))
    db.dispose()
    assert str(mapping) in message, message
    for word in words:
        assert word in message, (word, message)
    assert VIETNAMESE.search(message), f"not Vietnamese: {message}"
    assert db_reports == 0 and not (tmp_path / "rejects.csv").exists()  # before any row is read


@pytest.mark.parametrize("label,key", [("unknown category", "category"), ("unknown agency", "agency")])
def test_category_and_agency_errors_name_the_key(label, key, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'errors.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    seed_agencies(db)
    mapping, data = write_example(tmp_path, ERRORS[label][0], example_rows("99999"))
    try:
        with pytest.raises(MappingError) as err:
            import_file(data, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
    finally:
        db.dispose()
    assert key in str(err.value).replace(str(mapping), ""), str(err.value)


MISSHAPEN = {  # a key holding the wrong kind of YAML value
    "fields is a list": _set("fields", ["Ngay_tiep_nhan"]),
    "agency is a string": _set("agency", "SXD"),
    "no_location is a list": _set("no_location", [[0.0, 0.0]]),
    "status.values is a list": _set("status.values", ["Moi"]),
    "tolerance is text": _set("no_location.tolerance", "nhỏ"),
}


@pytest.mark.parametrize("label", list(MISSHAPEN))
def test_a_misshapen_mapping_is_refused_with_a_message(label, tmp_path):
    mapping = tmp_path / "misshapen.yaml"
    mapping.write_text(edited(MISSHAPEN[label]), encoding="utf-8")
    from queries.importers.mapping import load_mapping

    with pytest.raises(MappingError, match=re.escape(str(mapping))):
        load_mapping(mapping)


def test_date_formats_given_as_one_string(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'formats.sqlite3'}")
    upgrade(db)
    load_reference_data(db)
    seed_agencies(db)
    text = edited(_set("date_formats", "%d/%m/%Y %H:%M"))
    mapping, data = write_example(tmp_path, text, example_rows("99999")[:1])
    try:
        summary = import_file(data, "csv", mapping, db=db, reject_path=tmp_path / "rejects.csv")
        refused = False
    except MappingError:
        summary, refused = None, True  # refusing the mapping would be fine too
    finally:
        db.dispose()
    # One string is one format, not a list of characters: the receipt time reads (a date-only deadline in
    # the example row may still be rejected by this single format, which is right).
    assert refused or not any(reason.startswith("created_at") for reason in summary.reasons)
    assert load_mapping(mapping).date_formats == ("%d/%m/%Y %H:%M",)
