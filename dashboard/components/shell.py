"""The frame around every page: title bar, navigation and the signed-in user."""

from __future__ import annotations

import dash
from dash import dcc, html
from flask import has_request_context
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from dashboard import ids, text
from dashboard.components.admin import ADMIN_PREFIX


def _user_badge():
    if not has_request_context() or not current_user.is_authenticated or current_user.role == "display":
        return html.Div(id=ids.USER_BADGE)  # a wall screen has nobody to name and nothing to sign out
    role = text.ROLE_LABELS.get(current_user.role, current_user.role)
    if current_user.agency_code:
        role = f"{role} · {current_user.agency_name}"
    return html.Div(id=ids.USER_BADGE, className="user-badge", children=[
        html.Span(current_user.display_name, className="user-name"),
        html.Span(role, className="user-role"),
        # A form, not a link: signing out changes state, so it is a POST with the session's CSRF token.
        html.Form(action="/logout", method="POST", className="logout-form", children=[
            dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
            html.Button(text.LOGOUT, type="submit", className="logout-link")]),
    ])


def app_shell():
    """Dash's top-level layout: it runs per request, so the header shows who is signed in."""
    role = current_user.role if has_request_context() and current_user.is_authenticated else None
    nav = [dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
           for page in dash.page_registry.values()
           if page.get("nav", True) and page["path"] != "/404" and role in page.get("roles", (role,))
           and not page["path"].startswith(ADMIN_PREFIX)]
    if role == "admin":
        nav.append(dcc.Link(text.NAV_ADMIN, href="/admin/users", className="nav-link"))
    if role == "agency":
        nav.insert(1, dcc.Link(text.NAV_MY_AGENCY, href=f"/agency/{current_user.agency_code}", className="nav-link"))
    return html.Div(className="app", children=[
        html.Header(className="topbar", children=[
            html.Div(className="brand", children=[
                html.Div(text.APP_SUBTITLE, className="brand-sub"),
                html.Div(text.APP_TITLE, className="brand-title"),
            ]),
            html.Nav(nav, className="nav"),
            _user_badge(),
        ]),
        html.Main(dash.page_container, className="page"),
    ])
