"""The public port's HTTP/1.1 server: an ``asyncio.Protocol`` with aiohttp's C request parser
(llhttp) and a response writer of its own, with nothing else between the socket and
``Proxy.handle``.

aiohttp's low-level server was measured at about 29 µs of CPU per request on this path (a
request object, a response object and its writer, each built for every request, plus the
header dance of ``StreamResponse.prepare``); the proxy uses a dozen attributes of the request and
writes the upstream's headers as they came. This server keeps what the proxy relies on:

* requests as the parser gives them (method, raw target, headers in order, the body as a
  stream with flow control); the parser's limits (``max_header_bytes``) and refusals;
* keep-alive and pipelining: requests on one connection are answered in order, one at a time;
  at most :data:`MAX_QUEUED` parsed requests wait, then reading pauses;
* responses framed by ``Content-Length`` when known, else chunked (HTTP/1.1) or by closing the
  connection (HTTP/1.0); ``HEAD``, ``204`` and ``304`` carry no body; no header is added that
  the caller did not set, except ``Connection`` (``close`` when the connection ends after
  this response, ``keep-alive`` for an HTTP/1.0 client that asked for it);
* a connection closes after a response when the client asked for it, when the response said
  so (:meth:`Response.force_close`), or when the request's body had not arrived in full (what
  is still coming must not be taken for the next request; it is read and dropped for up to
  :data:`LINGER` seconds first, so the client is not reset before it reads the answer);
* ``Expect: 100-continue`` is answered with ``100 Continue`` before the request is handled;
* the next pipelined request is taken only once the client reads what was written (a client
  that sends and never reads cannot make the proxy buffer answers without end);
* refusals in the monolith's (DRF's) error format with a reason in ``X-Strangler-Error`` and one
  INFO log line: ``431 header_too_large`` for a header line over ``max_header_bytes``,
  ``400 bad_request`` for anything else the parser refuses (both Content-Length and
  Transfer-Encoding, NUL bytes, ...); the connection is closed after it, and nothing after the
  refused request is read (requests pipelined in the same packet before it are not answered
  either: the parser gives up the whole packet, as aiohttp's server did);
* idle connections (no request in progress, a request head not complete) are closed after
  ``keepalive_timeout`` (an hour, as aiohttp's server did: longer than the idle timeout of any
  load balancer in front; one sweep per second for the whole server, no timer per request);
* :meth:`FrontServer.shutdown`: stop accepting, close idle connections, let requests in flight
  finish within the grace period (their bodies still arrive, their responses say
  ``Connection: close``), then cancel and close the rest;
* ``Upgrade`` (WebSocket, h2c) and ``CONNECT`` requests are answered as plain requests, then
  the connection is closed (what follows them is not HTTP/1.1).

Request bodies are relayed as they came: ``Content-Encoding`` is not undone (aiohttp's server
decompressed gzip request bodies by default, and the upstream then got them decoded but still
labelled ``gzip``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from http.cookies import Morsel
from types import MappingProxyType
from typing import Any, cast

from aiohttp.http import HttpRequestParser
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict, CIMultiDictProxy

try:  # aiohttp's own RFC 6265 parser (what its BaseRequest.cookies used), where it has one
    from aiohttp._cookie_helpers import parse_cookie_header as _parse_cookies
except ImportError:  # older aiohttp: the standard library's
    from http.cookies import SimpleCookie

    def _parse_cookies(header: str) -> list[tuple[str, Morsel[str]]]:
        return list(SimpleCookie(header).items())


__all__ = ["FrontServer", "Request", "Response", "http_date", "json_response"]

log = logging.getLogger("strangler.http")

MAX_QUEUED = 32  # parsed requests waiting on one connection before reading pauses
KEEPALIVE_TIMEOUT = 3630.0  # idle client connections (aiohttp's default: longer than any LB's)
LINGER = 5.0  # seconds an unread request body is still read (and dropped) before closing
SEND_TIMEOUT = 60.0  # a client that reads nothing of an answer for this long is cut (nginx's)
_READ_LIMIT = 2**16  # a request body's buffer before reading pauses (the parser's limit)
_NO_BODY_STATUS = frozenset({204, 304})
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_EMPTY_COOKIES: Mapping[str, str] = MappingProxyType({})


def http_date() -> str:
    """``Date`` for an answer of the proxy's own (computed once a second)."""
    now = int(time.time())
    if now != _date[0]:
        _date[0], _date[1] = now, formatdate(now, usegmt=True)
    return str(_date[1])


_date: list[Any] = [0, ""]


