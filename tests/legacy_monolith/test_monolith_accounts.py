"""Registration, token login, profile and logout over HTTP."""

from __future__ import annotations

import secrets
from typing import Any


def test_register_login_profile_logout(monolith: Any) -> None:
    username = f"t_{secrets.token_hex(4)}"
    password = "correct-horse-battery-42"
    with monolith.client() as client:
        weak = client.post("/api/accounts/register/", json={"username": username, "password": "1"})
        assert weak.status_code == 400 and "password" in weak.json()
        reg = client.post(
            "/api/accounts/register/",
            json={"username": username, "password": password, "email": f"{username}@example.com"},
        )
        assert reg.status_code == 201, reg.text
        assert set(reg.json()) == {"id", "username", "email", "token"}
        dup = client.post(
            "/api/accounts/register/", json={"username": username, "password": password}
        )
        assert dup.status_code == 400
        bad = client.post("/api/accounts/login/", json={"username": username, "password": "nope"})
        assert bad.status_code == 400
    token = monolith.login(username, password)
    assert token == reg.json()["token"]
    with monolith.client(token) as client:
        profile = client.get("/api/accounts/profile/").json()
        assert profile["username"] == username and profile["is_staff"] is False
        patched = client.patch(
            "/api/accounts/profile/",
            json={"first_name": "Ada", "username": "hijack", "is_staff": True},
        ).json()
        assert (patched["first_name"], patched["username"], patched["is_staff"]) == (
            "Ada",
            username,
            False,
        )
        assert client.post("/api/accounts/logout/").status_code == 204
        assert client.get("/api/accounts/profile/").status_code == 401


def test_health_and_request_id(monolith: Any) -> None:
    with monolith.client() as client:
        resp = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        generated = client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    assert resp.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32


def test_admin_login_page_and_static(monolith: Any) -> None:
    with monolith.client() as client:
        page = client.get("/admin/login/")
        css = client.get("/static/admin/css/base.css")
    assert page.status_code == 200 and "Django administration" in page.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
