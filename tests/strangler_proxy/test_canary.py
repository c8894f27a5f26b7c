"""Sticky canary buckets: nginx-compatible hashing, split accuracy, stickiness, re-bucketing.

``data/nginx_split_clients.json`` was recorded from a real nginx 1.22.1 with
``split_clients "${arg_k}" $wN { N% canary; * legacy; }`` for N in 1, 5, 12.5, 25, 50, 99,
queried with ``?k=KEY`` for 400 keys (the procedure is in the file's ``generated_by``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strangler_proxy.canary import boundary, in_canary, murmurhash2
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

VECTORS = json.loads((Path(__file__).parent / "data" / "nginx_split_clients.json").read_text())


def test_matches_nginx_split_clients() -> None:
    mismatches = [
        (v["key"], weight, side)
        for v in VECTORS["vectors"]
        for weight, side in v["sides"].items()
        if ("canary" if in_canary(v["key"].encode(), float(weight)) else "legacy") != side
    ]
    assert len(VECTORS["vectors"]) == 400
    assert mismatches == []


def test_hash_is_32_bit_and_deterministic() -> None:
    values = {murmurhash2(f"user-{i}".encode()) for i in range(1000)}
    assert len(values) == 1000
    assert all(0 <= h <= 0xFFFFFFFF for h in values)
    assert murmurhash2(b"abc") == murmurhash2(b"abc")


def test_edges() -> None:
    assert not in_canary(b"anyone", 0)
    assert in_canary(b"anyone", 100)
    assert boundary(25) == 2500 * 0xFFFFFFFF // 10000


def test_split_is_accurate_over_many_keys() -> None:
    keys = [f"Token {i:06d}".encode() for i in range(20000)]
    for weight in (1, 5, 25, 50):
        share = sum(in_canary(k, weight) for k in keys) / len(keys)
        assert abs(share - weight / 100) < 0.01, (weight, share)


def test_raising_the_weight_moves_only_the_needed_share() -> None:
    keys = [f"cookie-{i}".encode() for i in range(20000)]
    at5 = {k for k in keys if in_canary(k, 5)}
    at25 = {k for k in keys if in_canary(k, 25)}
    assert at5 <= at25  # nobody who was on the canary leaves it
    moved = len(at25 - at5) / len(keys)
    assert abs(moved - 0.20) < 0.01


# -- through the real proxy --------------------------------------------------------------------
@pytest.fixture(scope="module")
def canary_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    legacy: FakeUpstreamProcess,
    catalog: FakeUpstreamProcess,
) -> Iterator[ProxyProcess]:
    text = table_yaml(
        {"legacy": legacy.url, "catalog": catalog.url},
        [
            {
                "name": "product-detail",
                "match": {"path": "/api/products/{id}/"},
                "mode": "canary",
                "to": "catalog",
                "weight": 25,
                "sticky": "header:Authorization",
            },
            {
                "name": "by-cookie",
                "match": {"prefix": "/api/cart/"},
                "mode": "canary",
                "to": "catalog",
                "weight": 50,
                "sticky": "cookie:sessionid",
            },
        ],
    )
    with ProxyProcess.from_yaml(
        text, tmp_path_factory.mktemp("canary"), "--access-log", "off"
    ) as p:
        yield p


def test_proxy_split_within_tolerance(canary_proxy: ProxyProcess) -> None:
    n = 3000
    with httpx.Client(base_url=canary_proxy.url) as client:
        sides = [
            client.get("/api/products/1/", headers={"Authorization": f"Token u{i}"}).headers[
                "x-strangler-upstream"
            ]
            for i in range(n)
        ]
    share = sides.count("catalog") / n
    expected = sum(in_canary(f"Token u{i}".encode(), 25) for i in range(n)) / n
    assert share == expected  # exactly the buckets the hash defines
    assert abs(share - 0.25) < 0.03


def test_proxy_is_sticky_per_header_and_cookie(canary_proxy: ProxyProcess) -> None:
    with httpx.Client(base_url=canary_proxy.url) as client:
        for i in range(20):
            token = {"Authorization": f"Token sticky{i}"}
            seen = {
                client.get(f"/api/products/{j}/", headers=token).headers["x-upstream-name"]
                for j in range(10)
            }
            assert len(seen) == 1
            want = "catalog" if in_canary(f"Token sticky{i}".encode(), 25) else "legacy"
            assert seen == {want}
        for i in range(20):
            cookie = {"Cookie": f"other=1; sessionid=s{i}"}
            seen = {
                client.get("/api/cart/x", headers=cookie).headers["x-upstream-name"]
                for _ in range(5)
            }
            want = "catalog" if in_canary(f"s{i}".encode(), 50) else "legacy"
            assert seen == {want}


def test_weight_change_rebuckets_only_the_needed_share(
    canary_proxy: ProxyProcess, legacy: FakeUpstreamProcess, catalog: FakeUpstreamProcess
) -> None:
    assert canary_proxy.config is not None
    keys = [f"Token w{i}" for i in range(1000)]

    def sides() -> dict[str, str]:
        with httpx.Client(base_url=canary_proxy.url) as client:
            return {
                k: client.get("/api/products/1/", headers={"Authorization": k}).headers[
                    "x-upstream-name"
                ]
                for k in keys
            }

    before = sides()
    original = canary_proxy.config.read_text()
    try:
        canary_proxy.config.write_text(original.replace("weight: 25", "weight: 50"))
        generation = _wait_generation(canary_proxy, 2)
        after = sides()
    finally:
        canary_proxy.config.write_text(original)
        _wait_generation(canary_proxy, generation + 1)
    left_canary = [k for k in keys if before[k] == "catalog" and after[k] != "catalog"]
    moved = [k for k in keys if before[k] == "legacy" and after[k] == "catalog"]
    assert left_canary == []
    assert 0.20 < len(moved) / len(keys) < 0.30


def _wait_generation(proxy: ProxyProcess, at_least: int) -> int:
    from strangler_proxy.testing import wait_until

    seen = 0

    def reached() -> bool:
        nonlocal seen
        seen = httpx.get(proxy.admin_url + "/table").json()["generation"]
        return bool(seen >= at_least)

    wait_until(reached, timeout=10, what=f"table generation {at_least}")
    return seen
