"""The proxy's upstream client: HTTP/1.1 over a keep-alive pool per instance, lean on CPU.

aiohttp's ``ClientSession`` costs about 83 µs of CPU per request (request and response objects,
URL handling, the connector, timers per request); this client does what the proxy needs in
about 35 µs, most of it the system call that sends the request
(``migration_playbook/reference/benchmarks.md``)::

    client = UpstreamClient()
    resp = await client.request("GET", "http://127.0.0.1:8000", "/api/products/?page=2",
                                headers, body=None, timeouts=Timeouts())
    async for chunk in resp.content.iter_any(): ...
    resp.release()   # back to the pool when the body was read to its end

* The request goes out in one write (head and a ``bytes`` body together); a streamed body
  (``StreamReader``, async iterator) follows it, with ``Content-Length`` when the headers carry
  one and chunked otherwise. ``Host`` comes first (the caller's, or the instance's address),
  then the headers in the caller's order and case; nothing else is added but the framing
  (``Content-Length`` of a ``bytes`` body, ``Transfer-Encoding: chunked``, and
  ``Content-Length: 0`` without a body for methods other than ``GET``, ``HEAD``, ``OPTIONS``
  and ``TRACE``, as aiohttp does).
* The response is parsed by aiohttp's own protocol and C parser (``ResponseHandler``, llhttp),
  so framing is judged exactly as by ``ClientSession``: a response with both ``Content-Length``
  and ``Transfer-Encoding`` is refused (:class:`BadResponse`); bodies end by length, by the
  last chunk or at the close of the connection; ``HEAD``, 204 and 304 have none; 1xx interim
  responses are skipped. ``raw_headers`` keep the upstream's order, case and repeats.
  ``ResponseHandler`` is not a documented aiohttp API: ``tests/strangler_proxy/
  test_upstream_client.py`` pins what is used of it (written against aiohttp 3.14).
* Timeouts are deadlines on the connection, not on the task: ``connect``
  (``aiohttp.ConnectionTimeoutError``), ``response`` until the response headers
  (:class:`ResponseTimeout`), ``idle`` between two reads (``aiohttp.SocketTimeoutError``) and
  ``total`` for the whole exchange, body included (:class:`TotalTimeout`). No timer is made per
  request: one sweep every ``TICK`` seconds (50 ms) expires what is due, so a timeout fires up
  to ``TICK`` late (a timer costs about 2 µs to make and cancel, several per request; a
  deadline is a float). When several are due, the earliest wins, as separate timers would.
* Connections idle for ``keepalive`` seconds (4, under gunicorn's 5) are closed. A request that
  finds its pooled connection closed by the server before any byte of the answer is sent once
  more on a new connection when that is safe: the method is idempotent and the body (none or
  ``bytes``) can be sent again.

A refused connection raises :class:`ConnectFailed` (nothing was sent); any other failure after
the connection was made means the request may have reached the upstream.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeAlias
from urllib.parse import urlsplit

import aiohttp
from aiohttp import StreamReader
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import HttpProcessingError, RawResponseMessage, StreamWriter
from multidict import CIMultiDict, CIMultiDictProxy

from .model import Timeouts

__all__ = [
    "TICK",
    "BadResponse",
    "Body",
    "ConnectFailed",
    "ResponseTimeout",
    "SendFailed",
    "TotalTimeout",
    "UpstreamClient",
    "UpstreamResponse",
]

Body: TypeAlias = bytes | StreamReader | AsyncIterable[bytes] | None

# methods whose requests may be sent again after a stale keep-alive connection
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# methods that get "Content-Length: 0" when they carry no body and no length (as aiohttp does)
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
log = logging.getLogger("strangler.upstream_client")
_READ_BUFSIZE = 2**16
TICK = 0.05  # seconds between two sweeps of the deadlines: how late a timeout may fire
_DEFAULT_TIMEOUTS = Timeouts()


class ConnectFailed(aiohttp.ClientConnectionError):
    """The TCP (or TLS) connection could not be made: nothing was sent."""


class SendFailed(aiohttp.ClientConnectionError):
    """The request could not be sent whole (the body's source failed, or the connection)."""


class BadResponse(aiohttp.ClientError):
    """The upstream's answer is not valid HTTP/1.1 (e.g. ambiguous framing)."""


class ResponseTimeout(TimeoutError):
    """No response headers within the ``response`` timeout."""


class TotalTimeout(TimeoutError):
    """The exchange (body included) went past the ``total`` timeout."""


class _Conn(ResponseHandler):
    """One connection: aiohttp's response protocol, plus where it idles, whether the server
    has said anything on it, and the deadlines of its exchange (checked by the client's sweep).

    aiohttp arms and drops its read timeout in ``_reschedule_timeout``/``_drop_timeout`` (on
    every read, on pause and resume, at the end of the body): here they set a deadline instead
    of making a timer, and the sweep calls aiohttp's own ``_on_read_timeout`` when it is due.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.idle_since = 0.0
        self.heard = False  # a byte of an answer arrived (no resend after that)
        self.read_due: float | None = None  # idle: no byte since read_timeout
        self.head_due: float | None = None  # no response headers yet
        self.head_exc: type[TimeoutError] = ResponseTimeout
        self.total_due: float | None = None  # the body is still coming at the total deadline
        self.total_payload: StreamReader | None = None

    def data_received(self, data: bytes) -> None:
        if data:
            self.heard = True
        super().data_received(data)

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        self.read_due = self._loop.time() + timeout if timeout else None

    def _drop_timeout(self) -> None:
        self.read_due = None

    def expire_due(self, now: float) -> None:
        """Fire the earliest deadline that has passed, if any (the sweep calls this)."""
        due = [
            (at, name)
            for at, name in (
                (self.head_due, "head"),
                (self.read_due, "read"),
                (self.total_due, "total"),
            )
            if at is not None and at <= now
        ]
        if not due:
            return
        _, name = min(due)
        if name == "head":
            self.head_due = None
            self.expire_head(self.head_exc)
        elif name == "read":
            self.read_due = None
            self._on_read_timeout()
        else:
            self.total_due = None
            if self.total_payload is not None:
                self.expire_body(self.total_payload)

    def unwatch(self) -> None:
        self.head_due = self.total_due = self.read_due = None
        self.total_payload = None

    def expire_head(self, exc: type[TimeoutError]) -> None:
        """A deadline passed before the response headers: the request gets ``exc``; the
        connection is closed."""
        self.set_exception(exc())
        self.close()

    def expire_body(self, payload: StreamReader) -> None:
        """The total deadline passed while the body was still coming: its reader gets it."""
        if not payload.is_eof():
            payload.set_exception(TotalTimeout())
            self.set_exception(TotalTimeout())
            self.close()


class _Pool:
    """Idle connections to one instance, most recently used last."""

    __slots__ = ("base", "host", "host_header", "idle", "port", "ssl")

    def __init__(self, base: str) -> None:
        self.base = base
        parts = urlsplit(base)
        secure = parts.scheme.lower() == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if secure else 80)
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if secure else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if secure else 80
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self.idle: collections.deque[_Conn] = collections.deque()


class UpstreamResponse:
    """The subset of ``aiohttp.ClientResponse`` the proxy uses. The body is ``content`` (an
    aiohttp ``StreamReader``); :meth:`release` must be called when done with it."""

    __slots__ = ("_client", "_conn", "_pool", "content", "message")

    def __init__(
        self,
        message: RawResponseMessage,
        content: StreamReader,
        client: UpstreamClient,
        pool: _Pool,
        conn: _Conn,
    ) -> None:
        self.message = message
        self.content = content
        self._client = client
        self._pool = pool
        self._conn: _Conn | None = conn

    @property
    def status(self) -> int:
        return self.message.code

    @property
    def reason(self) -> str:
        return self.message.reason

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.message.headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return self.message.raw_headers

    @property
    def content_length(self) -> int | None:
        value = self.message.headers.get("Content-Length")
        return int(value) if value is not None else None

    async def read(self) -> bytes:
        """The whole body."""
        return await self.content.read()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.content.iter_any()

    def release(self) -> None:
        """Done with the response: its connection goes back to the pool when the body was
        received to its end and the connection may be kept, and is closed otherwise."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        self._client._unwatch(conn)
        if self.content.is_eof() and not conn.should_close and conn.is_connected():
            self._client._put(self._pool, conn)
        else:
            conn.close()


class UpstreamClient:
    """Keep-alive connections per instance base URL (``http://host:port``)."""

    def __init__(self, *, keepalive: float = 4.0) -> None:
        self.keepalive = keepalive
        self._pools: dict[str, _Pool] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._watched: set[_Conn] = set()  # connections with an exchange in progress
        self._ticker: asyncio.TimerHandle | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        base: str,
        target: str,
        headers: CIMultiDict[str],
        body: Body = None,
        *,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
    ) -> UpstreamResponse:
        """Send ``method target`` to the instance at ``base``; the response once its headers
        arrived. Raises the errors listed in the module's docstring."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(base)
        if pool is None:
            pool = self._pools[base] = _Pool(base)
        stream = body is not None and not isinstance(body, bytes)
        head = _head(method, target, headers, pool.host_header, body)
        if body is not None and not stream:
            head += body  # type: ignore[operator]  # bytes
        now = loop.time()
        deadline = now + timeouts.response
        total_at = None if timeouts.total is None else now + timeouts.total
        chunked = stream and "Content-Length" not in headers
        may_resend = not stream and method in IDEMPOTENT
        retry = False
        while True:
            conn = None if retry else self._take(pool, now)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(loop, pool, timeouts.connect, deadline, total_at)
            try:
                return await self._exchange(
                    loop, pool, conn, method, head, body if stream else None, chunked,
                    deadline, total_at, timeouts.idle,
                )  # fmt: skip
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                self._unwatch(conn)
                conn.close()
                if not (reused and may_resend and not conn.heard):
                    raise
                may_resend = False
                retry = True  # once, on a new connection
            except BaseException:
                self._unwatch(conn)
                conn.close()
                raise

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        pool: _Pool,
        conn: _Conn,
        method: str,
        head: bytes,
        stream: Body,
        chunked: bool,
        deadline: float,
        total_at: float | None,
        idle: float,
    ) -> UpstreamResponse:
        conn.heard = False
        conn.set_response_params(
            skip_payload=method == "HEAD",
            read_until_eof=True,
            auto_decompress=False,
            read_timeout=idle,
            read_bufsize=_READ_BUFSIZE,
        )
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise aiohttp.ServerDisconnectedError()
        transport.write(head)
        if stream is not None:
            await self._send_body(loop, conn, stream, chunked, deadline, total_at)
        # the response deadline (or the total one, when it comes first) fails the connection
        until = deadline if total_at is None else min(deadline, total_at)
        conn.head_due = until
        conn.head_exc = ResponseTimeout if until == deadline else TotalTimeout
        conn.start_timeout()  # the idle deadline, aiohttp's read timeout
        self._watch(loop, conn)
        try:
            while True:
                message, payload = await conn.read()
                code = message.code
                if code < 100 or code > 199 or code == 101:
                    break
        except HttpProcessingError as err:
            raise BadResponse(f"invalid response: {err.message}") from err
        conn.head_due = None
        if total_at is not None:
            conn.total_due, conn.total_payload = total_at, payload
        return UpstreamResponse(message, payload, self, pool, conn)

    # -- deadlines ----------------------------------------------------------------------------
    def _watch(self, loop: asyncio.AbstractEventLoop, conn: _Conn) -> None:
        self._watched.add(conn)
        if self._ticker is None:
            self._ticker = loop.call_at(loop.time() + TICK, self._tick, loop)

    def _unwatch(self, conn: _Conn) -> None:
        conn.unwatch()
        self._watched.discard(conn)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """The sweep: expire what is due; come back while an exchange is in progress. A closed
        connection has nothing left to time out (even if its response was never released)."""
        self._ticker = None
        now = loop.time()
        try:
            for conn in list(self._watched):
                if not conn.is_connected():
                    self._unwatch(conn)
                    conn.close()  # the transport too, when the peer only half-closed it
                    continue
                try:
                    conn.expire_due(now)
                except Exception:  # one connection must not stop the sweep for the others
                    log.exception("expiring a deadline failed")
                    self._unwatch(conn)
                    conn.close()
        finally:
            if self._watched:
                self._ticker = loop.call_at(now + TICK, self._tick, loop)

    async def _send_body(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: _Conn,
        body: Body,
        chunked: bool,
        deadline: float,
        total_at: float | None,
    ) -> None:
        """Stream the body after the head (chunked unless the head carries a length)."""
        writer = StreamWriter(conn, loop)
        if chunked:
            writer.enable_chunking()
        chunks: AsyncIterable[bytes]
        chunks = body.iter_any() if isinstance(body, StreamReader) else body  # type: ignore[assignment]
        source = aiter(chunks)
        until = deadline if total_at is None else min(deadline, total_at)
        try:
            async with asyncio.timeout_at(until):
                while True:
                    try:
                        chunk = await anext(source)
                    except StopAsyncIteration:
                        break
                    except Exception as err:  # the body's source failed (the client, a limit)
                        raise SendFailed(f"request body failed: {err!r}") from err
                    if chunk:
                        await writer.write(chunk)
                await writer.write_eof()
        except TimeoutError as err:
            expired = TotalTimeout() if until != deadline else ResponseTimeout()
            raise expired from err
        except SendFailed:
            raise
        except (ConnectionError, aiohttp.ClientConnectionError) as err:
            # the upstream may have answered before it stopped reading (e.g. 413): that answer
            # is read as usual; without one the reader sees this failure
            conn.set_exception(SendFailed(f"connection lost while sending the body: {err!r}"))

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        pool: _Pool,
        connect: float,
        deadline: float,
        total_at: float | None,
    ) -> _Conn:
        limit = loop.time() + connect
        until = min(limit, deadline) if total_at is None else min(limit, deadline, total_at)
        try:
            async with asyncio.timeout_at(until):
                _, conn = await loop.create_connection(
                    lambda: _Conn(loop),
                    pool.host,
                    pool.port,
                    ssl=pool.ssl,
                    server_hostname=pool.host if pool.ssl is not None else None,
                )
        except TimeoutError as err:
            if until == limit:
                raise aiohttp.ConnectionTimeoutError(
                    f"connection to {pool.host}:{pool.port} timed out"
                ) from err
            raise (ResponseTimeout() if until == deadline else TotalTimeout()) from err
        except OSError as err:
            raise ConnectFailed(f"cannot connect to {pool.host}:{pool.port}: {err}") from err
        return conn

    # -- the pool -----------------------------------------------------------------------------
    def _take(self, pool: _Pool, now: float) -> _Conn | None:
        idle = pool.idle
        while idle:
            conn = idle.pop()
            fresh = now - conn.idle_since < self.keepalive
            # should_close: the server said something, or a timer fired, while it idled
            if fresh and conn.is_connected() and not conn.should_close:
                return conn
            conn.close()
        return None

    def _put(self, pool: _Pool, conn: _Conn) -> None:
        if self._closed:
            conn.close()
            return
        loop = conn._loop
        conn.idle_since = loop.time()
        # the sweep drops empty pools; one may come back while its response was being read
        pool = self._pools.setdefault(pool.base, pool)
        pool.idle.append(conn)
        if self._sweep is None:
            self._sweep = loop.call_later(self.keepalive, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections idle for ``keepalive`` seconds; come back for the rest."""
        self._sweep = None
        cutoff = loop.time() - self.keepalive
        oldest: float | None = None
        for base, pool in list(self._pools.items()):
            idle = pool.idle
            while idle and (idle[0].idle_since <= cutoff or not idle[0].is_connected()):
                idle.popleft().close()
            if not idle:  # (instances come and go with the registry)
                del self._pools[base]
            elif oldest is None or idle[0].idle_since < oldest:
                oldest = idle[0].idle_since
        if oldest is not None:
            self._sweep = loop.call_at(oldest + self.keepalive, self._expire, loop)

    def idle_connections(self, base: str) -> int:
        """How many connections to ``base`` wait in the pool (for tests and metrics)."""
        pool = self._pools.get(base)
        return len(pool.idle) if pool is not None else 0

    async def close(self) -> None:
        """Close every idle connection and wait (2 s at most) until their transports are gone;
        responses still being read close theirs on release."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        if self._ticker is not None and not self._watched:  # else it ends with the last one
            self._ticker.cancel()
            self._ticker = None
        lost: list[asyncio.Future[None]] = []
        for pool in self._pools.values():
            while pool.idle:
                conn = pool.idle.pop()
                if (closed := conn.closed) is not None:  # None: already lost
                    lost.append(closed)
                conn.close()
        if lost:  # a TLS connection says goodbye first: wait for the transports to end
            await asyncio.wait(lost, timeout=2)
        for future in lost:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a connection lost with an error is no news


def _head(method: str, target: str, headers: CIMultiDict[str], host: str, body: Body) -> bytes:
    """The request line and headers; ``Host`` first, as aiohttp sends it."""
    lines = [f"{method} {target} HTTP/1.1\r\n", f"Host: {host}\r\n"]
    for k, v in headers.items():
        if len(k) == 4 and k.lower() == "host":
            lines[1] = f"{k}: {v}\r\n"  # the caller's (the last one, in its case)
        else:
            lines.append(f"{k}: {v}\r\n")
    if "Content-Length" not in headers:
        if body is None:
            if method not in _BODYLESS_METHODS:
                lines.append("Content-Length: 0\r\n")
        elif isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}\r\n")
        else:
            lines.append("Transfer-Encoding: chunked\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    try:
        return text.encode("latin-1")  # the bytes the client sent (decoded as latin-1)
    except UnicodeEncodeError:  # a value the proxy set itself beyond latin-1
        return text.encode("utf-8")
