"""The overview's KPIs computed a second way: pandas over the raw rows, sharing no code with queries/.

Every definition here is written from the docstring of queries/overview.py, not from its SQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from queries.filters import Filter

OPEN = {"received", "classified", "forwarded", "in_progress"}


def select_reports(raw: dict, f: Filter) -> pd.DataFrame:
    """The raw reports a filter selects, with category/agency codes and names joined on."""
    rep = raw["reports"]
    cats = raw["categories"].rename(columns={"id": "category_id", "code": "category_code",
                                             "short_name": "category_name"})
    ags = raw["agencies"].rename(columns={"id": "agency_id", "code": "agency_code", "short_name": "agency_name"})
    df = rep.merge(cats[["category_id", "category_code", "category_name"]], on="category_id", how="left")
    df = df.merge(ags[["agency_id", "agency_code", "agency_name"]], on="agency_id", how="left")
    local_day = (df["created_at"] + pd.Timedelta(hours=7)).dt.date
    keep = pd.Series(True, index=df.index)
    if f.start:
        keep &= local_day >= f.start
    if f.end:
        keep &= local_day <= f.end
    for col, values in (("category_code", f.categories), ("agency_code", f.agencies),
                        ("commune_code", f.communes), ("channel", f.channels), ("status", f.statuses)):
        if values:
            keep &= df[col].isin(values)
    if f.scope_agency is not None:
        keep &= df["agency_code"] == f.scope_agency
    return df[keep].copy()


def headline(raw: dict, f: Filter, now: datetime) -> dict:
    df = select_reports(raw, f)
    is_open = df["status"].isin(OPEN)
    resolved = df[df["status"] == "resolved"]
    with_deadline = resolved[resolved["agency_deadline_at"].notna()]
    on_time = int((with_deadline["resolved_at"] <= with_deadline["agency_deadline_at"]).sum())
    ratings = df["rating"].dropna()
    return {
        "total": len(df),
        "resolved": int((df["status"] == "resolved").sum()),
        "pending": int(is_open.sum()),
        "overdue": int((is_open & (df["deadline_at"] < now)).sum()),
        "rejected": int((df["status"] == "rejected").sum()),
        "agency_on_time": on_time,
        "agency_judged": len(with_deadline),
        "agency_on_time_rate": on_time / len(with_deadline) if len(with_deadline) else np.nan,
        "rating_count": len(ratings),
        "satisfaction_mean": float(ratings.mean()) if len(ratings) else np.nan,
        "located": int(df["lat"].notna().sum()),
    }


def backlog(raw: dict, f: Filter, now: datetime) -> pd.DataFrame:
    df = select_reports(raw, f)
    df["agency_code"] = df["agency_code"].fillna("<none>")
    is_open = df["status"].isin(OPEN)
    out = pd.DataFrame({
        "total": df.groupby("agency_code").size(),
        "resolved": (df["status"] == "resolved").groupby(df["agency_code"]).sum(),
        "pending": is_open.groupby(df["agency_code"]).sum(),
        "overdue": (is_open & (df["deadline_at"] < now)).groupby(df["agency_code"]).sum(),
        "rejected": (df["status"] == "rejected").groupby(df["agency_code"]).sum(),
    }).astype("int64")
    return out.sort_index()


def resolution_time(raw: dict, f: Filter, by: str) -> pd.DataFrame:
    df = select_reports(raw, f)
    df = df[(df["status"] == "resolved") & df[by].notna()]
    days = (df["resolved_at"] - df["created_at"]) / timedelta(days=1)
    grouped = days.groupby(df[by])
    return pd.DataFrame({"n": grouped.size(), "median_days": grouped.quantile(0.5),
                         "p90_days": grouped.quantile(0.9)}).sort_index()


def satisfaction(raw: dict, f: Filter) -> pd.DataFrame:
    df = select_reports(raw, f)
    df = df[df["rating"].notna() & df["agency_code"].notna()]
    g = df.groupby("agency_code")["rating"]
    out = pd.DataFrame({"rating_count": g.size(), "satisfaction_mean": g.mean()})
    for k in range(1, 6):
        out[f"r{k}"] = (df["rating"] == k).groupby(df["agency_code"]).sum()
    out["share_low"] = (out["r1"] + out["r2"]) / out["rating_count"]
    return out.sort_index()


def period_start(ts: pd.Series, grain: str) -> pd.Series:
    local = ts + pd.Timedelta(hours=7)
    day = local.dt.normalize()
    if grain == "day":
        start = day
    elif grain == "week":
        start = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    else:
        start = day - pd.to_timedelta(day.dt.day - 1, unit="D")
    return start.dt.strftime("%Y-%m-%d")


def counts_over_time(raw: dict, f: Filter, grain: str, key_col: str) -> pd.Series:
    df = select_reports(raw, f)
    df["period"] = period_start(df["created_at"], grain)
    return df.groupby(["period", df[key_col].fillna("<none>")]).size().sort_index()


def commune_counts(raw: dict, f: Filter, now: datetime) -> pd.DataFrame:
    df = select_reports(raw, f)
    df = df[df["commune_code"].notna()]
    is_open = df["status"].isin(OPEN)
    return pd.DataFrame({
        "n": df.groupby("commune_code").size(),
        "pending": is_open.groupby(df["commune_code"]).sum(),
        "overdue": (is_open & (df["deadline_at"] < now)).groupby(df["commune_code"]).sum(),
    }).astype("int64").sort_index()
