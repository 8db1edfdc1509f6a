"""The agency scorecard and the agency detail: SLA metrics per period, a composite score, ranks, and the
lists an agency works from.

Composite score (0–100), for the period's reports of one agency:
    40 × agency-stage on-time rate
  + 30 × (mean satisfaction − 1) / 4
  + 20 × (1 − overdue / pending)          (1 when nothing is pending)
  + 10 × (1 − bounce-back rate)
A part with no data (no resolved report with a deadline, no rating, no forwarding) is left out and the
other weights are scaled up to 100. Agencies with fewer resolved reports in the period than
`scorecard.min_resolved` in config/sla.yaml are shown but not ranked, so one quick case cannot top the
league.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select

from queries import analytics, metrics, rollup
from queries.db import Database, get_db
from queries.filters import Filter, local_today, utc_now
from queries.schema import agencies, categories, reports
from queries.sla import sla_metrics, sla_metrics_split, sla_metrics_with_total
from queries.sql import (
    bucket_start,
    bucket_text,
    day_bucket,
    report_conditions,
)
from queries.workcalendar import load_config

r = reports.c
PERIOD_KINDS = ("month", "quarter", "year")
SCORE_WEIGHTS = {"on_time": 40, "satisfaction": 30, "backlog": 20, "bounce": 10}
COMPARED = ("received", "resolved", "pending", "overdue", "agency_on_time_rate", "agency_median_days",
            "satisfaction_mean", "rating_count", "bounce_back_rate", "score")
# Where a higher value is better (None: neither), as the registry declares it.
HIGHER_IS_BETTER = {name: metrics.metric(name).higher_is_better for name in COMPARED}


def min_resolved() -> int:
    return int((load_config().get("scorecard") or {}).get("min_resolved", 20))


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"Tháng {self.start.month:02d}/{self.start.year}"
        if self.kind == "quarter":
            return f"Quý {(self.start.month - 1) // 3 + 1}/{self.start.year}"
        return f"Năm {self.start.year}"

    @property
    def key(self) -> str:
        return self.start.isoformat()

    def previous(self) -> Period:
        return period_containing(self.kind, self.start - timedelta(days=1))


def period_containing(kind: str, day: date) -> Period:
    if kind not in PERIOD_KINDS:
        raise ValueError(f"kỳ phải là một trong {PERIOD_KINDS}")
    if kind == "month":
        start = day.replace(day=1)
        months = 1
    elif kind == "quarter":
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        months = 3
    else:
        start = date(day.year, 1, 1)
        months = 12
    year, month = divmod(start.month - 1 + months, 12)
    return Period(kind, start, date(start.year + year, month + 1, 1) - timedelta(days=1))


def default_period(kind: str, today: date | None = None) -> Period:
    """The period the scorecard opens on: the last complete one, where every agency has had its whole month
    (quarter, year) to reach the minimum of resolved reports."""
    return period_containing(kind, today or local_today()).previous()


@dataclass(frozen=True)
class Comparison:
    """The days a period's figures cover, and the days of the previous period they are compared with: the whole
    previous period, or, while the period runs, the same number of its first days."""

    period: Period
    through: date  # the period's last day counted
    previous_start: date
    previous_end: date

    @property
    def partial(self) -> bool:
        return self.through < self.period.end


def comparison(period: Period, today: date | None = None) -> Comparison:
    today = today or local_today()
    previous = period.previous()
    if not period.start <= today < period.end:
        return Comparison(period, period.end, previous.start, previous.end)
    same_days = min(previous.start + (today - period.start), previous.end)
    return Comparison(period, today, previous.start, same_days)


def recent_periods(kind: str, count: int, today: date | None = None) -> list[Period]:
    period = period_containing(kind, today or local_today())
    out = []
    for _ in range(count):
        out.append(period)
        period = period.previous()
    return out


def composite_score(frame: pd.DataFrame) -> pd.Series:
    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype="float64", na_value=np.nan)

    pending = column("pending")
    has_pending = pending > 0
    parts = {
        "on_time": column("agency_on_time_rate"),
        "satisfaction": (column("satisfaction_mean") - 1) / 4,
        "backlog": np.where(has_pending, 1 - column("overdue") / np.where(has_pending, pending, 1), 1.0),
        "bounce": 1 - column("bounce_back_rate"),
    }
    weighted = sum(np.nan_to_num(parts[k]) * w for k, w in SCORE_WEIGHTS.items())
    weights = sum(~np.isnan(parts[k]) * w for k, w in SCORE_WEIGHTS.items())
    score = np.full(len(frame), np.nan)
    np.divide(100 * weighted, weights, out=score, where=weights > 0)
    return pd.Series(score, index=frame.index, dtype="float64")


def _period_metrics(f: Filter, compared: Comparison, db, now) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every agency's metrics in the period and in the days of the previous one it is compared with (keyed by
    agency), with their scores. The scorecard shows no overdue-age bands: aging=False saves their query."""
    period = compared.period
    both = replace(f, start=compared.previous_start, end=period.end)
    before, since = sla_metrics_split(both, period.start, "agency", db, now, aging=False,
                                      first_until=compared.previous_end if compared.partial else None)
    return tuple(m.assign(score=composite_score(m)).set_index("key") for m in (since, before))


