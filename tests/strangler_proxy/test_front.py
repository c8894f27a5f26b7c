"""The public port's HTTP/1.1 server (strangler_proxy/_front.py), on real sockets.

Each test runs a :class:`FrontServer` with a small handler in this process and talks to it with
raw bytes, so framing, keep-alive, pipelining, refusals and the graceful stop are checked on what
goes over the wire. The proxy's own behaviour behind it is covered by test_forwarding.py and the
other end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from multidict import CIMultiDict

from strangler_proxy._front import MAX_QUEUED, FrontServer, Request, Response, json_response

Handler = Callable[[Request], Awaitable[Any]]
DEADLINE = 10.0


async def echo(request: Request) -> None:
    body = await request.content.read()
    doc = {"method": request.method, "target": request.raw_path, "body": body.decode()}
    resp = json_response(doc)
    await resp.prepare(request)
    await resp.write_eof()


_clients: list[asyncio.StreamWriter] = []


async def connect(port: int, **kw: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, **kw)
    _clients.append(writer)
    return reader, writer


async def _close_clients() -> None:
    while _clients:
        writer = _clients.pop()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def run(handler: Handler, scenario: Callable[[FrontServer, int], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        server = FrontServer(handler, **kw)
        await server.listen("127.0.0.1", 0)
        try:
            return await asyncio.wait_for(scenario(server, port_of(server)), DEADLINE)
        finally:
            await _close_clients()
            await server.shutdown(1.0)

    return asyncio.run(main())


def port_of(server: FrontServer) -> int:
    return int(server._servers[0].sockets[0].getsockname()[1])


async def read_response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One response, framed as a client must frame it (length, chunked, or until close)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status, *lines = head[:-4].split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines)}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif " 204 " in status or " 304 " in status or headers.get("x-head") == "1":
        body = b""
    else:
        body = await reader.read()
    return status, headers, body


def get(target: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"GET {target} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()


# -- keep-alive, pipelining, framing ---------------------------------------------------------
def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    async def scenario(server: FrontServer, port: int) -> list[str]:
        reader, writer = await connect(port)
        post = b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
        writer.write(get("/a") + post + get("/c"))
        targets = []
        for _ in range(3):
            _, _, body = await read_response(reader)
            doc = json.loads(body)
            targets.append(f"{doc['method']} {doc['target']} {doc['body']}")
        writer.close()
        return targets

    assert run(echo, scenario) == ["GET /a ", "POST /b xyz", "GET /c "]


def test_http10_keeps_the_connection_only_when_asked() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        writer.write(get("/k", "Connection: keep-alive\r\n", "1.0"))
        status1, headers1, _ = await read_response(reader)
        writer.write(get("/plain", version="1.0"))
        status2, headers2, _ = await read_response(reader)
        closed = await reader.read() == b""
        return status1, headers1.get("connection"), status2, headers2.get("connection"), closed

    status1, conn1, status2, conn2, closed = run(echo, scenario)
    assert status1.startswith("HTTP/1.0 200") and conn1 == "keep-alive"
    assert status2.startswith("HTTP/1.0 200") and conn2 is None
    assert closed


async def streamed(request: Request) -> None:
    resp = Response(200, headers=CIMultiDict({"Content-Type": "text/plain"}), one_write=False)
    await resp.prepare(request)
    for part in (b"one,", b"two,", b"three"):
        await resp.write(part)
    await resp.write_eof()


def test_a_stream_of_unknown_length_is_chunked_for_http11_and_closed_for_http10() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        writer.write(get("/s") + get("/s"))  # two: the first must end exactly where it says
        first = await read_response(reader)
        second = await read_response(reader)
        writer.close()
        reader10, writer10 = await connect(port)
        writer10.write(get("/s", version="1.0"))
        old = await read_response(reader10)
        return first, second, old

    first, second, old = run(streamed, scenario)
    assert first[1]["transfer-encoding"] == "chunked" and first[2] == b"one,two,three"
    assert second[2] == b"one,two,three"
    assert "transfer-encoding" not in old[1] and "content-length" not in old[1]
    assert old[2] == b"one,two,three"  # read until the server closed


async def bodiless(request: Request) -> None:
    status = int(request.raw_path.strip("/"))
    resp = Response(status, headers=CIMultiDict({"X-Head": "1"}), body=b"must not be sent")
    await resp.prepare(request)
    await resp.write_eof()


def test_204_never_carries_a_length() -> None:
    async def handler(request: Request) -> None:
        resp = Response(204, headers=CIMultiDict({"Content-Length": "5"}), body=b"")
        await resp.prepare(request)
        await resp.write_eof()

    async def scenario(server: FrontServer, port: int) -> tuple[str, dict[str, str], bytes]:
        reader, _ = await connect(port)
        _.write(get("/"))
        return await read_response(reader)

    status, headers, _ = run(handler, scenario)
    assert status.startswith("HTTP/1.1 204") and "content-length" not in headers


def test_head_204_and_304_carry_no_body_and_the_connection_goes_on() -> None:
    async def scenario(server: FrontServer, port: int) -> list[tuple[str, dict[str, str], bytes]]:
        reader, writer = await connect(port)
        writer.write(b"HEAD /200 HTTP/1.1\r\nHost: t\r\n\r\n" + get("/204") + get("/304"))
        answers = [await read_response(reader) for _ in range(3)]
        writer.write(get("/200"))
        answers.append(await read_response(reader))
        writer.close()
        return answers

    head, no_content, not_modified, after = run(bodiless, scenario)
    assert head[1]["content-length"] == str(len(b"must not be sent"))  # what a GET would get
    assert "content-length" not in no_content[1] and "content-length" not in not_modified[1]
    assert after[0].startswith("HTTP/1.1 200") and after[2] == b"must not be sent"


# -- what closes a connection ----------------------------------------------------------------
async def refuse_unread(request: Request) -> None:
    resp = json_response({"detail": "no"}, status=413)  # the body is never read
    await resp.prepare(request)
    await resp.write_eof()


def test_an_unread_body_closes_the_connection_and_is_never_taken_for_a_request() -> None:
    seen: list[str] = []

    async def handler(request: Request) -> None:
        seen.append(request.raw_path)
        await refuse_unread(request)

    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        # the body's last bytes look like a request; they never arrive in full before the answer
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
        status, headers, _ = await read_response(reader)
        writer.write(b"x" * 50 + get("/smuggled"))
        rest = await reader.read()
        return status, headers.get("connection"), rest

    status, connection, rest = run(handler, scenario, linger=0.2)
    assert status.startswith("HTTP/1.1 413") and connection == "close"
    assert rest == b""
    assert seen == ["/up"]


def test_unparsable_request_gets_400_and_nothing_after_it_is_read() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        writer.write(get("/fine"))
        first = await read_response(reader)
        writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n" + get("/no"))
        refused = await read_response(reader)
        rest = await reader.read()
        return first, refused, rest

    first, refused, rest = run(echo, scenario)
    assert json.loads(first[2])["target"] == "/fine"
    assert refused[0].startswith("HTTP/1.1 400")
    assert refused[1]["x-strangler-error"] == "bad_request"
    assert refused[1]["connection"] == "close"
    assert json.loads(refused[2]) == {"detail": "Malformed request."}
    assert rest == b""  # the request after it was never read


def test_a_header_over_the_limit_is_431() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[str, dict[str, str], bytes]:
        reader, writer = await connect(port)
        writer.write(get("/big", f"X-Big: {'a' * 2000}\r\n"))
        return await read_response(reader)

    status, headers, _ = run(echo, scenario, max_line_size=1024)
    assert status.startswith("HTTP/1.1 431") and headers["x-strangler-error"] == "header_too_large"


def test_a_failing_handler_answers_500_before_the_head_and_cuts_the_stream_after_it() -> None:
    async def handler(request: Request) -> None:
        if request.raw_path == "/late":  # HEAD /late too
            resp = Response(200, one_write=False)
            await resp.prepare(request)
            await resp.write(b"partial")
        raise RuntimeError("boom")

    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        writer.write(get("/early"))
        early = await read_response(reader)
        early_rest = await reader.read()
        reader2, writer2 = await connect(port)
        writer2.write(get("/late"))
        try:
            late = await reader2.read()  # until the server cut the connection
        except ConnectionResetError:
            late = b"(reset)"
        reader3, writer3 = await connect(port)
        writer3.write(b"HEAD /early HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await reader3.read()
        return early, early_rest, late, head

    early, early_rest, late, head = run(handler, scenario)
    assert early[0].startswith("HTTP/1.1 500") and early[1]["x-strangler-error"] == "proxy_error"
    assert early_rest == b""
    assert not late.endswith(b"0\r\n\r\n")  # no final chunk: the client sees a cut body
    assert head.startswith(b"HTTP/1.1 500") and head.endswith(b"\r\n\r\n")  # HEAD: no body


def test_a_line_break_in_a_header_value_never_reaches_the_wire() -> None:
    async def handler(request: Request) -> None:
        resp = Response(200, headers=CIMultiDict({"X-Evil": "a\r\nSet-Cookie: x=1"}), body=b"")
        await resp.prepare(request)
        await resp.write_eof()

    async def scenario(server: FrontServer, port: int) -> bytes:
        reader, writer = await connect(port)
        writer.write(get("/"))
        return await reader.read()

    answer = run(handler, scenario)
    assert answer.startswith(b"HTTP/1.1 500") and b"Set-Cookie" not in answer


@pytest.mark.parametrize("kind", ["websocket", "foo"])
def test_upgrade_requests_are_answered_as_plain_requests_then_closed(kind: str) -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        writer.write(get("/ws", f"Connection: Upgrade\r\nUpgrade: {kind}\r\n") + get("/after"))
        first = await read_response(reader)
        rest = await reader.read()
        return first, rest

    first, rest = run(echo, scenario)
    assert json.loads(first[2])["target"] == "/ws" and first[1]["connection"] == "close"
    assert rest == b""  # the request after it is not answered, and nothing hangs


# -- the client going away, flow control ----------------------------------------------------
def test_a_client_gone_mid_body_fails_the_handlers_read_instead_of_hanging() -> None:
    outcome: asyncio.Future[str]

    async def handler(request: Request) -> None:
        try:
            await request.content.read()
        except ConnectionResetError:
            outcome.set_result("reset")
        else:
            outcome.set_result("read")

    async def scenario(server: FrontServer, port: int) -> str:
        nonlocal outcome
        outcome = asyncio.get_running_loop().create_future()
        _reader, writer = await connect(port)
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc")
        await writer.drain()
        writer.transport.abort()
        return await outcome

    assert run(handler, scenario) == "reset"


def test_a_client_that_does_not_read_holds_the_writer_back() -> None:
    buffered: list[int] = []
    chunk = b"z" * (1 << 20)

    async def handler(request: Request) -> None:
        resp = Response(200, headers=CIMultiDict({"Content-Length": str(32 * len(chunk))}))
        resp.one_write = False
        await resp.prepare(request)
        assert request.transport is not None
        for _ in range(32):
            await resp.write(chunk)
            buffered.append(request.transport.get_write_buffer_size())
        await resp.write_eof()

    async def scenario(server: FrontServer, port: int) -> int:
        reader, writer = await connect(port, limit=1 << 16)
        writer.write(get("/big"))
        _, _headers, body = await read_response(reader)
        return len(body)

    assert run(handler, scenario) == 32 * len(chunk)
    # each write waited for the client: never more than a chunk or so waiting in the buffer
    assert max(buffered) <= 2 * len(chunk)


# -- idle connections and the graceful stop --------------------------------------------------
def test_idle_connections_are_closed_but_not_one_in_the_middle_of_a_request() -> None:
    release: asyncio.Event

    async def handler(request: Request) -> None:
        if request.raw_path == "/wait":
            await release.wait()
        await echo(request)

    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        nonlocal release
        release = asyncio.Event()
        idle_reader, _idle_writer = await connect(port)
        busy_reader, busy_writer = await connect(port)
        busy_writer.write(get("/wait"))
        idle_closed = await idle_reader.read()  # the sweep closes it (timeout 0.2 s)
        release.set()
        busy = await read_response(busy_reader)
        return idle_closed, busy

    idle_closed, busy = run(handler, scenario, keepalive_timeout=0.2)
    assert idle_closed == b""
    assert json.loads(busy[2])["target"] == "/wait"


def test_shutdown_closes_idle_connections_and_lets_requests_in_flight_finish() -> None:
    async def scenario() -> tuple[Any, ...]:
        started, release = asyncio.Event(), asyncio.Event()

        async def handler(request: Request) -> None:
            started.set()
            await release.wait()
            await echo(request)

        server = FrontServer(handler)
        await server.listen("127.0.0.1", 0)
        port = port_of(server)
        idle_reader, _ = await connect(port)
        busy_reader, busy_writer = await connect(port)
        busy_writer.write(get("/in-flight"))
        await started.wait()
        stopping = asyncio.create_task(server.shutdown(5.0))
        idle_closed = await idle_reader.read()
        refused = None
        try:
            await connect(port)
        except OSError as err:
            refused = err
        release.set()
        answer = await read_response(busy_reader)
        await stopping
        await _close_clients()
        return idle_closed, refused, answer

    idle_closed, refused, answer = asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert idle_closed == b""
    assert isinstance(refused, ConnectionRefusedError)
    assert answer[0].startswith("HTTP/1.1 200") and answer[1]["connection"] == "close"


def test_shutdown_stops_what_outlives_the_grace_period() -> None:
    async def scenario() -> tuple[Any, ...]:
        started = asyncio.Event()

        async def handler(request: Request) -> None:
            started.set()
            await asyncio.Event().wait()  # never answers

        server = FrontServer(handler)
        await server.listen("127.0.0.1", 0)
        port = port_of(server)
        reader, writer = await connect(port)
        writer.write(get("/stuck"))
        await started.wait()
        await server.shutdown(0.2)
        try:
            rest = await reader.read()
        except ConnectionResetError:
            rest = b""
        await _close_clients()
        return rest, server.connections

    rest, connections = asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert rest == b"" and not connections


# -- what the review found: bounded buffers, bodies that end badly, uploads during a stop ------
async def until(condition: Callable[[], bool]) -> None:
    """Await a condition (the loop keeps running); the test's deadline bounds it."""
    while not condition():
        await asyncio.sleep(0.01)


