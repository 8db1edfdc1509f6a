"""Deadline arithmetic: when each stage of a report is due under the policy in force at its arrival, and how
many working days each stage took (queries/workcalendar.py counts the working time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select

from queries.db import Database, get_db
from queries.policies import PolicyError, policy_at, policy_versions
from queries.schema import categories
from queries.workcalendar import WorkCalendar, default_calendar


@dataclass
class StageTimes:
    policy_id: np.ndarray
    ioc_deadline: np.ndarray
    agency_deadline: np.ndarray
    ioc_work_days: np.ndarray
    agency_work_days: np.ndarray


def stage_times(created, category_ids, urgent, first_forwarded, forwarded, resolved,
                db: Database | None = None, calendar: WorkCalendar | None = None) -> StageTimes:
    """Vectorised: the policy in force at arrival, both stage deadlines and both stage durations.
    Timestamps are naive-UTC datetime64 arrays (NaT where a stage was not reached)."""
    calendar = calendar or default_calendar()
    created = np.asarray(created, dtype="datetime64[s]")
    n = len(created)
    versions = policy_versions(db)
    category_id_of = {row["code"]: row["id"] for row in get_db(db).read_rows(select(categories.c.code,
                                                                                    categories.c.id))}
    policy_id = np.full(n, -1, dtype=np.int64)
    ioc_limit = np.zeros(n)
    agency_limit = np.zeros(n)
    hours_unit = np.zeros(n, dtype=bool)
    category_ids = np.asarray(category_ids)
    urgent = np.asarray(urgent).astype(bool)
    for (code, is_urgent), group in versions.groupby(["category_code", "urgent"]):
        group = group.sort_values("valid_from")
        rows = np.flatnonzero((category_ids == category_id_of.get(code)) & (urgent == bool(is_urgent)))
        if not len(rows):
            continue
        starts = pd.to_datetime(group["valid_from"]).to_numpy().astype("datetime64[s]")
        which = np.searchsorted(starts, created[rows], side="right") - 1
        valid = which >= 0
        rows, which = rows[valid], which[valid]
        policy_id[rows] = group["id"].to_numpy()[which]
        ioc_limit[rows] = group["ioc_limit"].to_numpy()[which]
        agency_limit[rows] = group["agency_limit"].to_numpy()[which]
        hours_unit[rows] = (group["unit"].to_numpy()[which] == "hours")
    has_policy = policy_id >= 0
    first_forwarded = np.asarray(first_forwarded, dtype="datetime64[s]")
    forwarded = np.asarray(forwarded, dtype="datetime64[s]")
    resolved = np.asarray(resolved, dtype="datetime64[s]")
    nat = np.datetime64("NaT", "s")

    def add(start, limit):
        days = np.where(hours_unit, 0.0, limit)
        hours = np.where(hours_unit, limit, 0.0)
        ok = has_policy & ~np.isnat(start)
        out = np.full(n, nat)
        if ok.any():
            out[ok] = calendar.add(start[ok], days[ok], hours[ok])
        return out

    return StageTimes(
        policy_id=policy_id,
        ioc_deadline=add(created, ioc_limit),
        agency_deadline=add(forwarded, agency_limit),
        ioc_work_days=calendar.working_days_between(created, first_forwarded),
        agency_work_days=calendar.working_days_between(forwarded, resolved),
    )


def stage_deadline(policy: dict, stage: str, start: datetime, calendar: WorkCalendar | None = None) -> datetime:
    """When a stage that starts at `start` is due under `policy` (a row of policy_versions)."""
    limit = float(policy["ioc_limit"] if stage == "ioc" else policy["agency_limit"])
    calendar = calendar or default_calendar()
    if policy["unit"] == "hours":
        return calendar.deadline(start, hours=limit)
    return calendar.deadline(start, days=limit)


def deadline_for(category_code: str, stage: str, urgent: bool, start: datetime, db: Database | None = None,
                 calendar: WorkCalendar | None = None) -> datetime:
    """One deadline (naive UTC) for the `deadline` command: the policy in force at `start`."""
    if stage not in ("ioc", "agency"):
        raise PolicyError("stage phải là 'ioc' hoặc 'agency'.")
    policy = policy_at(category_code, urgent, start, db)
    if policy is None:
        raise PolicyError(f"Không có quy định SLA cho lĩnh vực '{category_code}'.")
    return stage_deadline(policy, stage, start, calendar)


