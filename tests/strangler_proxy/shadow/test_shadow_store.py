from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from strangler_proxy.shadow import NoiseSample, ShadowMetrics, ShadowResult, ShadowStore, open_store
from strangler_proxy.shadow._fakes import T0, FakeClock, json_side, make_result
from strangler_proxy.shadow._histogram import bucket
from strangler_proxy.testing import wait_until

from .conftest import _clean_pg

StoreFactory = Callable[..., ShadowStore]


def mismatch(n: int, route: str = "products", at: float = T0) -> ShadowResult:
    return make_result(
        json_side({"price": "1.00", "n": 0}, latency=0.010),
        json_side({"price": "2.00", "n": 0}, latency=0.020),
        route=route,
        at=at,
        request_id=f"req-{n}",
    )


def test_counts_fields_latency_and_noise_are_stored(make_store: StoreFactory) -> None:
    store = make_store()
    store.start()
    match = make_result(json_side({"a": 1}), json_side({"a": 1}))
    for _ in range(3):
        assert store.record(match)
    assert store.record(mismatch(1, at=T0 + 5))
    store.record_noise(NoiseSample("products", ("$.updated_at",), T0))
    store.close()
    snap = store.snapshot("products")
    (row,) = snap.routes
    assert (row.compared, row.matched, row.mismatched, row.noise_samples) == (4, 3, 1, 1)
    assert (row.first_seen, row.last_seen) == (T0, T0 + 5)
    assert [(f.field, f.kind, f.count) for f in snap.fields] == [("$.price", "value", 1)]
    assert [(f.field, f.count) for f in snap.noise] == [("$.updated_at", 1)]
    primary = {(b, c) for r, s, b, c in snap.latency if s == "primary"}
    assert primary == {(bucket(0.01), 4)}
    (example,) = snap.examples
    assert example.request_id == "req-1" and example.payload["target"] == "/api/products/1/"
    assert store.written == 5 and store.write_errors == 0


def test_secrets_never_reach_the_store(
    make_store: StoreFactory,
    raw_rows: Callable[[ShadowStore], str],
    secret_case: tuple[ShadowResult, tuple[str, ...]],
) -> None:
    store = make_store()
    result, secrets = secret_case
    assert store.record(result)
    assert store.flush() == 1
    rows = raw_rows(store)
    assert "products" in rows and "[redacted]" in rows
    for secret in secrets:
        assert secret not in rows


def test_two_stores_add_up_in_one_database(make_store: StoreFactory) -> None:
    a, b = make_store(), make_store()
    for store in (a, b):
        store.record(mismatch(1))
        store.flush()
    (row,) = a.snapshot().routes
    assert row.compared == 2 and a.snapshot().fields[0].count == 2


def test_reservoir_is_bounded_and_examples_expire(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock=clock, examples_per_field=3, example_ttl=3600, rng=random.Random(7))
    for n in range(50):
        store.record(mismatch(n))
    store.flush()
    assert store.snapshot().fields[0].count == 50
    assert _example_count(store) == 3
    clock.now += 3601
    assert store.snapshot().examples == ()  # expired: never reported
    store.record(mismatch(99))
    store.flush()
    (example,) = store.snapshot().examples
    assert example.request_id == "req-99"
    assert _example_count(store) == 1  # the expired ones are deleted


def test_examples_of_a_quiet_field_expire_too(make_store: StoreFactory) -> None:
    # the expiry of fields a batch does not write runs after it, in its own transaction
    clock = FakeClock()
    store = make_store(clock=clock, example_ttl=3600)
    store.record(mismatch(1, route="quiet"))
    store.flush()
    assert _example_count(store, "quiet") == 1
    clock.now += 3601
    store.record(mismatch(2, route="busy"))
    store.flush()
    assert (_example_count(store, "quiet"), _example_count(store, "busy")) == (0, 1)


def _example_count(store: ShadowStore, route: str | None = None) -> int:
    where, params = ("WHERE route = ?", (route,)) if route is not None else ("", ())
    with store._lock:
        db = store._connect()
        return int(str(db.execute(f"SELECT COUNT(*) FROM shadow_examples {where}", params)[0][0]))