def scorecard(f: Filter, kind: str = "month", day: date | None = None, db: Database | None = None,
              now: datetime | None = None) -> tuple[pd.DataFrame, Period]:
    """Every agency with reports in the period that holds `day` (default: the last complete period) or in the
    days it is compared with (comparison()): the metrics, score, rank and, for each compared value,
    `<name>_prev` and `<name>_trend` ('up', 'down', 'same' or ''). An agency head gets only their own row,
    ranked among all agencies."""
    db = analytics.reader(db)
    today = local_today(now)
    period = period_containing(kind, day) if day is not None else default_period(kind, today)
    everyone = replace(f, scope_agency=None)
    current, previous = _period_metrics(everyone, comparison(period, today), db, now)
    names = pd.concat([current["name"], previous["name"]])
    out = current.reindex(current.index.union(previous.index))
    out["name"] = names.groupby(level=0).first()
    for col in ("received", "resolved", "pending", "overdue", "rating_count", "bounce_backs", "forwardings"):
        out[col] = out[col].fillna(0).astype("int64")
    for col in COMPARED:
        prev = previous[col].reindex(out.index)
        out[f"{col}_prev"] = prev
        out[f"{col}_trend"] = _trend(out[col], prev)
    return _ranked(out.reset_index().rename(columns={"index": "key"}), f.scope_agency), period


def period_ranking(f: Filter, kind: str = "month", day: date | None = None, db: Database | None = None,
                   now: datetime | None = None) -> tuple[pd.DataFrame, Period]:
    """The period's agencies with their metrics, score, `ranked` and `rank` exactly as scorecard() ranks them,
    without the previous period and the stage durations, which the score does not use: what the wall's
    rankings need, at a fraction of the cost."""
    db = analytics.reader(db)
    period = period_containing(kind, day or local_today())
    current = replace(f, scope_agency=None, start=period.start, end=period.end)
    metrics = sla_metrics(current, "agency", db, now, aging=False, durations=())
    return _ranked(metrics.assign(score=composite_score(metrics)), f.scope_agency), period


def _ranked(out: pd.DataFrame, scope: str | None) -> pd.DataFrame:
    """Rank the agencies with enough resolved reports by score (ties share a rank); an agency head gets only
    their own row, ranked among all. Ranked first, by rank, then the others by reports received."""
    out["ranked"] = (out["resolved"] >= min_resolved()) & out["score"].notna()
    ranks = out.loc[out["ranked"], "score"].rank(ascending=False, method="min")
    out["rank"] = ranks.reindex(out.index).astype("Int64")
    if scope is not None:
        out = out[out["key"] == scope]
    return out.sort_values(["ranked", "rank", "received"], ascending=[False, True, False], ignore_index=True)


def _trend(values: pd.Series, previous: pd.Series) -> np.ndarray:
    """'up', 'down' or 'same' per row ('' where either value is missing)."""
    a = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    b = pd.to_numeric(previous, errors="coerce").astype("float64").to_numpy()
    missing = np.isnan(a) | np.isnan(b)
    same = np.isclose(np.nan_to_num(a), np.nan_to_num(b), rtol=1e-9, atol=1e-9)
    return np.where(missing, "", np.where(same, "same", np.where(a > b, "up", "down"))).astype(object)


