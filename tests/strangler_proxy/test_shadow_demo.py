"""Shadow on the demo shop: the real catalog service passes the shadow report against the
monolith, and a catalog service with a deliberately broken price fails it, naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from extracted.catalog.testing import gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import ProxyProcess, table_yaml


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("shop")
    monolith_db = f"sqlite:///{folder / 'monolith.sqlite3'}"
    catalog_db = f"sqlite:///{folder / 'catalog.sqlite3'}"
    seed_monolith(monolith_db, products=60)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "extracted.catalog.backfill",
            "--source-url",
            monolith_db,
            "--target-url",
            catalog_db,
        ],
        check=True,
        capture_output=True,
    )
    ports = {"legacy": free_port(), "catalog": free_port(), "bugged": free_port()}
    env = monolith_env(monolith_db, DJANGO_ALLOWED_HOSTS="*", DJANGO_TRUST_X_FORWARDED="1")
    svc_env = monolith_env(monolith_db, CATALOG_DATABASE_URL=catalog_db)
    monolith = Process(
        gunicorn_argv("legacy_monolith/gunicorn.conf.py", ports["legacy"]),
        name="monolith",
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    catalog = Process(
        gunicorn_argv("extracted/catalog/gunicorn.conf.py", ports["catalog"]),
        name="catalog",
        env=svc_env,
        cwd=Path(__file__).resolve().parents[2],
    )
    bugged = Process(
        gunicorn_argv("extracted/catalog/gunicorn.conf.py", ports["bugged"]),
        name="bugged",
        env=svc_env | {"CATALOG_TEST_BUG": "price_rounding"},
        cwd=Path(__file__).resolve().parents[2],
    )
    with monolith, catalog, bugged:
        urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
        for name, proc in (("legacy", monolith), ("catalog", catalog), ("bugged", bugged)):
            proc.wait_http(urls[name] + "/healthz", status=200)
        yield urls


def test_report_passes_for_the_real_service_and_names_the_broken_field(
    shop: dict[str, str], tmp_path: Path
) -> None:
    text = table_yaml(
        {"legacy": shop["legacy"], "catalog": shop["catalog"], "bugged": shop["bugged"]},
        [
            # product detail shadowed to the real service, the list to the bugged one
            {
                "name": "product-detail",
                "match": {"path": "/api/products/{id:int}/"},
                "mode": "shadow",
                "to": "catalog",
            },
            {
                "name": "product-list",
                "match": {"path": "/api/products/"},
                "mode": "shadow",
                "to": "bugged",
            },
        ],
    )
    with (
        ProxyProcess.from_yaml(text, tmp_path) as proxy,
        httpx.Client(base_url=proxy.url, timeout=10) as client,
    ):
        ids = [p["id"] for p in client.get("/api/products/?page_size=100").json()["results"]]
        for product_id in ids[:40]:
            r = client.get(f"/api/products/{product_id}/")
            assert r.status_code == 200 and r.headers["x-strangler-upstream"] == "legacy"
        for page in (1, 2, 3):
            client.get(f"/api/products/?page={page}")
        for ordering in ("price", "-price", "name"):
            client.get(f"/api/products/?ordering={ordering}")
        store = tmp_path / "shadow.sqlite3"

        def report(route: str) -> tuple[int, dict[str, Any]]:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "strangler_proxy",
                    "shadow",
                    "report",
                    route,
                    "--store",
                    f"sqlite:///{store}",
                    "--min-samples",
                    "5",
                    "--json",
                ],
                capture_output=True,
                text=True,
            )
            return result.returncode, json.loads(result.stdout)

        def stored(route: str, n: int) -> bool:
            if not store.exists():
                return False
            _, data = report(route)
            return bool(data["routes"]) and data["routes"][0]["compared"] >= n

        wait_until(lambda: stored("product-detail", 40), what="40 detail comparisons")
        wait_until(lambda: stored("product-list", 7), what="7 list comparisons")
        code, data = report("product-detail")
        detail = data["routes"][0]
        assert (code, detail["verdict"], detail["mismatched"]) == (0, "pass", 0), detail
        code, data = report("product-list")
        listing = data["routes"][0]
        assert code == 1 and listing["verdict"] == "fail"
        assert listing["top_fields"][0]["field"] == "$.results[*].price", listing["top_fields"]