def test_record_never_blocks_and_counts_drops(tmp_path: Path) -> None:
    metrics = ShadowMetrics()
    store = open_store(None, tmp_path / "s.sqlite3", queue_size=3, metrics=metrics)
    start = time.perf_counter()
    accepted = [store.record(mismatch(i)) for i in range(1000)]
    assert time.perf_counter() - start < 0.5
    assert accepted.count(True) == 3
    assert store.dropped == 997 and store.dropped_by_route == {"products": 997}
    assert metrics.value("dropped", "products") == 997
    assert store.queued == 3
    store.close()
    assert store.snapshot().routes[0].compared == 3
    assert store.snapshot().dropped_for("products") == 997  # the report says they are missing


def test_matches_are_counted_in_place_never_queued(tmp_path: Path) -> None:
    # a match needs no example: it is added to the counts, takes no queue slot, is never
    # dropped, and keeps nothing of the result (latency and timestamps are in the counts)
    store = open_store(None, tmp_path / "s.sqlite3", queue_size=3)
    match = make_result(json_side({"a": 1}, latency=0.004), json_side({"a": 1}, latency=0.2))
    assert all(store.record(match) for _ in range(1000))
    assert store.record(mismatch(1)) and store.dropped == 0
    assert store.queued == 1001
    assert store.flush() == 1001 and store.queued == 0
    route = store.snapshot().routes[0]
    assert (route.compared, route.matched, route.mismatched) == (1001, 1000, 1)
    latency = {(side, b): n for r, side, b, n in store.snapshot().latency if r == "products"}
    assert latency[("primary", bucket(0.004))] == 1000
    assert latency[("shadow", bucket(0.2))] == 1000
    store.close()


def test_record_does_not_wait_for_a_stuck_writer(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "s.sqlite3", queue_size=10, flush_interval=0.01)
    store.start()
    with store._lock:  # the writer cannot write while we hold its lock
        start = time.perf_counter()
        for i in range(100):
            store.record(mismatch(i))
        assert time.perf_counter() - start < 0.5
    store.close()
    assert store.dropped >= 90 - 10  # at most one batch was taken off the queue meanwhile
    assert store.snapshot().routes[0].compared == 100 - store.dropped


def test_the_writer_batches_in_the_background(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "s.sqlite3", batch_size=10, flush_interval=0.02)
    store.start()
    result = make_result(json_side({"a": 1}), json_side({"a": 1}))
    for _ in range(25):
        store.record(result)
    deadline = time.monotonic() + 5
    while store.written < 25 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.written == 25 and store.queued == 0
    store.close()


def test_a_failing_batch_is_counted_not_raised(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()  # cannot be opened as a database
    store = open_store(None, tmp_path / "dir.sqlite3")
    store.record(make_result(json_side({"a": 1}), json_side({"a": 1})))
    store.flush()
    assert store.write_errors == 1 and store.written == 0


def test_no_store_file_reads_as_empty(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "missing.sqlite3")
    assert store.snapshot().routes == ()
    assert not (tmp_path / "missing.sqlite3").exists()


def test_bad_store_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="store: expected"):
        open_store("mysql://x/y", tmp_path / "s.sqlite3")


def test_close_is_safe_from_another_thread(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "s.sqlite3", flush_interval=0.01)
    store.start()
    thread = threading.Thread(target=store.close)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.postgres
