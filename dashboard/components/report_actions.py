"""The report action panel: triage for the IOC (field, urgency, forward, reject, duplicate) and handling for
the agency (accept, reply and resolve with a proof photo, return to the IOC).

The panel always holds every control and hides the sections the viewer cannot use, so the one set of
pattern-matching callbacks below always finds its inputs. The report code and version travel in a store
in the browser; queries/workflow.py checks rights, scope, the transition and the version again, so a
forged payload gets an error and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import time

import dash
from dash import MATCH, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import text
from dashboard.auth import current_viewer
from dashboard.ids import act
from queries import workflow
from queries.access import WorkflowError
from queries.media import MAX_UPLOAD_BYTES
from queries.schema import CLOSE_REASONS

BUTTONS = ("classify", "forward", "reject", "mark_duplicate", "accept", "resolve", "return")


def _dropdown(kind: str, page: str, options_, value=None, **kwargs) -> dcc.Dropdown:
    return dcc.Dropdown(id=act(kind, page), options=options_, value=value, labels=text.DROPDOWN_LABELS,
                        **kwargs)


def _button(kind: str, page: str, label: str, css: str = "btn-primary") -> html.Button:
    return html.Button(label, id=act(kind, page), n_clicks=0, className=css)


def action_panel(page: str, report: dict | None, choices) -> html.Div:
    """The panel for one report (a row of queries.cases), or an empty, hidden one when there is none, with the
    choices that dashboard.answers.action_choices gathered for the viewer."""
    report = report or {}
    allowed = choices.allowed
    triage = bool(allowed & {"classify", "forward"})
    handle = bool(allowed & {"accept", "resolve", "return"})
    code = report.get("code")
    categories, agencies, suggested, candidates = (choices.categories, choices.agencies, choices.suggested,
                                                   choices.candidates)
    names = dict(zip(agencies["code"], agencies["short_name"], strict=True)) if agencies is not None else {}
    return html.Div(className="action-panel", children=[
        dcc.Store(id=act("report", page), data={"code": code, "version": report.get("version")}),
        html.P(text.REPORT_NO_ACTIONS, className="note", hidden=bool(allowed) or not code),
        html.Section(className="act-section", hidden=not triage, children=[
            html.H3(text.ACT_TRIAGE_TITLE),
            html.Div(className="form-grid", children=[
                html.Label([text.ACT_CATEGORY, _dropdown(
                    "category", page, [] if categories is None else
                    [{"label": row.name, "value": row.code} for row in categories.itertuples()],
                    report.get("category_code"), clearable=False)]),
                dcc.Checklist(id=act("urgent", page), options=[{"label": text.ACT_URGENT, "value": "urgent"}],
                              value=["urgent"] if report.get("urgent") else []),
                html.Label([text.ACT_AGENCY, _dropdown(
                    "agency", page, [{"label": n, "value": c} for c, n in names.items()], suggested)]),
                html.Label([text.ACT_NOTE, dcc.Input(id=act("note", page), type="text", value="", maxLength=1000)]),
            ]),
            html.P(text.ACT_SUGGESTED.format(agency=names.get(suggested, suggested)) if suggested
                   else text.ACT_NO_SUGGESTION, className="note"),
            html.Div(className="button-row", children=[
                _button("classify", page, text.ACT_CLASSIFY, "btn-secondary"),
                _button("forward", page, text.ACT_FORWARD),
            ]),
            html.H3(text.ACT_CLOSE_TITLE),
            html.Div(className="form-grid", children=[
                html.Label([text.ACT_REJECT_REASON, _dropdown(
                    "reason", page, [{"label": workflow.REASON_LABELS[r], "value": r}
                                     for r in CLOSE_REASONS if r != "duplicate"])]),
                html.Label([text.ACT_DUPLICATE_OF, _dropdown(
                    "dup-of", page, [] if candidates is None else
                    [{"label": f"{row.code} · {int(row.distance_m)} m · {row.title}", "value": row.code}
                     for row in candidates.itertuples()])]),
                html.Label([text.ACT_DUPLICATE_CODE, dcc.Input(id=act("dup-code", page), type="text", value="",
                                                               maxLength=30)]),
            ]),
            html.P(_candidates_note(choices) if triage else "", className="note"),
            html.Div(className="button-row", children=[
                _button("reject", page, text.ACT_REJECT, "btn-danger"),
                _button("mark_duplicate", page, text.ACT_DUPLICATE, "btn-secondary"),
            ]),
        ]),
        html.Section(className="act-section", hidden=not handle, children=[
            html.H3(text.ACT_AGENCY_TITLE),
            html.Div(className="button-row", hidden="accept" not in allowed, children=[
                _button("accept", page, text.ACT_ACCEPT)]),
            html.Label([text.ACT_REPLY, dcc.Textarea(id=act("reply", page), value="", maxLength=5000,
                                                     className="textarea")]),
            dcc.Upload(id=act("proof", page), className="upload", max_size=MAX_UPLOAD_BYTES,
                       accept="image/jpeg,image/png,image/webp", children=html.Div(text.ACT_PROOF)),
            html.Div(id=act("proof-name", page), className="note"),
            html.Div(className="button-row", children=[_button("resolve", page, text.ACT_RESOLVE)]),
            html.Label([text.ACT_RETURN_REASON, dcc.Textarea(id=act("return-reason", page), value="",
                                                             maxLength=1000, className="textarea")]),
            html.Div(className="button-row", children=[_button("return", page, text.ACT_RETURN, "btn-danger")]),
        ]),
    ])


def _candidates_note(choices) -> str:
    if choices.candidates is None or choices.candidates.empty:
        return text.ACT_DUPLICATE_NONE
    return text.ACT_DUPLICATE_HINT.format(radius=choices.duplicate_radius_m, days=choices.duplicate_days)


def outcome_area(page: str) -> list:
    """The message line and the 'something changed' store: part of the page itself, outside the panel, so
    they survive the panel being rebuilt after an action."""
    return [html.Div(id=act("message", page), className="form-message", role="status"),
            dcc.Store(id=act("done", page))]


def _proof_bytes(contents: str | None) -> bytes | None:
    if not contents:
        return None
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error, ValueError):
        raise WorkflowError(text.ACT_BAD_UPLOAD) from None


@callback(
    Output(act("proof-name", MATCH), "children"),
    Input(act("proof", MATCH), "filename"),
    prevent_initial_call=True,
)
def show_proof_name(filename):
    return text.ACT_PROOF_CHOSEN.format(name=filename) if filename else ""


@callback(
    Output(act("message", MATCH), "children"),
    Output(act("message", MATCH), "className"),
    Output(act("done", MATCH), "data"),
    *[Input(act(kind, MATCH), "n_clicks") for kind in BUTTONS],
    State(act("report", MATCH), "data"),
    State(act("category", MATCH), "value"),
    State(act("urgent", MATCH), "value"),
    State(act("agency", MATCH), "value"),
    State(act("note", MATCH), "value"),
    State(act("reason", MATCH), "value"),
    State(act("dup-of", MATCH), "value"),
    State(act("dup-code", MATCH), "value"),
    State(act("reply", MATCH), "value"),
    State(act("proof", MATCH), "contents"),
    State(act("return-reason", MATCH), "value"),
    prevent_initial_call=True,
)
def act_on_report(*args):
    clicks, (report, category, urgent, agency, note, reason, dup_of, dup_code, reply, proof, return_reason) = (
        args[:len(BUTTONS)], args[len(BUTTONS):])
    trigger = ctx.triggered_id
    if not trigger or not any(clicks):
        raise PreventUpdate  # the panel was (re)built: no button was pressed
    kind = trigger["type"].removeprefix("act-")
    report = report if isinstance(report, dict) else {}
    code, version = str(report.get("code") or ""), report.get("version")
    viewer = current_viewer()
    is_urgent = "urgent" in (urgent or [])
    try:
        if kind == "classify":
            outcome = workflow.classify(code, version, viewer, category, is_urgent)
        elif kind == "forward":
            outcome = workflow.forward(code, version, viewer, agency, note or "", category, is_urgent)
        elif kind == "reject":
            outcome = workflow.reject(code, version, viewer, reason, note or "")
        elif kind == "mark_duplicate":
            outcome = workflow.mark_duplicate(code, version, viewer, (dup_code or "").strip() or dup_of)
        elif kind == "accept":
            outcome = workflow.accept(code, version, viewer)
        elif kind == "resolve":
            outcome = workflow.resolve(code, version, viewer, reply, _proof_bytes(proof))
        elif kind == "return":
            outcome = workflow.return_to_ioc(code, version, viewer, return_reason)
        else:
            raise PreventUpdate
    except WorkflowError as err:
        return str(err), "form-message error", dash.no_update
    return (text.ACT_DONE[kind].format(code=outcome.code), "form-message ok",
            {"code": outcome.code, "status": outcome.status, "version": outcome.version, "at": time.time()})