def test_a_pipelining_client_that_does_not_read_cannot_make_answers_pile_up() -> None:
    waiting: list[int] = []
    queued: list[int] = []
    body = b"b" * 60_000

    async def handler(request: Request) -> None:
        assert request.transport is not None
        waiting.append(request.transport.get_write_buffer_size())
        queued.append(len(request._conn.queue))
        resp = Response(200, body=body)
        await resp.prepare(request)
        await resp.write_eof()

    async def scenario(server: FrontServer, port: int) -> int:
        reader, writer = await connect(port, limit=1 << 20)
        writer.write(get("/") * 400)
        await until(lambda: any(c._writing_paused for c in server.connections))
        answers = [await read_response(reader) for _ in range(400)]
        return sum(len(a[2]) for a in answers)

    assert run(handler, scenario) == 400 * len(body)
    # the next answer is made only once the client has read the ones before it
    assert max(waiting) <= 256 * 1024
    # and the parser stops between requests: at most MAX_QUEUED parsed ones wait
    assert max(queued) <= MAX_QUEUED


def test_a_malformed_chunk_fails_the_body_reader_and_ends_the_connection() -> None:
    outcome: list[str] = []

    async def handler(request: Request) -> None:
        try:
            await request.content.read()
            outcome.append("read")
        except Exception as err:  # the parser's error, as the body stream's
            outcome.append(type(err).__name__)
        resp = json_response({"detail": "bad body"}, status=400)
        await resp.prepare(request)
        await resp.write_eof()

    async def scenario(server: FrontServer, port: int) -> tuple[Any, ...]:
        reader, writer = await connect(port)
        writer.write(
            b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
        )
        await writer.drain()
        await until(lambda: any(c.current is not None for c in server.connections))
        writer.write(b"zz\r\n")
        answer = await read_response(reader)
        rest = await reader.read()
        return answer, rest

    answer, rest = run(handler, scenario)
    assert outcome == ["RequestPayloadError"]
    assert answer[0].startswith("HTTP/1.1 400") and answer[1]["connection"] == "close"
    assert rest == b""  # one answer for one request: no second, unasked-for 400


