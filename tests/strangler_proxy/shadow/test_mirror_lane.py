"""The mirror's per-route lane and the store's writer, against a real upstream process: copies
beyond the cap wait and are all exchanged, a failure on one copy loses only that copy, and the
writer survives a batch it cannot write."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from multidict import CIMultiDict

from strangler_proxy import mirror as mirror_module
from strangler_proxy.mirror import Mirror, ShadowJob
from strangler_proxy.model import MatchSpec, Mode, Route, ShadowSpec
from strangler_proxy.shadow import (
    Captured,
    NoiseSample,
    ShadowMetrics,
    ShadowStore,
    _batch,
    _types,
    open_store,
)
from strangler_proxy.shadow._fakes import json_side, make_result
from strangler_proxy.testing import wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess
from strangler_proxy.upstream_client import UpstreamClient

from .conftest import StoreFactory


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess("lane") as up:
        yield up


class _FlakyStart(ShadowStore):
    """A store whose first start fails (the database was not there yet)."""

    def __init__(self, path: Path) -> None:
        super().__init__(None, path, flush_interval=0.01)
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        if self.starts == 1:
            raise OSError("database not reachable yet")
        super().start()


def _job(spec: ShadowSpec, base: str, n: int) -> ShadowJob:
    route = Route("lane", MatchSpec(prefix="/"), Mode.SHADOW, to="svc", shadow=spec)
    return ShadowJob(
        route=route,
        spec=spec,
        method="GET",
        target=f"/items/{n}",
        headers=CIMultiDict({"Accept": "application/json"}),
        body=None,
        primary=Captured(200, (("Content-Type", "application/json"),), b"{}", 0.001),
        primary_base=base,
        shadow_base=base,
        request_id=f"req-{n}",
        started=time.time(),
    )


def test_waiting_copies_run_after_a_failed_one(upstream: FakeUpstreamProcess, tmp_path: Path):
    async def scenario() -> tuple[int, int, int]:
        store = _FlakyStart(tmp_path / "s.sqlite3")
        metrics = ShadowMetrics()
        client = UpstreamClient()
        mirror = Mirror(client, store, metrics)
        spec = ShadowSpec(max_concurrency=1, queue=10, noise_sample=0, recheck_delay=-1)
        accepted = [mirror.offer(_job(spec, upstream.url, n)) for n in range(4)]
        assert accepted == [True] * 4
        await mirror.drain(timeout=10)
        await client.close()
        store.close()
        return (
            metrics.value("compared", "lane"),
            metrics.value("dropped", "lane"),
            store.snapshot().routes[0].compared,
        )

    compared, dropped, stored = asyncio.run(scenario())
    # the first copy met the failing start and was counted as dropped; the three that
    # waited behind it were exchanged by the same task, with no new offer to wake them
    assert (compared, dropped, stored) == (3, 1, 3)


def test_copies_over_the_cap_and_queue_are_dropped_and_counted(
    upstream: FakeUpstreamProcess, tmp_path: Path
) -> None:
    async def scenario() -> tuple[list[bool], int, int, int]:
        store = open_store(None, tmp_path / "s.sqlite3", flush_interval=0.01)
        metrics = ShadowMetrics()
        client = UpstreamClient()
        mirror = Mirror(client, store, metrics)
        spec = ShadowSpec(max_concurrency=2, queue=3, noise_sample=0, recheck_delay=-1)
        accepted = [mirror.offer(_job(spec, upstream.url, n)) for n in range(8)]
        await mirror.drain(timeout=10)
        await client.close()
        store.close()
        stored = store.snapshot().dropped_for("lane")
        return accepted, metrics.value("compared", "lane"), metrics.value("dropped", "lane"), stored

    accepted, compared, dropped, stored = asyncio.run(scenario())
    assert accepted == [True] * 5 + [False] * 3  # 2 running + 3 waiting
    assert (compared, dropped, stored) == (5, 3, 3)


def test_the_writer_outlives_a_batch_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(None, tmp_path / "s.sqlite3", flush_interval=0.01)
    store.start()
    calls = {"n": 0}
    real = _batch.example_payload

    def fails_once(result: object, max_body: int) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("an example that cannot be written")
        return real(result, max_body)  # type: ignore[arg-type]

    monkeypatch.setattr(_batch, "example_payload", fails_once)
    mismatch = make_result(json_side({"n": 1}), json_side({"n": 2}))
    store.record(mismatch)
    wait_until(lambda: store.write_errors == 1, timeout=5)
    for _ in range(3):
        store.record(mismatch)
    wait_until(lambda: store.written == 3, timeout=5)  # the same thread, still writing
    store.close()
    assert store.snapshot().routes[0].mismatched == 3


def test_a_body_nested_too_deep_is_stored_as_text(tmp_path: Path) -> None:
    deep_a = Captured(200, (("Content-Type", "application/json"),), b"[" * 100_000, 0.01)
    deep_b = Captured(200, (("Content-Type", "application/json"),), b"[" * 100_001, 0.01)
    store = open_store(None, tmp_path / "s.sqlite3")
    store.record(make_result(deep_a, deep_b))
    assert store.flush() == 1 and store.write_errors == 0
    assert store.snapshot().routes[0].mismatched == 1


def test_header_bytes_beyond_ascii_are_stored(tmp_path: Path) -> None:
    # what the mirror keeps of a header sent as b'filename="caf\xe9.json"' (latin-1, as sent)
    disposition = b'attachment; filename="caf\xe9.json"'.decode("latin-1")
    side = Captured(200, (("Content-Disposition", disposition),), b"a", 0.01)
    store = open_store(None, tmp_path / "s.sqlite3")
    store.record(make_result(side, Captured(200, (), b"b", 0.01)))
    assert store.flush() == 1 and store.write_errors == 0
    example = store.mismatch_examples("products")[0].payload
    assert ["Content-Disposition", disposition] in example["primary"]["headers"]


@pytest.mark.parametrize(
    ("pieces", "size", "expected"),
    [
        ([b"a" * 10, b"b" * 10, b"c" * 10], 100, b"a" * 10 + b"b" * 10 + b"c" * 10),  # whole
        ([b"a" * 10, b"b" * 10, b"c" * 10], 15, b"a" * 10 + b"b" * 10),  # stops past the cap
        ([b"a" * 10], 5, b"a" * 10),  # the first piece alone is over
        ([], 10, b""),
    ],
)
def test_a_copy_reads_the_answer_to_its_end_or_past_the_cap(
    pieces: list[bytes], size: int, expected: bytes
) -> None:
    """What arrives in several reads is read whole (one read returns only what has arrived);
    an answer longer than the cap is read only until the cap is passed."""
    from aiohttp import StreamReader
    from aiohttp.base_protocol import BaseProtocol

    from strangler_proxy.mirror import _read_upto

    async def scenario() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()  # a connected protocol, as a response's reader has
        transport, protocol = await loop.connect_accepted_socket(lambda: BaseProtocol(loop), ours)
        content = StreamReader(protocol, 2**16, loop=loop)

        async def arrive() -> None:
            for piece in pieces:
                await asyncio.sleep(0)  # each piece in its own turn of the loop
                content.feed_data(piece)
            content.feed_eof()

        feeding = asyncio.ensure_future(arrive())
        try:
            body = await _read_upto(content, size)
            await feeding
            return body, await content.read()  # what is left for the connection's release
        finally:
            transport.close()
            theirs.close()

    body, left = asyncio.run(scenario())
    assert body == expected
    assert body + left == b"".join(pieces)  # nothing read beyond what was returned


def test_a_compressed_answer_is_compared_decoded(
    upstream: FakeUpstreamProcess, tmp_path: Path
) -> None:
    """The service answers gzip (``/gzip``); the monolith's answer, already decoded, is the
    same document: a match, not a body of compressed bytes."""
    job = _job(ShadowSpec(noise_sample=0, recheck_delay=-1), upstream.url, 0)
    job.target = "/gzip"
    job.primary = Captured(
        200, (("Content-Type", "application/json"),), b'{"compressed": true}', 0.001
    )
    metrics = _mirror_run(tmp_path, job)
    assert (metrics.value("matched", "lane"), metrics.value("mismatched", "lane")) == (1, 0)


def test_a_large_compressed_answer_is_decoded_off_the_loop_and_compared(
    upstream: FakeUpstreamProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monolith's answer as sent: 200,000 bytes gzip-coded without compression (over the
    size decoded on the loop itself, so a worker thread inflates it); the service's the same
    bytes plain: a match. A byte changed: a mismatch."""
    threads: list[str] = []

    def decoded_body(body: bytes, coding: str | None, limit: int | None = None) -> bytes:
        threads.append(threading.current_thread().name)
        return _types.decoded_body(body, coding, limit)

    monkeypatch.setattr(mirror_module, "decoded_body", decoded_body)
    body = b"x" * 200_000
    results = []
    for primary_body in (body, body[:-1] + b"y"):
        job = _job(ShadowSpec(noise_sample=0, recheck_delay=-1), upstream.url, 0)
        job.target = "/bytes?size=200000"
        sent = gzip.compress(primary_body, compresslevel=0)
        assert len(sent) > 16 * 1024
        job.primary = Captured(200, (("Content-Type", "application/octet-stream"),), sent, 0.01)
        job.primary_coding = "gzip"
        metrics = _mirror_run(tmp_path, job)
        results.append((metrics.value("matched", "lane"), metrics.value("mismatched", "lane")))
    assert results == [(1, 0), (0, 1)]
    assert len(threads) == 2 and threading.main_thread().name not in threads


