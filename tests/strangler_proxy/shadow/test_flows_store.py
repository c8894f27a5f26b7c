"""``ShadowStore.mismatch_examples``: the stored mismatch samples export reads (no mitmproxy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strangler_proxy.shadow import ShadowResult, ShadowStore
from strangler_proxy.shadow._fakes import T0, FakeClock, json_side, make_result

StoreFactory = Callable[..., ShadowStore]


def mismatch(request_id: str, at: float, route: str = "products") -> ShadowResult:
    # two differing fields: the store keeps the same sample under $.a and under $.b
    return make_result(
        json_side({"a": 1, "b": "x"}),
        json_side({"a": 2, "b": "y"}),
        route=route,
        request_id=request_id,
        at=at,
        target=f"/api/products/{request_id}/",
    )


def test_one_row_per_mismatch_newest_first_with_limit(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock=clock)
    for i in range(3):
        clock.now = T0 + i
        store.record(mismatch(f"r{i}", T0 + i))
        store.flush()
    store.record(mismatch("other", T0, route="elsewhere"))
    store.record(make_result(json_side({"a": 1}), json_side({"a": 1}), request_id="ok"))
    store.flush()
    rows = store.mismatch_examples("products")
    assert [r.request_id for r in rows] == ["r2", "r1", "r0"]
    payload: dict[str, Any] = rows[0].payload
    assert payload["method"] == "GET" and payload["target"] == "/api/products/r2/"
    primary, shadow = payload["primary"], payload["shadow"]
    assert primary["status"] == 200 and primary["body"] == '{"a": 1, "b": "x"}'
    assert shadow["body"] == '{"a": 2, "b": "y"}'
    assert [d["path"] for d in payload["differences"]] == ["$.a", "$.b"]
    assert [r.request_id for r in store.mismatch_examples("products", limit=2)] == ["r2", "r1"]
    assert store.mismatch_examples("nothing") == []


def test_expired_samples_are_not_exported(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock=clock, example_ttl=60.0)
    store.record(mismatch("old", T0))
    store.flush()
    clock.now = T0 + 61
    assert store.mismatch_examples("products") == []


def test_no_store_file_yet_means_no_samples(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.mismatch_examples("products") == []
