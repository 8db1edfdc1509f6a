"""What a page and its JSON twin both show, asked for in one place: the page draws it, /api/v1 writes it out,
and both read the same cache entries, so the twin is as fast as the page and never says something else.
What every agency's page shares (the province's rows) is kept warm after each change (dashboard/cache.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd

from dashboard.cache import cached, kept_warm
from queries import scorecard
from queries.filters import Filter


def agency_answer(code: str, f: Filter, cards_only: bool = True) -> dict:
    """The agency against the province (the cards' metrics, or all of them), the monthly trends of both and
    the agency's worst-rated fields."""
    whole = replace(f, scope_agency=None)
    province = kept_warm(scorecard.province_metrics, whole, cards_only=cards_only)
    trends = kept_warm(scorecard.monthly_trends, whole)
    return {
        "compared": scorecard.agency_vs_province(code, f, province=province, cards_only=cards_only),
        "trend": scorecard.monthly_trend(f, code, trends=trends),
        "province_trend": scorecard.monthly_trend(f, None, trends=trends),
        "worst": scorecard.worst_rated_categories(code, f, ratings=kept_warm(scorecard.ratings_by_category, whole)),
    }


def scorecard_answer(f: Filter, kind: str, day: date | None) -> tuple[pd.DataFrame, scorecard.Period]:
    """The ranked table of the period that holds `day` (the default period when None), and that period."""
    return cached(scorecard.scorecard, f, kind, day)
