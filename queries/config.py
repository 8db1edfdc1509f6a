"""The deployment's settings: every environment variable the app reads, declared, checked and documented here.

`settings()` reads the environment once, the first time it is asked, and checks every value; a bad one
stops the start with its name, what came and what is expected (`ConfigError`). No other module reads
`os.environ`. The environment of a running process does not change, so nothing reads it again; tests and
benchmark scripts that change it call `reload()`, or `use()` a copy with some values replaced.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


class ConfigError(RuntimeError):
    """A setting with a value the app cannot use; the message names each one and what it expects."""


def _origins(value) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    origins = [item.strip().rstrip("/") for item in items if item and item.strip()]
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ValueError(f"'{origin}' không phải một origin dạng https://tên-máy[:cổng]")
    return origins


class Settings(BaseSettings):
    """Each field is the environment variable of the same name in capitals; `description` says what a value
    must be, and is what a refused value's message quotes."""

    model_config = SettingsConfigDict(case_sensitive=False, env_ignore_empty=True, extra="ignore",
                                      validate_default=True)

    # --- where things are
    database_url: str | None = Field(None, description="URL SQLAlchemy: sqlite:///… hoặc postgresql+psycopg://…")
    database_read_url: str | None = Field(None, description="URL PostgreSQL của bản sao chỉ đọc (read replica)")
    instance_dir: Path = Field(ROOT / "instance", description="thư mục trạng thái cục bộ (đường dẫn)")
    media_dir: Path | None = Field(None, description="thư mục ảnh/video (đường dẫn)")
    analytics_dir: Path | None = Field(None, description="thư mục bản sao phân tích (đường dẫn)")
    redis_url: str | None = Field(None, description="redis://, rediss:// hoặc unix:// (trống: bộ đệm trong tiến trình)")
    secret_key: str | None = Field(None, min_length=32,
                                   description="chuỗi ngẫu nhiên từ 32 ký tự (python3 -c 'import secrets; "
                                               "print(secrets.token_hex(32))')")
    app_version: str | None = Field(None, description="chuỗi phiên bản hiển thị ở /healthz")

    # --- serving
    host: str = Field("127.0.0.1", description="địa chỉ nghe, ví dụ 127.0.0.1")
    port: int = Field(8050, ge=1, le=65535, description="số nguyên 1–65535")
    public_url: str | None = Field(None, description="địa chỉ http(s):// đầy đủ mà màn hình lớn dùng")
    web_concurrency: int = Field(2, ge=1, le=64, description="số tiến trình gunicorn, số nguyên 1–64")
    threads: int = Field(4, ge=1, le=64, description="số luồng mỗi tiến trình, số nguyên 1–64")
    proxy_hops: int = Field(0, ge=0, le=5, description="số proxy phía trước (nginx: 1), số nguyên 0–5")
    cookie_secure: bool = Field(False, description="0 hoặc 1")
    trusted_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="danh sách origin cách nhau bởi dấu phẩy, ví dụ https://paht.example.vn:8443")
    wall_frame_ancestors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="danh sách origin được nhúng màn hình lớn trong khung, cách nhau bởi dấu phẩy")
    idle_timeout_minutes: int = Field(30, ge=1, le=1440, description="số phút, số nguyên 1–1440")
    seed_demo_if_empty: bool | None = Field(
        None, description="0 hoặc 1 (mặc định: 1 với python app.py, 0 với gunicorn)")
    demo_reports: int = Field(20_000, ge=0, le=50_000_000, description="số nguyên 0–50.000.000")
    dash_debug: bool = Field(False, description="0 hoặc 1")
    tile_url: str | None = Field(None, description="mẫu địa chỉ lớp bản đồ nền có {z}, {x} và {y}")
    tile_attribution: str = Field("", description="văn bản ghi nguồn của lớp bản đồ nền")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG, INFO, WARNING hoặc ERROR")
    slow_request_ms: float = Field(1000, ge=0, description="số mili giây ≥ 0")
    login_rate_limit: str = Field("30 per minute", pattern=r"^\d+ (per|/) ?(second|minute|hour|day)s?$",
                                  description="giới hạn số lần gửi biểu mẫu đăng nhập mỗi địa chỉ, ví dụ 30 per minute")
    max_callback_bytes: int = Field(16 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024,
                                    description="số byte tối đa của một yêu cầu Dash, số nguyên từ 65536")

    # --- the database
    query_timeout_seconds: float = Field(30, gt=0, le=3600, description="số giây > 0")
    sqlite_cache_mb: int = Field(32, ge=1, le=65536, description="số MB, số nguyên ≥ 1")
    view_row_limit: int = Field(5_000_000, ge=1, description="số nguyên ≥ 1")

    # --- the cache
    cache_stale_seconds: float = Field(10, ge=0, description="số giây ≥ 0")
    cache_slow_ms: float = Field(250, ge=0, description="số mili giây ≥ 0")
    cache_warm_ms: float = Field(30, ge=0, description="số mili giây ≥ 0")

    # --- the analytics copy
    analytics: Literal["duckdb", "off"] = Field("duckdb", description="duckdb hoặc off")
    analytics_sync: Literal["worker", "external"] = Field("worker", description="worker hoặc external")
    analytics_sync_seconds: float = Field(5, gt=0, le=3600, description="số giây > 0")
    analytics_max_lag_seconds: float = Field(120, gt=0, description="số giây > 0")
    analytics_patch_rows: int = Field(20_000, ge=0, description="số nguyên ≥ 0")
    analytics_memory: str = Field("128MB", description="dung lượng như 128MB hoặc 1GB")
    analytics_sync_memory: str = Field("256MB", description="dung lượng như 256MB hoặc 1GB")
    analytics_allocator_flush: str = Field("16MB", description="dung lượng như 16MB")
    analytics_concurrency: int = Field(1, ge=1, le=16, description="số nguyên 1–16")
    analytics_sorted_percentile_rows: int = Field(2_000_000, ge=1, description="số nguyên ≥ 1")

    # --- what the numbers mean
    time_zone: str = Field("Asia/Ho_Chi_Minh",
                           description="múi giờ IANA không đổi giờ theo mùa, ví dụ Asia/Ho_Chi_Minh")
    due_soon_working_days: int = Field(2, ge=1, le=10,
                                       description="số ngày làm việc coi là 'sắp đến hạn', số nguyên 1–10")

    @field_validator("log_level", "analytics", "analytics_sync", mode="before")
    @classmethod
    def _case(cls, value, info):
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _database(cls, value):
        if value is not None and not value.startswith(("sqlite:", "postgres://", "postgresql://",
                                                       "postgresql+psycopg://", "duckdb")):
            raise ValueError("cần sqlite:///… hoặc postgresql+psycopg://…")
        return value

    @field_validator("secret_key")
    @classmethod
    def _not_the_example(cls, value):
        if value is not None and "change-me" in value.lower():
            raise ValueError("vẫn là giá trị mẫu của tệp ví dụ; hãy tạo một khoá ngẫu nhiên")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value):
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("cần redis://, rediss:// hoặc unix://")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value):
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("cần địa chỉ http(s):// đầy đủ")
            value = value.rstrip("/")
        return value

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, value):
        if value is not None and not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("cần có {z}, {x} và {y}")
        return value

    @field_validator("analytics_memory", "analytics_sync_memory", "analytics_allocator_flush")
    @classmethod
    def _size(cls, value):
        if not _SIZE.match(value.strip()):
            raise ValueError("cần dung lượng như 128MB")
        return value.strip()

    @field_validator("time_zone")
    @classmethod
    def _fixed_offset(cls, value):
        # Local days are computed in SQL as UTC plus a fixed offset: a zone with daylight saving would be wrong
        # for half the year.
        try:
            zone = ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("không phải tên múi giờ IANA") from exc
        offsets = {datetime(year, month, 1, tzinfo=zone).utcoffset() for year in (1976, 2000, 2030) for month in (1, 7)}
        if len(offsets) != 1:
            raise ValueError("múi giờ này đổi giờ theo mùa; cần múi giờ có độ lệch cố định")
        return value.strip()

    @field_validator("trusted_origins", "wall_frame_ancestors", mode="before")
    @classmethod
    def _origin_list(cls, value):
        return _origins(value)

    # --- derived values, named once
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_dir / 'paht.sqlite3'}"

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.instance_dir / "media"

    @property
    def resolved_analytics_dir(self) -> Path:
        return self.analytics_dir or self.instance_dir / "analytics"

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(minutes=self.idle_timeout_minutes)

    @property
    def analytics_max_lag(self) -> timedelta:
        return timedelta(seconds=self.analytics_max_lag_seconds)

    @property
    def statement_timeout_ms(self) -> int:
        return int(self.query_timeout_seconds * 1000)

    @property
    def analytics_enabled(self) -> bool:
        return self.analytics != "off"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