def test_a_decoded_body_stops_past_its_limit() -> None:
    """A small compressed body cannot fill the memory: decoding stops one byte past the cap."""
    from strangler_proxy.shadow import decoded_body

    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < 20_000
    assert len(decoded_body(bomb, "gzip", 1000)) == 1001
    assert decoded_body(bomb, "gzip") == b"\0" * 10_000_000  # no cap: all of it
    assert decoded_body(zlib.compress(b"abc"), "deflate", 10) == b"abc"
    assert decoded_body(b"not gzip", "gzip", 10) == b"not gzip"  # as it came
    assert decoded_body(b"plain", None, 10) == b"plain"
    members = gzip.compress(b'{"a":') + gzip.compress(b"1}")  # each flush its own member
    assert decoded_body(members, "gzip", 100) == decoded_body(members, "gzip") == b'{"a":1}'
    cut = gzip.compress(b"x" * 1000)[:-10]  # cut short: stays as it came
    assert decoded_body(cut, "gzip", 5000) == cut and decoded_body(cut, "gzip") == cut
    assert decoded_body(zlib.compress(b"abc")[:-2], "deflate") == zlib.compress(b"abc")[:-2]
    import brotli  # locust's HTTP client brings it

    compressed = brotli.compress(b"y" * 1_000_000)
    assert 1000 < len(decoded_body(compressed, "br", 1000)) < 1_000_000  # stopped early
    assert decoded_body(compressed, "br") == b"y" * 1_000_000


