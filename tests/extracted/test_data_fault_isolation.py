"""Fault isolation of data: the catalog keeps answering reads while the monolith's database is
stopped, because it reads only its own database (issue #8).

Real processes: the monolith (gunicorn) on a *private* PostgreSQL cluster that this test starts
and stops (the shared server on 127.0.0.1:5432 is never stopped: other tests use it), the
catalog service (gunicorn) on its own database on the shared server, synced by
``python -m extracted.datatools backfill catalog``, and the strangler proxy in front with the
product routes extracted. With the monolith's database down, product list and detail answer
200 with the same data through the proxy, while a monolith endpoint answers 5xx; once the
database is back, the monolith answers again.

Without the PostgreSQL server binaries the test is skipped, except under ``CI=true``, where it
fails (CI must run it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from extracted.catalog.testing import REPO_ROOT, gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import ProxyProcess, table_yaml
from strangler_proxy.testing.pgcluster import private_postgres_for_test

pytestmark = pytest.mark.postgres


def _products(client: httpx.Client, base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(list page 1 with 100 per page, detail of its first product) as answered at ``base``."""
    listing = client.get(f"{base}/api/products/", params={"page_size": 100})
    assert listing.status_code == 200, listing.text
    first = listing.json()["results"][0]["id"]
    detail = client.get(f"{base}/api/products/{first}/")
    assert detail.status_code == 200, detail.text
    return listing.json(), detail.json()


def _status(client: httpx.Client, url: str) -> int:
    try:
        return client.get(url).status_code
    except httpx.HTTPError:
        return 0


def test_catalog_reads_survive_the_monolith_database_stopping(
    tmp_path: Path, pg_database: Callable[[str], str]
) -> None:
    with private_postgres_for_test() as pg:
        monolith_db = pg.create_database("shop")
        catalog_db = pg_database("faultiso")
        seed_monolith(monolith_db, products=30)
        done = subprocess.run(
            [sys.executable, "-m", "extracted.datatools", "backfill", "catalog",
             "--source-url", monolith_db, "--target-url", catalog_db, "--no-consumer-check"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

        legacy_port, catalog_port = free_port(), free_port()
        legacy_url = f"http://127.0.0.1:{legacy_port}"
        catalog_url = f"http://127.0.0.1:{catalog_port}"
        common = {"GUNICORN_WORKERS": "1", "PYTHONWARNINGS": "ignore"}
        monolith = Process(
            gunicorn_argv("legacy_monolith/gunicorn.conf.py", legacy_port),
            name="monolith",
            # a refused connection fails at once; connect_timeout bounds any other failure
            env=monolith_env(
                f"{monolith_db}?connect_timeout=3",
                DJANGO_ALLOWED_HOSTS="*",
                DJANGO_TRUST_X_FORWARDED="1",
                **common,
            ),
            cwd=REPO_ROOT,
            log_dir=tmp_path,
        )
        catalog = Process(
            gunicorn_argv("extracted/catalog/gunicorn.conf.py", catalog_port),
            name="catalog",
            env={
                **os.environ,
                "PYTHONPATH": str(REPO_ROOT),
                "CATALOG_DATABASE_URL": catalog_db,
                "CATALOG_TRUST_X_FORWARDED": "1",
                **common,
            },
            cwd=REPO_ROOT,
            log_dir=tmp_path,
        )
        table = table_yaml(
            {"legacy": legacy_url, "catalog": catalog_url},
            [
                {
                    "name": "products",
                    "match": {"prefix": "/api/products/", "methods": ["GET", "HEAD"]},
                    "mode": "extracted",
                    "to": "catalog",  # no fallback: every product answer is the catalog's own
                }
            ],
        )
        with monolith, catalog:
            monolith.wait_http(legacy_url + "/healthz", status=200)
            catalog.wait_http(catalog_url + "/healthz", status=200)
            with ProxyProcess.from_yaml(table, tmp_path) as proxy, httpx.Client(timeout=5) as c:
                # synced: the catalog answers what the monolith answers
                before = _products(c, proxy.url)
                assert before == _products(c, legacy_url)
                assert before[0]["count"] >= 30
                routed = c.get(f"{proxy.url}/api/products/")
                assert routed.headers["x-strangler-upstream"] == "catalog"
                assert c.get(f"{proxy.url}/api/categories/").status_code == 200  # the monolith

                pg.stop()
                assert not pg.accepts()

                # the monolith fails: its health check and an endpoint through the proxy
                assert c.get(legacy_url + "/healthz").status_code == 503
                for _ in range(3):
                    r = c.get(f"{proxy.url}/api/categories/")
                    assert 500 <= r.status_code < 600, r.text
                    assert _status(c, f"{legacy_url}/api/products/") >= 500
                # the catalog keeps answering, with the data it had, through the proxy
                for _ in range(5):
                    assert _products(c, proxy.url) == before
                    r = c.get(f"{proxy.url}/api/products/")
                    assert r.headers["x-strangler-upstream"] == "catalog"
                assert c.get(catalog_url + "/healthz").status_code == 200
                assert monolith.alive() and catalog.alive()

                pg.start()
                # the monolith recovers on its own (its pooled connections are re-checked)
                wait_until(
                    lambda: _status(c, f"{proxy.url}/api/categories/") == 200,
                    timeout=30,
                    interval=0.2,
                    what="the monolith to answer again through the proxy",
                )
                assert c.get(legacy_url + "/healthz").status_code == 200
                assert _products(c, legacy_url) == before
                assert _products(c, proxy.url) == before
