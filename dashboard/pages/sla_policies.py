"""Quy định SLA (admin): every policy version per field and urgency, and a form that adds a new version
effective from a chosen time. Only admins may save; queries/policies.py checks that again."""

from __future__ import annotations

from datetime import datetime

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html
from flask_login import current_user

from dashboard import ids, text
from dashboard.components.admin import admin_only, is_admin
from dashboard.components.charts import FONT
from dashboard.formatting import fmt_local_datetime, fmt_number
from queries import options, policies
from queries.filters import LOCAL_TZ, local_datetime_to_utc

dash.register_page(__name__, path="/admin/sla", title=f"{text.NAV_SLA} · {text.APP_TITLE}", name=text.NAV_SLA,
                   order=9, roles=("admin",))

COLUMNS = [("category_name", "Lĩnh vực"), ("kind", "Loại"), ("ioc", text.SLA_IOC_LABEL),
           ("agency", text.SLA_AGENCY_LABEL), ("valid_from_local", "Hiệu lực từ"), ("created_by", "Người tạo"),
           ("note", text.SLA_NOTE_LABEL)]



def policy_rows() -> list[dict]:
    versions = policies.policy_versions()
    rows = []
    for v in versions.to_dict("records"):
        unit = text.UNIT_LABELS[v["unit"]]
        rows.append({"category_name": v["category_name"], "kind": "Khẩn" if v["urgent"] else "Thường",
                     "ioc": f"{fmt_number(v['ioc_limit'])} {unit}", "agency": f"{fmt_number(v['agency_limit'])} {unit}",
                     "valid_from_local": fmt_local_datetime(v["valid_from"]), "created_by": v["created_by"],
                     "note": v["note"]})
    return rows


def layout(**_query):
    admin = is_admin()
    categories = options.category_options()
    now_local = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    return admin_only(text.SLA_FORBIDDEN, "sla-admin", [
        html.H1(text.SLA_TITLE),
        html.P(text.SLA_INTRO, className="note"),
        html.Section(className="panel sla-form", children=[
            html.Div(className="form-grid", children=[
                html.Label([text.FILTER_CATEGORY, dcc.Dropdown(
                    id=ids.SLA_CATEGORY, clearable=False, value=categories["code"].iloc[0],
                    options=[{"label": row.name, "value": row.code} for row in categories.itertuples()])]),
                dcc.Checklist(id=ids.SLA_URGENT, options=[{"label": text.SLA_URGENT_LABEL, "value": "urgent"}],
                              value=[]),
                html.Label([text.SLA_IOC_LABEL, dcc.Input(id=ids.SLA_IOC, type="number", min=0, step=0.25,
                                                          value=1)]),
                html.Label([text.SLA_AGENCY_LABEL, dcc.Input(id=ids.SLA_AGENCY, type="number", min=0, step=0.25,
                                                             value=5)]),
                html.Label([text.SLA_VALID_FROM_LABEL, dcc.Input(id=ids.SLA_VALID_FROM, type="text",
                                                                 value=now_local)]),
                html.Label([text.SLA_NOTE_LABEL, dcc.Input(id=ids.SLA_NOTE, type="text", value="",
                                                           maxLength=300)]),
            ]),
            html.Button(text.SLA_SAVE_LABEL, id=ids.SLA_SAVE, className="btn-primary", n_clicks=0),
            html.Div(id=ids.SLA_MESSAGE, className="form-message", role="status"),
        ]),
        dash_table.DataTable(
            id=ids.SLA_TABLE, columns=[{"id": c, "name": h} for c, h in COLUMNS],
            data=policy_rows() if admin else [], sort_action="native", page_size=40, style_as_list_view=True,
            style_header={"fontWeight": "700", "backgroundColor": "#eef3f8"},
            style_cell={"fontFamily": FONT, "fontSize": "14px", "padding": "6px 8px", "textAlign": "left"}),
    ])


@callback(
    Output(ids.SLA_MESSAGE, "children"),
    Output(ids.SLA_MESSAGE, "className"),
    Output(ids.SLA_TABLE, "data"),
    Input(ids.SLA_SAVE, "n_clicks"),
    State(ids.SLA_CATEGORY, "value"),
    State(ids.SLA_URGENT, "value"),
    State(ids.SLA_IOC, "value"),
    State(ids.SLA_AGENCY, "value"),
    State(ids.SLA_VALID_FROM, "value"),
    State(ids.SLA_NOTE, "value"),
    prevent_initial_call=True,
)
def save_policy(_clicks, category, urgent, ioc_limit, agency_limit, valid_from, note):
    try:
        start = local_datetime_to_utc(datetime.strptime((valid_from or "").strip(), "%Y-%m-%d %H:%M"))
    except ValueError:
        return text.SLA_BAD_TIME, "form-message error", dash.no_update
    role = current_user.role if current_user.is_authenticated else ""
    try:
        policies.add_policy_version(category, "urgent" in (urgent or []), ioc_limit, agency_limit, start,
                               actor=current_user.username, actor_role=role, note=note or "")
    except policies.PolicyError as err:
        return str(err), "form-message error", dash.no_update
    return text.SLA_SAVED.format(category=category), "form-message ok", policy_rows()
