"""Streaming readers: one record at a time with its line number, whatever the file size.

A record that cannot be read (bad encoding, a NUL byte, an over-long field, a wrong number of columns,
broken JSON) comes out as a RowError, and reading goes on with the next record.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_FIELD_CHARS = 100_000
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" leaves for bytes the encoding rejects
csv.field_size_limit(MAX_FIELD_CHARS * 10)


@dataclass
class RowError(Exception):
    line: int
    field: str
    reason: str
    raw: str = ""
    external_id: str = ""
    values: dict = field(default_factory=dict)  # the record's cells, when they could be split into columns


@dataclass(frozen=True)
class Record:
    line: int
    values: dict  # CSV: column name (lower-case) -> text; Open311: the JSON object
    raw: str


def open_binary(path: Path):
    """Plain or gzip, judged by the magic bytes rather than the name."""
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def csv_header(path: Path, encoding: str, delimiter: str) -> list[str] | None:
    """The column names of a CSV file's first line (lower-case), or None for an empty file."""
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")
        try:
            header = next(csv.reader(text, delimiter=delimiter))
        except (StopIteration, csv.Error):
            return None
    return [h.strip().lower().lstrip("\ufeff") for h in header]


def read_csv(path: Path, encoding: str, delimiter: str) -> Iterator[Record | RowError]:
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise RowError(1, "", "tệp rỗng, không có dòng tiêu đề") from None
        names = [h.strip().lower().lstrip("\ufeff") for h in header]
        previous_end = reader.line_num
        while True:
            start = previous_end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                previous_end = reader.line_num
                yield RowError(start, "", f"dòng CSV hỏng: {err}")
                continue
            previous_end = reader.line_num
            raw = delimiter.join(row)
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not records
            problem = _problem(row, names)
            if problem:
                cells = dict(zip(names, map(_printable, row), strict=True)) if len(row) == len(names) else {}
                yield RowError(start, problem[0], problem[1], raw=_printable(raw), values=cells)
                continue
            yield Record(start, dict(zip(names, row, strict=True)), raw)


def _problem(row: list[str], names: list[str]) -> tuple[str, str] | None:
    if len(row) != len(names):
        return "", f"có {len(row)} cột, tiêu đề có {len(names)} cột (thiếu dấu phân cách hoặc dấu ngoặc kép?)"
    for name, cell in zip(names, row, strict=True):
        if _UNDECODABLE.search(cell):
            return name, "chứa byte không đúng bảng mã của tệp"
        if "\x00" in cell:
            return name, "chứa ký tự NUL"
        if len(cell) > MAX_FIELD_CHARS:
            return name, f"dài {len(cell)} ký tự, quá {MAX_FIELD_CHARS}"
    return None


def _printable(raw: str) -> str:
    return _UNDECODABLE.sub("\ufffd", raw).replace("\x00", "\\0")[:2000]


def read_json_array(path: Path, encoding: str = "utf-8", chunk_chars: int = 1 << 16) -> Iterator[Record | RowError]:
    """The objects of a top-level JSON array (as GeoReport v2 returns requests), decoded one at a time
    from a buffer that holds little more than the current object."""
    decoder = json.JSONDecoder()
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding=encoding, errors="replace")
        buf, pos, line, eof = "", 0, 1, False

        def fill() -> bool:
            nonlocal buf, pos, eof
            chunk = text.read(chunk_chars)
            if not chunk:
                eof = True
                return False
            buf = buf[pos:] + chunk
            pos = 0
            return True

        def skip(chars: str) -> None:
            nonlocal pos, line
            while True:
                while pos < len(buf) and buf[pos] in chars:
                    line += buf[pos] == "\n"
                    pos += 1
                if pos < len(buf) or not fill():
                    return

        skip(" \t\r\n")
        if pos >= len(buf) or buf[pos] != "[":
            raise RowError(line, "", "tệp Open311 phải là một mảng JSON [ … ]")
        pos += 1
        while True:
            skip(" \t\r\n,")
            if pos >= len(buf):
                raise RowError(line, "", "mảng JSON không có dấu ] kết thúc")
            if buf[pos] == "]":
                return
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as err:
                    if eof or not fill():
                        raise RowError(line, "", f"JSON hỏng: {err.msg}") from None
            raw = buf[pos:end]
            start_line = line
            line += raw.count("\n")
            pos = end
            if isinstance(obj, dict):
                yield Record(start_line, obj, raw[:2000])
            else:
                yield RowError(start_line, "", "phần tử của mảng không phải đối tượng JSON", raw=raw[:2000])
