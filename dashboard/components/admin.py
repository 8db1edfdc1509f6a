"""Admin-only pages. Dash checks every callback against every page's layout() at start-up, whoever is
signed in then, so an admin page always builds its form; others get it hidden (and empty), plus a refusal.
The write functions in queries/ check the role again. The admin pages (paths under /admin/) share one tab
bar instead of crowding the top navigation."""

import dash
from dash import dcc, html
from flask_login import current_user

ADMIN_PREFIX = "/admin/"


def is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin"


def admin_pages() -> list[dict]:
    return sorted((p for p in dash.page_registry.values() if p["path"].startswith(ADMIN_PREFIX)),
                  key=lambda p: p.get("order") or 0)


def admin_tabs() -> html.Nav:
    return html.Nav(className="admin-tabs", children=[
        dcc.Link(page["name"], href=page["relative_path"], className="admin-tab") for page in admin_pages()])


def admin_only(forbidden: str, class_name: str, children: list) -> html.Div:
    admin = is_admin()
    return html.Div(children=[
        html.Div(className="not-found", hidden=admin, children=[html.H1(forbidden)]),
        html.Div(className=class_name, hidden=not admin, children=[admin_tabs(), *children]),
    ])
