"""What a Dash callback request must look like before any callback runs, so that a forged or broken request
gets a clear 400 instead of a 500:

- its size, checked before the body is read (MAX_CALLBACK_BYTES);
- its shape: an output some callback writes, inputs and state as lists of {id, property, value};
- the type of each value, by the property it is for: a date picker's date is an ISO date within the days a
  filter may name, a click count a whole number, a dropdown's value text or numbers, and so on.

A value that passes and still cannot be read (a forged dcc.Store, say) makes the callback raise a TypeError,
ValueError or the like: `bad_callback_input` answers that with a 400 too, and logs it as a warning with the
traceback, so that a real bug is still seen.
"""

from __future__ import annotations

import json
import logging
import math
import re
from datetime import date

from dash._callback import GLOBAL_CALLBACK_MAP
from dash.exceptions import CallbackException
from flask import current_app, g, jsonify, request

from dashboard import text
from queries.config import settings
from queries.filters import FIRST_DAY, LAST_DAY

CALLBACK_PATH = "/_dash-update-component"
log = logging.getLogger("paht.security")
_ISO_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})([T ][\d:.]+)?$")


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _count(v) -> bool:
    return v is None or isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _day(v) -> bool:
    """Text (a day the page cannot read is the page's to handle: it shows its default view) naming no day
    outside FIRST_DAY–LAST_DAY (no day at all exists seven hours before 0001-01-01)."""
    if v is None:
        return True
    if not isinstance(v, str):
        return False
    match = _ISO_DAY.match(v)
    if not match:
        return True
    try:
        return FIRST_DAY <= date.fromisoformat(match.group(1)) <= LAST_DAY
    except ValueError:
        return True


def _scalar(v) -> bool:
    return v is None or isinstance(v, str | bool) or _number(v)


# Property -> the values it may carry. Properties not named here (a dcc.Store's data, say) are not checked.
PROPERTY_TYPES = {
    "value": lambda v: _scalar(v) or isinstance(v, list) and all(_scalar(i) and i is not None for i in v),
    "n_clicks": _count, "n_intervals": _count, "n_submit": _count, "page_current": _count,
    "start_date": _day, "end_date": _day, "date": _day,
    "selected_rows": lambda v: v is None or isinstance(v, list) and all(_count(i) and i is not None for i in v),
    "zoom": lambda v: v is None or _number(v),
    "bounds": lambda v: v is None or isinstance(v, list) and len(v) == 2 and all(
        isinstance(p, list) and len(p) == 2 and all(_number(c) for c in p) for p in v),
    # Dash's page router refuses a path outside the app (not starting with "/") with an exception of its own.
    "pathname": lambda v: v is None or isinstance(v, str) and v.startswith("/") and len(v) <= 2000,
    "search": lambda v: v is None or isinstance(v, str) and (v == "" or v.startswith("?")) and len(v) <= 4000,
    "filename": lambda v: v is None or isinstance(v, str), "contents": lambda v: v is None or isinstance(v, str),
    "disabled": lambda v: v is None or isinstance(v, bool),
    "active_cell": lambda v: v is None or isinstance(v, dict),
    "derived_virtual_data": lambda v: v is None or isinstance(v, list) and all(isinstance(r, dict) for r in v),
    "derived_viewport_data": lambda v: v is None or isinstance(v, list) and all(isinstance(r, dict) for r in v),
}


def refuse(message: str, status: int = 400):
    return jsonify(error="bad_request" if status == 400 else "too_large", message=message), status


def check_size():
    """A callback body larger than MAX_CALLBACK_BYTES is refused before anything reads it."""
    if request.path != CALLBACK_PATH or request.method != "POST":
        return None
    limit = settings().max_callback_bytes
    if request.content_length is None or request.content_length > limit:
        size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 2**10} KB"
        return refuse(text.REQUEST_TOO_LARGE.format(size=size), 411 if request.content_length is None else 413)
    request.max_content_length = limit
    return None


