"""Login, logout and the guard in front of every route and every Dash endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import text as sql

from dashboard import text
from tests.conftest import PASSWORD, form_token, login, logout
from tests.dash_calls import callback_spec, overview_values, post_callback

XHR_ENDPOINTS = [
    ("GET", "/_dash-layout"),
    ("GET", "/_dash-dependencies"),
    ("POST", "/_dash-update-component"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/overview?from=2026-01-01&to=2026-02-01"),
    ("GET", "/api/v1/map/points"),
]
PAGES = ["/", "/?category=MT", "/404", "/does-not-exist", "/assets/app.css", "/assets/geo/quang_tri_districts.geojson"]


@pytest.mark.parametrize("method,path", XHR_ENDPOINTS)
def test_anonymous_xhr_and_api_calls_get_401(server, method, path):
    client = server.test_client()
    resp = client.open(path, method=method, json={} if method == "POST" else None)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_pages_redirect_to_login(server, path):
    resp = server.test_client().get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_dash_component_suites_are_guarded(server, client_for):
    html = client_for("leader").get("/").get_data(as_text=True)
    suite = next(part.split('"')[0] for part in html.split('src="')[1:] if part.startswith("/_dash-component-suites"))
    assert server.test_client().get(suite).status_code == 401
    assert client_for("leader").get(suite).status_code == 200


def test_anonymous_callback_with_valid_payload_is_refused(server, client_for):
    spec = callback_spec(client_for("leader"), "overview-kpis.children")
    resp = post_callback(server.test_client(), spec, overview_values())
    assert resp.status_code == 401
    assert b"kpi-" not in resp.data


def test_a_head_request_to_the_login_page_is_not_a_failed_sign_in(server, engine):
    def failures() -> int:
        with engine.connect() as conn:
            return conn.execute(sql("SELECT count(*) FROM login_failures")).scalar()

    client = server.test_client()
    before = failures()
    for _ in range(3):
        assert client.head("/login").status_code == 200
    assert failures() == before


def test_login_page_is_vietnamese_and_open(server):
    resp = server.test_client().get("/login")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert 'lang="vi"' in body and "Đăng nhập" in body and "Mật khẩu" in body


@pytest.mark.parametrize("username,password", [("leader", "sai-mat-khau"), ("khong-ton-tai", PASSWORD)])
def test_wrong_credentials_give_one_message_that_reveals_nothing(server, username, password):
    resp = login(server.test_client(), username, password)
    assert resp.status_code == 401
    body = resp.get_data(as_text=True)
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in body
    assert "không tồn tại" not in body


@pytest.mark.parametrize("token", ["forged", "", None])
def test_login_needs_the_form_token(server, token):
    client = server.test_client()
    client.get("/login")
    data = {"username": "leader", "password": PASSWORD} | ({"csrf_token": token} if token is not None else {})
    resp = client.post("/login", data=data)
    assert resp.status_code == 400 and text.LOGIN_EXPIRED in resp.get_data(as_text=True)
    assert client.get("/api/v1/overview").status_code == 401


def test_a_cross_site_login_without_any_cookie_or_token_is_refused(server):
    """The forged form another site submits: no session cookie, no token (an empty token never matches an
    empty session)."""
    client = server.test_client()
    resp = client.post("/login", data={"username": "leader", "password": PASSWORD, "csrf_token": ""},
                       headers={"Origin": "https://evil.example"})
    assert resp.status_code == 400
    assert client.get("/api/v1/overview").status_code == 401
    resp = client.post("/login", data={"username": "leader", "password": PASSWORD})
    assert resp.status_code == 400 and client.get("/api/v1/overview").status_code == 401


def test_login_then_logout(server):
    client = server.test_client()
    resp = login(client, "leader")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert client.get("/api/v1/overview").status_code == 200
    client.get("/logout")  # signing out is a POST (CSRF-checked): a GET, e.g. an <img> on another site, is not
    assert client.get("/api/v1/overview").status_code == 200
    assert client.post("/logout").status_code == 400  # nor a POST without the form's token
    assert client.get("/api/v1/overview").status_code == 200
    assert logout(client).status_code == 302
    assert client.get("/api/v1/overview").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401


@pytest.mark.parametrize("target,expected", [("/?category=MT", "/?category=MT"), ("https://evil.example/", "/"),
                                             ("//evil.example/", "/"), ("/\\evil.example", "/")])
def test_login_redirects_only_within_the_site(server, target, expected):
    client = server.test_client()
    token = form_token(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", query_string={"next": target},
                       data={"username": "leader", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    assert resp.headers["Location"] == expected


def test_header_names_the_user_and_role(client_for):
    layout = client_for("agency_a").get("/_dash-layout").get_data(as_text=True)
    assert "agency_a" in layout and "Đơn vị xử lý" in layout and "Sở Xây dựng" in layout


def test_healthz_is_open(server):
    resp = server.test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json()["database"] == "ok"
