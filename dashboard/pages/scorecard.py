"""Xếp hạng đơn vị: every agency on one sortable table for a month, quarter or year, compared with the
previous period, with a composite score and ranks; exports to CSV; a click on an agency opens its page."""

from __future__ import annotations

from datetime import date

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update
from dash.dash_table.Format import Format, Group, Scheme
from sqlalchemy.exc import SQLAlchemyError

from dashboard import ids, text
from dashboard.answers import scorecard_answer
from dashboard.auth import current_scope
from dashboard.components.charts import FONT
from dashboard.components.info import info_icon
from dashboard.formatting import fmt_date
from queries import metrics, options, scorecard
from queries.filters import Filter, local_today

dash.register_page(__name__, path="/scorecard", title=f"{text.NAV_SCORECARD} · {text.APP_TITLE}",
                   name=text.NAV_SCORECARD, order=1)
# The registry's metrics in the table, whose definitions the info panel lists.
SHOWN = metrics.require("score", "received", "resolved", "pending", "overdue", "agency_on_time_rate",
                        "agency_median_days", "satisfaction_mean", "rating_count", "bounce_back_rate")

RECENT = {"month": 13, "quarter": 8, "year": 5}
# (value column, header, number format, is it compared with the previous period)
COLUMNS = [
    ("rank", text.COL_RANK, None, False),
    ("name", text.COL_AGENCY, None, False),
    ("score", metrics.heading("score"), ".1f", True),
    ("received", metrics.heading("received"), ",d", True),
    ("resolved", metrics.heading("resolved"), ",d", True),
    ("pending", metrics.heading("pending"), ",d", True),
    ("overdue", metrics.heading("overdue"), ",d", True),
    ("on_time_pct", metrics.heading("agency_on_time_rate"), ".1f", True),
    ("agency_median_days", metrics.heading("agency_median_days"), ".1f", True),
    ("satisfaction_mean", metrics.heading("satisfaction_mean"), ".2f", True),
    ("rating_count", metrics.heading("rating_count"), ",d", False),
    ("bounce_pct", metrics.heading("bounce_back_rate"), ".1f", True),
]
SOURCE = {"on_time_pct": "agency_on_time_rate", "bounce_pct": "bounce_back_rate"}
ARROWS = {"up": text.TREND_UP, "down": text.TREND_DOWN, "same": text.TREND_SAME, "": ""}


def _period_options(kind: str) -> list[dict]:
    today = local_today()
    return [{"label": p.label + (text.PERIOD_RUNNING if p.end >= today else ""), "value": p.key}
            for p in scorecard.recent_periods(kind, RECENT[kind], today)]


def _table_columns() -> list[dict]:
    cols = []
    for col, header, fmt, compared in COLUMNS:
        spec = {"id": col, "name": header, "type": "numeric" if fmt else "text"}
        if fmt:
            # Vietnamese numbers: 1.234,5
            spec["format"] = Format(group=Group.yes, group_delimiter=".", decimal_delimiter=",",
                                    precision=int(fmt[1]) if fmt.startswith(".") else 0, scheme=Scheme.fixed)
        cols.append(spec)
        if compared:
            cols.append({"id": f"{col}_arrow", "name": "", "type": "text"})
    return cols


def _style_conditions() -> list[dict]:
    styles = [{"if": {"filter_query": "{ranked} = false"}, "color": "#6b7785", "fontStyle": "italic"}]
    for col, *_rest, compared in COLUMNS:
        if not compared:
            continue
        for quality, color in (("good", "#198754"), ("bad", "#c62828")):
            styles.append({"if": {"filter_query": f'{{{col}_quality}} = "{quality}"', "column_id": f"{col}_arrow"},
                           "color": color, "fontWeight": "700"})
    return styles


def layout(kind: str = "month", period: str | None = None, **_query):
    kind = kind if kind in scorecard.PERIOD_KINDS else "month"
    try:
        categories = options.category_options()
    except SQLAlchemyError:  # the page still renders; the table callback reports the outage
        categories = None
    category_options = [] if categories is None else [
        {"label": row.name, "value": row.code} for row in categories.itertuples()]
    return html.Div(className="scorecard", children=[
        html.Div(className="page-head", children=[
            html.H1(id=ids.SC_TITLE, children=text.SCORECARD_TITLE),
            info_icon([text.PERIOD_RULE, *text.STAGE_RULES, *metrics.explanations(SHOWN)]),
        ]),
        html.Div(className="filter-bar", children=[
            html.Div(className="filter-field filter-preset", children=[
                html.Label(text.PERIOD_KIND, className="filter-label"),
                dcc.RadioItems(id=ids.SC_PERIOD_KIND, value=kind, inline=True, className="radio-row",
                               options=[{"label": v, "value": k} for k, v in text.PERIOD_KINDS.items()]),
            ]),
            html.Div(className="filter-field", children=[
                html.Label(text.PERIOD, className="filter-label"),
                dcc.Dropdown(id=ids.SC_PERIOD, options=_period_options(kind), clearable=False,
                             value=period or scorecard.default_period(kind).key, labels=text.DROPDOWN_LABELS),
            ]),
            html.Div(className="filter-field", children=[
                html.Label(text.FILTER_CATEGORY, className="filter-label"),
                dcc.Dropdown(id=ids.SC_CATEGORY, options=category_options, multi=True, value=[],
                             placeholder=text.FILTER_ALL, labels=text.DROPDOWN_LABELS),
            ]),
        ]),
        html.P(id=ids.SC_NOTE, className="note"),
        dash_table.DataTable(
            id=ids.SC_TABLE, columns=_table_columns(), data=[], sort_action="native", sort_mode="single",
            export_format="csv", export_headers="display", page_action="none", cell_selectable=True,
            style_table={"overflowX": "auto"}, style_as_list_view=True,
            style_header={"fontWeight": "700", "backgroundColor": "#eef3f8", "whiteSpace": "normal",
                          "height": "auto"},
            style_cell={"fontFamily": FONT, "fontSize": "14px", "padding": "6px 8px", "textAlign": "right"},
            style_cell_conditional=[{"if": {"column_id": "name"}, "textAlign": "left", "cursor": "pointer",
                                     "color": "#145a96", "fontWeight": "600"}]
            + [{"if": {"column_id": f"{col}_arrow"}, "width": "18px", "padding": "6px 2px", "textAlign": "left"}
               for col, *_r, compared in COLUMNS if compared],
            style_data_conditional=_style_conditions(),
            tooltip_delay=300, tooltip_duration=None,
        ),
        dcc.Location(id=ids.SC_TABLE + "-nav", refresh="callback-nav"),
    ])