SECRET_FIELDS = frozenset({"secret_key", "database_url", "database_read_url", "redis_url"})


def env_name(field: str) -> str:
    return field.upper()


def explain(err: ValidationError) -> str:
    """One line per refused setting: its name, what came (secrets withheld) and what it must be."""
    lines = ["Cấu hình không hợp lệ (biến môi trường):"]
    for problem in err.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        info = Settings.model_fields.get(field)
        expected = info.description if info is not None else ""
        given = problem.get("input")
        shown = "(đã ẩn)" if field in SECRET_FIELDS else repr(given)
        reason = problem.get("msg", "").removeprefix("Value error, ")
        lines.append(f"  {env_name(field)}={shown}: cần {expected} ({reason})")
    return "\n".join(lines)


def load() -> Settings:
    """Read and check the environment; ConfigError names every bad value."""
    try:
        return Settings()
    except ValidationError as err:
        raise ConfigError(explain(err)) from None


_current: Settings | None = None


def settings() -> Settings:
    """The settings this process runs with, read from the environment the first time."""
    global _current
    if _current is None:
        _current = load()
    return _current


def reload() -> Settings:
    """Read the environment again (a test or script that changed it)."""
    global _current
    _current = load()
    return _current


def use(replacement: Settings) -> Settings:
    """Run with `replacement` from now on; returns the settings it replaced, for putting them back."""
    global _current
    previous, _current = settings(), replacement
    return previous


def changed(**values) -> Settings:
    """A copy of the current settings with some values replaced (checked like the environment's)."""
    merged = settings().model_dump() | values
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(explain(err)) from None
