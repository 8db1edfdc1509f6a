"""Admin-only pages. Dash checks every callback against every page's layout() at start-up, whoever is
signed in then, so an admin page always builds its form; others get it hidden (and empty), plus a refusal.
The write functions in queries/ check the role again."""

from dash import html
from flask_login import current_user


def is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin"


def admin_only(forbidden: str, class_name: str, children: list) -> html.Div:
    admin = is_admin()
    return html.Div(children=[
        html.Div(className="not-found", hidden=admin, children=[html.H1(forbidden)]),
        html.Div(className=class_name, hidden=not admin, children=children),
    ])