def test_an_upload_in_flight_when_the_stop_begins_still_arrives_whole() -> None:
    async def scenario() -> tuple[Any, ...]:
        server = FrontServer(echo)
        await server.listen("127.0.0.1", 0)
        reader, writer = await connect(port_of(server))
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        await until(lambda: any(c.current is not None for c in server.connections))
        stopping = asyncio.create_task(server.shutdown(5.0))
        await until(lambda: all(c.closing for c in server.connections))
        writer.write(b"world")
        answer = await read_response(reader)
        await stopping
        await _close_clients()
        return answer

    status, headers, body = asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert status.startswith("HTTP/1.1 200") and headers["connection"] == "close"
    assert json.loads(body)["body"] == "helloworld"


def test_an_early_answer_to_an_upload_is_read_by_the_client_not_reset() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[str, dict[str, str], bytes]:
        reader, writer = await connect(port)
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n")
        writer.write(b"u" * 4_000_000)  # all of it, before reading the answer
        await writer.drain()
        return await read_response(reader)

    status, headers, _ = run(refuse_unread, scenario)
    assert status.startswith("HTTP/1.1 413") and headers["connection"] == "close"


def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[bytes, bytes]:
        reader, writer = await connect(port)
        writer.write(
            b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"hello")
        _, _, body = await read_response(reader)
        return interim, body

    interim, body = run(echo, scenario)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert json.loads(body)["body"] == "hello"


