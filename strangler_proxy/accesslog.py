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
from typing import IO

from .events import RequestCompleted

__all__ = ["AccessLog"]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


class AccessLog:
    def __init__(self, stream: IO[str], *, max_pending: int = 100_000, interval: float = 0.2):
        self.stream = stream
        self.interval = interval
        self.pending: deque[RequestCompleted] = deque(maxlen=max_pending)
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def record(self, event: RequestCompleted) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append(event)

    def flush(self) -> None:
        if not self.pending:
            return
        lines = []
        while self.pending:
            e = self.pending.popleft()
            lines.append(
                json.dumps(
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
            )
        self.stream.write("\n".join(lines) + "\n")
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