@callback(
    Output(ids.SC_PERIOD, "options"),
    Output(ids.SC_PERIOD, "value"),
    Input(ids.SC_PERIOD_KIND, "value"),
    prevent_initial_call=True,
)
def change_kind(kind):
    kind = kind if kind in scorecard.PERIOD_KINDS else "month"
    return _period_options(kind), scorecard.default_period(kind).key


def scorecard_rows(table) -> tuple[list[dict], list[dict]]:
    """DataTable rows (numbers, arrows, quality for colour) and tooltips with the previous period's value."""
    rows, tips = [], []
    for rec in table.to_dict("records"):
        row = {"key": rec["key"], "ranked": bool(rec["ranked"]), "name": rec["name"],
               "rank": int(rec["rank"]) if rec["ranked"] else text.NOT_RANKED}
        tip = {}
        for col, _header, _fmt, compared in COLUMNS[1:]:
            source = SOURCE.get(col, col)
            if col == "name":
                continue
            value = rec.get(source)
            scale = 100 if col in SOURCE else 1
            row[col] = None if value is None or value != value else round(float(value) * scale, 4)
            if compared:
                trend = rec.get(f"{source}_trend", "")
                row[f"{col}_arrow"] = ARROWS[trend]
                row[f"{col}_quality"] = _quality(source, trend)
                prev = rec.get(f"{source}_prev")
                prev_text = "—" if prev is None or prev != prev else f"{float(prev) * scale:,.2f}".replace(
                    ",", "X").replace(".", ",").replace("X", ".")
                tip[f"{col}_arrow"] = f"Kỳ trước: {prev_text}"
                tip[col] = tip[f"{col}_arrow"]
        rows.append(row)
        tips.append(tip)
    return rows, tips


def _quality(source: str, trend: str) -> str:
    better = scorecard.HIGHER_IS_BETTER.get(source)
    if better is None or trend in ("", "same"):
        return ""
    return "good" if (trend == "up") == better else "bad"


@callback(
    Output(ids.SC_TABLE, "data"),
    Output(ids.SC_TABLE, "tooltip_data"),
    Output(ids.SC_NOTE, "children"),
    Input(ids.SC_PERIOD, "value"),
    Input(ids.SC_CATEGORY, "value"),
    State(ids.SC_PERIOD_KIND, "value"),
)
def update_scorecard(period_start, categories, kind):
    kind = kind if kind in scorecard.PERIOD_KINDS else "month"
    try:
        day = date.fromisoformat(period_start) if period_start else None
    except ValueError:
        day = None
    f = Filter(categories=tuple(categories or ())).scoped(current_scope())
    table, period = scorecard_answer(f, kind, day)
    rows, tips = scorecard_rows(table)
    return rows, tips, scorecard_note(scorecard.comparison(period))


def scorecard_note(compared) -> str:
    """What the period covers and what it is compared with, and the minimum for a rank."""
    period, previous = compared.period, compared.period.previous()
    head = f"{period.label} ({fmt_date(period.start)}–{fmt_date(period.end)}). "
    if not compared.partial:
        return head + text.SCORECARD_NOTE.format(previous=previous.label, n=scorecard.min_resolved())
    return head + text.SCORECARD_PARTIAL_NOTE.format(
        through=fmt_date(compared.through), days=(compared.previous_end - compared.previous_start).days + 1,
        previous=previous.label, previous_start=fmt_date(compared.previous_start),
        previous_end=fmt_date(compared.previous_end), n=scorecard.min_resolved())


@callback(
    Output(ids.SC_TABLE + "-nav", "pathname"),
    Input(ids.SC_TABLE, "active_cell"),
    State(ids.SC_TABLE, "derived_viewport_data"),
    prevent_initial_call=True,
)
def open_agency(cell, visible_rows):
    if not cell or cell.get("column_id") != "name" or not visible_rows:
        return no_update
    return f"/agency/{visible_rows[cell['row']]['key']}"
