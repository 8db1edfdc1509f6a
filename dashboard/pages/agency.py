"""Đơn vị: one agency next to the province — KPIs, on-time and satisfaction trends, worst-rated fields, and
the overdue and due-soon lists with working days over or left. Agency heads see only their own agency
(the scope is applied in queries/; this page only explains it)."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from dashboard import ids, text
from dashboard.answers import agency_answer, deadline_lists
from dashboard.auth import current_scope, current_viewer
from dashboard.components import charts
from dashboard.components.case_table import case_rows, case_table
from dashboard.components.filter_bar import preset_range
from dashboard.components.info import info_icon
from dashboard.components.kpi_card import kpi_card
from dashboard.formatting import fmt_decimal, fmt_int, fmt_pct
from queries import cases, metrics, scorecard
from queries.filters import Filter

dash.register_page(__name__, path_template="/agency/<code>", title=f"{text.NAV_AGENCY} · {text.APP_TITLE}",
                   name=text.NAV_AGENCY, nav=False)
# The registry's metrics on the cards, whose definitions the info panel lists.
SHOWN = metrics.require("received", "pending", "overdue", "due_soon", "agency_on_time_rate", "agency_median_days",
                        "satisfaction_mean", "bounce_back_rate")

PERIOD_ID = ids.AG_CODE + "-period"
WORK_COLUMNS = ["link", "received", "title", "category_name", "commune_name", "status_label", "deadline",
                "countdown", "flags"]
OPEN_CASE_COLUMNS = ["link", "title", "category_name", "commune_name", "status_label", "deadline", "countdown"]


def layout(code: str | None = None, **_query):
    scope = current_scope()
    if code is None:  # Dash's start-up check of callbacks against layouts: the page's full skeleton
        return _page(None, "")
    if scope is not None and code != scope:
        return html.Div(className="not-found", children=[html.H1(text.AGENCY_FORBIDDEN),
                                                         dcc.Link(text.NOT_FOUND_BACK, href="/")])
    try:
        info = scorecard.agency_info(code)
    except SQLAlchemyError:
        info = {"code": code, "name": code}
    if info is None:
        return html.Div(className="not-found", children=[html.H1(text.AGENCY_UNKNOWN.format(code=code)),
                                                         dcc.Link(text.NOT_FOUND_BACK, href="/scorecard")])
    return _page(code, info["name"])


def _page(code: str | None, name: str) -> html.Div:
    return html.Div(className="agency", children=[
        dcc.Store(id=ids.AG_CODE, data=code),
        html.Div(className="page-head", children=[
            html.H1(name, id=ids.AG_TITLE),
            dcc.Link("← " + text.NAV_SCORECARD, href="/scorecard", className="back-link"),
            info_icon([text.PERIOD_RULE, *text.STAGE_RULES, *metrics.explanations(SHOWN)]),
        ]),
        html.Div(className="filter-bar", children=[
            html.Div(className="filter-field filter-preset", children=[
                html.Label(text.FILTER_PERIOD, className="filter-label"),
                dcc.Dropdown(id=PERIOD_ID, value="12m", clearable=False, searchable=False,
                             options=[{"label": v, "value": k} for k, v in text.PRESETS.items()],
                             labels=text.DROPDOWN_LABELS),
            ]),
        ]),
        html.Div(id=ids.AG_KPIS, className="kpi-row"),
        html.Section(id=ids.AG_WORK, className="panel", children=[
            html.H2(id=ids.AG_WORK_TITLE, children=text.WORK_TITLE),
            html.P(text.WORK_NOTE, className="note"),
            case_table(ids.AG_WORK_TABLE, WORK_COLUMNS, page_size=cases.WORK_PAGE_SIZE, server_pages=True),
        ]),
        html.Div(className="grid-2", children=[
            html.Section(className="panel", children=[html.H2(text.PANEL_ON_TIME_TREND),
                                                      dcc.Graph(id=ids.AG_ON_TIME_TREND)]),
            html.Section(className="panel", children=[html.H2(text.PANEL_SATISFACTION_TREND),
                                                      dcc.Graph(id=ids.AG_SATISFACTION_TREND)]),
        ]),
        html.Div(className="grid-2", children=[
            html.Section(className="panel", children=[
                html.H2(text.PANEL_OVERDUE, id=ids.AG_OVERDUE_TITLE),
                case_table(ids.AG_OVERDUE, OPEN_CASE_COLUMNS, server_pages=True)]),
            html.Section(className="panel", children=[html.H2(text.PANEL_WORST_CATEGORIES),
                                                      dcc.Graph(id=ids.AG_WORST_CATEGORIES)]),
        ]),
        html.Section(className="panel", children=[
            html.H2(metrics.label("due_soon"), id=ids.AG_DUE_SOON_TITLE),
            case_table(ids.AG_DUE_SOON, OPEN_CASE_COLUMNS, server_pages=True)]),
    ])


def _rate_card(name, label, agency, province, key) -> html.Div:
    return kpi_card(name, label, fmt_pct(agency.get(key)),
                    text.AGENCY_PROVINCE.format(value=fmt_pct(province.get(key))), raw=agency.get(key))


def agency_kpis(compared: dict) -> list:
    agency, province = compared["agency"] or {}, compared["province"] or {}
    average = compared.get("agency_average") or {}

    def avg(key):
        return fmt_decimal(average.get(key, 0), 1)

    return [
        kpi_card("ag-received", metrics.label("received"), fmt_int(agency.get("received", 0)),
                 text.AGENCY_PROVINCE_AVG.format(value=avg("received")), raw=agency.get("received", 0)),
        kpi_card("ag-pending", metrics.label("pending"), fmt_int(agency.get("pending", 0)),
                 text.AGENCY_PROVINCE_AVG.format(value=avg("pending")), "warn", raw=agency.get("pending", 0)),
        kpi_card("ag-overdue", metrics.label("overdue"), fmt_int(agency.get("overdue", 0)),
                 text.AGENCY_PROVINCE_AVG.format(value=avg("overdue")),
                 "bad" if agency.get("overdue") else "neutral", raw=agency.get("overdue", 0)),
        kpi_card("ag-due", metrics.label("due_soon"), fmt_int(agency.get("due_soon", 0)),
                 text.AGENCY_PROVINCE_AVG.format(value=avg("due_soon")), raw=agency.get("due_soon", 0)),
        _rate_card("ag-on-time", metrics.label("agency_on_time_rate"), agency, province, "agency_on_time_rate"),
        kpi_card("ag-median", metrics.label("agency_median_days"),
                 text.DAYS_UNIT.format(value=fmt_decimal(agency.get("agency_median_days"), 1)),
                 text.AGENCY_PROVINCE.format(
                     value=text.DAYS_UNIT.format(value=fmt_decimal(province.get("agency_median_days"), 1))),
                 raw=agency.get("agency_median_days")),
        kpi_card("ag-satisfaction", metrics.label("satisfaction_mean"), fmt_decimal(agency.get("satisfaction_mean"), 2),
                 text.AGENCY_PROVINCE.format(value=fmt_decimal(province.get("satisfaction_mean"), 2)),
                 raw=agency.get("satisfaction_mean")),
        _rate_card("ag-bounce", metrics.label("bounce_back_rate"), agency, province, "bounce_back_rate"),
    ]


PAGE_INPUTS = (Input(ids.AG_CODE, "data"), Input(PERIOD_ID, "value"))


@callback(
    Output(ids.AG_KPIS, "children"),
    Output(ids.AG_ON_TIME_TREND, "figure"),
    Output(ids.AG_SATISFACTION_TREND, "figure"),
    Output(ids.AG_WORST_CATEGORIES, "figure"),
    *PAGE_INPUTS,
)
def update_agency(code, preset):
    if not isinstance(code, str) or not code:  # the page's store, unless forged
        raise PreventUpdate
    return build_agency(code, _period(preset))


def _period(preset: str | None) -> Filter:
    start, end = preset_range(preset or "12m")
    return Filter(start=start, end=end).scoped(current_scope())


def build_agency(code: str, f: Filter) -> tuple:
    """The page's numbers and figures (what the JSON twin, /api/v1/agencies/<code>, also reads)."""
    answer = agency_answer(code, f)
    trend, province_trend = answer["trend"], answer["province_trend"]
    return (
        agency_kpis(answer["compared"]),
        charts.agency_vs_province_figure(trend, province_trend, "agency_on_time_rate", percent=True, y_range=[0, 105]),
        charts.agency_vs_province_figure(trend, province_trend, "satisfaction_mean", percent=False,
                                         y_range=[1, 5]),
        charts.worst_categories_figure(answer["worst"]),
    )


