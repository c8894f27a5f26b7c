"""One identity for the monolith and extracted services, end to end: the real monolith
(gunicorn, SQLite), the catalog service (gunicorn) as the product writer, the payments service
(gunicorn), the proxy resolving callers through the monolith's introspection endpoint and signing
``X-Strangler-Identity``.

A user sees their own payments in the payments service, staff see all (by token and by session
cookie); a staff user's token and session cookie reach the catalog's staff-only write; a plain
user is refused by the service (it knows who is calling); no credentials: 401 at the edge; a
browser's write without its CSRF token is refused at the edge with the monolith's own 403, with
it the write goes through; a logout ends the token at once; a forged assertion sent straight to
the service is refused by it."""

from __future__ import annotations

import os
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
from extracted.common import create_engine_from_url
from extracted.common.events import handle_event, parse_event
from extracted.payments.provider import FakeProvider
from extracted.payments.schema import ensure_schema
from extracted.payments.service import make_apply
from strangler_proxy.gateway.assertion import sign_assertion
from strangler_proxy.testing import Process, free_port
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

REPO = Path(__file__).resolve().parents[3]
KEY = "k" * 40  # the signing key the proxy and the service share


@dataclass
class Shop:
    proxy: ProxyProcess
    catalog_url: str
    payments_db: str


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
    payments_db = f"sqlite:///{folder / 'payments.sqlite3'}"
    legacy_port, catalog_port, payments_port = free_port(), free_port(), free_port()
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
    payments_service = Process(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{payments_port}",
         "--workers", "1", "extracted.payments.app:create_app()"],
        name="payments",
        env={**os.environ, "PAYMENTS_DATABASE_URL": payments_db, "STRANGLER_IDENTITY_KEY": KEY},
        cwd=REPO,
    )  # fmt: skip
    with monolith, catalog, payments_service, FakeUpstreamProcess("echo") as echo:
        monolith.wait_http(f"http://127.0.0.1:{legacy_port}/healthz", status=200)
        catalog.wait_http(f"http://127.0.0.1:{catalog_port}/healthz", status=200)
        payments_service.wait_http(f"http://127.0.0.1:{payments_port}/sync/status", status=200)
        catalog_url = f"http://127.0.0.1:{catalog_port}"
        text = table_yaml(
            {
                "legacy": f"http://127.0.0.1:{legacy_port}",
                "catalog": catalog_url,
                "payments": f"http://127.0.0.1:{payments_port}",
                "echo": echo.url,
            },
            [
                {
                    "name": "profile",  # the monolith's, cached per caller
                    "match": {"path": "/api/accounts/profile/", "methods": ["GET", "HEAD"]},
                    "mode": "legacy",
                    "cache": {"ttl": 60, "default_ttl": 60, "personalised": True},
                },
                {
                    "name": "orders-cached-by-mistake",  # per user, but not personalised
                    "match": {"prefix": "/api/orders/", "methods": ["GET"]},
                    "mode": "legacy",
                    "auth": "optional",
                    "cache": {"ttl": 60, "default_ttl": 60},
                },
                {
                    "name": "echo",
                    "match": {"prefix": "/echo-service/"},
                    "mode": "extracted",
                    "to": "echo",
                    "auth": "optional",
                },
                {
                    "name": "limited",  # no such endpoint: the limit answers before it
                    "match": {"prefix": "/api/limited/"},
                    "mode": "legacy",
                    "rate_limit": {"rate": "1/min", "key": "token"},
                    "auth": "optional",
                },
                {
                    "name": "payments",
                    "match": {"prefix": "/api/payments/", "methods": ["GET", "HEAD"]},
                    "mode": "extracted",
                    "to": "payments",
                    "auth": "required",
                },
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
            yield Shop(proxy, catalog_url, payments_db)


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


def charge(payments_db: str, order_id: int, user_id: int) -> None:
    """A payment in the payments service's own database, as its consumer records one."""
    body = {
        "id": f"00000000-0000-4000-8000-{order_id:012d}",
        "type": "orders.order.placed",
        "aggregate_type": "orders.order",
        "aggregate_id": str(order_id),
        "version": 1,
        "created_at": "2026-01-01T12:00:01.000001Z",
        "payload": {"id": order_id, "reference": f"ORD-{order_id:012d}", "user": user_id,
                    "status": "pending", "total": "10.00", "lines": []},
    }  # fmt: skip
    engine = create_engine_from_url(payments_db)
    try:
        ensure_schema(engine)
        handle_event(engine, make_apply(FakeProvider()), parse_event(body))
    finally:
        engine.dispose()


def test_users_see_their_own_payments_in_the_extracted_service(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        ada = client.post(
            "/api/accounts/register/", json={"username": "ada-pays", "password": "s3cret-Pw0rd!"}
        ).json()
        bob = client.post(
            "/api/accounts/register/", json={"username": "bob-pays", "password": "s3cret-Pw0rd!"}
        ).json()
        charge(shop.payments_db, 9001, ada["id"])
        charge(shop.payments_db, 9002, bob["id"])
        charge(shop.payments_db, 9003, ada["id"])
        mine = client.get("/api/payments/", headers={"Authorization": f"Token {ada['token']}"})
        assert mine.status_code == 200, mine.text
        assert mine.headers["X-Strangler-Upstream"] == "payments"
        assert sorted(p["order"] for p in mine.json()["results"]) == [9001, 9003]
        theirs = client.get("/api/payments/", headers={"Authorization": f"Token {bob['token']}"})
        assert [p["order"] for p in theirs.json()["results"]] == [9002]
        assert client.get("/api/payments/").status_code == 401  # at the edge
    with httpx.Client(base_url=shop.proxy.url) as browser:  # staff, by session cookie
        session_login(browser)
        every = browser.get("/api/payments/")
        assert every.status_code == 200, every.text
        assert {9001, 9002, 9003} <= {p["order"] for p in every.json()["results"]}


def test_a_personalised_cache_never_serves_one_users_answer_to_another(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        ada = {"Authorization": f"Token {register(client, 'ada-cached')}"}
        bob = {"Authorization": f"Token {register(client, 'bob-cached')}"}
        first = client.get("/api/accounts/profile/", headers=ada)
        assert first.status_code == 200 and first.json()["username"] == "ada-cached"
        assert first.headers["X-Strangler-Cache"] == "MISS"
        again = client.get("/api/accounts/profile/", headers=ada)
        assert again.headers["X-Strangler-Cache"] == "HIT"
        assert again.json()["username"] == "ada-cached"
        other = client.get("/api/accounts/profile/", headers=bob)
        assert other.headers["X-Strangler-Cache"] == "MISS"
        assert other.json()["username"] == "bob-cached"
        assert client.get("/api/accounts/profile/", headers=bob).json()["username"] == "bob-cached"
        anonymous = client.get("/api/accounts/profile/")
        assert anonymous.status_code == 401  # the monolith's own answer, not a cached profile


def test_rate_limits_by_token_count_only_tokens_the_monolith_knows(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        ada = {"Authorization": f"Token {register(client, 'ada-limited')}"}
        bob = {"Authorization": f"Token {register(client, 'bob-limited')}"}
        assert client.get("/api/limited/x", headers=ada).status_code == 404  # allowed
        assert client.get("/api/limited/x", headers=ada).status_code == 429
        assert client.get("/api/limited/x", headers=bob).status_code == 404
        # made-up tokens do not get a bucket each: they spend the client address's
        assert client.get("/api/limited/x", headers={"Authorization": "Token a"}).status_code == 404
        limited = client.get("/api/limited/x", headers={"Authorization": "Token b"})
        assert limited.status_code == 429


def test_a_shared_cache_never_keeps_an_answer_made_for_one_caller(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        ada = {"Authorization": f"Token {register(client, 'ada-orders')}"}
        bob = {"Authorization": f"Token {register(client, 'bob-orders')}"}
        [product] = client.get("/api/products/", params={"page_size": 1}).json()["results"]
        placed = client.post(
            "/api/orders/", json={"lines": [{"product": product["id"], "quantity": 1}]}, headers=ada
        )
        assert placed.status_code == 201, placed.text
        first = client.get("/api/orders/", headers=ada)
        assert first.json()["count"] == 1 and first.headers["X-Strangler-Cache"] == "MISS"
        assert client.get("/api/orders/", headers=ada).headers["X-Strangler-Cache"] == "MISS"
        theirs = client.get("/api/orders/", headers=bob)
        assert theirs.json()["count"] == 0  # never ada's list


def test_services_get_the_assertion_not_the_monoliths_credentials(shop: Shop) -> None:
    with httpx.Client(base_url=shop.proxy.url) as client:
        token = register(client, "ada-echo")
        seen = client.get(
            "/echo-service/x",
            headers={
                "Authorization": f"Token {token}",
                "Cookie": "sessionid=abc; theme=dark; csrftoken=def",
            },
        ).json()
    names = {k.lower(): v for k, v in seen["headers"]}
    assert "authorization" not in names
    assert names["cookie"] == "theme=dark"
    assert names["x-strangler-identity"].count(".") == 2  # a JWT


def test_a_browser_write_with_a_basic_authorization_is_still_csrf_checked(shop: Shop) -> None:
    """DRF ignores ``Authorization: Basic``; the session authenticates, so CSRF applies."""
    with httpx.Client(base_url=shop.proxy.url) as browser:
        session_login(browser)
        refused = browser.patch(
            "/api/products/5/", json={"name": "x"}, headers={"Authorization": "Basic YTpi"}
        )
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("CSRF Failed")
