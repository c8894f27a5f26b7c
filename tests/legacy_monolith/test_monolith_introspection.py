"""``GET /api/accounts/introspect/``: the caller's own credentials → who they are, over HTTP."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx

INTROSPECT = "/api/accounts/introspect/"
INACTIVE = {"active": False}


def _register(monolith: Any) -> tuple[int, str, str]:
    username = f"t_{secrets.token_hex(4)}"
    with monolith.client() as client:
        reg = client.post(
            "/api/accounts/register/",
            json={"username": username, "password": "correct-horse-battery-42"},
        )
    assert reg.status_code == 201, reg.text
    return int(reg.json()["id"]), username, str(reg.json()["token"])


def _introspect(monolith: Any, **headers: str | bytes) -> httpx.Response:
    with monolith.client() as client:
        resp = client.get(INTROSPECT, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    return resp


def test_token_names_the_user(monolith: Any, admin_token: str) -> None:
    user_id, username, token = _register(monolith)
    assert _introspect(monolith, authorization=f"Token {token}").json() == {
        "active": True,
        "user_id": user_id,
        "username": username,
        "is_staff": False,
    }
    admin = _introspect(monolith, authorization=f"Token {admin_token}").json()
    assert (admin["active"], admin["username"], admin["is_staff"]) == (True, "admin", True)


def test_anonymous_and_bad_credentials_are_inactive_not_401(monolith: Any) -> None:
    assert _introspect(monolith).json() == INACTIVE
    for value in ("Token " + "0" * 40, "Token", "Token a b", "Bearer xyz", "Token \u00e9"):
        raw = value.encode("latin-1")  # the last one is not ASCII: DRF's "Invalid token header"
        assert _introspect(monolith, authorization=raw).json() == INACTIVE, value
    assert _introspect(monolith, cookie="sessionid=not-a-session").json() == INACTIVE


def test_deactivated_users_are_inactive(monolith: Any) -> None:
    # (a deleted token, after logout, is an unknown token: covered above)
    _, username, token = _register(monolith)
    assert _introspect(monolith, authorization=f"Token {token}").json()["active"] is True
    monolith.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.filter(username={username!r}).update(is_active=False)",
    )
    assert _introspect(monolith, authorization=f"Token {token}").json() == INACTIVE


def test_session_cookie_is_accepted_as_the_monolith_accepts_it(monolith: Any) -> None:
    with httpx.Client(base_url=monolith.base_url, timeout=30) as browser:
        page = browser.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf is not None
        login = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "admin", "password": "admin", "csrfmiddlewaretoken": csrf[1]},
        )
        assert login.status_code == 302, login.text
        assert "sessionid" in browser.cookies
        resp = browser.get(INTROSPECT)
        # a bad token beats a good session, as on every other endpoint (token auth runs first)
        with_bad_token = browser.get(INTROSPECT, headers={"Authorization": "Token nope"})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["active"], body["username"], body["is_staff"]) == (True, "admin", True)
    assert with_bad_token.json() == INACTIVE


def test_post_answers_the_same_and_changes_nothing(monolith: Any) -> None:
    with monolith.client() as client:
        anonymous = client.post(INTROSPECT, json={"token": "x"})
        put = client.put(INTROSPECT, json={})
    assert anonymous.status_code == 200 and anonymous.json() == INACTIVE
    assert put.status_code == 405


def test_post_runs_the_csrf_check_of_a_session(monolith: Any) -> None:
    """The proxy asks with POST for a browser's writes: Django's CSRF check decides."""
    with monolith.client() as browser:
        form = browser.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None
        login = browser.post(
            "/admin/login/",
            data={"username": "admin", "password": "admin", "csrfmiddlewaretoken": token[1]},
        )
        assert login.status_code == 302, login.text
        refused = browser.post(INTROSPECT)
        allowed = browser.post(INTROSPECT, headers={"X-CSRFToken": browser.cookies["csrftoken"]})
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF Failed")
    assert allowed.status_code == 200 and allowed.json()["username"] == "admin"
