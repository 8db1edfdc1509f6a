"""The KPI card: a label, one big number and a short note under it."""

from dash import html

from dashboard import ids


def kpi_card(name: str, label: str, value: str, note: str = "", tone: str = "neutral", raw=None) -> html.Div:
    """`tone` is neutral, good, warn or bad; `raw` (the unformatted number) goes in data-value for tests and
    screen readers."""
    return html.Div(
        className=f"kpi-card kpi-{tone}",
        children=[
            html.Div(label, className="kpi-label"),
            html.Div(value, id=ids.kpi(name), className="kpi-value",
                     **{"data-value": "" if raw is None else str(raw)}),
            html.Div(note, className="kpi-note"),
        ],
    )