# --- the agency detail ---------------------------------------------------------------------------------

def agency_info(code: str, db: Database | None = None) -> dict | None:
    rows = get_db(db).read_rows(select(agencies.c.code, agencies.c.name, agencies.c.short_name, agencies.c.kind)
                                .where(agencies.c.code == code))
    return rows[0] if rows else None


# What the agency page's cards show of the metric rows: no overdue-age band, no IOC-stage duration, no p90: the
# percentiles are the costliest part of the page, so the cards keep only the agency stage's median.
CARD_METRICS = {"aging": False, "durations": ("agency",), "p90": False}


def province_metrics(f: Filter, db: Database | None = None, now: datetime | None = None,
                     cards_only: bool = False) -> dict:
    """The province's metric row and every agency's, for the filter's period: what each agency page is
    compared with; with `cards_only`, just the metrics its cards show (CARD_METRICS). They ignore the caller's
    scope (every role compares against the same province), so one answer, cached, serves every agency's page."""
    db = analytics.reader(db)
    whole = replace(f, agencies=(), scope_agency=None)
    province, per_agency = sla_metrics_with_total(whole, db, now, **(CARD_METRICS if cards_only else {}))
    return {"province": province, "per_agency": per_agency}


def agency_vs_province(code: str, f: Filter, db: Database | None = None, now: datetime | None = None,
                       province: dict | None = None, cards_only: bool = False) -> dict:
    """The agency's metric row (within the caller's scope) and the province's, plus how many agencies had
    reports; with `cards_only`, just the metrics the agency page's cards show. `province` is
    province_metrics(f, cards_only=...) when the caller has it already."""
    db = analytics.reader(db)
    now = now or utc_now()
    province = province or province_metrics(f, db, now, cards_only)
    province, per_agency = province["province"], province["per_agency"]
    if f.scope_agency in (None, code):  # the caller may see all of this agency: its row is already here
        agency = per_agency[per_agency["key"] == code]
    else:
        agency = sla_metrics(replace(f, agencies=(code,)), "agency", db, now,
                             **(CARD_METRICS if cards_only else {}))
    numeric = per_agency.select_dtypes("number")
    return {
        "agency": agency.iloc[0].to_dict() if not agency.empty else None,
        "province": province.iloc[0].to_dict() if not province.empty else None,
        "agencies_with_reports": int(len(per_agency)),
        "agency_average": numeric.mean().to_dict() if len(per_agency) else {},
    }


# The monthly trends' counts, and the figures they show from them: the same as the cards' for that month.
TREND_COUNTS = metrics.require("agency_judged", "agency_on_time", "rating_count", "rating_sum")
TREND_DERIVED = metrics.require("agency_on_time_rate", "satisfaction_mean")


def _trend_frame(month: np.ndarray, sums: np.ndarray) -> pd.DataFrame:
    """Month, counts and the figures derived from them, from per-month sums (columns as TREND_COUNTS)."""
    counts = dict(zip(TREND_COUNTS, sums.T, strict=True))
    frame = pd.DataFrame({"month": month, **{name: counts[name].astype("int64") for name in TREND_COUNTS
                                             if name != "rating_sum"}})
    for name in TREND_DERIVED:
        frame[name] = metrics.value(name, counts)
    return frame


