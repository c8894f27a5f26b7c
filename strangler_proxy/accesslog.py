"""One JSON line per request, written in batches off the request path.

``AccessLog.record`` only appends to a bounded deque (a few hundred nanoseconds); a background
task serialises and writes the batch. When the writer falls behind, the oldest lines are dropped
and counted rather than letting memory grow or the request path wait.

    {"ts": "2026-11-25T22:40:01.123Z", "request_id": "9f0c…", "method": "GET",
     "target": "/api/products/7/", "route": "product-detail", "mode": "canary",
     "side": "canary", "upstream": "catalog", "instance": "http://127.0.0.1:8101",
     "status": 200, "bytes": 512, "duration_ms": 3.1, "fallback": null, "error": null,
     "generation": 3, "upstream_ms": 2.8, "retries": 0, "breaker": "closed",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
     "client": "127.0.0.1"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from json.encoder import encode_basestring_ascii
from typing import IO

from .events import RequestCompleted

__all__ = ["AccessLog", "format_line"]

# the C string encoder json.dumps uses (ensure_ascii): quotes and escapes in one call
_str = encode_basestring_ascii


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


_MILLIS = tuple(f".{i:03d}Z" for i in range(1000))


class _Seconds:
    """``_iso`` with the formatted second kept: lines come in bursts within one second."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def iso(self, ts: float) -> str:
        second = int(ts)
        if second != self.second or ts < 0:
            self.second, self.prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
        return self.prefix + _MILLIS[int(ts % 1 * 1000)]


def _opt(value: str | None) -> str:
    return "null" if value is None else _str(value)


def _ms(seconds: float) -> str:
    """``json.dumps(round(seconds * 1000, 3))`` with one decimal conversion instead of two:
    below 1e12 both round correctly to 3 decimals and the shortest repr of the rounded value
    is those digits without trailing zeros."""
    ms = seconds * 1000
    if -1e12 < ms < 1e12 and type(ms) is float:
        text = f"{ms:.3f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    return json.dumps(round(ms, 3))  # huge, inf, nan (and ints)


def _reference(e: RequestCompleted) -> str:
    """The line as ``json.dumps`` writes it: the definition :func:`format_line` must match."""
    return json.dumps(
        {
            "ts": _iso(e.started),
            "request_id": e.request_id,
            "method": e.method,
            "target": e.target,
            "route": e.route,
            "mode": e.mode,
            "side": e.side,
            "upstream": e.upstream,
            "instance": e.instance,
            "status": e.status,
            "bytes": e.bytes_sent,
            "duration_ms": round(e.duration * 1000, 3),
            "fallback": e.fallback,
            "error": e.error,
            "generation": e.generation,
            "upstream_ms": None
            if e.upstream_latency is None
            else round(e.upstream_latency * 1000, 3),
            "retries": e.retries,
            "breaker": e.breaker,
            "trace_id": e.trace_id,
            "client": e.client,
        },
        separators=(",", ":"),
    )


def format_line(e: RequestCompleted, clock: _Seconds | None = None) -> str:
    """One access log line: the same text as ``json.dumps`` of the fields (compact separators,
    ASCII escapes), written out directly, which costs a fraction of building and encoding a
    dict per line."""
    if not (
        type(e.status) is int
        and type(e.bytes_sent) is int
        and type(e.generation) is int
        and type(e.retries) is int
    ):  # bool or float: not what events carry
        return _reference(e)
    ts = _iso(e.started) if clock is None else clock.iso(e.started)
    up = e.upstream_latency
    try:
        return _fast(e, ts, up)
    except TypeError:  # a field of another type than declared: the slow path says it right
        return _reference(e)


def _fast(e: RequestCompleted, ts: str, up: float | None) -> str:
    return (
        f'{{"ts":"{ts}","request_id":{_str(e.request_id)},"method":{_str(e.method)},'
        f'"target":{_str(e.target)},"route":{_opt(e.route)},"mode":{_str(e.mode)},'
        f'"side":{_opt(e.side)},"upstream":{_str(e.upstream)},'
        f'"instance":{_str(e.instance)},"status":{e.status},"bytes":{e.bytes_sent},'
        f'"duration_ms":{_ms(e.duration)},"fallback":{_opt(e.fallback)},'
        f'"error":{_opt(e.error)},"generation":{e.generation},'
        f'"upstream_ms":{"null" if up is None else _ms(up)},"retries":{e.retries},'
        f'"breaker":{_str(e.breaker)},"trace_id":{_str(e.trace_id)},"client":{_str(e.client)}}}'
    )


class AccessLog:
    def __init__(self, stream: IO[str], *, max_pending: int = 100_000, interval: float = 0.2):
        self.stream = stream
        self.interval = interval
        self.pending: deque[RequestCompleted] = deque(maxlen=max_pending)
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._clock = _Seconds()

    def record(self, event: RequestCompleted) -> None:
        pending = self.pending
        if len(pending) == pending.maxlen:
            self.dropped += 1
        pending.append(event)

    def flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        clock = self._clock
        lines = []
        while pending:
            lines.append(format_line(pending.popleft(), clock))
        lines.append("")
        self.stream.write("\n".join(lines))
        self.stream.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # a full disk must not stop the proxy
                self.dropped += len(self.pending)
                self.pending.clear()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            self.flush()
