"""One identity for the monolith and an extracted service, end to end: the real monolith
(gunicorn, SQLite), the catalog service (gunicorn) as the product writer, the proxy resolving
callers through the monolith's introspection endpoint and signing ``X-Strangler-Identity``.

A staff user's token and session cookie reach the service's staff-only write; a plain user is
refused by the service (it knows who is calling); no credentials: 401 at the edge; a browser's
write without its CSRF token is refused at the edge with the monolith's own 403, with it the
write goes through; a logout ends the token at once; a forged assertion sent straight to the
service is refused by it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from extracted.catalog.testing import gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy.gateway.assertion import sign_assertion
from strangler_proxy.testing import Process, free_port
from strangler_proxy.testing.harness import ProxyProcess, table_yaml

REPO = Path(__file__).resolve().parents[3]
KEY = "k" * 40  # the signing key the proxy and the service share


@dataclass
class Shop:
    proxy: ProxyProcess
    catalog_url: str


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("identity")
    monolith_db = f"sqlite:///{folder / 'monolith.sqlite3'}"
    catalog_db = f"sqlite:///{folder / 'catalog.sqlite3'}"
    seed_monolith(monolith_db, products=12)
    subprocess.run(
        [sys.executable, "-m", "extracted.catalog.backfill", "--source-url", monolith_db,
         "--target-url", catalog_db],
        check=True, capture_output=True,
    )  # fmt: skip
    legacy_port, catalog_port = free_port(), free_port()
    monolith = Process(
        gunicorn_argv("legacy_monolith/gunicorn.conf.py", legacy_port),
        name="monolith",
        env=monolith_env(
            monolith_db,
            DJANGO_ALLOWED_HOSTS="*",
            STRANGLER_WRITER_CATALOG_PRODUCT="catalog",
        ),
        cwd=REPO,
    )
    catalog = Process(
        gunicorn_argv("extracted/catalog/gunicorn.conf.py", catalog_port),
        name="catalog",
        env=monolith_env(
            monolith_db,
            CATALOG_DATABASE_URL=catalog_db,
            STRANGLER_WRITER_CATALOG_PRODUCT="catalog",
            STRANGLER_IDENTITY_KEY=KEY,
        ),
        cwd=REPO,
    )
    with monolith, catalog:
        monolith.wait_http(f"http://127.0.0.1:{legacy_port}/healthz", status=200)
        catalog.wait_http(f"http://127.0.0.1:{catalog_port}/healthz", status=200)
        catalog_url = f"http://127.0.0.1:{catalog_port}"
        text = table_yaml(
            {"legacy": f"http://127.0.0.1:{legacy_port}", "catalog": catalog_url},
            [
                {
                    "name": "product-writes",
                    "match": {"path": "/api/products/{id:int}/", "methods": ["PUT", "PATCH"]},
                    "mode": "extracted",
                    "to": "catalog",
                    "auth": "required",
                },
            ],
            identity={"cache_ttl": 30},
        )
        with ProxyProcess.from_yaml(text, folder, env={"STRANGLER_IDENTITY_KEY": KEY}) as proxy:
            yield Shop(proxy, catalog_url)


def token(client: httpx.Client, username: str, password: str) -> str:
    resp = client.post("/api/accounts/login/", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def register(client: httpx.Client, username: str) -> str:
    resp = client.post(
        "/api/accounts/register/", json={"username": username, "password": "s3cret-Passw0rd!"}
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def test_a_staff_token_reaches_the_services_staff_only_write(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        auth = {"Authorization": f"Token {token(client, 'admin', 'admin')}"}
        resp = client.patch("/api/products/3/", json={"name": "Renamed by staff"}, headers=auth)
        assert resp.status_code == 200, resp.text
        assert resp.headers["X-Strangler-Upstream"] == "catalog"
        assert resp.json()["name"] == "Renamed by staff"


def test_the_service_knows_a_plain_user_is_not_staff(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        auth = {"Authorization": f"Token {register(client, 'plain-user')}"}
        resp = client.patch("/api/products/3/", json={"name": "nope"}, headers=auth)
        assert resp.status_code == 403
        assert resp.headers["X-Strangler-Upstream"] == "catalog"  # the service decided
        assert resp.json() == {"detail": "You do not have permission to perform this action."}


def test_no_or_bad_credentials_get_401_at_the_edge(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        resp = client.patch("/api/products/3/", json={"name": "anonymous"})
        assert resp.status_code == 401
        assert resp.json() == {"detail": "Authentication credentials were not provided."}
        assert resp.headers["WWW-Authenticate"] == "Token"
        assert resp.headers["X-Strangler-Error"] == "not_authenticated"
        bad = client.patch("/api/products/3/", json={}, headers={"Authorization": "Token nope"})
        assert bad.status_code == 401 and bad.json() == {"detail": "Invalid token."}


def test_logout_ends_the_token_at_the_edge_at_once(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        auth = {"Authorization": f"Token {token(client, 'admin', 'admin')}"}
        assert client.patch("/api/products/4/", json={}, headers=auth).status_code == 200
        assert client.post("/api/accounts/logout/", headers=auth).status_code == 204
        # the cached answer (cache_ttl 30 s) was dropped by the logout
        assert client.patch("/api/products/4/", json={}, headers=auth).status_code == 401


def session_login(client: httpx.Client) -> str:
    """Log in through the monolith's admin login form; return the CSRF token."""
    form = client.get("/admin/login/")
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert found is not None
    resp = client.post(
        "/admin/login/?next=/admin/",
        data={
            "username": "admin",
            "password": "admin",
            "csrfmiddlewaretoken": found.group(1),
            "next": "/admin/",
        },
    )
    assert resp.status_code == 302, resp.text
    assert "sessionid" in client.cookies
    return str(client.cookies["csrftoken"])


def test_a_browser_session_needs_its_csrf_token_as_with_the_monolith(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as browser:
        csrf = session_login(browser)
        refused = browser.patch("/api/products/5/", json={"name": "no csrf"})
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("CSRF Failed")  # the monolith's own words
        assert refused.headers["X-Strangler-Error"] == "identity_refused"
        ok = browser.patch(
            "/api/products/5/", json={"name": "with csrf"}, headers={"X-CSRFToken": csrf}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["name"] == "with csrf"
        assert ok.headers["X-Strangler-Upstream"] == "catalog"


def test_forged_and_expired_assertions_are_refused_by_the_service(shop: Shop) -> None:
    claims = {"user_id": 1, "username": "admin", "is_staff": True, "request_id": "r"}
    forged = sign_assertion(claims, b"x" * 40, ttl=60, audience="catalog", now=time.time())
    expired = sign_assertion(claims, KEY.encode(), ttl=1, audience="catalog", now=1_000_000_000)
    with httpx.Client(base_url=shop.catalog_url) as direct:
        for assertion, reason in ((forged, "signature"), (expired, "expired")):
            resp = direct.patch(
                "/api/products/6/", json={"name": "x"}, headers={"X-Strangler-Identity": assertion}
            )
            assert resp.status_code == 401
            assert reason in resp.json()["detail"]
    # and through the proxy a client's own assertion is dropped: the request is anonymous
    with httpx.Client(base_url=shop.proxy.url) as client:
        valid = sign_assertion(claims, KEY.encode(), ttl=60, audience="catalog", now=time.time())
        resp = client.patch(
            "/api/products/6/", json={"name": "x"}, headers={"X-Strangler-Identity": valid}
        )
        assert resp.status_code == 401
        assert resp.headers["X-Strangler-Error"] == "not_authenticated"
