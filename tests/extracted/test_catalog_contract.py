"""THE contract test: the monolith and the catalog service as real gunicorn processes, same
requests, same answers (status, content type, parsed JSON or exact bytes, redirect target).

Per backend (SQLite, PostgreSQL): migrate + seed the monolith's database, start the monolith,
backfill the service's own database from it, start the service, compare every variant.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from extracted.catalog.backfill import backfill
from extracted.catalog.testing import REPO_ROOT, gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy._procs import Process, free_port

HOST = "shop.example"


@dataclass(frozen=True)
class Stack:
    monolith: str
    service: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    if request.param == "postgres":
        make: Callable[[str], str] = request.getfixturevalue("pg_database")
        source, target = make("mono"), make("svc")
    else:
        folder = tmp_path_factory.mktemp("contract")
        source, target = (
            f"sqlite:///{folder}/monolith.sqlite3",
            f"sqlite:///{folder}/catalog.sqlite3",
        )
    seed_monolith(source)
    backfill(source, target, batch_size=50, out=io.StringIO())
    mono_port, svc_port = free_port(), free_port()
    mono_env = monolith_env(
        source, DJANGO_ALLOWED_HOSTS=HOST, DJANGO_TRUST_X_FORWARDED="1", GUNICORN_WORKERS="1"
    )
    svc_env = dict(mono_env, CATALOG_DATABASE_URL=target, CATALOG_TRUST_X_FORWARDED="1")
    monolith = Process(
        gunicorn_argv("legacy_monolith/gunicorn.conf.py", mono_port),
        name="contract-monolith",
        env=mono_env,
        cwd=REPO_ROOT,
    )
    service = Process(
        gunicorn_argv("extracted/catalog/gunicorn.conf.py", svc_port),
        name="contract-catalog",
        env=svc_env,
        cwd=REPO_ROOT,
    )
    with monolith, service:
        monolith.wait_http(f"http://127.0.0.1:{mono_port}/healthz", status=200)
        service.wait_http(f"http://127.0.0.1:{svc_port}/healthz", status=200)
        yield Stack(f"http://127.0.0.1:{mono_port}", f"http://127.0.0.1:{svc_port}")


@pytest.fixture(scope="module")
def clients(stack: Stack) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    headers = {"Host": HOST, "Accept": "application/json"}
    with (
        httpx.Client(base_url=stack.monolith, headers=headers, timeout=10) as mono,
        httpx.Client(base_url=stack.service, headers=headers, timeout=10) as svc,
    ):
        yield mono, svc


PRODUCT_QUERIES = [
    "",
    "?page=2",
    "?page=last",
    "?page=7",
    "?page=8",
    "?page=0",
    "?page=-1",
    "?page=abc",
    "?page=",
    "?page=1&page=3",
    "?page_size=7",
    "?page_size=7&page=3",
    "?page_size=1000",
    "?page_size=100&page=2",
    "?page_size=0",
    "?page_size=-5",
    "?page_size=x",
    "?zeta=1&alpha=b%20c&page=2&page_size=5",
    "?category=books",
    "?category=cafe",
    "?category=nope",
    "?category=%20home%20",
    "?category=",
    "?category=a%00b",
    "?min_price=100",
    "?max_price=200.5",
    "?min_price=100&max_price=300&page=2",
    "?min_price=0.001",
    "?min_price=-1e51",
    "?min_price=%205%20",
    "?min_price=",
    "?min_price=abc",
    "?max_price=NaN",
    "?max_price=Infinity",
    "?min_price=1e51",
    "?min_price=abc&max_price=x&category=a%00b&in_stock=maybe",
    "?in_stock=true",
    "?in_stock=false",
    "?in_stock=FALSE",
    "?in_stock=1",
    "?in_stock=0",
    "?in_stock=2",
    "?in_stock=3",
    "?in_stock=True",
    "?in_stock=maybe",
    "?in_stock=",
    "?search=lamp",
    "?search=LAMP%20blue",
    "?search=sku-00001",
    "?search=%22Sturdy%20Lamp%22",
    "?search=lamp,red",
    "?search=caf%C3%A9",
    "?search=CAF%C3%89",
    "?search=%25",
    "?search=_",
    "?search=%5C",
    "?search=%22",
    "?search=%00",
    "?search=nothing-matches-this",
    "?ordering=price",
    "?ordering=-price",
    "?ordering=name,-stock",
    "?ordering=created_at",
    "?ordering=-created_at",
    "?ordering=-id",
    "?ordering=stock,-price",
    "?ordering=bogus",
    "?ordering=price,bogus",
    "?ordering=%20-price%20,%20name",
    "?ordering=price,-price",
    "?ordering=",
    "?ordering=-price&page=2&page_size=5&search=lamp&in_stock=true",
    "?category=home&ordering=-price&page=2&page_size=3",
    "?search=lamp&page=99",
]

OTHER_PATHS = [
    "/api/products/1/",
    "/api/products/2/",
    "/api/products/7/",
    "/api/products/121/",
    "/api/products/122/",
    "/api/products/99999/",
    "/api/products/abc/",
    "/api/products/1_0/",
    "/api/products/-1/",
    "/api/products/99999999999999999999/",
    "/api/products/1.5/",
    "/api/products/1/extra/",
    "/api/products/1.5",
    "/api/products/1.json",
    "/api/products/1.json/",
    "/api/products/abc.json",
    "/api/products/1.xml",
    "/api/products.json",
    "/api/products.json?page=2&page_size=10",
    "/api/products.xml",
    "/api/products/?format=json&page=2",
    "/api/products/?format=xml",
    "/api/products/?format=xml&min_price=bad",
    "/api/products/?format=",
    "/api/categories.json",
    "/api/categories/1.json",
    "/api/categories/",
    "/api/categories/?page=2&page_size=2",
    "/api/categories/?page=9",
    "/api/categories/?page_size=2&page=last",
    "/api/categories/1/",
    "/api/categories/6/",
    "/api/categories/999/",
    "/api/categories/x/",
    "/nope/",
    "/healthz",
]

REDIRECTS = ["/api/products", "/api/products?page=2&b=x", "/api/products/1", "/api/categories"]


def _compare(mono: httpx.Response, svc: httpx.Response) -> None:
    where = f"{mono.request.method} {mono.request.url}"
    assert svc.status_code == mono.status_code, where
    assert svc.headers.get("content-type") == mono.headers.get("content-type"), where
    if mono.request.method == "HEAD":
        assert svc.content == mono.content == b"", where
    elif mono.headers.get("content-type") == "application/json":
        expected: Any = json.loads(mono.content)
        actual: Any = json.loads(svc.content)
        if isinstance(expected, dict) and isinstance(actual, dict):
            assert list(actual) == list(expected), where
            for key in expected:
                assert actual[key] == expected[key], f"{where}: field {key}"
        assert actual == expected, where
    else:
        assert svc.content == mono.content, where
    if mono.status_code in (301, 302, 308):
        assert svc.headers.get("location") == mono.headers.get("location"), where
    if mono.status_code == 405:
        assert svc.headers.get("allow") == mono.headers.get("allow"), where


@pytest.mark.parametrize("query", PRODUCT_QUERIES)
def test_product_list(clients: tuple[httpx.Client, httpx.Client], query: str) -> None:
    mono, svc = clients
    _compare(mono.get("/api/products/" + query), svc.get("/api/products/" + query))


@pytest.mark.parametrize("path", OTHER_PATHS + REDIRECTS)
def test_other_paths(clients: tuple[httpx.Client, httpx.Client], path: str) -> None:
    mono, svc = clients
    _compare(mono.get(path), svc.get(path))


def test_forwarded_headers_build_links(clients: tuple[httpx.Client, httpx.Client]) -> None:
    mono, svc = clients
    headers = {"X-Forwarded-Host": HOST, "X-Forwarded-Proto": "https"}
    path = "/api/products/?page=2&page_size=10"
    expected = mono.get(path, headers=headers)
    assert expected.json()["next"].startswith(f"https://{HOST}/")
    _compare(expected, svc.get(path, headers=headers))


def test_head_and_wrong_method(clients: tuple[httpx.Client, httpx.Client]) -> None:
    mono, svc = clients
    _compare(mono.head("/api/products/"), svc.head("/api/products/"))
    _compare(mono.post("/api/categories/", json={}), svc.post("/api/categories/", json={}))
    _compare(mono.delete("/api/categories/1/"), svc.delete("/api/categories/1/"))


def test_walking_all_pages_matches(clients: tuple[httpx.Client, httpx.Client]) -> None:
    """Follow ``next`` on both sides; every page (default and sorted by price) is the same."""
    mono, svc = clients
    for start in ("/api/products/?page_size=25", "/api/products/?ordering=-price&page_size=30"):
        url: str | None = start
        pages = 0
        while url is not None:
            path = httpx.URL(url).raw_path.decode()
            expected, actual = mono.get(path), svc.get(path)
            _compare(expected, actual)
            url = expected.json()["next"]
            pages += 1
        assert pages >= 4