class Request:
    """One request as the parser gave it; what ``Proxy.handle`` reads."""

    __slots__ = (
        "_conn",
        "_cookies",
        "content",
        "headers",
        "keep_alive",
        "method",
        "raw_headers",
        "raw_path",
        "version",
    )

    secure = False  # the public port speaks plain HTTP (TLS ends in front of it)

    def __init__(self, conn: _Connection, message: Any, payload: StreamReader) -> None:
        self._conn = conn
        self.method: str = message.method
        self.raw_path: str = message.path
        self.version: tuple[int, int] = message.version
        self.headers: CIMultiDictProxy[str] = message.headers
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = message.raw_headers
        self.keep_alive: bool = not message.should_close
        self.content = payload
        self._cookies: Mapping[str, str] | None = None

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._conn.transport

    def cut(self) -> None:
        """End the client's connection midway through a response so that it cannot be taken
        for a whole one (see :meth:`_Connection.cut`)."""
        self._conn.cut()

    @property
    def remote(self) -> str:
        """The client's address (the TCP peer)."""
        return self._conn.peer

    @property
    def body_exists(self) -> bool:
        return self.content is not EMPTY_PAYLOAD

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None else None  # the parser checked it is digits

    @property
    def host(self) -> str:
        """``Host``, else the address the request arrived on."""
        host = self.headers.get("Host")
        if host is not None:
            return host
        return self._conn.local

    @property
    def cookies(self) -> Mapping[str, str]:
        cookies = self._cookies
        if cookies is None:
            header = self.headers.get("Cookie")
            if not header:
                cookies = _EMPTY_COOKIES
            else:
                parsed = _parse_cookies(header)
                cookies = MappingProxyType({name: morsel.value for name, morsel in parsed})
            self._cookies = cookies
        return cookies


