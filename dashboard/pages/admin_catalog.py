"""Danh mục (admin): agencies, fields, the routing table behind the queue's suggestion, and the run-time
settings (may agency heads see phone numbers; how near and how recent a duplicate candidate is)."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dash_table, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids, text
from dashboard.auth import current_viewer
from dashboard.components.admin import admin_only, is_admin
from dashboard.components.case_table import CELL_STYLE, FILTER_OPTIONS, HEADER_STYLE
from queries import admin, options, settings
from queries.access import WorkflowError

dash.register_page(__name__, path="/admin/catalog", title=f"{text.NAV_CATALOG} · {text.APP_TITLE}",
                   name=text.NAV_CATALOG, order=12, roles=("admin",))


def _table(table_id: str, columns: dict, data: list) -> dash_table.DataTable:
    return dash_table.DataTable(id=table_id, data=data, columns=[{"id": k, "name": v} for k, v in columns.items()],
                                sort_action="native", filter_action="native", filter_options=FILTER_OPTIONS,
                                page_size=15, style_as_list_view=True, style_header=HEADER_STYLE,
                                style_cell=CELL_STYLE)


def agency_rows() -> list[dict]:
    frame = admin.list_agencies(current_viewer())
    return [{**row, "kind_label": text.AGENCY_KIND_LABELS.get(row["kind"], row["kind"]),
             "commune_code": row["commune_code"] or "",
             "state": text.AGENCY_ACTIVE if row["active"] else text.USER_DISABLED} for row in frame.to_dict("records")]


def category_rows() -> list[dict]:
    return admin.list_categories(current_viewer()).to_dict("records")


def routing_rows() -> list[dict]:
    frame = admin.list_routing(current_viewer())
    return [{**row, "commune_name": row["commune_name"] if isinstance(row["commune_name"], str)
             else text.ROUTING_ANY_COMMUNE} for row in frame.to_dict("records")]


def _input(label: str, component_id: str, **kwargs) -> html.Label:
    return html.Label([label, dcc.Input(id=component_id, type="text", value="", **kwargs)])


def layout(**_query):
    allowed = is_admin()
    agencies = options.agency_options() if allowed else None
    categories = options.category_options() if allowed else None
    communes = options.commune_options() if allowed else None
    agency_choices = [] if agencies is None else [{"label": f"{r.short_name} ({r.code})", "value": r.code}
                                                  for r in agencies.itertuples()]
    commune_choices = [] if communes is None else [{"label": r.name, "value": r.code} for r in communes.itertuples()]
    return admin_only(text.ADMIN_FORBIDDEN, "admin-page", [
        html.H1(text.CATALOG_TITLE),
        html.Div(id=ids.CAT_MESSAGE, className="form-message", role="status"),
        html.Section(className="panel", children=[
            html.H2(text.SETTINGS_TITLE),
            dcc.Checklist(id=ids.CAT_SETTINGS_PHONE, value=["on"] if allowed and settings.get_flag(
                "agency_sees_phone") else [], options=[{"label": text.SETTING_LABELS["agency_sees_phone"],
                                                        "value": "on"}]),
            html.Div(className="form-grid", children=[
                html.Label([text.SETTING_LABELS["duplicate_radius_m"], dcc.Input(
                    id=ids.CAT_SETTINGS_RADIUS, type="number", min=10, max=5000,
                    value=settings.get_int("duplicate_radius_m") if allowed else None)]),
                html.Label([text.SETTING_LABELS["duplicate_days"], dcc.Input(
                    id=ids.CAT_SETTINGS_DAYS, type="number", min=1, max=365,
                    value=settings.get_int("duplicate_days") if allowed else None)]),
            ]),
            html.Button(text.SETTINGS_SAVE, id=ids.CAT_SETTINGS_SAVE, n_clicks=0, className="btn-primary"),
        ]),
        html.Section(className="panel", children=[
            html.H2(text.ROUTING_TITLE),
            html.P(text.ROUTING_FORM, className="note"),
            html.Div(className="form-grid", children=[
                html.Label([text.FILTER_CATEGORY, dcc.Dropdown(
                    id=ids.CAT_RT_CATEGORY, clearable=False, value=None if categories is None else
                    categories["code"].iloc[0], options=[] if categories is None else
                    [{"label": r.name, "value": r.code} for r in categories.itertuples()])]),
                html.Label([text.FILTER_COMMUNE, dcc.Dropdown(id=ids.CAT_RT_COMMUNE, options=commune_choices,
                                                              labels=text.DROPDOWN_LABELS)]),
                html.Label([text.FILTER_AGENCY, dcc.Dropdown(id=ids.CAT_RT_AGENCY, options=agency_choices,
                                                             labels=text.DROPDOWN_LABELS)]),
            ]),
            html.Button(text.ROUTING_SAVE, id=ids.CAT_RT_SAVE, n_clicks=0, className="btn-primary"),
            _table(ids.CAT_ROUTING, text.ROUTING_COLUMNS, routing_rows() if allowed else []),
        ]),
        html.Section(className="panel", children=[
            html.H2(text.AGENCIES_TITLE),
            html.P(text.AGENCY_FORM, className="note"),
            html.Div(className="form-grid", children=[
                _input(text.AGENCY_COLUMNS["code"], ids.CAT_AG_CODE, maxLength=30),
                _input(text.AGENCY_COLUMNS["name"], ids.CAT_AG_NAME, maxLength=200),
                _input(text.AGENCY_COLUMNS["short_name"], ids.CAT_AG_SHORT, maxLength=80),
                html.Label([text.AGENCY_COLUMNS["kind_label"], dcc.Dropdown(
                    id=ids.CAT_AG_KIND, value="department", clearable=False,
                    options=[{"label": v, "value": k} for k, v in text.AGENCY_KIND_LABELS.items()])]),
                html.Label([text.FILTER_COMMUNE, dcc.Dropdown(id=ids.CAT_AG_COMMUNE, options=commune_choices,
                                                              labels=text.DROPDOWN_LABELS)]),
                dcc.Checklist(id=ids.CAT_AG_ACTIVE, value=["on"],
                              options=[{"label": text.AGENCY_ACTIVE, "value": "on"}]),
            ]),
            html.Button(text.AGENCY_SAVE, id=ids.CAT_AG_SAVE, n_clicks=0, className="btn-primary"),
            _table(ids.CAT_AGENCIES, text.AGENCY_COLUMNS, agency_rows() if allowed else []),
        ]),
        html.Section(className="panel", children=[
            html.H2(text.CATEGORIES_TITLE),
            html.P(text.CATEGORY_FORM, className="note"),
            html.Div(className="form-grid", children=[
                _input(text.CATEGORY_COLUMNS["code"], ids.CAT_CA_CODE, maxLength=20),
                _input(text.CATEGORY_COLUMNS["name"], ids.CAT_CA_NAME, maxLength=200),
                _input(text.CATEGORY_COLUMNS["short_name"], ids.CAT_CA_SHORT, maxLength=60),
                _input(text.CATEGORY_COLUMNS["color"], ids.CAT_CA_COLOR, maxLength=7, placeholder="#1f77b4"),
            ]),
            html.Button(text.CATEGORY_SAVE, id=ids.CAT_CA_SAVE, n_clicks=0, className="btn-primary"),
            _table(ids.CAT_CATEGORIES, text.CATEGORY_COLUMNS, category_rows() if allowed else []),
        ]),
    ])


@callback(
    Output(ids.CAT_MESSAGE, "children"),
    Output(ids.CAT_MESSAGE, "className"),
    Output(ids.CAT_AGENCIES, "data"),
    Output(ids.CAT_CATEGORIES, "data"),
    Output(ids.CAT_ROUTING, "data"),
    Input(ids.CAT_SETTINGS_SAVE, "n_clicks"),
    Input(ids.CAT_RT_SAVE, "n_clicks"),
    Input(ids.CAT_AG_SAVE, "n_clicks"),
    Input(ids.CAT_CA_SAVE, "n_clicks"),
    State(ids.CAT_SETTINGS_PHONE, "value"),
    State(ids.CAT_SETTINGS_RADIUS, "value"),
    State(ids.CAT_SETTINGS_DAYS, "value"),
    State(ids.CAT_RT_CATEGORY, "value"),
    State(ids.CAT_RT_COMMUNE, "value"),
    State(ids.CAT_RT_AGENCY, "value"),
    State(ids.CAT_AG_CODE, "value"),
    State(ids.CAT_AG_NAME, "value"),
    State(ids.CAT_AG_SHORT, "value"),
    State(ids.CAT_AG_KIND, "value"),
    State(ids.CAT_AG_COMMUNE, "value"),
    State(ids.CAT_AG_ACTIVE, "value"),
    State(ids.CAT_CA_CODE, "value"),
    State(ids.CAT_CA_NAME, "value"),
    State(ids.CAT_CA_SHORT, "value"),
    State(ids.CAT_CA_COLOR, "value"),
    prevent_initial_call=True,
)
def save_catalog(_s, _r, _a, _c, phone, radius, days, rt_category, rt_commune, rt_agency, ag_code, ag_name,
                 ag_short, ag_kind, ag_commune, ag_active, ca_code, ca_name, ca_short, ca_color):
    viewer = current_viewer()
    trigger = ctx.triggered_id
    try:
        if trigger == ids.CAT_SETTINGS_SAVE:
            settings.set_values(viewer, {"agency_sees_phone": "1" if "on" in (phone or []) else "0",
                                         "duplicate_radius_m": radius, "duplicate_days": days})
            message = text.SETTINGS_DONE
        elif trigger == ids.CAT_RT_SAVE:
            message = text.ROUTING_DONE[admin.set_route(viewer, rt_category, rt_commune, rt_agency)]
        elif trigger == ids.CAT_AG_SAVE:
            outcome = admin.save_agency(viewer, ag_code, ag_name, ag_short, ag_kind, ag_commune,
                                        "on" in (ag_active or []))
            message = text.AGENCY_DONE[outcome].format(code=(ag_code or "").strip().upper())
        elif trigger == ids.CAT_CA_SAVE:
            outcome = admin.save_category(viewer, ca_code, ca_name, ca_short, ca_color)
            message = text.CATEGORY_DONE[outcome].format(code=(ca_code or "").strip().upper())
        else:
            raise PreventUpdate
    except WorkflowError as err:
        return str(err), "form-message error", dash.no_update, dash.no_update, dash.no_update
    return message, "form-message ok", agency_rows(), category_rows(), routing_rows()
