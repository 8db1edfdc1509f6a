"""What pages show, asked for in one place: a page and its JSON twin (/api/v1) read the same cache entries, so
the twin is as fast as the page and never says something else; lists that two pages show are built once.
What every agency's page shares (the province's rows) is kept warm after each change (dashboard/cache.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from dashboard import text
from dashboard.cache import cached, kept_warm
from dashboard.components.case_table import one_page, with_count
from queries import cases, metrics, options, overview, scorecard, settings, workflow
from queries.access import Viewer
from queries.filters import Filter


def overview_counts(f: Filter) -> pd.DataFrame:
    """Per agency, every count of the overview's headline, backlog and ratings (the page's heaviest read)."""
    return cached(overview.agency_counts, f)


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


@dataclass(frozen=True)
class ActionChoices:
    """What a viewer may do with a report, and, for triage, what to offer: the fields and agencies, the agency
    suggested for the field and commune, and the nearby reports that may be the same one."""

    allowed: frozenset[str]
    categories: pd.DataFrame | None = None
    agencies: pd.DataFrame | None = None
    suggested: str | None = None
    candidates: pd.DataFrame | None = None
    duplicate_radius_m: object = None
    duplicate_days: object = None


def action_choices(report: dict | None, viewer: Viewer) -> ActionChoices:
    report = report or {}
    status = report.get("status")
    allowed = frozenset(workflow.actions_for(viewer, status)) if status else frozenset()
    if not allowed & {"classify", "forward"}:
        return ActionChoices(allowed)
    code = report.get("code")
    return ActionChoices(allowed, options.category_options(), options.agency_options(),
                         cases.suggest_agency(report.get("category_code"), report.get("commune_code")),
                         cases.duplicate_candidates(viewer, code) if code else None,
                         settings.get("duplicate_radius_m"), settings.get("duplicate_days"))


def scorecard_answer(f: Filter, kind: str, day: date | None) -> tuple[pd.DataFrame, scorecard.Period]:
    """The ranked table of the period that holds `day` (the default period when None), and that period."""
    return cached(scorecard.scorecard, f, kind, day)


def deadline_lists(code: str | None, f: Filter, overdue_page, due_soon_page,
                   titles: tuple[str, str] | None = None) -> tuple:
    """A page of the agency's (None: every agency's) overdue reports, most overdue first, and one of those due
    soon (the registry's rules), each with its page count; then the two titles with how many there are."""
    titles = titles or (text.PANEL_OVERDUE, metrics.label("due_soon"))
    out, totals = [], []
    for which, page in (("overdue", overdue_page), ("due_soon", due_soon_page)):
        page = page if isinstance(page, int) else 0
        frame, total = cases.open_cases_page(code, f, which, page)
        out += one_page(frame, total, page)
        totals.append(total)
    return (*out, *(with_count(title, total) for title, total in zip(titles, totals, strict=True)))