# -- the second review: upgrades with bodies, the parser's count, cut connections -------------
def test_an_upgrade_request_with_a_body_in_two_packets_gets_all_of_it() -> None:
    async def scenario(server: FrontServer, port: int) -> tuple[str, dict[str, str], bytes]:
        reader, writer = await connect(port)
        writer.write(
            b"POST /h2c HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 10\r\n\r\nhello"
        )
        await writer.drain()
        await until(lambda: any(c.current is not None for c in server.connections))
        writer.write(b"world")
        return await read_response(reader)

    status, headers, body = run(echo, scenario)
    assert status.startswith("HTTP/1.1 200") and headers["connection"] == "close"
    assert json.loads(body)["body"] == "helloworld"


def test_requests_pipelined_behind_a_late_body_are_all_answered() -> None:
    async def scenario(server: FrontServer, port: int) -> list[str]:
        reader, writer = await connect(port)
        writer.write(b"POST /late HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
        await writer.drain()
        await until(lambda: any(c.current is not None for c in server.connections))
        writer.write(b"body" + b"".join(get(f"/{i}") for i in range(40)))
        return [json.loads((await read_response(reader))[2])["target"] for _ in range(41)]

    assert run(echo, scenario) == ["/late", *(f"/{i}" for i in range(40))]


def test_a_client_gone_during_the_linger_ends_it_at_once() -> None:
    async def scenario(server: FrontServer, port: int) -> bool:
        reader, writer = await connect(port)
        writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nxx")
        await read_response(reader)  # the early answer; the server now lingers (30 s)
        writer.transport.abort()
        await until(lambda: not server.tasks)  # well before the linger's end
        return True

    assert run(refuse_unread, scenario, linger=30.0)


def test_a_stream_cut_midway_is_a_reset_for_http10_and_a_short_chunked_body_for_http11() -> None:
    async def handler(request: Request) -> None:
        resp = Response(200, one_write=False)
        await resp.prepare(request)
        await resp.write(b"partial-body")
        request.cut()  # what the proxy does when the upstream breaks off

    async def scenario(server: FrontServer, port: int) -> tuple[str, bytes]:
        reader, writer = await connect(port)
        writer.write(get("/", version="1.0"))
        try:
            await reader.read()
            old = "clean end"
        except ConnectionResetError:
            old = "reset"
        reader11, writer11 = await connect(port)
        writer11.write(get("/"))
        return old, await reader11.read()  # chunked: all that was sent, without the last chunk

    old, new = run(handler, scenario)
    assert old == "reset"
    assert new.endswith(b"c\r\npartial-body\r\n")


def test_a_client_that_reads_nothing_is_cut_after_the_send_timeout() -> None:
    async def handler(request: Request) -> None:
        resp = Response(200, headers=CIMultiDict({"Content-Length": str(64 << 20)}))
        resp.one_write = False
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(b"x" * (1 << 20))
        await resp.write_eof()

    async def scenario(server: FrontServer, port: int) -> bool:
        server.send_timeout = 0.3
        _reader, writer = await connect(port)
        writer.write(get("/"))
        await until(lambda: bool(server.connections))
        await until(lambda: not server.connections)  # cut by the sweep, not left hanging
        await until(lambda: not server.tasks)
        return True

    assert run(handler, scenario)


def test_shutdown_cancels_the_handler_of_a_client_that_left() -> None:
    seen: list[str] = []

    async def scenario() -> list[str]:
        started = asyncio.Event()

        async def handler(request: Request) -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        server = FrontServer(handler)
        await server.listen("127.0.0.1", 0)
        _reader, writer = await connect(port_of(server))
        writer.write(get("/"))
        await started.wait()
        writer.transport.abort()
        await until(lambda: not server.connections)  # gone from the connections, not the tasks
        await server.shutdown(0.2)
        await _close_clients()
        return seen

    assert asyncio.run(asyncio.wait_for(scenario(), DEADLINE)) == ["cancelled"]
