"""Màn hình lớn (admin): create, list and revoke wall-screen tokens; see when each screen was last seen."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html
from flask_login import current_user

from dashboard import ids, text
from dashboard.components.admin import admin_only, is_admin
from dashboard.components.charts import FONT
from dashboard.display import screen_url
from dashboard.formatting import fmt_local_datetime
from queries import display_tokens

dash.register_page(__name__, path="/admin/screens", title=f"{text.NAV_SCREENS} · {text.APP_TITLE}",
                   name="Mã màn hình", order=10, roles=("admin",))



def screen_rows() -> list[dict]:
    return [{"name": s.name, "prefix": s.token_prefix + "…",
             "state": "Đã thu hồi" if s.revoked_at else "Đang dùng",
             "settings": f"xoay {s.settings.rotate_seconds}s, làm mới {s.settings.refresh_seconds}s",
             "created": fmt_local_datetime(s.created_at), "last_seen": fmt_local_datetime(s.last_seen_at) or "—"}
            for s in display_tokens.list_screens()]


def layout(**_query):
    admin = is_admin()
    return admin_only(text.SCREENS_FORBIDDEN, "screens-admin", [
            html.H1(text.SCREENS_TITLE),
            html.P(text.SCREENS_INTRO, className="note"),
            html.Section(className="panel", children=[
                html.Div(className="form-grid", children=[
                    html.Label([text.SCREENS_NAME, dcc.Input(id=ids.SCR_NAME, type="text", maxLength=100)]),
                    html.Label([text.SCREENS_ROTATE, dcc.Input(id=ids.SCR_ROTATE, type="number",
                                                               value=display_tokens.DEFAULT_ROTATE_SECONDS)]),
                    html.Label([text.SCREENS_REFRESH, dcc.Input(id=ids.SCR_REFRESH, type="number",
                                                                value=display_tokens.DEFAULT_REFRESH_SECONDS)]),
                ]),
                html.Button(text.SCREENS_CREATE, id=ids.SCR_CREATE, className="btn-primary", n_clicks=0),
                html.Div(className="form-grid", children=[
                    html.Label([text.SCREENS_NAME, dcc.Dropdown(id=ids.SCR_REVOKE_NAME, options=[])]),
                    html.Button(text.SCREENS_REVOKE, id=ids.SCR_REVOKE, className="btn-primary", n_clicks=0),
                ]),
                html.Div(id=ids.SCR_MESSAGE, className="form-message", role="status"),
                html.Pre(id=ids.SCR_URL, className="screen-url"),
            ]),
            dash_table.DataTable(
                id=ids.SCR_TABLE, columns=[{"id": k, "name": v} for k, v in text.SCREENS_COLUMNS.items()],
                data=screen_rows() if admin else [], style_as_list_view=True,
                style_header={"fontWeight": "700", "backgroundColor": "#eef3f8"},
                style_cell={"fontFamily": FONT, "fontSize": "14px", "padding": "6px 8px", "textAlign": "left"}),
    ])


@callback(
    Output(ids.SCR_MESSAGE, "children"),
    Output(ids.SCR_MESSAGE, "className"),
    Output(ids.SCR_URL, "children"),
    Output(ids.SCR_TABLE, "data"),
    Output(ids.SCR_REVOKE_NAME, "options"),
    Input(ids.SCR_CREATE, "n_clicks"),
    Input(ids.SCR_REVOKE, "n_clicks"),
    State(ids.SCR_NAME, "value"),
    State(ids.SCR_ROTATE, "value"),
    State(ids.SCR_REFRESH, "value"),
    State(ids.SCR_REVOKE_NAME, "value"),
)
def manage_screens(create_clicks, revoke_clicks, name, rotate, refresh, revoke_name):
    if not is_admin():
        return text.SCREENS_FORBIDDEN, "form-message error", "", [], []
    message, css, url = "", "form-message", ""
    trigger = dash.ctx.triggered_id
    try:
        if trigger == ids.SCR_CREATE and create_clicks:
            _screen, token = display_tokens.create_token(name, current_user.username,
                                                         {"rotate_seconds": rotate, "refresh_seconds": refresh})
            message, css, url = text.SCREENS_CREATED, "form-message ok", screen_url(token)
        elif trigger == ids.SCR_REVOKE and revoke_clicks and revoke_name:
            display_tokens.revoke(revoke_name, by=current_user.username)
            message, css = text.SCREENS_REVOKED.format(name=revoke_name), "form-message ok"
    except display_tokens.DisplayTokenError as err:
        message, css = str(err), "form-message error"
    active = [{"label": s.name, "value": s.name} for s in display_tokens.list_screens() if s.active]
    return message, css, url, screen_rows(), active
