"""Chi tiết phản ánh: everything about one report — the facts and deadlines, the citizen's text, photos and
videos, a small map, the timeline of events, the agency's reply and the citizen's rating — and the action
panel for whoever may act on it now. The phone number is masked; IOC roles reveal it with a reason, and
each reveal is audited (queries/cases.py)."""

from __future__ import annotations

import dash
from dash import MATCH, Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids, text
from dashboard.answers import action_choices
from dashboard.auth import current_viewer
from dashboard.components.case_table import countdown_text
from dashboard.components.map import small_map
from dashboard.components.report_actions import action_panel, outcome_area
from dashboard.formatting import fmt_local_datetime
from queries import cases, workflow
from queries.access import WorkflowError
from queries.schema import OPEN_STATUSES

PAGE = "report"

dash.register_page(__name__, path_template="/report/<code>", title=f"{text.NAV_QUEUE} · {text.APP_TITLE}",
                   name="Phản ánh", nav=False)


def _back_link() -> dcc.Link:
    viewer = current_viewer()
    if viewer.triages:
        return dcc.Link(text.REPORT_BACK_QUEUE, href="/queue", className="back-link")
    if viewer.scope:
        return dcc.Link("← " + text.NAV_MY_AGENCY, href=f"/agency/{viewer.scope}", className="back-link")
    return dcc.Link("← " + text.NAV_OVERVIEW, href="/", className="back-link")


def layout(code: str | None = None, **_query):
    return html.Div(className="report-page", children=[
        dcc.Store(id=ids.RP_CODE, data=code),
        html.Div(className="page-head", children=[_back_link()]),
        *outcome_area(PAGE),
        html.Div(id=ids.RP_BODY),
    ])


def _reveal_form(d: dict) -> html.Div:
    """Beside the masked number, for those who may reveal it: a reason, then the number (audited)."""
    return html.Div(className="reveal", hidden=not d["can_reveal"], children=[
        dcc.Store(id=ids.act("reveal-code", PAGE), data=d["code"]),
        html.Label([text.PHONE_REVEAL_REASON, dcc.Input(id=ids.act("reveal-reason", PAGE), type="text", value="",
                                                        maxLength=300)]),
        html.Button(text.PHONE_REVEAL, id=ids.act("reveal-go", PAGE), n_clicks=0, className="btn-secondary"),
        html.Div(id=ids.act("phone", PAGE), className="form-message", role="status"),
    ])


def _field(label: str, value, css: str = "") -> html.Div:
    return html.Div(className=f"field {css}".strip(), children=[html.Dt(label), html.Dd(value or text.NO_VALUE)])


def _facts(d: dict) -> html.Dl:
    f = text.REPORT_FIELDS
    hours = cases.work_hours_until([d["deadline_at"]])[0] if d["status"] in OPEN_STATUSES and d["deadline_at"] \
        else None
    items = [
        _field(f["status"], text.STATUS_LABELS.get(d["status"], d["status"])),
        _field(f["urgency"], text.REPORT_URGENT if d["urgent"] else text.REPORT_NORMAL),
        _field(f["category"], d["category_name"]),
        _field(f["commune"], d["commune_name"]),
        _field(f["address"], d["address"]),
        _field(f["channel"], text.CHANNEL_LABELS.get(d["channel"], d["channel"])),
        _field(f["received"], fmt_local_datetime(d["created_at"])),
        _field(f["agency"], d["agency_name"]),
        _field(f["ioc_deadline"], fmt_local_datetime(d["ioc_deadline_at"])),
        _field(f["agency_deadline"], fmt_local_datetime(d["agency_deadline_at"])),
    ]
    if hours is not None:
        items.append(_field(f["deadline"], f"{fmt_local_datetime(d['deadline_at'])} · {countdown_text(hours)}",
                            "overdue" if hours < 0 else ""))
    if d["resolved_at"]:
        items.append(_field(f["resolved"], fmt_local_datetime(d["resolved_at"])))
    if d["close_reason"]:
        items.append(_field(f["close_reason"], workflow.REASON_LABELS.get(d["close_reason"], d["close_reason"])))
    if d["duplicate_of_code"]:
        items.append(_field(f["duplicate_of"], dcc.Link(d["duplicate_of_code"],
                                                        href=f"/report/{d['duplicate_of_code']}")))
    if d["duplicates"]:
        items.append(_field(f["duplicates"], [dcc.Link(c, href=f"/report/{c}", className="chip")
                                              for c in d["duplicates"]]))
    items.append(_field(f["phone"], [html.Span(d["phone_masked"] or text.REPORT_NO_PHONE, className="phone"),
                                     html.Div(text.PHONE_HIDDEN_NOTE, className="note") if d["phone_masked"]
                                     else None, _reveal_form(d)], "phone-field"))
    return html.Dl(items, className="facts")


