"""What the proxy keeps about one request while it serves it, and the request and response
bodies it holds on the way: the exchange (becomes a ``RequestCompleted``), the buffers a copy
for the cache or the shadow side fills, and the request-body wrappers (a size limit, a tee).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from aiohttp import StreamReader

from ._front import Request
from .balancing import Instance
from .gateway import edge
from .gateway.cachecontrol import CACHEABLE_STATUS
from .gateway.identity import Caller
from .model import Route, ShadowSpec
from .upstream_client import UpstreamResponse
from .upstreams import UpstreamRuntime

if TYPE_CHECKING:
    from .proxy import ActiveTable

__all__ = [
    "BodyTooLarge",
    "Capture",
    "Copy",
    "Decision",
    "Exchange",
    "LimitedBody",
    "RequestBody",
    "body_limit",
    "tee_body",
]


@dataclass(frozen=True, slots=True)
class Decision:
    target: UpstreamRuntime
    side: str | None  # "canary" / "legacy" for canary routes
    fallback: UpstreamRuntime | None


def body_limit(table_limit: int | None, route: Route | None) -> int | None:
    """The smaller of the table's and the route's request-body limits."""
    route_limit = route.max_body_bytes if route is not None else None
    if table_limit is None or route_limit is None:
        return table_limit if route_limit is None else route_limit
    return min(table_limit, route_limit)


class LimitedBody:
    """A streamed (chunked) request body that stops when it grows past ``limit``; the
    proxy then answers 413 instead of the upstream's response."""

    def __init__(self, stream: StreamReader, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.exceeded = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self.stream.iter_any():
            size += len(chunk)
            if size > self.limit:
                self.exceeded = True
                raise BodyTooLarge(f"request body over {self.limit} bytes")
            yield chunk


class BodyTooLarge(Exception):
    """Raised inside the upstream request's body stream; seen as a failed send."""


class Exchange:
    """What the proxy decided and saw for one request; becomes a ``RequestCompleted``."""

    __slots__ = (
        "active",
        "cache",
        "cache_identity",
        "cache_target",
        "caller",
        "client",
        "error",
        "fallback",
        "inst",
        "instance_url",
        "links",
        "params",
        "path",
        "request_id",
        "retries",
        "route",
        "runtime",
        "sent",
        "side",
        "started",
        "status",
        "t0",
        "target",
        "trace_id",
        "trusted",
        "upstream_latency",
    )

    def __init__(
        self,
        active: ActiveTable,
        route: Route | None,
        side: str | None,
        target: UpstreamRuntime,
        request_id: str,
        client: str,
    ) -> None:
        self.active = active
        self.route = route
        self.side = side
        self.target = target
        self.request_id = request_id
        self.client = client
        self.started = time.time()
        self.t0 = time.perf_counter()
        self.inst: Instance | None = None  # the instance that answered (outstanding +1)
        self.runtime: UpstreamRuntime | None = None
        self.instance_url = ""  # the instance that failed, when none answered
        self.path = ""  # the (normalised) path and query sent upstream
        self.trace_id = ""
        self.status = 0
        self.sent = 0
        self.retries = 0
        self.upstream_latency: float | None = None
        self.fallback: str | None = None
        self.error: str | None = None
        self.params: Mapping[str, str] = _NO_PARAMS  # the match's, for path templates
        self.cache: str | None = None  # "HIT" / "MISS" on cached routes
        self.cache_identity: str | None = None  # the cache key's caller (personalised)
        self.links = False  # the body's pagination links are made public
        self.cache_target: str | None = None  # the cache key's target when it names the host
        self.caller: Caller | None = None  # who the edge resolved (None: not resolved)
        self.trusted = False  # the client is a trusted proxy (its X-Forwarded-* count)

    def cache_capture(self, request: Request, upstream_resp: UpstreamResponse) -> Capture | None:
        """A buffer for the route's cache when this answer may be kept."""
        route, store = self.route, self.active.gateway.cache
        if self.cache != "MISS" or route is None or route.cache is None or store is None:
            return None
        if request.method != "GET" or upstream_resp.status not in CACHEABLE_STATUS:
            return None
        limit = self.active.table.settings.cache.max_entry_bytes
        length = upstream_resp.content_length
        if length is not None and length > limit:
            return None
        if not edge.may_store(
            request, upstream_resp.status, upstream_resp.headers.items(), route.cache
        ):
            return None
        return Capture(limit)

    def release(self) -> None:
        """The response is relayed: the instance has one request less in flight."""
        if self.inst is not None and self.runtime is not None:
            self.inst.outstanding -= 1
            self.runtime.inflight -= 1
            self.runtime = None


_NO_PARAMS: Mapping[str, str] = {}

# what the client gives the upstream as the request body
RequestBody: TypeAlias = bytes | AsyncIterator[bytes] | StreamReader | LimitedBody | None


class Capture:
    """The relayed response body, kept while it stays within ``limit`` bytes."""

    __slots__ = ("limit", "overflow", "response_chunks", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.response_chunks: list[bytes] = []
        self.size = 0
        self.overflow = False

    def capture(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow = True
            self.response_chunks.clear()
        else:
            self.response_chunks.append(chunk)


class Copy(Capture):
    """A planned shadow copy: the request body and the primary's answer, within a size cap."""

    __slots__ = ("read_at", "request_body", "route", "runtime", "sent_at", "shadow_base", "spec")

    def __init__(self, route: Route, spec: ShadowSpec, shadow_base: str, limit: int) -> None:
        super().__init__(limit)
        self.runtime: UpstreamRuntime | None = None  # where the copy goes
        self.route = route
        self.spec = spec
        self.shadow_base = shadow_base
        self.request_body: bytes | None = None
        # when the serving side was sent the request, and when its answer's body had been read:
        # its latency, measured as the copy's (from the send to the end of the body)
        self.sent_at = self.read_at = 0.0


async def tee_body(
    body: StreamReader | LimitedBody, length: int | None, limit: int
) -> tuple[RequestBody, bytes | None]:
    """Read up to ``limit`` bytes of the request body (``length`` long when the client said)
    for the shadow copy, from what the primary would read: the client's stream, or the route's
    :class:`LimitedBody` over it (whose ``BodyTooLarge`` comes through).

    A body within the limit is returned whole, for both sides. A larger one is not copied: the
    primary gets the part already read followed by the rest of the stream, so nothing beyond
    ``limit`` is ever buffered.
    """
    if length is not None and length > limit:
        return body, None
    source = aiter(body.iter_any() if isinstance(body, StreamReader) else body)
    chunks: list[bytes] = []
    size = 0
    async for chunk in source:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:

            async def rest() -> AsyncIterator[bytes]:
                for part in chunks:
                    yield part
                async for part in source:
                    yield part

            return rest(), None
    whole = b"".join(chunks)
    return whole, whole
