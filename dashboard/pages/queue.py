"""Hàng chờ IOC: what needs the operator now. New and returned reports waiting to be classified and
forwarded (oldest first, with the working-time countdown) and the action panel for the one selected;
overdue and due-soon reports across all agencies; search by code, text or phone number."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids, text
from dashboard.answers import action_choices, deadline_lists
from dashboard.auth import current_viewer
from dashboard.components.case_table import case_rows, case_table
from dashboard.components.report_actions import action_panel, outcome_area
from dashboard.formatting import fmt_int
from queries import cases, metrics
from queries.access import WorkflowError
from queries.filters import Filter

PAGE = "queue"
REFRESH_MS = 60_000
QUEUE_COLUMNS = ["link", "received", "title", "category_name", "commune_name", "channel", "countdown", "flags"]
ATTENTION_COLUMNS = ["link", "title", "agency_name", "status_label", "deadline", "countdown"]
ALL_TITLES = tuple(text.ALL_AGENCIES.format(panel=panel)
                   for panel in (metrics.label("overdue"), metrics.label("due_soon")))
SEARCH_COLUMNS = ["link", "received", "title", "agency_name", "status_label"]

dash.register_page(__name__, path="/queue", title=f"{text.NAV_QUEUE} · {text.APP_TITLE}", name=text.NAV_QUEUE,
                   order=1, roles=("admin", "operator"))


def layout(**_query):
    viewer = current_viewer()
    return html.Div(className="queue", children=[
        html.Div(className="not-found", hidden=viewer.triages, children=[html.H1(text.QUEUE_FORBIDDEN)]),
        html.Div(hidden=not viewer.triages, children=[
            dcc.Interval(id=ids.QU_REFRESH, interval=REFRESH_MS),
            html.H1(text.QUEUE_TITLE),
            html.Div(className="grid-queue", children=[
                html.Section(className="panel", children=[
                    html.H2(id=ids.QU_TITLE),
                    html.P(text.QUEUE_NEW_NOTE, className="note"),
                    case_table(ids.QU_TABLE, QUEUE_COLUMNS, page_size=12, selectable=True, export=False),
                ]),
                html.Section(className="panel", children=[
                    html.H2(text.REPORT_ACTIONS),
                    *outcome_area(PAGE),
                    html.Div(id=ids.QU_PANEL, children=html.P(text.QUEUE_PICK, className="note")),
                ]),
            ]),
            html.Section(className="panel", children=[
                html.H2(text.QUEUE_SEARCH),
                html.Div(className="search-row", children=[
                    dcc.Input(id=ids.QU_SEARCH, type="search", placeholder=text.QUEUE_SEARCH_HINT, value="",
                              debounce=True, maxLength=100),
                    html.Button(text.QUEUE_SEARCH_BUTTON, id=ids.QU_SEARCH_GO, n_clicks=0, className="btn-primary"),
                ]),
                html.Div(id=ids.QU_SEARCH_NOTE, className="note", role="status"),
                case_table(ids.QU_SEARCH_TABLE, SEARCH_COLUMNS, page_size=cases.SEARCH_PAGE_SIZE, export=False,
                           server_pages=True),
            ]),
            html.Div(className="grid-2", children=[
                html.Section(className="panel", children=[
                    html.H2(ALL_TITLES[0], id=ids.QU_OVERDUE_TITLE),
                    case_table(ids.QU_OVERDUE, ATTENTION_COLUMNS, server_pages=True)]),
                html.Section(className="panel", children=[
                    html.H2(ALL_TITLES[1], id=ids.QU_DUE_SOON_TITLE),
                    case_table(ids.QU_DUE_SOON, ATTENTION_COLUMNS, server_pages=True)]),
            ]),
        ]),
    ])


@callback(
    Output(ids.QU_TABLE, "data"),
    Output(ids.QU_TITLE, "children"),
    Output(ids.QU_TABLE, "selected_rows"),
    Input(ids.QU_REFRESH, "n_intervals"),
    Input(ids.act("done", PAGE), "data"),
    State(ids.QU_TABLE, "data"),
    State(ids.QU_TABLE, "selected_rows"),
)
def refresh_queue(_tick, _done, old_rows, selected):
    viewer = current_viewer()
    if not viewer.triages:
        raise PreventUpdate
    waiting, total = cases.triage_queue(viewer)
    rows = case_rows(waiting)
    # Keep the operator's selection on the same report when the list moves under it.
    chosen = old_rows[selected[0]]["code"] if old_rows and selected and selected[0] < len(old_rows) else None
    keep = [i for i, row in enumerate(rows) if row["code"] == chosen]
    return rows, text.QUEUE_NEW.format(n=total), keep


# The province's deadline lists in a callback of their own: a page of each list turns without reading the queue.
@callback(
    *[Output(table, prop) for table in (ids.QU_OVERDUE, ids.QU_DUE_SOON)
      for prop in ("data", "page_count", "page_current")],
    Output(ids.QU_OVERDUE_TITLE, "children"),
    Output(ids.QU_DUE_SOON_TITLE, "children"),
    Input(ids.QU_REFRESH, "n_intervals"),
    Input(ids.act("done", PAGE), "data"),
    Input(ids.QU_OVERDUE, "page_current"),
    Input(ids.QU_DUE_SOON, "page_current"),
)
def province_deadlines(_tick, _done, overdue_page, due_soon_page):
    if not current_viewer().triages:
        raise PreventUpdate
    return deadline_lists(None, Filter(), overdue_page, due_soon_page,
                           titles=ALL_TITLES)


@callback(
    Output(ids.QU_PANEL, "children"),
    Input(ids.QU_TABLE, "selected_rows"),
    State(ids.QU_TABLE, "data"),
)
def show_panel(selected, rows):
    if not rows:
        return html.P(text.QUEUE_EMPTY, className="note")
    if not selected or selected[0] >= len(rows):
        return html.P(text.QUEUE_PICK, className="note")
    viewer = current_viewer()
    code = rows[selected[0]]["code"]
    try:
        detail = cases.report_detail(viewer, code)
    except WorkflowError as err:
        return html.P(str(err), className="form-message error")
    if detail is None:
        return html.P(text.REPORT_NOT_FOUND.format(code=code), className="form-message error")
    return [
        html.H3(dcc.Link(f"{detail['code']} · {detail['title']}", href=f"/report/{detail['code']}")),
        html.P(detail["description"], className="description clamp"),
        action_panel(PAGE, detail, action_choices(detail, viewer)),
    ]


@callback(
    Output(ids.QU_SEARCH_TABLE, "data"),
    Output(ids.QU_SEARCH_NOTE, "children"),
    Output(ids.QU_SEARCH_TABLE, "page_count"),
    Output(ids.QU_SEARCH_TABLE, "page_current"),
    Input(ids.QU_SEARCH_GO, "n_clicks"),
    Input(ids.QU_SEARCH, "value"),
    Input(ids.QU_SEARCH_TABLE, "page_current"),
    prevent_initial_call=True,
)
def search(_clicks, query, page):
    """One page of the matches and how many there are; a new query starts again at its first page."""
    if not isinstance(query, str) or not query.strip():
        return [], "", 0, 0
    page = page if ctx.triggered_id == ids.QU_SEARCH_TABLE and isinstance(page, int) else 0
    try:
        found, total = cases.search_reports(current_viewer(), query, page=page)
    except WorkflowError as err:
        return [], str(err), 0, 0
    shown = min(total, cases.SEARCH_COUNT_CAP)
    pages = -(-shown // cases.SEARCH_PAGE_SIZE)
    note = (text.QUEUE_SEARCH_MANY if total > shown else text.QUEUE_SEARCH_RESULTS).format(n=fmt_int(shown))
    return case_rows(found), note, pages, min(page, max(0, pages - 1))
