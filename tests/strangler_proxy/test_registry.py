"""The service registry on the admin API, with real processes: token required, registered
instances receive traffic, missed heartbeats evict, the catalog service registers itself."""

from __future__ import annotations

from pathlib import Path

import httpx

from extracted.catalog.testing import gunicorn_argv, seed_monolith
from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

TOKEN = "test-registry-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]


def table(legacy: str, catalog: str) -> str:
    return table_yaml(
        {"legacy": legacy, "catalog": catalog},
        [
            {
                "name": "catalog",
                "match": {"prefix": "/api/catalog/"},
                "mode": "extracted",
                "to": "catalog",
            }
        ],
    )


def test_registry_is_closed_without_a_configured_token(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    with ProxyProcess.from_yaml(
        table(legacy.url, catalog.url), tmp_path, env={"STRANGLER_REGISTRY_TOKEN": ""}
    ) as proxy:
        r = httpx.post(
            proxy.admin_url + "/registry/catalog", json={"url": "http://127.0.0.1:1"}, headers=AUTH
        )
        assert r.status_code == 403
        assert httpx.get(proxy.admin_url + "/registry").json() == []


def test_register_heartbeat_and_eviction(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    env = {"STRANGLER_REGISTRY_TOKEN": TOKEN}
    with (
        FakeUpstreamProcess("catalog-extra") as extra,
        ProxyProcess.from_yaml(table(legacy.url, catalog.url), tmp_path, env=env) as proxy,
        httpx.Client(timeout=5) as client,
    ):
        endpoint = proxy.admin_url + "/registry/catalog"
        body = {"url": extra.url, "ttl": 1}
        assert client.post(endpoint, json=body).status_code == 401
        assert (
            client.post(endpoint, json=body, headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        assert (
            client.post(proxy.admin_url + "/registry/nope", json=body, headers=AUTH).status_code
            == 404
        )
        assert (
            client.post(endpoint, json={"url": "ftp://x", "ttl": 1}, headers=AUTH).status_code
            == 400
        )
        assert client.post(endpoint, json=body, headers=AUTH).status_code == 200

        def served() -> set[str]:
            return {
                client.get(proxy.url + "/api/catalog/x").headers["x-upstream-name"]
                for _ in range(6)
            }

        # the registered instance joins the static one at once
        assert served() == {"catalog", "catalog-extra"}
        info = client.get(proxy.admin_url + "/upstreams").json()["catalog"]["instances"]
        assert {i["url"]: i["registered"] for i in info} == {catalog.url: False, extra.url: True}
        # heartbeats keep it; without them it is evicted after its TTL
        for _ in range(3):
            assert client.post(endpoint, json=body, headers=AUTH).status_code == 200
        wait_until(
            lambda: client.get(proxy.admin_url + "/registry").json() == [],
            timeout=5,
            what="eviction after the TTL",
        )
        assert served() == {"catalog"}
        # explicit deregistration
        client.post(endpoint, json={"url": extra.url, "ttl": 30}, headers=AUTH)
        r = client.request("DELETE", endpoint, json={"url": extra.url}, headers=AUTH)
        assert r.status_code == 200 and r.json() == {"deregistered": True}
        assert served() == {"catalog"}


def test_catalog_service_registers_itself(
    tmp_path: Path, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    monolith_db = f"sqlite:///{tmp_path / 'monolith.sqlite3'}"
    catalog_db = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    seed_monolith(monolith_db, products=10)
    env = {"STRANGLER_REGISTRY_TOKEN": TOKEN}
    with ProxyProcess.from_yaml(table(legacy.url, catalog.url), tmp_path, env=env) as proxy:
        port = free_port()
        svc_env = {
            **env,
            "PATH": "/usr/bin:/bin",
            "CATALOG_DATABASE_URL": catalog_db,
            "CATALOG_REGISTER_ADMIN_URL": proxy.admin_url,
            "CATALOG_REGISTER_UPSTREAM": "catalog",
            "CATALOG_REGISTER_URL": f"http://127.0.0.1:{port}",
            "CATALOG_REGISTER_TTL": "2",
        }
        service = Process(
            gunicorn_argv("extracted/catalog/gunicorn.conf.py", port),
            name="catalog-registering",
            env=svc_env,
            cwd=REPO,
        )
        with service:
            service.wait_http(f"http://127.0.0.1:{port}/healthz", status=200)

            def registered() -> list[str]:
                return [e["url"] for e in httpx.get(proxy.admin_url + "/registry").json()]

            wait_until(
                lambda: registered() == [f"http://127.0.0.1:{port}"],
                what="the catalog service to register",
            )
            r = httpx.get(proxy.url + "/api/catalog/x")  # the static fake still answers too
            assert r.status_code in (200, 404)
        # gunicorn's on_exit deregisters
        wait_until(lambda: registered() == [], timeout=5, what="deregistration on exit")