def _mirror_run(tmp_path: Path, job: ShadowJob) -> ShadowMetrics:
    """Offer ``job`` to a mirror of its own, wait for it; the mirror's counters."""

    async def scenario() -> ShadowMetrics:
        store = open_store(None, tmp_path / "s.sqlite3", flush_interval=0.01)
        metrics = ShadowMetrics()
        client = UpstreamClient()
        mirror = Mirror(client, store, metrics)
        assert mirror.offer(job)
        await mirror.drain(timeout=10)
        await client.close()
        store.close()
        return metrics

    return asyncio.run(scenario())


def _counts(metrics: ShadowMetrics) -> tuple[int, int, int]:
    value = metrics.value
    return value("compared", "lane"), value("errors", "lane"), value("dropped", "lane")


def test_an_answer_over_the_cap_on_either_side_is_dropped_not_compared(
    upstream: FakeUpstreamProcess, tmp_path: Path
) -> None:
    spec = ShadowSpec(noise_sample=0, recheck_delay=-1, max_body_bytes=1000)
    # the service's answer (5,000 bytes) is over the cap
    job = _job(spec, upstream.url, 0)
    job.target = "/bytes?size=5000"
    assert _counts(_mirror_run(tmp_path / "a", job)) == (0, 0, 1)
    # the monolith's, once decoded (20 compressed bytes, 100,000 decoded)
    job = _job(spec, upstream.url, 1)
    job.primary = Captured(200, (), gzip.compress(b"\0" * 100_000), 0.001)
    job.primary_coding = "gzip"
    assert _counts(_mirror_run(tmp_path / "b", job)) == (0, 0, 1)


def test_a_restarted_mirror_starts_from_the_noise_in_the_store(
    upstream: FakeUpstreamProcess, make_store: StoreFactory
) -> None:
    """Noise learned before a restart (or by another replica) is not counted as a mismatch
    again: the mirror loads the store's noise counts when it starts the store."""

    async def one_copy() -> None:  # a mirror that learns nothing by itself
        store, client = make_store(), UpstreamClient()
        mirror = Mirror(client, store, ShadowMetrics())
        job = _job(ShadowSpec(noise_sample=0, recheck_delay=-1), upstream.url, 0)
        job.target = "/clock/7"  # {"id": 7, "name": "clock", "now": <a new time each call>}
        job.primary = json_side({"id": 7, "name": "clock", "now": 1.5})
        assert mirror.offer(job)
        await mirror.drain(timeout=10)
        await client.close()
        store.close()

    asyncio.run(one_copy())
    (route,) = make_store().snapshot().routes
    assert (route.mismatched, route.noise_only) == (1, 0)  # `now` differs: nothing known yet

    elsewhere = make_store()  # another replica, or this one before a restart
    for _ in range(3):  # `now` differed between the monolith and itself three times
        elsewhere.record_noise(NoiseSample("lane", ("$.now",), time.time()))
    elsewhere.flush()

    asyncio.run(one_copy())
    (route,) = make_store().snapshot().routes
    assert (route.mismatched, route.noise_only) == (1, 1)


def test_a_running_mirror_takes_the_noise_of_other_replicas_and_forgets_a_reset(
    upstream: FakeUpstreamProcess, make_store: StoreFactory
) -> None:
    async def scenario() -> None:
        store = make_store(flush_interval=0.01, noise_refresh=0.05)
        client = UpstreamClient()
        mirror = Mirror(client, store, ShadowMetrics())
        job = _job(ShadowSpec(noise_sample=0, recheck_delay=-1), upstream.url, 0)
        assert mirror.offer(job)  # the first copy starts the store (and its refreshes)
        await mirror.drain(timeout=10)
        assert mirror.noise.noise("lane") == frozenset()

        other = make_store()  # another replica learns that `now` is noise
        for _ in range(3):
            other.record_noise(NoiseSample("lane", ("$.now",), time.time()))
        other.flush()
        wait_until(lambda: mirror.noise.noise("lane") == {"$.now"}, what="the noise taken")
        other.reset("lane", noise=True)
        wait_until(lambda: mirror.noise.noise("lane") == frozenset(), what="the noise forgotten")
        await client.close()
        store.close()

    asyncio.run(scenario())