def _media(d: dict, role: str) -> list:
    items = []
    for m in d["media"]:
        if m["role"] != role:
            continue
        src = f"/media/{m['id']}"
        element = (html.Video(src=src, controls=True, className="media-item") if m["kind"] == "video"
                   else html.A(html.Img(src=src, alt=m["caption"] or text.REPORT_MEDIA, className="media-item"),
                               href=src, target="_blank"))
        items.append(html.Figure([element, html.Figcaption(m["caption"])]))
    return items


def _timeline(d: dict) -> html.Ol:
    rows = []
    for e in d["events"].to_dict("records"):
        change = text.STATUS_LABELS.get(e["to_status"], e["to_status"])
        if isinstance(e["from_status"], str):
            change = f"{text.STATUS_LABELS.get(e['from_status'], e['from_status'])} → {change}"
        agency = e["agency_name"] if isinstance(e["agency_name"], str) else ""
        rows.append(html.Li(className="event", children=[
            html.Div(fmt_local_datetime(e["at"]), className="event-time"),
            html.Div([html.B(change), f" · {agency}" if agency else ""], className="event-change"),
            html.Div(e["actor"] or text.TIMELINE_SYSTEM, className="event-actor"),
            html.Div(e["note"], className="event-note") if e["note"] else None,
        ]))
    return html.Ol(rows, className="timeline")


def _rating(d: dict) -> list:
    if not d["rating"]:
        return [html.P(text.REPORT_NO_RATING, className="note")]
    stars = "★" * int(d["rating"]) + "☆" * (5 - int(d["rating"]))
    return [html.P(text.REPORT_RATING_VALUE.format(stars=stars, rating=d["rating"]), className="rating"),
            html.Blockquote(d["rating_comment"]) if d["rating_comment"] else None]


def report_body(d: dict, viewer) -> list:
    status_color = text.STATUS_COLORS.get(d["status"], "#555")
    proof = _media(d, "proof")
    return [
        html.Div(className="report-head", children=[
            html.H1([d["code"], " · ", d["title"]], id="report-title"),
            html.Span(text.STATUS_LABELS.get(d["status"], d["status"]), className="badge",
                      style={"background": status_color}),
            html.Span(text.REPORT_URGENT, className="badge badge-urgent") if d["urgent"] else None,
        ]),
        html.Div(className="grid-2 report-grid", children=[
            html.Div(children=[
                html.Section(className="panel", children=[_facts(d)]),
                html.Section(className="panel", children=[html.H2(text.REPORT_DESCRIPTION),
                                                          html.P(d["description"], className="description")]),
                html.Section(className="panel", children=[
                    html.H2(text.REPORT_MEDIA),
                    html.Div(_media(d, "citizen") or html.P(text.REPORT_NO_MEDIA, className="note"),
                             className="media-grid")]),
                html.Section(className="panel", children=[
                    html.H2(text.REPORT_REPLY),
                    html.P(d["reply"], className="reply") if d["reply"] else html.P(text.REPORT_NO_REPLY,
                                                                                    className="note"),
                    html.Div([html.H3(text.REPORT_PROOF), html.Div(proof, className="media-grid")]) if proof else None,
                    html.H2(text.REPORT_RATING), *_rating(d)]),
            ]),
            html.Div(children=[
                html.Section(className="panel", children=[html.H2(text.REPORT_ACTIONS),
                                                          action_panel(PAGE, d, action_choices(d, viewer))]),
                html.Section(className="panel", children=[
                    html.H2(text.REPORT_MAP),
                    small_map(d["lat"], d["lon"], status_color) if d["lat"] is not None
                    else html.P(text.REPORT_NO_LOCATION, className="note")]),
                html.Section(className="panel", children=[html.H2(text.REPORT_TIMELINE), _timeline(d)]),
            ]),
        ]),
    ]


@callback(
    Output(ids.RP_BODY, "children"),
    Input(ids.RP_CODE, "data"),
    Input(ids.act("done", PAGE), "data"),
)
def render_report(code, _done):
    if not code:
        raise PreventUpdate
    viewer = current_viewer()
    try:
        detail = cases.report_detail(viewer, code)
    except WorkflowError:
        detail = None
    if detail is None:
        return html.Div(className="not-found", children=[html.H1(text.REPORT_NOT_FOUND.format(code=code)),
                                                         dcc.Link(text.NOT_FOUND_BACK, href="/")])
    return report_body(detail, viewer)


@callback(
    Output(ids.act("phone", MATCH), "children"),
    Output(ids.act("phone", MATCH), "className"),
    Input(ids.act("reveal-go", MATCH), "n_clicks"),
    State(ids.act("reveal-code", MATCH), "data"),
    State(ids.act("reveal-reason", MATCH), "value"),
    prevent_initial_call=True,
)
def reveal(clicks, code, reason):
    if not clicks:
        raise PreventUpdate
    try:
        phone = cases.reveal_phone(current_viewer(), code or "", reason or "")
    except WorkflowError as err:
        return str(err), "form-message error"
    return [html.B(phone, className="phone-revealed"), " — ", text.PHONE_REVEALED], "form-message ok"
