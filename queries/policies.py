"""SLA policies: versioned limits per field and urgency for the two stages (IOC: received -> first forwarded;
agency: forwarded -> resolved, counted from the latest forwarding), in working days, or working hours for urgent
reports. The version in force when a report arrived applies to it. Admins add versions (/admin/sla); the
defaults come from config/sla.yaml.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import func, insert, select

from queries import audit
from queries.access import Viewer
from queries.db import Database, get_db
from queries.filters import utc_now
from queries.schema import categories, sla_policies
from queries.workcalendar import load_config

POLICY_START = datetime(2000, 1, 1)


class PolicyError(ValueError):
    """A policy that cannot be saved; the message is for the admin."""


def ensure_default_policies(db: Database | None = None) -> None:
    """Load config/sla.yaml as version 1 when there is no policy at all."""
    db = get_db(db)
    if db.scalar(select(func.count()).select_from(sla_policies)):
        return
    ids = {row["code"]: row["id"] for row in db.read_rows(select(categories.c.code, categories.c.id))}
    rows = []
    for code, limits in (load_config().get("policies") or {}).items():
        if code not in ids:
            raise PolicyError(f"config/sla.yaml: lĩnh vực '{code}' không tồn tại")
        for urgent, unit, ioc, agency in ((0, "days", limits["ioc_days"], limits["agency_days"]),
                                          (1, "hours", limits["urgent_ioc_hours"], limits["urgent_agency_hours"])):
            rows.append({"category_id": ids[code], "urgent": urgent, "ioc_limit": float(ioc),
                         "agency_limit": float(agency), "unit": unit, "valid_from": POLICY_START,
                         "created_at": utc_now(), "created_by": "config/sla.yaml", "note": "Mặc định"})
    with db.begin() as conn:
        conn.execute(insert(sla_policies), rows)


def policy_versions(db: Database | None = None) -> pd.DataFrame:
    """Every version: id, category_code, category_name, urgent, ioc_limit, agency_limit, unit, valid_from,
    created_at, created_by, note; newest first within each field."""
    stmt = (select(sla_policies.c.id, categories.c.code.label("category_code"),
                   categories.c.name.label("category_name"), sla_policies.c.urgent, sla_policies.c.ioc_limit,
                   sla_policies.c.agency_limit, sla_policies.c.unit, sla_policies.c.valid_from,
                   sla_policies.c.created_at, sla_policies.c.created_by, sla_policies.c.note)
            .join_from(sla_policies, categories, categories.c.id == sla_policies.c.category_id)
            .order_by(categories.c.sort_order, sla_policies.c.urgent, sla_policies.c.valid_from.desc()))
    return get_db(db).read_frame(stmt)


def policies_in_force(at: datetime | None = None, db: Database | None = None) -> pd.DataFrame:
    """The version of each (field, urgency) in force at `at` (naive UTC; default now)."""
    at = at or utc_now()
    versions = policy_versions(db)
    versions = versions[pd.to_datetime(versions["valid_from"]) <= pd.Timestamp(at)]
    return versions.groupby(["category_code", "urgent"], as_index=False, sort=False).first()


def add_policy_version(category_code: str, urgent: bool, ioc_limit: float, agency_limit: float,
                       valid_from: datetime, actor: str, actor_role: str, note: str = "",
                       db: Database | None = None) -> int:
    """Save a new version (admins only). Reports that arrived earlier keep the version they had."""
    db = get_db(db)
    if actor_role != "admin":
        raise PolicyError("Chỉ quản trị viên được sửa quy định SLA.")
    try:
        ioc_limit, agency_limit = float(ioc_limit), float(agency_limit)
    except (TypeError, ValueError):
        raise PolicyError("Thời hạn phải là số.") from None
    if not (ioc_limit >= 0 and agency_limit >= 0) or ioc_limit > 365 or agency_limit > 365:
        raise PolicyError("Thời hạn phải từ 0 đến 365 và không được âm.")
    category_id = db.scalar(select(categories.c.id).where(categories.c.code == category_code))
    if category_id is None:
        raise PolicyError(f"Không có lĩnh vực mã '{category_code}'.")
    with db.begin() as conn:
        exists = conn.execute(select(sla_policies.c.id).where(
            sla_policies.c.category_id == category_id, sla_policies.c.urgent == int(bool(urgent)),
            sla_policies.c.valid_from == valid_from)).first()
        if exists:
            raise PolicyError("Đã có một phiên bản bắt đầu đúng thời điểm này; hãy chọn thời điểm khác.")
        policy_id = conn.execute(insert(sla_policies).values(
            category_id=category_id, urgent=int(bool(urgent)), ioc_limit=ioc_limit, agency_limit=agency_limit,
            unit="hours" if urgent else "days", valid_from=valid_from, created_at=utc_now(), created_by=actor,
            note=(note or "")[:300]).returning(sla_policies.c.id)).scalar_one()
        audit.record(conn, Viewer(user_id=None, username=actor, role=actor_role), "sla.add_version", category_code,
                     f"{'khẩn' if urgent else 'thường'}: IOC {ioc_limit:g}, đơn vị {agency_limit:g}, từ {valid_from}")
        return policy_id


def policy_at(category_code: str, urgent: bool, at: datetime, db: Database | None = None) -> dict | None:
    """The policy version for a field and urgency in force at `at` (naive UTC), or None."""
    versions = policy_versions(db)
    versions = versions[(versions["category_code"] == category_code) & (versions["urgent"] == int(bool(urgent)))
                        & (pd.to_datetime(versions["valid_from"]) <= pd.Timestamp(at))]
    return None if versions.empty else versions.iloc[0].to_dict()  # newest first
