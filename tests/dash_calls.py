"""Calling Dash callbacks the way the browser does: a POST to /_dash-update-component."""

from __future__ import annotations

import json
import re


def callback_spec(client, first_output: str) -> dict:
    """The dependency entry whose output string starts with `first_output` (e.g. 'overview-kpis.children')."""
    deps = client.get("/_dash-dependencies").get_json()
    for dep in deps:
        if dep["output"].lstrip(".").startswith(first_output):
            return dep
    raise LookupError(first_output)


def post_callback(client, spec: dict, values: dict, changed: list[str] | None = None):
    """POST a callback with `values` keyed 'id.property' for its inputs and states; missing ones are None."""
    def fill(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
               for part in spec["output"].strip(".").split("...")]
    body = {
        "output": spec["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": fill(spec["inputs"]),
        "state": fill(spec["state"]),
        "changedPropIds": changed or [f"{i['id']}.{i['property']}" for i in spec["inputs"][:1]],
    }
    return client.post("/_dash-update-component", json=body)


def overview_values(start=None, end=None, categories=None, agencies=None, communes=None, channels=None) -> dict:
    return {
        "filter-dates.start_date": start, "filter-dates.end_date": end, "filter-category.value": categories,
        "filter-agency.value": agencies, "filter-commune.value": communes, "filter-channel.value": channels,
        "overview-refresh.n_intervals": None, "overview-last-ok.data": None,
    }


def kpi_values(response_json: dict) -> dict:
    """{'total': 123, ...} from the KPI cards in a callback response (their data-value attributes)."""
    cards = response_json["response"]["overview-kpis"]["children"]
    values = {}
    for card in cards:
        value_div = card["props"]["children"][1]["props"]
        values[value_div["id"].removeprefix("kpi-")] = value_div["data-value"]
    return values


# --- any callback, pattern-matching ids included: the access matrix and bench/work.py build bodies here

def _outputs(spec: dict) -> list[str]:
    out = spec["output"]
    return out[2:-2].split("...") if out.startswith("..") else [out]


def _parse(part: str) -> tuple[str | dict, str]:
    cid, prop = part.rsplit(".", 1)
    return (json.loads(cid) if cid.startswith("{") else cid), prop.split("@")[0]


def _id(cid):
    """/_dash-dependencies writes pattern-matching ids as JSON text."""
    return json.loads(cid) if isinstance(cid, str) and cid.startswith("{") else cid


def _key(cid, prop: str) -> str:
    """How a property is named in tables of values: 'id.prop', a pattern-matching id by its type."""
    cid = _id(cid)
    return f"{cid['type'] if isinstance(cid, dict) else cid}.{prop}"


def value_names(spec: dict) -> set[str]:
    """The names a table of values may give for this callback's inputs and states."""
    return {_key(i["id"], i["property"]) for i in spec["inputs"] + spec["state"]}


def callback_name(spec: dict) -> str:
    return _key(*_parse(_outputs(spec)[0]))


def _concrete(cid, page: str):
    cid = _id(cid)
    if isinstance(cid, str):
        return cid
    out = {}
    for key, value in cid.items():
        if value == ["MATCH"]:
            out[key] = page
        elif isinstance(value, list):
            raise AssertionError(f"wildcard {value} in {cid}: teach this test to fill it")
        else:
            out[key] = value
    return out


def stringify_id(cid) -> str:
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else cid


def dash_body(spec: dict, values: dict | None = None, changed=None, page: str = "report") -> dict:
    """The JSON a browser posts for this callback: inputs and states from `values` (keyed 'id.prop', pattern
    ids by type; missing ones None), pattern-matching ids made concrete with `page`, and `changed` (default:
    the first input) as changedPropIds."""
    values = values or {}

    def fill(items):
        return [{"id": _concrete(i["id"], page), "property": i["property"],
                 "value": values.get(_key(i["id"], i["property"]))} for i in items]

    outputs = [{"id": _concrete(cid, page), "property": prop} for cid, prop in map(_parse, _outputs(spec))]
    if changed is None:
        changed = [_key(spec["inputs"][0]["id"], spec["inputs"][0]["property"])]
    by_key = {_key(i["id"], i["property"]): i for i in spec["inputs"]}
    changed_ids = [f"{stringify_id(_concrete(by_key[k]['id'], page))}.{by_key[k]['property']}" for k in changed]
    return {"output": spec["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": fill(spec["inputs"]), "state": fill(spec["state"]), "changedPropIds": changed_ids}


# --- the CSRF tokens a browser submits

def form_token(page_html: str) -> str:
    """The CSRF token a form on the page carries (Flask-WTF's, signed)."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def layout_form_token(client) -> str:
    """The CSRF token of the sign-out form in the page header (the Dash layout), as a browser submits it."""
    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", node)
            if props.get("name") == "csrf_token":
                return props["value"]
            return next(filter(None, (walk(v) for v in node.values())), None)
        if isinstance(node, list):
            return next(filter(None, (walk(v) for v in node)), None)
        return None
    return walk(client.get("/_dash-layout").get_json())
