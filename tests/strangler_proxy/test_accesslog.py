"""The access log's line is written out by hand for speed; it must stay exactly what
``json.dumps`` of the fields writes (compact separators, ASCII escapes)."""

from __future__ import annotations

import io
import json
import random
from dataclasses import replace

from strangler_proxy.accesslog import AccessLog, _reference, _Seconds, format_line
from strangler_proxy.events import RequestCompleted


def event(**changes: object) -> RequestCompleted:
    e = RequestCompleted(
        request_id="9f0c" * 8,
        method="GET",
        target="/api/products/7/?q=caf\u00e9",
        client="127.0.0.1",
        route="product-detail",
        mode="canary",
        upstream="catalog",
        instance="http://127.0.0.1:8101",
        status=200,
        bytes_sent=1024,
        started=1795646401.123456,
        duration=0.0031234,
        side="canary",
        fallback=None,
        error=None,
        generation=3,
        upstream_latency=0.00281,
        retries=0,
        breaker="closed",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )
    return replace(e, **changes)  # type: ignore[arg-type]


ODD = [
    event(),
    event(route=None, side=None, upstream_latency=None, error="bad_request", status=400),
    event(target='/x?"quote"\\back\nline\x00nul\u2028sep\ud800lone', client=""),
    event(fallback="connect_failed", retries=1, breaker="half_open"),
    event(started=0.9995, duration=0, upstream_latency=0),
    event(started=-1.5),
    event(duration=1e-9, upstream_latency=123456.789),
    event(duration=0.0000015, upstream_latency=0.0000025),  # half-way: rounded to even
    event(duration=-0.0, upstream_latency=1e13),
    event(duration=float("inf"), upstream_latency=float("nan")),
    event(status=True, bytes_sent=0),  # not what the proxy emits: the slow path answers
    event(generation=2.0),
]


def test_line_is_what_json_dumps_writes() -> None:
    clock = _Seconds()
    rng = random.Random(7)
    randomised = [
        event(started=rng.uniform(0, 2e9), duration=rng.random() * 10, status=rng.randint(100, 599))
        for _ in range(2000)
    ]
    for e in ODD + randomised:
        assert format_line(e, clock) == _reference(e)
        assert format_line(e) == _reference(e)


def test_flush_writes_one_line_per_event_in_order() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    for i in range(3):
        log.record(event(request_id=f"r{i}", started=1795646401.0 + i * 0.25))
    log.flush()
    lines = stream.getvalue().splitlines()
    assert stream.getvalue().endswith("\n")
    assert [json.loads(line)["request_id"] for line in lines] == ["r0", "r1", "r2"]
    assert [json.loads(line)["ts"] for line in lines] == [
        "2026-11-25T22:40:01.000Z",
        "2026-11-25T22:40:01.250Z",
        "2026-11-25T22:40:01.500Z",
    ]
    log.flush()  # nothing pending: nothing written
    assert stream.getvalue().count("\n") == 3


def test_full_queue_drops_the_oldest_and_counts() -> None:
    log = AccessLog(io.StringIO(), max_pending=2)
    for i in range(5):
        log.record(event(request_id=str(i)))
    assert log.dropped == 3
    assert [e.request_id for e in log.pending] == ["3", "4"]
