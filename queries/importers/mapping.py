"""The mapping file: how a source's rows become our reports. The built-in profiles are mapping files too
(queries/importers/profiles/*.yaml); README.md documents the format with a complete example."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from queries.schema import CHANNELS, STATUSES

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
# Our fields a mapping may fill from source columns. Each takes one column or a list (first non-empty wins).
FIELDS = ("created_at", "deadline_at", "closed_at", "updated_at", "title", "description", "address", "lat", "lon",
          "point", "phone", "status_note", "commune")
TIME_FIELDS = ("created_at", "deadline_at", "closed_at", "updated_at")


class MappingError(ValueError):
    """The mapping file is wrong; the message says where."""


@dataclass(frozen=True)
class StatusRule:
    column: str
    startswith: str
    status: str


@dataclass(frozen=True)
class ValueMap:
    """Source column value -> our code, with what to do with values the map does not know."""

    columns: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)
    default: str | None = None


@dataclass(frozen=True)
class Mapping:
    source: str
    external_id: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]
    status: ValueMap
    status_rules: tuple[StatusRule, ...]
    category: ValueMap
    agency: ValueMap
    agency_unknown: str  # "create", "reject" or an agency code to use
    channel: ValueMap
    format: str = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    timezone: str = "Asia/Ho_Chi_Minh"
    date_formats: tuple[str, ...] = ("iso",)
    no_location_points: tuple[tuple[float, float], ...] = ()
    no_location_tolerance: float = 0.0001
    path: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def named_columns(self) -> dict[str, tuple[str, ...]]:
        """Each place of the mapping that reads the file, and the columns it may read (one of them suffices)."""
        named = {"external_id": self.external_id, **{f"fields.{k}": v for k, v in self.fields.items()}}
        for key, value_map in (("status", self.status), ("category", self.category), ("agency", self.agency),
                               ("channel", self.channel)):
            if value_map.columns:
                named[f"{key}.column"] = value_map.columns
        for i, rule in enumerate(self.status_rules):
            named[f"status.rules[{i}].column"] = (rule.column,)
        return {key: columns for key, columns in named.items() if columns}

    def missing_in(self, header: list[str]) -> dict[str, tuple[str, ...]]:
        """The places of the mapping none of whose columns the file's header has (names match without case)."""
        have = {name.strip().lower() for name in header}
        return {key: columns for key, columns in self.named_columns().items()
                if not any(column.lower() in have for column in columns)}


