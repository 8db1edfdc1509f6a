import dash
from dash import dcc, html

from dashboard import text

dash.register_page(__name__, path="/404", title=text.NOT_FOUND_TITLE, nav=False)


def layout(**_query):
    return html.Div(className="not-found", children=[
        html.H1(text.NOT_FOUND_TITLE),
        html.P(text.NOT_FOUND_BODY),
        dcc.Link(text.NOT_FOUND_BACK, href="/"),
    ])