def _is_prop(item) -> bool:
    return isinstance(item, dict) and isinstance(item.get("property"), str) and isinstance(item.get("id"), str | dict)


def _props(items) -> list | None:
    """The {id, property, value} entries of an inputs or state list (pattern-matching ones flattened), or
    None when the list is not of that shape."""
    if not isinstance(items, list):
        return None
    flat = []
    for item in items:
        group = item if isinstance(item, list) else [item]
        if not all(_is_prop(i) for i in group):
            return None
        flat.extend(group)
    return flat


def request_json(req):
    """The request's JSON body, or None when it is not JSON or nested too deep for the parser."""
    try:
        return req.get_json(silent=True)
    except RecursionError:
        return None


def _same_id(declared: str, given) -> bool:
    """A declared output id (text, or a pattern as JSON) and the id a request names for it."""
    if not declared.startswith("{"):
        return given == declared
    try:
        pattern = json.loads(declared)
    except ValueError:
        return False
    return isinstance(given, dict) and set(given) == set(pattern) and all(
        isinstance(want, list) or given[key] == want for key, want in pattern.items())  # [..] is a wildcard


def _outputs_match(output: str, outputs) -> bool:
    """The `outputs` a request lists are the ones its `output` names: as many, each the same id and property."""
    declared = [part.rsplit(".", 1) for part in output.strip(".").split("...")] if output.startswith("..") \
        else [output.rsplit(".", 1)]
    given = outputs if output.startswith("..") else [outputs]
    if not isinstance(given, list) or len(given) != len(declared):
        return False
    for (declared_id, prop), item in zip(declared, given, strict=True):
        items = item if isinstance(item, list) and declared_id.startswith("{") else [item]  # ALL: one per match
        if not all(_is_prop(i) and i["property"] == prop.split("@")[0] and _same_id(declared_id, i["id"])
                   for i in items):
            return False
    return True


def check_callback_body():
    """Refuse what Dash would fail on with a 500: a body that is not a callback request, an output no
    callback writes, a value of the wrong type for its property."""
    if request.path != CALLBACK_PATH or request.method != "POST":
        return None
    body = request_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return refuse(text.BAD_CALLBACK_REQUEST)
    g.callback_output = body["output"]  # for the request's log line
    inputs, state = _props(body.get("inputs", [])), _props(body.get("state", []))
    outputs = body.get("outputs", [])
    changed = body.get("changedPropIds", [])
    if inputs is None or state is None or _props(outputs if isinstance(outputs, list) else [outputs]) is None \
            or not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return refuse(text.BAD_CALLBACK_REQUEST)
    # GLOBAL_CALLBACK_MAP: Dash moves the pages' callbacks into callback_map on its first request.
    if body["output"] not in current_app.dash_app.callback_map and body["output"] not in GLOBAL_CALLBACK_MAP:
        return refuse(text.UNKNOWN_CALLBACK)
    if not _outputs_match(body["output"], outputs):
        return refuse(text.BAD_CALLBACK_REQUEST)
    for item in inputs + state:
        allowed = PROPERTY_TYPES.get(item["property"])
        if allowed is not None and not allowed(item.get("value")):
            name = f"{item['id'] if isinstance(item['id'], str) else 'mẫu'}.{item['property']}"
            return refuse(text.BAD_INPUT.format(detail=f"giá trị của {name} không đúng kiểu"))
    return None


def bad_callback_input(err: Exception):
    """A callback that could not read what it was sent (see the module's docstring). Outside callbacks the
    error goes on as before."""
    if request.path != CALLBACK_PATH:
        raise err
    body = request_json(request)
    output = body.get("output") if isinstance(body, dict) else None
    log.warning("callback %s could not read its input: %s", str(output)[:120], err, exc_info=err)
    return refuse(text.BAD_INPUT.format(detail="trang gửi giá trị không đọc được; hãy tải lại trang"))


INPUT_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, CallbackException)
