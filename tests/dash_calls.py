"""Calling Dash callbacks the way the browser does: a POST to /_dash-update-component."""

from __future__ import annotations


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
