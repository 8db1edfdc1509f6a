"""The info icon: a small (i) that opens how the numbers on the page are defined."""

from dash import html


def info_icon(definitions: list[str] | tuple[str, ...], label: str = "Cách tính") -> html.Details:
    return html.Details(className="definitions", children=[
        html.Summary([html.Span("i", className="info-icon"), f" {label}"]),
        html.Ul([html.Li(d) for d in definitions]),
    ])