def test_replicas_writing_routes_in_opposite_orders_never_deadlock(
    pg_url: str, tmp_path: Path
) -> None:
    """Every writer takes the rows of a batch in one order (sorted), so two replicas whose
    results arrived in opposite orders wait for each other instead of deadlocking, which
    PostgreSQL would end by failing one of the two batches (their counts lost). (A SQLite
    writer holds the whole file: PostgreSQL only.)"""
    _clean_pg(pg_url)

    def make_store() -> ShadowStore:
        return open_store(pg_url, tmp_path / "unused.sqlite3")

    seed = make_store()
    for route in ("r1", "r2"):
        seed.record(mismatch(0, route=route))
    seed.flush()

    other = psycopg.connect(pg_url)  # a replica in the middle of its batch: r1 held, r2 next
    other.execute("SELECT 1 FROM shadow_routes WHERE route = 'r1' FOR UPDATE")
    store = make_store()
    for route in ("r2", "r1"):  # this replica's results came the other way round
        store.record(mismatch(1, route=route))
    writer = threading.Thread(target=store.flush)
    writer.start()
    try:

        def waiting() -> bool:
            with psycopg.connect(pg_url, autocommit=True) as probe:
                return probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone() == (1,)

        wait_until(waiting, timeout=10)  # the writer waits on a row the other one holds
        other.execute("SELECT 1 FROM shadow_routes WHERE route = 'r2' FOR UPDATE")
        other.commit()
    finally:
        other.close()
        writer.join(10)
    try:
        assert not writer.is_alive() and store.write_errors == 0
        assert {r.route: r.compared for r in store.snapshot().routes} == {"r1": 2, "r2": 2}
    finally:
        seed.close()
        store.close()


def test_reset_forgets_one_routes_evidence_and_keeps_its_noise(make_store: StoreFactory) -> None:
    store = make_store(examples_per_field=2)
    for n in range(3):
        store.record(mismatch(n, route="fixed"))
    store.record_dropped("fixed", 2)
    store.record(mismatch(9, route="other"))
    store.record_noise(NoiseSample("fixed", ("$.updated_at",), T0))
    store.flush()
    assert make_store().reset("fixed") == 3
    snap = store.snapshot()
    assert [r.route for r in snap.routes] == ["other"]
    assert {f.route for f in snap.fields} == {"other"} and {e.route for e in snap.examples} == {
        "other"
    }
    assert {row[0] for row in snap.latency} == {"other"}
    assert store.noise_counts() == {"fixed": {"$.updated_at": 1}}  # kept: the monolith's
    assert snap.dropped_for("fixed") == 0 and [s[0] for s in snap.signatures] == ["other"]
    assert store.reset("fixed", noise=True) == 0
    assert store.noise_counts() == {}
    with pytest.raises(LookupError, match=r"'fixed' \(routes stored: other\)"):
        store.reset("fixed")  # nothing left: a mistyped name is not taken for success
    # the route starts afresh: its reservoir too, so a new mismatch is kept as an example
    store.record(mismatch(10, route="fixed"))
    store.flush()
    assert [e.request_id for e in store.snapshot("fixed").examples] == ["req-10"]


def test_expiry_skips_the_rows_another_writer_holds(pg_url: str, tmp_path: Path) -> None:
    """The sweep of expired examples never waits for another replica's transaction: what one
    holds is left to the next sweep (PostgreSQL; a SQLite writer holds the whole file)."""
    _clean_pg(pg_url)
    clock = FakeClock()
    store = open_store(pg_url, tmp_path / "unused.sqlite3", clock=clock, example_ttl=3600)
    for route in ("held", "free"):
        store.record(mismatch(0, route=route))
    store.flush()
    clock.now += 3601
    other = psycopg.connect(pg_url)  # a replica in the middle of a transaction
    other.execute("SELECT 1 FROM shadow_examples WHERE route = 'held' FOR UPDATE")
    try:
        store.record(mismatch(1, route="new"))
        writer = threading.Thread(target=store.flush)
        writer.start()
        writer.join(10)
        assert not writer.is_alive(), "the writer waited for the other transaction"
        counts = {r: _example_count(store, r) for r in ("held", "free", "new")}
        assert counts == {"held": 1, "free": 0, "new": 1}
    finally:
        other.close()
        store.close()


def test_the_noise_refresh_adds_the_samples_not_written_yet(tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "s.sqlite3")
    got: list[dict[str, dict[str, int]]] = []
    store._refresh_noise(got.append)  # no store yet: the learner keeps what it has
    assert got == [] and not (tmp_path / "s.sqlite3").exists()
    store.record_noise(NoiseSample("r", ("$.a",), T0))
    store.flush()
    store.record_noise(NoiseSample("r", ("$.a", "$.b"), T0))  # still queued
    store._refresh_noise(got.append)
    assert got == [{"r": {"$.a": 2, "$.b": 1}}]
    store.close()
