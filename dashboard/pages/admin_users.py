"""Người dùng (admin): every account with its role, agency and state; a form that creates an account, and
actions on the selected one: role and agency, lock or unlock, new password. queries/admin.py checks the
role again and writes the audit log."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dash_table, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids, text
from dashboard.auth import current_viewer
from dashboard.components.admin import admin_only, is_admin
from dashboard.components.case_table import CELL_STYLE, FILTER_OPTIONS, HEADER_STYLE
from dashboard.formatting import fmt_local_datetime
from queries import admin, options
from queries.access import WorkflowError

dash.register_page(__name__, path="/admin/users", title=f"{text.NAV_USERS} · {text.APP_TITLE}", name=text.NAV_USERS,
                   order=11, roles=("admin",))

BUTTONS = {ids.USR_CREATE: "create", ids.USR_SAVE_ROLE: "role", ids.USR_DISABLE: "disable",
           ids.USR_ENABLE: "enable", ids.USR_RESET: "reset"}


def user_rows() -> list[dict]:
    frame = admin.list_users(current_viewer())
    return [{"username": u["username"], "full_name": u["full_name"], "role": u["role"],
             "role_label": text.ROLE_LABELS.get(u["role"], u["role"]), "agency_code": u["agency_code"],
             "agency_name": u["agency_name"] or "", "active": int(u["active"]),
             "state": text.USER_ACTIVE if u["active"] else text.USER_DISABLED,
             "created": fmt_local_datetime(u["created_at"])} for u in frame.to_dict("records")]


def layout(**_query):
    allowed = is_admin()
    agencies = options.agency_options() if allowed else None
    return admin_only(text.ADMIN_FORBIDDEN, "admin-page", [
        html.H1(text.USERS_TITLE),
        html.Section(className="panel", children=[
            html.Div(className="form-grid", children=[
                html.Label([text.USER_USERNAME, dcc.Input(id=ids.USR_USERNAME, type="text", value="", maxLength=80)]),
                html.Label([text.USER_FULL_NAME, dcc.Input(id=ids.USR_FULL_NAME, type="text", value="",
                                                           maxLength=200)]),
                html.Label([text.USER_ROLE, dcc.Dropdown(
                    id=ids.USR_ROLE, clearable=False, value="operator",
                    options=[{"label": v, "value": k} for k, v in text.ROLE_LABELS.items()])]),
                html.Label([text.USER_AGENCY, dcc.Dropdown(
                    id=ids.USR_AGENCY, labels=text.DROPDOWN_LABELS,
                    options=[] if agencies is None else [{"label": f"{row.short_name} ({row.code})", "value": row.code}
                                                         for row in agencies.itertuples()])]),
                html.Label([text.USER_PASSWORD, dcc.Input(id=ids.USR_PASSWORD, type="password", value="",
                                                          maxLength=200, autoComplete="new-password")]),
            ]),
            html.P(text.USER_PASSWORD_RULE, className="note"),
            html.P(text.USER_PICK, className="note"),
            html.Div(className="button-row", children=[
                html.Button(text.USER_CREATE, id=ids.USR_CREATE, n_clicks=0, className="btn-primary"),
                html.Button(text.USER_SAVE_ROLE, id=ids.USR_SAVE_ROLE, n_clicks=0, className="btn-secondary"),
                html.Button(text.USER_RESET, id=ids.USR_RESET, n_clicks=0, className="btn-secondary"),
                html.Button(text.USER_DISABLE, id=ids.USR_DISABLE, n_clicks=0, className="btn-danger"),
                html.Button(text.USER_ENABLE, id=ids.USR_ENABLE, n_clicks=0, className="btn-secondary"),
            ]),
            html.Div(id=ids.USR_MESSAGE, className="form-message", role="status"),
        ]),
        dash_table.DataTable(
            id=ids.USR_TABLE, data=user_rows() if allowed else [], row_selectable="single", selected_rows=[],
            columns=[{"id": k, "name": v} for k, v in text.USERS_COLUMNS.items()], sort_action="native",
            filter_action="native", filter_options=FILTER_OPTIONS, page_size=30, style_as_list_view=True,
            style_header=HEADER_STYLE, style_cell=CELL_STYLE,
            style_data_conditional=[{"if": {"filter_query": "{active} = 0"}, "color": "#8a96a3"}]),
    ])


@callback(
    Output(ids.USR_USERNAME, "value"),
    Output(ids.USR_FULL_NAME, "value"),
    Output(ids.USR_ROLE, "value"),
    Output(ids.USR_AGENCY, "value"),
    Input(ids.USR_TABLE, "selected_rows"),
    State(ids.USR_TABLE, "derived_virtual_data"),
    prevent_initial_call=True,
)
def pick_user(selected, rows):
    if not selected or not rows or selected[0] >= len(rows):
        raise PreventUpdate
    row = rows[selected[0]]
    return row["username"], row["full_name"], row["role"], row["agency_code"]


@callback(
    Output(ids.USR_MESSAGE, "children"),
    Output(ids.USR_MESSAGE, "className"),
    Output(ids.USR_TABLE, "data"),
    Output(ids.USR_PASSWORD, "value"),
    *[Input(button, "n_clicks") for button in BUTTONS],
    State(ids.USR_USERNAME, "value"),
    State(ids.USR_FULL_NAME, "value"),
    State(ids.USR_ROLE, "value"),
    State(ids.USR_AGENCY, "value"),
    State(ids.USR_PASSWORD, "value"),
    prevent_initial_call=True,
)
def change_user(*args):
    username, full_name, role, agency, password = args[len(BUTTONS):]
    action = BUTTONS.get(ctx.triggered_id)
    if action is None:
        raise PreventUpdate
    viewer = current_viewer()
    username = (username or "").strip()
    agency = agency if role == "agency" else None
    try:
        if action == "create":
            admin.add_user(viewer, username, password or "", role, agency, full_name or "")
        elif action == "role":
            admin.set_role(viewer, username, role, agency)
        elif action in ("disable", "enable"):
            admin.set_user_active(viewer, username, action == "enable")
        else:
            admin.reset_password(viewer, username, password or "")
    except WorkflowError as err:
        return str(err), "form-message error", dash.no_update, dash.no_update
    return text.USER_DONE[action].format(name=username), "form-message ok", user_rows(), ""