class Response:
    """A response the proxy sends: exactly the headers given, framed here.

    ``one_write``: the head is held until :meth:`write_eof`, which sends head and body in one
    write (with ``Content-Length`` when none was given). Otherwise :meth:`prepare` sends the
    head and :meth:`write` streams the body."""

    __slots__ = (
        "_chunked",
        "_request",
        "_send_body",
        "body",
        "headers",
        "keep_alive",
        "one_write",
        "reason",
        "status",
    )

    def __init__(
        self,
        status: int = 200,
        *,
        reason: str | None = None,
        headers: CIMultiDict[str] | None = None,
        body: bytes | None = None,
        one_write: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers: CIMultiDict[str] = headers if headers is not None else CIMultiDict()
        self.body = body
        self.one_write = one_write
        self.keep_alive = True
        self._request: Request | None = None
        self._chunked = False
        self._send_body = True

    def force_close(self) -> None:
        """The connection closes after this response."""
        self.keep_alive = False

    def _head(self, request: Request, body: bytes | None) -> bytes:
        """The status line and headers; decides the framing and whether the connection stays
        open. ``body``: the whole body of a one-write response, else ``None``."""
        conn = request._conn
        status = self.status
        headers = self.headers
        old = request.version < (1, 1)
        has_body = status >= 200 and status not in _NO_BODY_STATUS
        if status < 200 or status == 204:  # RFC 9110 8.6: no Content-Length on these
            headers.popall("Content-Length", None)
            headers.popall("Transfer-Encoding", None)
        self._send_body = has_body and request.method != "HEAD"
        if has_body and "Content-Length" not in headers:
            if body is not None:
                if self._send_body or body:
                    headers["Content-Length"] = str(len(body))
            elif not self._send_body:
                pass  # HEAD of a stream: the length is not known
            elif not old:
                headers["Transfer-Encoding"] = "chunked"
                self._chunked = True
            else:
                self.keep_alive = False  # an HTTP/1.0 body ends with the connection
        # a body not received to its end: the connection ends with this response (what is
        # still coming must not be parsed as the next request)
        keep = (
            self.keep_alive and request.keep_alive and not conn.closing and request.content.is_eof()
        )
        self.keep_alive = conn.keep_alive = keep
        reason = self.reason or _REASONS.get(status, "")
        lines = [f"HTTP/{'1.0' if old else '1.1'} {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if not keep and not old:
            lines.append("Connection: close")
        elif keep and old:
            lines.append("Connection: keep-alive")
        block = "\r\n".join(lines)
        # a CR or LF inside a name or value would split the response (one C pass each)
        if block.count("\n") != len(lines) - 1 or block.count("\r") != len(lines) - 1:
            raise ValueError("a response header holds a line break")
        conn.head_sent = True
        conn.framed = self._chunked or not self._send_body or "Content-Length" in headers
        return (block + "\r\n\r\n").encode("utf-8", "surrogateescape")

    async def prepare(self, request: Request) -> None:
        """Send the head (a ``one_write`` response: later, with its body)."""
        if self._request is not None:
            return
        self._request = request
        if not self.one_write:
            request._conn.write(self._head(request, None))

    async def write(self, data: bytes) -> None:
        request = self._request
        assert request is not None and not self.one_write, "prepare() a streamed response first"
        if not data or not self._send_body:
            return
        conn = request._conn
        if self._chunked:
            conn.writelines((b"%x\r\n" % len(data), data, b"\r\n"))
        else:
            conn.write(data)
        await conn.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        request = self._request
        assert request is not None, "prepare() first"
        conn = request._conn
        if self.one_write:
            body = data or self.body or b""
            head = self._head(request, body)
            conn.write(head + body if self._send_body and body else head)
        elif data and self._send_body:
            if self._chunked:
                conn.writelines((b"%x\r\n" % len(data), data, b"\r\n0\r\n\r\n"))
            else:
                conn.write(data)
        elif self._chunked:
            conn.write(b"0\r\n\r\n")
        conn.current = None  # the response is whole: the connection may take the next request


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """An answer of the proxy's own: JSON with ``Content-Type`` and ``Date``."""
    out: CIMultiDict[str] = CIMultiDict(headers or {})
    out["Content-Type"] = "application/json; charset=utf-8"
    out["Date"] = http_date()
    return Response(status, headers=out, body=json.dumps(data).encode())


Handler = Callable[[Request], Awaitable[Any]]


class _Refusal:
    __slots__ = ("exc",)

    def __init__(self, exc: HttpProcessingError) -> None:
        self.exc = exc


class _Connection(asyncio.Protocol):
    """One client connection: parse, queue, serve in order, write."""

    def __init__(self, server: FrontServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        options: dict[str, Any] = {
            "max_line_size": server.max_line_size,
            "max_field_size": server.max_line_size,
            "payload_exception": RequestPayloadError,
            "auto_decompress": False,
        }
        proto: Any = self  # what a body stream calls is here (pause_reading, ...)
        try:  # the parser stops between messages once MAX_QUEUED wait (aiohttp >= 3.14)
            parser = HttpRequestParser(
                proto, self.loop, _READ_LIMIT, max_msg_queue_size=MAX_QUEUED, **options
            )
        except TypeError:  # older aiohttp: one read is parsed whole, then reading pauses
            parser = HttpRequestParser(proto, self.loop, _READ_LIMIT, **options)
        self.parser = parser
        self._consumed: Callable[[], None] | None = getattr(parser, "message_consumed", None)
        self.queue: deque[tuple[Any, StreamReader] | _Refusal] = deque()
        self.task: asyncio.Task[None] | None = None
        self.current: Request | None = None  # the request whose response is not whole yet
        self.body: StreamReader | None = None  # the body of the request being served
        self.head_sent = False  # of the current request's response
        self.framed = True  # its end is in its framing (a length, chunks), not the close
        self.peer = ""
        self.local = ""
        self.keep_alive = True
        self.closing = False  # no new request is taken; responses say Connection: close
        self.stopped = False  # nothing more is parsed (a refused request, an Upgrade)
        self.idle_since = 0.0
        self.stalled_since = 0.0  # when writing paused (the client stopped reading)
        self.closed_at = 0.0  # when the proxy closed it (the last bytes may still be queued)
        # flow control: reading paused by a request body's buffer or by the queue
        self._reading_paused = False
        self._queue_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        local = transport.get_extra_info("sockname")
        if local:
            host = str(local[0])
            self.local = f"[{host}]:{local[1]}" if ":" in host else f"{host}:{local[1]}"
        self.idle_since = self.loop.time()
        self.server.connections.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        self.closing = self.stopped = True
        self.server.connections.discard(self)
        self._fail_bodies(ConnectionResetError("Connection lost"))
        self.queue.clear()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("Connection lost"))
        self._drain_waiter = None
        if self.task is None:
            self.server.idle_changed()

    def _fail_bodies(self, exc: BaseException) -> bool:
        """Every request body still arriving ends with ``exc`` (a reader waiting on one must
        not wait forever); True when there was one."""
        bodies = [] if self.body is None else [self.body]
        bodies += [item[1] for item in self.queue if not isinstance(item, _Refusal)]
        failed = False
        for body in bodies:
            if not body.is_eof() and body.exception() is None:
                body.set_exception(exc)
                failed = True
        return failed

    def data_received(self, data: bytes) -> None:
        if self.stopped:
            return
        try:
            messages, upgraded, _tail = self.parser.feed_data(data)
        except HttpProcessingError as exc:
            self.stopped = self.closing = True  # nothing after an unparsable request is read
            # inside a body: that request's reader fails (its answer ends the connection);
            # between requests: the refusal is the answer
            if not self._fail_bodies(RequestPayloadError(f"malformed body: {exc.message}")):
                self.queue.append(_Refusal(exc))
            messages, upgraded = [], False
        queue = self.queue
        for item in messages:
            if self.closing:  # shutting down: no new request (bodies still arrive)
                break
            queue.append(item)
            message, payload = item
            if message.upgrade or message.method == "CONNECT":
                # answered as a plain request, then closed: whatever follows its body is not
                # HTTP/1.1 (the body itself still arrives)
                self.closing = True
                payload.on_eof(self._stop)
        if upgraded:
            self.stopped = self.closing = True
        if queue:
            if self.task is None:
                self.task = task = self.loop.create_task(self._serve())
                self.server.tasks.add(task)
            if len(queue) >= MAX_QUEUED and not self._queue_paused:
                self._queue_paused = True
                self._pause_transport()

    def _stop(self) -> None:
        self.stopped = True

    def eof_received(self) -> bool:
        return False  # close our side too once the client has finished sending

    def pause_writing(self) -> None:
        self._writing_paused = True
        self.stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- what the parser's body streams call ------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.transport is not None

    def pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self._pause_transport()

    def resume_reading(self, resume_parser: bool = True) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if not self._queue_paused:
                self._resume_transport()

    def _pause_transport(self) -> None:
        if self.transport is not None:
            with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
                self.transport.pause_reading()

    def _resume_transport(self) -> None:
        if self.transport is not None:
            with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
                self.transport.resume_reading()

    # -- writing ----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client connection is closed")
        transport.write(data)

    def writelines(self, parts: Iterable[bytes]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client connection is closed")
        transport.writelines(parts)

    async def drain(self) -> None:
        """Wait while the client is not reading what was written."""
        if not self._writing_paused:
            return
        if self.transport is None:
            raise ConnectionResetError("the client connection is closed")
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self.loop.create_future()
        await waiter

    # -- serving ----------------------------------------------------------------------------
    async def _serve(self) -> None:
        queue = self.queue
        handler = self.server.handler
        try:
            while queue and self.transport is not None:
                if self._writing_paused:  # the client is not reading: no next answer yet
                    try:
                        await self.drain()
                    except ConnectionError:
                        return
                    if not queue:
                        break
                item = queue.popleft()
                if isinstance(item, _Refusal):
                    self._refuse(item.exc)
                    return
                message, payload = item
                if self._consumed is not None:
                    self._consumed()
                # the parser may hold requests back (its count of waiting ones can be one too
                # high: it counts a request when its body has ended, we when we take it): parse
                # what it kept whenever the queue runs empty or half empty
                if not queue or (self._queue_paused and len(queue) <= MAX_QUEUED // 2):
                    paused, self._queue_paused = self._queue_paused, False
                    self.data_received(b"")  # nothing held back: nothing parsed
                    if paused and not self._queue_paused and not self._reading_paused:
                        self._resume_transport()
                self.body = payload
                request = self.current = Request(self, message, payload)
                self.keep_alive, self.head_sent = True, False
                if payload is not EMPTY_PAYLOAD and message.version >= (1, 1):
                    expect = message.headers.get("Expect")
                    if expect is not None and expect.lower() == "100-continue":
                        with contextlib.suppress(ConnectionError):
                            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    await handler(request)
                except ConnectionError as err:
                    log.debug("the client went away: %s", err)
                    self._failed(request)
                except Exception:
                    log.exception("the request handler failed")
                    self._failed(request)
                if self.current is request:  # the handler never finished its response
                    self._failed(request)
                self.current = None
                if not payload.is_eof():
                    await self._linger(payload)
                    self._close()
                    return
                self.body = None
                if not self.keep_alive:
                    self._close()
                    return
                self.idle_since = self.loop.time()
            if self.closing and not queue:
                self._close()
        finally:
            if self.task is not None:
                self.server.tasks.discard(self.task)
            self.task = None
            self.server.idle_changed()

    async def _linger(self, payload: StreamReader) -> None:
        """The answer went out before the request's body had arrived (it said
        ``Connection: close``): read and drop the rest for a while, so that closing does not
        reset the connection under the client before it has read the answer."""
        deadline = self.loop.time() + self.server.linger
        try:
            while not payload.is_eof() and self.transport is not None:
                left = deadline - self.loop.time()
                if left <= 0:
                    return
                await asyncio.wait_for(payload.readany(), left)
        except (TimeoutError, ConnectionError, HttpProcessingError, RequestPayloadError):
            return
        except RuntimeError:  # the stream's "Connection closed."
            return

    def _failed(self, request: Request) -> None:
        """The handler raised or left its response unfinished: a 500 if nothing was sent yet,
        else the connection is cut (reset: a truncated body must not pass for a whole one, not
        even one that an HTTP/1.0 client reads until the connection ends)."""
        self.keep_alive = False
        if self.current is None:  # the response is whole (what failed came after it)
            self._close()
            return
        self.current = None
        if self.transport is None:
            return
        if self.head_sent:
            self.cut()
            return
        resp = json_response({"detail": "Proxy error."}, status=500)
        resp.headers["X-Strangler-Error"] = "proxy_error"
        resp.force_close()
        body = resp.body or b""
        with contextlib.suppress(ConnectionError):
            head = resp._head(request, body)
            self.write(head + body if resp._send_body else head)
        self._close()

    def _refuse(self, exc: HttpProcessingError) -> None:
        if isinstance(exc, LineTooLong):
            code, reason, detail = 431, "header_too_large", "Request header fields too large."
        else:
            code, reason, detail = 400, "bad_request", "Malformed request."
        log.info("refused a request from %s: %s (%s)", self.peer, reason, exc.message)
        resp = json_response({"detail": detail}, status=code)
        resp.headers["X-Strangler-Error"] = reason
        body = resp.body or b""
        head = f"HTTP/1.1 {code} {_REASONS[code]}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in resp.headers.items()
        )
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(ConnectionError):
            self.write(head.encode() + body)
        self._close()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.closed_at:
            self.closed_at = self.loop.time()
            self.transport.close()

    def cut(self) -> None:
        """End the connection midway through a response: a normal close when the response's
        framing shows it is short (its length, or no last chunk), a reset when only the close
        would end it (HTTP/1.0 without a length), so no client takes the part for the whole."""
        if self.framed:
            self._close()
        else:
            self.reset()

    def reset(self) -> None:
        """Close with a TCP reset (an abort alone may end in a normal FIN)."""
        self.closing = self.stopped = True
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class FrontServer:
    """The listening side: connections, the idle sweep, and the graceful stop."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_line_size: int = 8190,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        linger: float = LINGER,
    ) -> None:
        self.handler = handler
        self.linger = linger
        self.max_line_size = max_line_size
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # handlers running (client gone or not)
        self.send_timeout = SEND_TIMEOUT
        self._servers: list[asyncio.Server] = []
        self._sweep: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        server = await self.loop.create_server(
            lambda: _Connection(self), host, port, backlog=1024, reuse_port=reuse_port or None
        )
        self._servers.append(server)
        if self._sweep is None:
            self._sweep = self.loop.call_later(1.0, self._sweep_idle)

    def _sweep_idle(self) -> None:
        """Once a second: close connections idle for ``keepalive_timeout``; cut those whose
        client has read nothing for ``send_timeout`` (an answer waiting, or the last bytes
        of a closed connection)."""
        now = self.loop.time()
        idle_deadline = now - self.keepalive_timeout
        send_deadline = now - self.send_timeout
        for conn in list(self.connections):
            stalled = conn._writing_paused and conn.stalled_since < send_deadline
            if stalled or 0 < conn.closed_at < send_deadline:
                conn.reset()
            elif conn.task is None and conn.idle_since < idle_deadline:
                conn._close()
        self._sweep = self.loop.call_later(1.0, self._sweep_idle)

    def idle_changed(self) -> None:
        if self._idle is not None and not self.tasks:
            self._idle.set()

    async def shutdown(self, grace: float) -> None:
        """Stop accepting; requests in flight get ``grace`` seconds to finish (their bodies
        still arrive; no new request is taken), then what is left is cancelled."""
        for server in self._servers:
            server.close()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._idle = asyncio.Event()
        for conn in list(self.connections):
            conn.closing = True  # responses from now on say Connection: close
            if conn.task is None:
                conn._close()
        self.idle_changed()
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            busy = len(self.tasks)
            log.warning("%d requests still in flight after %.0f s: cancelled", busy, grace)
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:  # let them unwind before the upstream client they use is closed
            await asyncio.wait(tasks, timeout=2.0)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