def _columns(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(f"{where}: cần tên cột hoặc danh sách tên cột")


def _value_map(raw, where: str, allowed: tuple[str, ...] | None = None) -> ValueMap:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: phải là một mục có 'column', 'values', 'default'")
    values = {str(k): str(v) for k, v in (raw.get("values") or {}).items()}
    default = raw.get("default")
    if allowed is not None:
        for target in [*values.values(), *([default] if default else [])]:
            if target not in allowed:
                raise MappingError(f"{where}: '{target}' không thuộc {', '.join(allowed)}")
    return ValueMap(columns=_columns(raw.get("column"), f"{where}.column"), values=values,
                    default=None if default is None else str(default))


def parse_mapping(data: dict, path: str = "") -> Mapping:
    try:
        return _parse_mapping(data, path)
    except MappingError:
        raise
    except (AttributeError, TypeError, ValueError) as err:
        # A key with the wrong YAML shape (a list where a mapping belongs, text for a number, …).
        raise MappingError(f"{path or 'mapping'}: một khóa có kiểu dữ liệu sai ({err}); xem ví dụ trong README") \
            from None


def _parse_mapping(data: dict, path: str = "") -> Mapping:
    where = path or "mapping"
    if not isinstance(data, dict):
        raise MappingError(f"{where}: tệp ánh xạ phải là một từ điển YAML")
    unknown = set(data) - {"source", "format", "encoding", "delimiter", "timezone", "date_formats", "external_id",
                           "fields", "status", "category", "agency", "channel", "no_location", "description"}
    if unknown:
        raise MappingError(f"{where}: khóa không hỗ trợ: {', '.join(sorted(unknown))}")
    source = str(data.get("source") or "").strip()
    if not source or len(source) > 30:
        raise MappingError(f"{where}: 'source' là bắt buộc (tối đa 30 ký tự), ví dụ 'boston'")
    fields = {}
    for name, cols in (data.get("fields") or {}).items():
        if name not in FIELDS:
            raise MappingError(f"{where}: trường '{name}' không hỗ trợ; dùng: {', '.join(FIELDS)}")
        fields[name] = _columns(cols, f"{where}.fields.{name}")
    if "created_at" not in fields and data.get("format", "csv") == "csv":
        raise MappingError(f"{where}: fields.created_at là bắt buộc")
    if len({"lat", "lon"} & set(fields)) == 1:
        raise MappingError(f"{where}: cần cả fields.lat và fields.lon (hoặc fields.point)")

    status_raw = data.get("status") or {}
    status = _value_map(status_raw, f"{where}.status", STATUSES)
    rules = []
    for i, rule in enumerate(status_raw.get("rules") or []):
        try:
            rules.append(StatusRule(str(rule["column"]), str(rule["startswith"]), str(rule["status"])))
        except (KeyError, TypeError):
            raise MappingError(f"{where}.status.rules[{i}]: cần 'column', 'startswith' và 'status'") from None
        if rules[-1].status not in STATUSES:
            raise MappingError(f"{where}.status.rules[{i}]: '{rules[-1].status}' không phải trạng thái hợp lệ")
    if not status.columns and not status.default and data.get("format", "csv") == "csv":
        raise MappingError(f"{where}: status cần 'column' (và 'values') hoặc 'default'")

    agency_raw = data.get("agency") or {}
    unknown_agency = str(agency_raw.get("unknown", "create"))
    no_location = data.get("no_location") or {}
    try:
        points = tuple((float(p[0]), float(p[1])) for p in no_location.get("points") or [])
    except (TypeError, ValueError, IndexError):
        raise MappingError(f"{where}.no_location.points: cần danh sách [vĩ độ, kinh độ]") from None
    mapping = Mapping(
        source=source,
        format=str(data.get("format", "csv")),
        encoding=str(data.get("encoding", "utf-8")),
        delimiter=str(data.get("delimiter", ",")),
        timezone=str(data.get("timezone", "Asia/Ho_Chi_Minh")),
        date_formats=_columns(data.get("date_formats") or ["iso"], f"{where}.date_formats"),
        external_id=_columns(data.get("external_id"), f"{where}.external_id"),
        fields=fields,
        status=status,
        status_rules=tuple(rules),
        category=_value_map(data.get("category"), f"{where}.category"),
        agency=_value_map(agency_raw, f"{where}.agency"),
        agency_unknown=unknown_agency,
        channel=_value_map(data.get("channel"), f"{where}.channel", CHANNELS),
        no_location_points=points,
        no_location_tolerance=float(no_location.get("tolerance", 0.0001)),
        path=path,
    )
    if mapping.format not in ("csv", "open311"):
        raise MappingError(f"{where}: format phải là 'csv' hoặc 'open311'")
    if not mapping.external_id and mapping.format == "csv":
        raise MappingError(f"{where}: 'external_id' (cột mã phản ánh của nguồn) là bắt buộc")
    if len(mapping.delimiter) != 1:
        raise MappingError(f"{where}: 'delimiter' phải là một ký tự")
    try:
        ZoneInfo(mapping.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"{where}: múi giờ '{mapping.timezone}' không tồn tại") from None
    try:
        "x".encode(mapping.encoding)
    except LookupError:
        raise MappingError(f"{where}: bảng mã '{mapping.encoding}' không tồn tại") from None
    return mapping


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise MappingError(f"Không đọc được tệp ánh xạ {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise MappingError(f"{path}: YAML không hợp lệ: {err}") from None
    return parse_mapping(data, str(path))


def profile_names() -> list[str]:
    return sorted([p.stem for p in PROFILE_DIR.glob("*.yaml")] + ["csv"])


def load_profile(name: str) -> Mapping:
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise MappingError(f"Không có hồ sơ '{name}'; có: {', '.join(profile_names())}")
    return load_mapping(path)