# A callback of their own: the lists read the system of record, the figures above the analytics copy, and
# neither waits for the other.
@callback(
    *[Output(table, prop) for table in (ids.AG_OVERDUE, ids.AG_DUE_SOON)
      for prop in ("data", "page_count", "page_current")],
    Output(ids.AG_OVERDUE_TITLE, "children"),
    Output(ids.AG_DUE_SOON_TITLE, "children"),
    *PAGE_INPUTS,
    Input(ids.AG_OVERDUE, "page_current"),
    Input(ids.AG_DUE_SOON, "page_current"),
)
def agency_deadlines(code, preset, overdue_page, due_soon_page):
    if not isinstance(code, str) or not code:  # the page's store, unless forged
        raise PreventUpdate
    return deadline_lists(code, _period(preset), overdue_page, due_soon_page)


@callback(
    Output(ids.AG_WORK_TABLE, "data"),
    Output(ids.AG_WORK_TITLE, "children"),
    Output(ids.AG_WORK_TABLE, "page_count"),
    Output(ids.AG_WORK_TABLE, "page_current"),
    Input(ids.AG_CODE, "data"),
    Input(ids.AG_WORK_TABLE, "page_current"),
)
def agency_work(code, page):
    """One page of the agency's open reports: waiting to be accepted first, then in progress, each by
    deadline; the title says how many of each."""
    if not isinstance(code, str) or not code:  # the page's store, unless forged
        raise PreventUpdate
    page = page if isinstance(page, int) else 0
    rows, counts = cases.agency_work(current_viewer(), code, page)
    title = (f"{text.WORK_TITLE}: {text.WORK_TO_ACCEPT.format(n=fmt_int(counts['forwarded']))} · "
             f"{text.WORK_IN_PROGRESS.format(n=fmt_int(counts['in_progress']))}")
    pages = max(1, -(-sum(counts.values()) // cases.WORK_PAGE_SIZE))
    return case_rows(rows), title, pages, min(page, pages - 1)
