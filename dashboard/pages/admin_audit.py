"""Nhật ký (admin): who did what and when — every workflow action, phone reveal, administration change and
sign-in — filtered by date, user, action and target, newest first, exportable as CSV."""

from __future__ import annotations

from datetime import date, timedelta

import dash
from dash import Input, Output, callback, dash_table, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids, text
from dashboard.auth import current_viewer
from dashboard.components.admin import admin_only, is_admin
from dashboard.components.case_table import CELL_STYLE, HEADER_STYLE
from dashboard.formatting import fmt_int, fmt_local_datetime
from queries import audit
from queries.access import WorkflowError
from queries.filters import local_today

dash.register_page(__name__, path="/admin/audit", title=f"{text.NAV_AUDIT} · {text.APP_TITLE}", name=text.NAV_AUDIT,
                   order=13, roles=("admin",))
LIMIT = 2000


def layout(**_query):
    allowed = is_admin()
    today = local_today()
    return admin_only(text.ADMIN_FORBIDDEN, "admin-page", [
        html.H1(text.AUDIT_TITLE),
        html.Div(className="filter-bar", children=[
            html.Div(className="filter-field filter-dates", children=[
                html.Label(text.FILTER_PERIOD, className="filter-label"),
                dcc.DatePickerRange(id=ids.AUD_DATES, start_date=today - timedelta(days=30), end_date=today,
                                    display_format="DD/MM/YYYY", first_day_of_week=1)]),
            html.Div(className="filter-field", children=[
                html.Label(text.AUDIT_USER, className="filter-label"),
                dcc.Input(id=ids.AUD_USER, type="text", value="", debounce=True, maxLength=80)]),
            html.Div(className="filter-field", children=[
                html.Label(text.AUDIT_ACTION, className="filter-label"),
                dcc.Dropdown(id=ids.AUD_ACTION, labels=text.DROPDOWN_LABELS,
                             options=[{"label": text.AUDIT_ACTION_LABELS.get(a, a), "value": a}
                                      for a in audit.action_names()] if allowed else [])]),
            html.Div(className="filter-field", children=[
                html.Label(text.AUDIT_TARGET, className="filter-label"),
                dcc.Input(id=ids.AUD_TARGET, type="text", value="", debounce=True, maxLength=100)]),
        ]),
        html.P(id=ids.AUD_NOTE, className="note"),
        dash_table.DataTable(
            id=ids.AUD_TABLE, data=[], columns=[{"id": k, "name": v} for k, v in text.AUDIT_COLUMNS.items()],
            sort_action="native", page_size=30, export_format="csv", export_headers="display",
            style_as_list_view=True, style_header=HEADER_STYLE,
            style_cell={**CELL_STYLE, "whiteSpace": "normal", "maxWidth": "480px"}),
    ])


@callback(
    Output(ids.AUD_TABLE, "data"),
    Output(ids.AUD_NOTE, "children"),
    Input(ids.AUD_DATES, "start_date"),
    Input(ids.AUD_DATES, "end_date"),
    Input(ids.AUD_USER, "value"),
    Input(ids.AUD_ACTION, "value"),
    Input(ids.AUD_TARGET, "value"),
)
def show_audit(start, end, username, action, target):
    try:
        frame = audit.entries(current_viewer(), _day(start), _day(end), username or "", action or "",
                              target or "", limit=LIMIT)
    except WorkflowError:
        raise PreventUpdate from None
    rows = [{**row, "at_local": fmt_local_datetime(row["at"]), "at": None,
             "role": text.ROLE_LABELS.get(row["role"], row["role"]),
             "action": f"{text.AUDIT_ACTION_LABELS.get(row['action'], row['action'])} ({row['action']})"}
            for row in frame.to_dict("records")]
    return rows, text.AUDIT_SHOWN.format(n=fmt_int(len(rows)))


def _day(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
