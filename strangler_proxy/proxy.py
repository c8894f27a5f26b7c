"""The data path: match → decide → forward → respond, in one straight line.

``Proxy.handle`` is the only request handler of the public port. Everything on the side (access
log, metrics, shadow copies) hangs off :class:`~strangler_proxy.events.EventBus` and runs after
the client's response is decided.

Faithfulness rules (each covered by ``tests/strangler_proxy/test_forwarding.py``):

* method, raw path and query (percent-encoding untouched), repeated headers and the body go to
  the upstream as received; hop-by-hop headers and those named in ``Connection`` do not;
* ``Host`` is kept; ``X-Forwarded-For/Proto/Host`` are set (client-supplied ones are replaced
  unless the client is a trusted proxy); ``X-Request-ID`` is added when absent;
* the response goes back with the upstream's status, headers (several ``Set-Cookie`` too) and
  bytes (compressed stays compressed, ``HEAD`` keeps its ``Content-Length``); no header is
  invented except the decision headers ``X-Strangler-Route`` / ``X-Strangler-Upstream`` (on
  by default) and ``X-Strangler-Fallback`` / ``X-Strangler-Error`` when those happen;
* bodies stream both ways: nothing is buffered whole, except response bodies of a known small
  size, which are sent together with their headers in one write.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from ipaddress import ip_address
from urllib.parse import unquote

import aiohttp
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict

from . import canary
from ._exchange import (
    BodyTooLarge,
    Capture,
    Copy,
    Decision,
    Exchange,
    LimitedBody,
    RequestBody,
    body_limit,
    tee_body,
)
from ._front import Request, Response, http_date, json_response
from ._hop import HOP_BY_HOP
from .balancing import Instance
from .errors import (
    CircuitOpen,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .events import EventBus, RequestCompleted
from .gateway import edge
from .gateway.assertion import ASSERTION_HEADER
from .gateway.identity import ANONYMOUS, Caller, IdentityUnavailable, Refused, credentials_key
from .gateway.runtime import Gateway, TableGateway, limit_key
from .gateway.spec import Auth
from .hardening import normalize_path, request_problem
from .mirror import Mirror, ShadowJob
from .model import SAFE_METHODS, Mode, ProxySettings, Route, RoutingTable, StickyKind
from .routing import Router
from .shadow import Captured, decoded_headers
from .tracing import child_traceparent, random_hex
from .upstream_client import ConnectFailed, TotalTimeout, UpstreamClient, UpstreamResponse
from .upstreams import Runtimes, UpstreamRuntime

__all__ = ["ActiveTable", "Proxy", "TableHolder", "create_session"]

log = logging.getLogger("strangler.proxy")

# methods whose requests may be sent again (to the fallback, or after a stale keep-alive)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
# never taken from clients: Expect is answered by the front (100 Continue); the shadow marks
# and the identity assertion are the proxy's own (a client must not be able to forge them)
_INTERNAL = frozenset(
    {
        "expect",
        "x-strangler-shadow",
        "x-strangler-dry-run",
        "x-strangler-identity",
        "x-strangler-route",
        "x-strangler-upstream",
        "x-strangler-fallback",
        "x-strangler-error",
        "x-strangler-cache",
    }
)
SMALL_BODY = 64 * 1024  # known-length responses up to this size go out in one write
ROUTE_HEADER = "X-Strangler-Route"
UPSTREAM_HEADER = "X-Strangler-Upstream"
FALLBACK_HEADER = "X-Strangler-Fallback"
ERROR_HEADER = "X-Strangler-Error"
CACHE_HEADER = "X-Strangler-Cache"
DEFAULT_ROUTE_NAME = "(default)"


def create_session() -> aiohttp.ClientSession:
    """One pooled keep-alive aiohttp client for the side paths (health checks, identity
    introspection); the requests themselves and shadow copies go through :class:`UpstreamClient`.

    Upstream keep-alive connections are closed by us after 4 s idle, before gunicorn's
    5 s ``keepalive`` closes them, so a request rarely lands on a connection the server is
    closing; when one does, idempotent requests are sent once more on a new connection.
    """
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, keepalive_timeout=4.0, ttl_dns_cache=300
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        timeout=aiohttp.ClientTimeout(total=None),
    )


class ActiveTable:
    """A validated table compiled for serving: router, upstream runtimes, generation."""

    def __init__(
        self, table: RoutingTable, generation: int, runtimes: Runtimes, gateway: Gateway
    ) -> None:
        self.table = table
        self.generation = generation
        self.router = Router(table)
        self.gateway: TableGateway = gateway.configure(table)  # first: it may refuse the table
        self.balancers = runtimes.configure(table)
        self.default = self.balancers[table.default]
        self.loaded_at = time.time()


class TableHolder:
    """The one mutable reference the data path reads; a reload swaps it atomically.

    Upstream runtimes (pools, breakers, registered instances) and the routes' requests in
    flight live here, across reloads."""

    def __init__(
        self,
        table: RoutingTable,
        runtimes: Runtimes | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self.runtimes = runtimes or Runtimes()
        self.gateway = gateway or Gateway()
        self.route_inflight: dict[str, int] = {}
        self.active = ActiveTable(table, 1, self.runtimes, self.gateway)

    def swap(self, table: RoutingTable) -> ActiveTable:
        """Serve ``table`` from now on; :class:`ConfigError` (nothing changed) when the
        environment cannot serve it (e.g. the identity signing key is missing)."""
        self.active = ActiveTable(table, self.active.generation + 1, self.runtimes, self.gateway)
        return self.active


def _trusted(client: str, settings: ProxySettings) -> bool:
    if not settings.trusted_proxies or not client:
        return False
    try:
        addr = ip_address(client)
    except ValueError:
        return False
    return any(addr in net for net in settings.trusted_proxies)


class Proxy:
    """The public port's request handler."""

    def __init__(
        self,
        holder: TableHolder,
        session: aiohttp.ClientSession,
        completed: EventBus[RequestCompleted] | None = None,
        mirror: Mirror | None = None,
        client: UpstreamClient | None = None,
    ) -> None:
        self.holder = holder
        self.session = session  # side paths: identity introspection
        self.client = client or UpstreamClient()  # the requests themselves
        self.completed: EventBus[RequestCompleted] = completed or EventBus()
        self.mirror = mirror

    # -- 1. match and 2. decide -------------------------------------------------------------
    @staticmethod
    def _sticky_key(route: Route, request: Request, client: str) -> bytes:
        sticky = route.sticky
        value: str | None = None
        if sticky.kind is StickyKind.HEADER:
            value = request.headers.get(sticky.name)
        elif sticky.kind is StickyKind.COOKIE:
            value = request.cookies.get(sticky.name)
        # no header/cookie: the client address keeps the user on one side meanwhile
        return (value if value else client).encode("utf-8", "surrogateescape")

    def _decide(
        self, active: ActiveTable, route: Route | None, request: Request, client: str
    ) -> Decision:
        if route is None or route.mode is Mode.LEGACY or route.mode is Mode.SHADOW:
            return Decision(active.default, None, None)
        assert route.to is not None
        fallback = active.balancers[route.fallback] if route.fallback else None
        if route.mode is Mode.EXTRACTED:
            return Decision(active.balancers[route.to], None, fallback)
        # canary
        if canary.in_canary(self._sticky_key(route, request, client), route.weight):
            return Decision(active.balancers[route.to], "canary", fallback)
        return Decision(active.default, "legacy", None)

    # -- 3. forward ---------------------------------------------------------------------------
    @staticmethod
    def _upstream_headers(
        request: Request, settings: ProxySettings, client: str, request_id: str | None
    ) -> tuple[CIMultiDict[str], str]:
        """The headers for the upstream, and the trace id of this request."""
        raw = request.raw_headers
        drop = HOP_BY_HOP
        conn = ",".join(request.headers.getall("Connection", ()))
        if conn:
            drop = drop | {t.strip().lower() for t in conn.split(",")}
        trusted = _trusted(client, settings)
        headers: CIMultiDict[str] = CIMultiDict()
        prior_xff: list[str] = []
        parents: list[str] = []
        for k, v in raw:
            name = k.decode("latin-1")
            lower = name.lower()
            if lower in drop or lower in _INTERNAL:
                continue
            if lower == "traceparent":
                parents.append(v.decode("latin-1"))
                continue
            if lower in _FORWARDED:
                if not trusted:
                    continue
                if lower == "x-forwarded-for":
                    prior_xff.append(v.decode("latin-1"))
                    continue
            headers.add(name, v.decode("latin-1"))
        prior_xff.append(client)
        headers["X-Forwarded-For"] = ", ".join(prior_xff)
        if "X-Forwarded-Proto" not in headers:
            headers["X-Forwarded-Proto"] = "https" if request.secure else "http"
        if "X-Forwarded-Host" not in headers and request.host:
            headers["X-Forwarded-Host"] = request.host
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        # the proxy is the upstream's parent span; a repeated traceparent is invalid
        headers["traceparent"], trace_id = child_traceparent(
            parents[0] if len(parents) == 1 else None
        )
        return headers, trace_id

    async def _send(
        self,
        runtime: UpstreamRuntime,
        request: Request,
        headers: CIMultiDict[str],
        data: RequestBody,
        x: Exchange,
    ) -> UpstreamResponse:
        """Send the request to an instance of the upstream; ``x.inst`` is the one that answered.
        The path (and headers) are the service's own when the route rewrites them.

        The one boundary where the upstream client's errors become :class:`UpstreamError`. A
        stale keep-alive connection is the client's own business (sent again when safe). A failed
        attempt is retried once on another instance when that is safe: the connection was
        refused (no byte was sent), or the request is idempotent and has no body; and only
        while the upstream's retry budget lasts.
        """
        name = runtime.upstream.name
        cap = runtime.upstream.max_concurrent
        if cap is not None and runtime.inflight >= cap:
            raise UpstreamBusy(name, "", f"{cap} requests in flight")
        if not runtime.breaker.allow():
            raise CircuitOpen(name, "", "circuit breaker open")
        runtime.earn_retry()
        timeouts, _ = runtime.timeouts_for(x.route.timeouts if x.route else ())
        replayable = data is None and request.method in IDEMPOTENT
        path, headers = self._layout(x, runtime, headers)
        failed: Instance | None = None
        for attempt in (0, 1):
            inst = failed = runtime.pick(failed)
            inst.outstanding += 1
            runtime.inflight += 1
            error: UpstreamError
            try:
                resp = await self.client.request(
                    request.method, inst.url, path, headers, data, timeouts=timeouts
                )
            except ConnectFailed as err:
                error, sent = UpstreamUnavailable(name, inst.url, "connect failed"), False
                error.__cause__ = err
            except aiohttp.ConnectionTimeoutError as err:
                error = UpstreamTimeout(name, inst.url, "connect", reason="connect_timeout")
                error.__cause__, sent = err, False
            except aiohttp.ServerDisconnectedError as err:
                error, sent = UpstreamUnavailable(name, inst.url, "disconnected"), True
                error.__cause__ = err
            except aiohttp.SocketTimeoutError as err:
                error = UpstreamTimeout(name, inst.url, "read stalled", reason="idle_timeout")
                error.__cause__, sent = err, True
            except TimeoutError as err:  # ResponseTimeout (until the headers) or TotalTimeout
                which = "total_timeout" if isinstance(err, TotalTimeout) else "response_timeout"
                error = UpstreamTimeout(name, inst.url, "no answer in time", reason=which)
                error.__cause__, sent = err, True
            except (aiohttp.ClientError, OSError) as err:
                error, sent = UpstreamUnavailable(name, inst.url, type(err).__name__), True
                error.__cause__ = err
            else:
                x.inst, x.runtime = inst, runtime
                runtime.outcome(inst, resp.status not in _SICK_STATUS)
                return resp
            inst.outstanding -= 1
            runtime.inflight -= 1
            runtime.outcome(inst, False)
            safe = not sent or replayable
            if attempt == 0 and safe and len(runtime.pool.instances) > 1 and runtime.spend_retry():
                x.retries += 1
                log.info("request %s: %s; retrying on another instance", x.request_id, error)
                continue
            raise error
        raise AssertionError("unreachable")

    # -- the handler --------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        active = self.holder.active  # one snapshot for the whole request
        settings = active.table.settings
        client = request.remote
        method = request.method

        # 1. match (on the normalised path, which is also what the upstream gets)
        problem = request_problem(request)
        if problem is not None:
            x = Exchange(active, None, None, active.default, "", client)
            return await self._error(request, x, 400, problem)
        raw_path = request.raw_path
        raw, sep, query = raw_path.partition("?")
        normalized = normalize_path(raw)
        target = raw_path if normalized == raw else normalized + sep + query
        path = unquote(normalized) if "%" in normalized else normalized
        match = active.router.match(method, path, request.headers)
        route = match.route

        # 2. decide
        decision = self._decide(active, route, request, client)
        request_id = request.headers.get("X-Request-ID") or ""
        headers, trace_id = self._upstream_headers(
            request, settings, client, None if request_id else (request_id := random_hex(16))
        )
        x = Exchange(active, route, decision.side, decision.target, request_id, client)
        x.trace_id = trace_id
        x.trusted = bool(settings.trusted_proxies) and _trusted(client, settings)
        x.path = target
        if match.append_slash and decision.target is not active.default:
            return await self._finish(request, x, self._append_slash(request, x))
        if route is not None and route.name in active.gateway.duties:
            # 2b. the gateway: who is calling, limits, cache, rewrites; may answer itself
            early = await self._gateway(request, x, route, headers, match.params)
            if early is not None:
                return early
        if route is None or route.max_concurrent is None:
            return await self._forward(request, x, decision, headers)
        # the route's own bulkhead: a slow endpoint cannot take every worker of its upstream
        inflight = self.holder.route_inflight
        if inflight.get(route.name, 0) >= route.max_concurrent:
            return await self._error(request, x, 503, "route_busy")
        inflight[route.name] = inflight.get(route.name, 0) + 1
        try:
            return await self._forward(request, x, decision, headers)
        finally:
            inflight[route.name] -= 1

    async def _forward(
        self,
        request: Request,
        x: Exchange,
        decision: Decision,
        headers: CIMultiDict[str],
    ) -> Response:
        """3. forward and 4. respond."""
        route, active, method = x.route, x.active, request.method
        request_id, client = x.request_id, x.client
        has_body = request.body_exists
        limit = body_limit(active.table.settings.max_body_bytes, route)
        if has_body and limit is not None:
            length = request.content_length
            if length is not None and length > limit:
                return await self._error(request, x, 413, "body_too_large")
        data: RequestBody = request.content if has_body else None
        counted: LimitedBody | None = None
        if has_body and limit is not None and request.content_length is None:
            data = counted = LimitedBody(request.content, limit)
        copy = self._plan_copy(active, route, request, client) if route is not None else None
        if copy is not None and has_body:
            # read for the copy from what the primary would read (the route's size limit
            # included), within the time the primary's send would have had
            timeouts, _ = x.target.timeouts_for(route.timeouts if route else ())
            budget = min(timeouts.response, timeouts.total or math.inf)
            try:
                async with asyncio.timeout(budget):
                    data, copy.request_body = await tee_body(
                        counted or request.content, request.content_length, copy.limit
                    )
            except BaseException as err:
                self._drop_copy(copy)
                if isinstance(err, BodyTooLarge):
                    return await self._error(request, x, 413, "body_too_large")
                if isinstance(err, TimeoutError):
                    which = "response_timeout" if budget == timeouts.response else "total_timeout"
                    return await self._error(request, x, 504, which)
                if isinstance(err, ConnectionError | RequestPayloadError):
                    # the client's body broke off or was malformed
                    log.info("request %s: request body failed: %r", request_id, err)
                    return await self._error(request, x, 400, "bad_request")
                raise
            if copy.request_body is None:
                self._drop_copy(copy)
                copy = None
        if copy is not None:
            copy.sent_at = time.perf_counter()
        try:
            upstream_resp = await self._send(x.target, request, headers, data, x)
        except UpstreamError as err:
            x.instance_url = err.instance
            if copy is not None:  # no answer of the serving side to compare the copy with
                self._drop_copy(copy)
                copy = None
            if counted is not None and counted.exceeded:
                return await self._error(request, x, 413, "body_too_large")
            fallback = decision.fallback
            if fallback is None or has_body or method not in IDEMPOTENT:
                log.warning("request %s: %s", request_id, err)
                return await self._error(request, x, err.status, err.reason)
            log.warning(
                "request %s: %s; falling back to %s", request_id, err, fallback.upstream.name
            )
            x.fallback, x.target = err.reason, fallback
            try:
                upstream_resp = await self._send(fallback, request, headers, None, x)
            except UpstreamError as err2:
                x.instance_url = err2.instance
                log.warning("request %s: fallback failed: %s", request_id, err2)
                return await self._error(request, x, err2.status, err2.reason)

        # 4. respond
        x.upstream_latency = time.perf_counter() - x.t0
        x.status = upstream_resp.status
        try:
            response = self._relay_head(request, upstream_resp, x)
            keep = x.cache_capture(request, upstream_resp)
        except BaseException:  # the connection must go back (or be closed) whatever happens
            upstream_resp.release()
            x.release()
            raise
        try:
            if response.one_write:
                body = await upstream_resp.read()
                if copy is not None:
                    copy.read_at = time.perf_counter()
                if x.links and route is not None and route.rewrite is not None:
                    body = edge.public_links(
                        body, response, x.target, request, route.rewrite.path, x.trusted
                    )
                await response.prepare(request)
                await response.write_eof(body)
                x.sent = len(body)
                if copy is not None:
                    copy.capture(body)
                if keep is not None:
                    keep.capture(body)
            else:
                await response.prepare(request)
                async for chunk in upstream_resp.content.iter_any():
                    await response.write(chunk)
                    x.sent += len(chunk)
                    if copy is not None:
                        copy.capture(chunk)
                    if keep is not None:
                        keep.capture(chunk)
                if copy is not None:  # (a streamed body is read as fast as the client takes it)
                    copy.read_at = time.perf_counter()
                await response.write_eof()
        except (TimeoutError, aiohttp.ClientError) as err:
            # the upstream broke off or stalled mid-body: the client must not mistake the
            # truncated body for a whole one, so its connection is closed without a final chunk
            x.error = (
                "idle_timeout"
                if isinstance(err, aiohttp.SocketTimeoutError)
                else "total_timeout"
                if isinstance(err, TimeoutError)
                else "upstream_body_failed"
            )
            log.warning("request %s: upstream body failed (%s): %s", request_id, x.error, err)
            request.cut()  # no client takes the part for the whole (HTTP/1.0: a reset)
        except (ConnectionResetError, RuntimeError):
            x.error = "client_gone"  # the upstream connection is released below
        finally:
            upstream_resp.release()
            x.release()
        if copy is not None:
            if x.error is None:
                self._offer_copy(copy, request, headers, x, upstream_resp, response)
            else:  # the serving side's answer broke off, or the client left: no whole answer
                self._drop_copy(copy)
        gw = active.gateway
        if gw.logout and method == "POST" and 200 <= x.status < 300:
            self._logged_out(request, x)
        if keep is not None and x.error is None and not keep.overflow:
            await self._keep(request, x, response, keep)
        self._emit(request, x)
        return response

    # -- the gateway (planned per route at load; each step may answer the client itself) ------
    async def _gateway(
        self,
        request: Request,
        x: Exchange,
        route: Route,
        headers: CIMultiDict[str],
        params: Mapping[str, str],
    ) -> Response | None:
        active = x.active
        gw, table = active.gateway, active.table
        auth = gw.auth[route.name]
        caller: Caller | None = None
        identity = table.identity
        unresolved = False  # credentials came, but who they name is not known
        if auth is not Auth.NONE and identity is not None:
            try:
                runtime = active.balancers[identity.upstream]
                if not runtime.breaker.allow():
                    raise IdentityUnavailable(f"{identity.upstream}: circuit breaker open")
                base = runtime.pick().url
                answer = await self.holder.gateway.introspector.resolve(
                    self.session,
                    base,
                    identity,
                    request.method,
                    request.headers,
                    request.cookies,
                    headers,
                )
            except IdentityUnavailable as err:
                log.warning("request %s: %s", x.request_id, err)
                if auth is Auth.REQUIRED:
                    return await self._error(request, x, 503, "identity_unavailable")
                answer = ANONYMOUS
                unresolved = edge.has_credentials(request, identity)
            if isinstance(answer, Refused):  # the monolith's own 403 (CSRF), as it sent it
                x.error = "identity_refused"
                reply = edge.refusal(answer)
                self._decision_headers(reply.headers, x)
                if "error" in table.settings.decision_headers:
                    reply.headers[ERROR_HEADER] = x.error
                return await self._finish(request, x, reply)
            caller = answer
            if auth is Auth.REQUIRED and not caller.active:
                detail = (
                    "Invalid token."
                    if caller.credentials and request.headers.get("Authorization")
                    else "Authentication credentials were not provided."
                )
                return await self._error(
                    request, x, 401, "not_authenticated", detail, {"WWW-Authenticate": "Token"}
                )
            if caller.active:
                audience = route.to or table.default
                headers[ASSERTION_HEADER] = gw.sign(
                    caller, x.request_id, audience, identity.assertion_ttl
                )
            x.caller = caller
        limit = route.rate_limit
        if limit is not None:
            # the client after trusted X-Forwarded-For (the first address of the chain we send)
            client = headers["X-Forwarded-For"].partition(",")[0].strip() or x.client
            key = limit_key(limit.key, caller, request.headers.get("Authorization"), client)
            verdict = await gw.limiter.allow(route.name, key, limit.rate, limit.burst)
            self.holder.gateway.count_limit(route.name, verdict.allowed)
            if not verdict.allowed:
                wait = max(1, math.ceil(verdict.retry_after))
                detail = (
                    f"Request was throttled. Expected available in {wait} "
                    f"second{'' if wait == 1 else 's'}."
                )
                return await self._error(
                    request, x, 429, "rate_limited", detail, {"Retry-After": str(wait)}
                )
        x.params = params
        spec = route.cache
        cacheable = request.method in ("GET", "HEAD") and not unresolved
        if spec is not None and gw.cache is not None and cacheable:
            x.cache_identity = (caller or ANONYMOUS).key if spec.personalised else None
            # links and Location may name the address the client used: it is part of the key
            rewrite = route.rewrite
            if rewrite is not None and rewrite.public_links:
                x.cache_target = edge.public_base(request, x.trusted) + x.path
            hit = await gw.cache.lookup(
                route.name,
                "GET",  # HEAD is answered from the GET's entry
                x.cache_target or x.path,
                request.headers.items(),
                identity=x.cache_identity,
            )
            x.cache = "MISS" if hit is None else "HIT"
            if hit is not None:
                x.status = hit.status
                reply = edge.cached(hit, request, self._decided(x), gw.cache.clock())
                return await self._finish(request, x, reply)
        return None

    def _layout(
        self, x: Exchange, runtime: UpstreamRuntime, headers: CIMultiDict[str]
    ) -> tuple[str, CIMultiDict[str]]:
        """The path and headers for ``runtime``. To the route's own service: its rewrites, and
        without the monolith's credentials when the caller was resolved at the edge (the
        service gets the signed assertion instead)."""
        route = x.route
        if route is None or route.to is None or (route.rewrite is None and x.caller is None):
            return x.path, headers
        if runtime is not x.active.balancers.get(route.to):
            return x.path, headers
        path, rewrite = x.path, route.rewrite
        headers = headers.copy()
        if x.caller is not None:
            identity = x.active.table.identity
            assert identity is not None
            edge.drop_credentials(headers, identity)
        if rewrite is not None:
            if rewrite.path is not None:
                path = edge.rewrite_target(rewrite.path, path, x.params)
            if rewrite.request_headers:
                edge.rewrite_request_headers(headers, rewrite.request_headers)
        return path, headers

    def _logged_out(self, request: Request, x: Exchange) -> None:
        """A successful logout: the proxy forgets who those credentials named."""
        identity = x.active.table.identity
        if identity is None or x.path.partition("?")[0] not in x.active.gateway.logout:
            return
        key = credentials_key(
            request.headers.get("Authorization"), request.cookies.get(identity.session_cookie)
        )
        if key is not None and (dropped := self.holder.gateway.introspector.forget(key)):
            log.info("request %s: logout; %d cached identities dropped", x.request_id, dropped)

    async def _keep(self, request: Request, x: Exchange, response: Response, keep: Capture) -> None:
        """Offer the relayed answer to the route's cache (as the client got it)."""
        route, store = x.route, x.active.gateway.cache
        if route is None or route.cache is None or store is None or request.method != "GET":
            return
        stored = [(k, v) for k, v in response.headers.items() if not edge.is_decision(k)]
        if not route.cache.personalised and not edge.shareable(request, x.caller, stored):
            return  # an answer for one caller on a shared route
        try:
            await store.store(
                route.name,
                "GET",
                x.cache_target or x.path,
                request.headers.items(),
                x.status,
                stored,
                b"".join(keep.response_chunks),
                identity=x.cache_identity,
                default_ttl=route.cache.default_ttl,
                ttl_cap=route.cache.ttl,
            )
        except Exception:  # a cache must never fail a request
            log.exception("request %s: storing in the cache failed", x.request_id)

    # -- shadow copies (side path: planned here, run by the Mirror, never raising) ------------
    def _plan_copy(
        self, active: ActiveTable, route: Route, request: Request, client: str
    ) -> Copy | None:
        spec = route.shadow
        mirror = self.mirror
        if spec is None or mirror is None:
            return None
        try:
            sticky = (
                ""
                if spec.sticky is None
                else mirror.sticky_value(spec, request.headers, request.cookies)
            )
            if not mirror.wants(route, request.method, sticky, client):
                return None
            assert route.to is not None
            other = active.balancers[route.to] if route.mode is Mode.SHADOW else active.default
            if other is active.default and request.method not in SAFE_METHODS:
                return None  # writes are never copied to the monolith
            copy = Copy(route, spec, other.pick().url, spec.max_body_bytes)
            copy.runtime = other
            return copy
        except Exception:
            log.exception("planning a shadow copy failed")
            return None

    def _drop_copy(self, copy: Copy) -> None:
        if self.mirror is not None:
            self.mirror.count_dropped(copy.route.name)

    def _offer_copy(
        self,
        copy: Copy,
        request: Request,
        headers: CIMultiDict[str],
        x: Exchange,
        upstream_resp: UpstreamResponse,
        response: Response,
    ) -> None:
        mirror = self.mirror
        if mirror is None:
            return
        if copy.overflow or x.inst is None:
            self._drop_copy(copy)
            return
        try:
            route = copy.route
            service = x.active.balancers.get(route.to) if route.to is not None else None
            publish = None
            got = decoded_headers(upstream_resp.raw_headers)
            if route.rewrite is not None and service is not None:
                # compared in the public layout: the service's answers as the client gets them
                publish = edge.publisher(route.rewrite, service, request, x.trusted)
                if x.target is service:  # it served: its headers as they were sent
                    got = tuple(
                        (k, v) for k, v in response.headers.items() if not edge.is_decision(k)
                    )
            primary = Captured(
                status=upstream_resp.status,
                headers=got,
                body=b"".join(copy.response_chunks),  # as sent: the mirror decodes it
                latency=copy.read_at - copy.sent_at,
            )
            served = self._layout(x, x.target, headers)  # what the serving side got
            target, sent = x.path, headers
            if copy.runtime is not None:  # the service's own layout when the route rewrites
                target, sent = self._layout(x, copy.runtime, headers)
            again = served if served != (target, sent) else (None, None)
            mirror.offer(
                ShadowJob(
                    route=copy.route,
                    spec=copy.spec,
                    method=request.method,
                    target=target,
                    headers=sent,
                    body=copy.request_body,
                    primary=primary,
                    primary_base=x.inst.url,
                    shadow_base=copy.shadow_base,
                    request_id=x.request_id,
                    started=x.started,
                    primary_target=again[0],
                    primary_headers=again[1],
                    primary_coding=upstream_resp.headers.get("Content-Encoding"),
                    publish=publish,
                    service_is_copy=copy.runtime is service,
                )
            )
        except Exception:
            log.exception("offering a shadow copy failed")
            self._drop_copy(copy)

    # -- responses the proxy writes itself ---------------------------------------------------
    @staticmethod
    def _decision_headers(headers: CIMultiDict[str], x: Exchange) -> None:
        wanted = x.active.table.settings.decision_headers
        if "route" in wanted:
            headers[ROUTE_HEADER] = x.route.name if x.route else DEFAULT_ROUTE_NAME
        if "upstream" in wanted:
            headers[UPSTREAM_HEADER] = x.target.upstream.name
        if x.fallback is not None and "fallback" in wanted:
            headers[FALLBACK_HEADER] = x.fallback
        if x.cache is not None and "cache" in wanted:
            headers[CACHE_HEADER] = x.cache

    def _decided(self, x: Exchange) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        self._decision_headers(headers, x)
        return headers

    def _relay_head(
        self, request: Request, upstream_resp: UpstreamResponse, x: Exchange
    ) -> Response:
        headers = edge.relayed_headers(upstream_resp.headers)
        length = upstream_resp.content_length
        small = length is not None and length <= SMALL_BODY
        route = x.route
        rewrite = route.rewrite if route is not None else None
        if (
            rewrite is not None
            and route is not None
            and route.to is not None
            and x.target is x.active.balancers.get(route.to)
        ):
            edge.rewrite_response(headers, rewrite, x.target, request, x.trusted)
            # pagination links are rewritten in bodies of a known, bounded length
            links = rewrite.public_links and edge.has_links(headers)
            if links and request.method == "HEAD":
                headers.popall("Content-Length", None)  # the GET's body may differ in length
            x.links = links and request.method != "HEAD"
            small = small or x.links
        self._decision_headers(headers, x)
        return Response(
            upstream_resp.status, reason=upstream_resp.reason, headers=headers, one_write=small
        )

    def _append_slash(self, request: Request, x: Exchange) -> Response:
        """Django's APPEND_SLASH answer: 301 to the same path with "/" added, query kept."""
        path, sep, query = x.path.partition("?")
        resp = Response(301, body=b"")
        resp.headers["Content-Type"] = "text/html; charset=utf-8"
        resp.headers["Date"] = http_date()
        resp.headers["Location"] = path + "/" + sep + query
        self._decision_headers(resp.headers, x)
        return resp

    async def _error(
        self,
        request: Request,
        x: Exchange,
        status: int,
        reason: str,
        detail: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Response:
        """The proxy answers itself, in the monolith's (DRF's) error format, with a reason."""
        resp = json_response(
            {"detail": detail or _ERROR_DETAIL.get(status, "Proxy error.")},
            status=status,
            headers=extra,
        )
        if "error" in x.active.table.settings.decision_headers:
            resp.headers[ERROR_HEADER] = reason
        self._decision_headers(resp.headers, x)
        if status in (400, 413):
            resp.force_close()  # an unread body must not be taken for the next request
        x.error = reason
        return await self._finish(request, x, resp)

    async def _finish(self, request: Request, x: Exchange, resp: Response) -> Response:
        x.status = resp.status
        await resp.prepare(request)
        await resp.write_eof()
        self._emit(request, x)
        return resp

    def _emit(self, request: Request, x: Exchange) -> None:
        route = x.route
        self.completed.emit(
            RequestCompleted(
                request_id=x.request_id,
                method=request.method,
                target=request.raw_path,
                client=x.client,
                route=route.name if route else None,
                mode=route.mode.value if route else Mode.LEGACY.value,
                upstream=x.target.upstream.name,
                instance=x.inst.url if x.inst is not None else x.instance_url,
                status=x.status,
                bytes_sent=x.sent,
                started=x.started,
                duration=time.perf_counter() - x.t0,
                side=x.side,
                fallback=x.fallback,
                error=x.error,
                generation=x.active.generation,
                upstream_latency=x.upstream_latency,
                retries=x.retries,
                breaker=x.target.breaker.state.value,
                trace_id=x.trace_id,
            )
        )


_ERROR_DETAIL = {
    400: "Bad request.",
    413: "Request body too large.",
    502: "The upstream service is unavailable.",
    503: "The upstream service is temporarily unavailable.",
    504: "The upstream service did not answer in time.",
}
# answers that count as failures of the instance for ejection and the breaker
_SICK_STATUS = frozenset({502, 503, 504})
