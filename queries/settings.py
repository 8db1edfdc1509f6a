"""Settings an admin can change at run time, kept in app_settings (shared by every worker)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from queries import audit
from queries.access import Viewer, WorkflowError, require
from queries.db import Database, get_db
from queries.schema import app_settings

# key: (default, kind, lowest, highest)
SETTINGS = {
    "agency_sees_phone": ("0", "flag", 0, 1),  # may agency heads reveal a citizen's phone number?
    "duplicate_radius_m": ("300", "int", 10, 5000),  # duplicate candidates: within this distance ...
    "duplicate_days": ("14", "int", 1, 365),  # ... and this many days of each other
}


def get(key: str, db: Database | None = None) -> str:
    default = SETTINGS[key][0]
    value = get_db(db).scalar(select(app_settings.c.value).where(app_settings.c.key == key))
    return default if value is None else value


def get_int(key: str, db: Database | None = None) -> int:
    return int(get(key, db))


def get_flag(key: str, db: Database | None = None) -> bool:
    return get(key, db) == "1"


def _checked(key: str, value) -> str:
    if key not in SETTINGS:
        raise WorkflowError(f"Không có tham số cấu hình '{key}'.")
    _default, kind, low, high = SETTINGS[key]
    try:
        number = int(bool(value)) if kind == "flag" and isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        raise WorkflowError(f"'{key}' phải là số nguyên.") from None
    if not low <= number <= high:
        raise WorkflowError(f"'{key}' phải từ {low} đến {high}.")
    return str(number)


def set_values(viewer: Viewer, values: dict, db: Database | None = None) -> dict[str, str]:
    """Check every value, then save them all in one transaction (all or none)."""
    require(viewer.is_admin, "Chỉ quản trị viên được đổi cấu hình.")
    checked = {key: _checked(key, value) for key, value in values.items()}
    with get_db(db).begin() as conn:
        for key, value in checked.items():
            conn.execute(delete(app_settings).where(app_settings.c.key == key))
            conn.execute(insert(app_settings).values(key=key, value=value))
            audit.record(conn, viewer, "settings.set", key, value)
    return checked


def set_value(viewer: Viewer, key: str, value, db: Database | None = None) -> str:
    return set_values(viewer, {key: value}, db)[key]