def monthly_trends(f: Filter, db: Database | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per local month of arrival (the month a report counts in everywhere), for every agency (column `agency`)
    and for the province: TREND_COUNTS and TREND_DERIVED. One scan serves every agency's page: the
    province's months are the sums of the agencies' (reports with no agency included). Like all province
    totals, the rows ignore the caller's scope; monthly_trend applies it. On the analytics copy the sums come
    from its daily counts."""
    db = analytics.reader(db)
    whole = replace(f, agencies=(), scope_agency=None)
    if rollup.usable(whole, db):
        source = rollup.counts_source(whole)
        start = day_bucket(source.c.day, "month").label("start")
    else:
        source, start = reports, bucket_start(r.created_at, "month").label("start")
    # Grouped by the agency's id and named after: the join then meets a thousand rows, not every row.
    per_month = (
        select(start, source.c.agency_id, *metrics.columns(TREND_COUNTS, source))
        .select_from(source).where(*report_conditions(whole, source))
        .group_by(start, source.c.agency_id).subquery()
    )
    stmt = (select(bucket_text(per_month.c.start).label("month"), agencies.c.code.label("agency"),
                   *[per_month.c[c] for c in TREND_COUNTS])
            .select_from(per_month.outerjoin(agencies, agencies.c.id == per_month.c.agency_id))
            .order_by(per_month.c.start))
    df = db.read_frame(stmt)
    sums = np.nan_to_num(df[list(TREND_COUNTS)].to_numpy(dtype="float64", na_value=np.nan))
    month, agency = df["month"].to_numpy(dtype=object), df["agency"].to_numpy(dtype=object)
    # The province's months: the sums over every group, no agency included, in the months' order.
    which, months = pd.factorize(month, sort=True)
    known = which >= 0
    province = np.column_stack([np.bincount(which[known], weights=column[known], minlength=len(months))
                                for column in sums.T])
    named = pd.notna(agency)
    per_agency = _trend_frame(month[named], sums[named])
    per_agency.insert(0, "agency", agency[named])
    return per_agency, _trend_frame(np.asarray(months, dtype=object), province)


def monthly_trend(f: Filter, code: str | None, db: Database | None = None,
                  trends: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One agency's monthly trend within the caller's scope, or (`code` None) the province's; from
    `trends` = monthly_trends(f) when the caller has it already."""
    per_agency, province = trends if trends is not None else monthly_trends(f, db)
    if code is None:
        return province
    visible = f.scope_agency in (None, code)  # outside the caller's scope: nothing
    return per_agency[(per_agency["agency"] == code) & visible].drop(columns="agency").reset_index(drop=True)


RATING_COUNTS = metrics.require("rating_count", "rating_sum", "r1", "r2")


def ratings_by_category(f: Filter, db: Database | None = None) -> pd.DataFrame:
    """Ratings per agency and field in the period (every agency: one scan serves every agency's page); on the
    analytics copy from its daily counts."""
    db = analytics.reader(db)
    whole = replace(f, agencies=(), scope_agency=None)
    if rollup.usable(whole, db):
        source = rollup.counts_source(whole)
        rated = source.c.rating_count > 0
    else:
        source = reports
        rated = metrics.condition("rating_count", reports)
    d = source.c
    per_pair = (select(d.agency_id, d.category_id, *metrics.columns(RATING_COUNTS, source))
                .select_from(source).where(*report_conditions(whole, source), rated)
                .group_by(d.agency_id, d.category_id).subquery())
    # Named after grouping, as in monthly_trends.
    stmt = (select(agencies.c.code.label("agency"), categories.c.code.label("category_code"),
                   categories.c.short_name.label("category_name"), *[per_pair.c[name] for name in RATING_COUNTS])
            .select_from(per_pair.join(categories, categories.c.id == per_pair.c.category_id)
                         .join(agencies, agencies.c.id == per_pair.c.agency_id)))
    df = db.read_frame(stmt)
    counts = [name for name in RATING_COUNTS if name != "rating_sum"]
    df[counts] = df[counts].astype("int64")
    df["rating_sum"] = df["rating_sum"].astype("float64")
    return df


def worst_rated_categories(code: str, f: Filter, db: Database | None = None, min_ratings: int = 3,
                           ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """The agency's fields by mean rating, worst first, for fields with at least `min_ratings` ratings (none
    outside the caller's scope); from `ratings` = ratings_by_category(f) when the caller has it already."""
    ratings = ratings if ratings is not None else ratings_by_category(f, db)
    df = ratings[(ratings["agency"] == code) & (ratings["rating_count"] >= min_ratings)]
    if f.scope_agency not in (None, code):
        df = df.iloc[0:0]
    df = metrics.derive(df.drop(columns="agency"), ("satisfaction_mean", "share_low"))
    df = df.assign(low=df["r1"] + df["r2"])[["category_code", "category_name", "rating_count", "satisfaction_mean",
                                              "low", "share_low"]]
    return df.sort_values(["satisfaction_mean", "category_code"], ignore_index=True)
