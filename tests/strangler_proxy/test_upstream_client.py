"""The proxy's upstream client against the fake upstream (a real process on a real socket)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from strangler_proxy.model import Timeouts
from strangler_proxy.testing.harness import FakeUpstreamProcess
from strangler_proxy.upstream_client import (
    TICK,
    BadResponse,
    ConnectFailed,
    ResponseTimeout,
    SendFailed,
    TotalTimeout,
    UpstreamClient,
    UpstreamResponse,
)

Scenario = Callable[[UpstreamClient], Awaitable[Any]]


def run(scenario: Scenario, **options: Any) -> Any:
    async def main() -> Any:
        client = UpstreamClient(**options)
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())


def hdrs(*pairs: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(pairs or [("Host", "upstream.test")])


async def body_of(resp: UpstreamResponse) -> bytes:
    try:
        return b"".join([chunk async for chunk in resp])
    finally:
        resp.release()


async def echo(client: UpstreamClient, base: str, target: str = "/echo", **kw: Any) -> Any:
    resp = await client.request(kw.pop("method", "GET"), base, target, kw.pop("headers", hdrs()),
                                kw.pop("body", None), **kw)  # fmt: skip
    assert resp.status == 200, resp.status
    return json.loads(await body_of(resp))


def test_request_line_headers_and_host(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[Any, Any]:
        given = CIMultiDict([("X-A", "1"), ("host", "shop.test"), ("X-A", "2"), ("x-b", "c")])
        return (
            await echo(client, legacy.url, "/echo/a%2Fb?q=1&q=2", headers=given),
            await echo(client, legacy.url, headers=CIMultiDict([("Accept", "*/*")])),
        )

    given, default = run(scenario)
    assert given["target"] == "/echo/a%2Fb?q=1&q=2"
    # Host first (as aiohttp sends it), then the caller's order, case and repeats; nothing added
    assert given["headers"] == [["host", "shop.test"], ["X-A", "1"], ["X-A", "2"], ["x-b", "c"]]
    assert default["headers"] == [["Host", f"127.0.0.1:{legacy.port}"], ["Accept", "*/*"]]


def test_response_status_reason_and_raw_headers(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> UpstreamResponse:
        resp = await client.request("GET", legacy.url, "/cookies", hdrs())
        await resp.read()
        resp.release()
        return resp

    resp = run(scenario)
    assert (resp.status, resp.reason) == (200, "OK")
    cookies = [v for k, v in resp.raw_headers if k == b"Set-Cookie"]
    assert cookies == [b"a=1; Path=/", b"b=2; Path=/; HttpOnly", b"c=3; Path=/; Secure"]
    assert resp.headers.getall("set-cookie") == [c.decode() for c in cookies]
    assert resp.content_length == 2


def test_keep_alive_connection_is_reused(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[int, list[int]]:
        ports = []
        for _ in range(5):
            resp = await client.request("GET", legacy.url, "/echo", hdrs())
            assert resp.status == 200
            conn = resp._conn
            assert conn is not None and conn.transport is not None
            ports.append(conn.transport.get_extra_info("sockname")[1])
            await resp.read()
            resp.release()
        return client.idle_connections(legacy.url), ports

    idle, ports = run(scenario)
    assert idle == 1
    assert len(set(ports)) == 1  # one connection for all five


def test_concurrent_requests_open_connections_and_keep_them(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[list[str], int]:
        async def one(i: int) -> str:
            got = await echo(client, legacy.url, f"/echo?i={i}")
            return str(got["target"])

        targets = await asyncio.gather(*(one(i) for i in range(8)))
        return targets, client.idle_connections(legacy.url)

    targets, idle = run(scenario)
    assert targets == [f"/echo?i={i}" for i in range(8)]
    assert 1 <= idle <= 8


def test_close_waits_until_the_idle_connections_are_gone(legacy: FakeUpstreamProcess) -> None:
    async def main() -> list[bool]:
        client = UpstreamClient()
        await asyncio.gather(*(echo(client, legacy.url, f"/echo?i={i}") for i in range(4)))
        conns = [c for pool in client._pools.values() for c in pool.idle]
        await client.close()
        # every transport has called connection_lost: nothing is left for the loop's end
        return [c.closed is None or c.closed.done() for c in conns]

    done = asyncio.run(main())
    assert done and all(done)


def test_idle_connections_are_closed_after_keepalive(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[int, int]:
        await echo(client, legacy.url)
        before = client.idle_connections(legacy.url)
        await asyncio.sleep(0.5)
        return before, client.idle_connections(legacy.url)

    assert run(scenario, keepalive=0.2) == (1, 0)


def test_a_response_read_across_a_sweep_still_returns_its_connection(
    legacy: FakeUpstreamProcess,
) -> None:
    async def scenario(client: UpstreamClient) -> tuple[int, int]:
        await echo(client, legacy.url)
        resp = await client.request("GET", legacy.url, "/echo", hdrs())
        await asyncio.sleep(0.5)  # the sweep finds the pool empty (its connection is in use)
        await resp.read()
        resp.release()
        after = client.idle_connections(legacy.url)
        await echo(client, legacy.url)
        return after, client.idle_connections(legacy.url)

    assert run(scenario, keepalive=0.2) == (1, 1)


def test_stale_pooled_connection_is_retried_on_a_new_one(legacy: FakeUpstreamProcess) -> None:
    """The server closes a kept-alive connection as the request arrives (gunicorn's keepalive
    running out): an idempotent request is sent once more, on a new connection."""

    async def scenario(client: UpstreamClient) -> Any:
        await echo(client, legacy.url)  # one pooled connection
        assert client.idle_connections(legacy.url) == 1
        return await echo(client, legacy.url, "/drop-once?key=stale-get")

    assert run(scenario)["target"] == "/drop-once?key=stale-get"


def test_non_idempotent_requests_are_not_sent_twice(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> Any:
        await echo(client, legacy.url)  # one pooled connection
        target = "/drop-once?key=stale-post"
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.request("POST", legacy.url, target, hdrs(), b"x")
        # dropped once and not sent again: the same request is answered now
        return await echo(client, legacy.url, target, method="POST", body=b"x")

    assert run(scenario)["method"] == "POST"


def test_a_new_connection_closed_without_answer_is_not_retried(
    legacy: FakeUpstreamProcess,
) -> None:
    async def scenario(client: UpstreamClient) -> Any:
        target = "/drop-once?key=fresh-get"
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.request("GET", legacy.url, target, hdrs())
        return await echo(client, legacy.url, target)

    assert run(scenario)["target"] == "/drop-once?key=fresh-get"


def test_chunked_response_streams_in_pieces(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[bytes, int]:
        resp = await client.request("GET", legacy.url, "/stream?chunks=4&size=3", hdrs())
        assert resp.content_length is None
        body = await body_of(resp)
        return body, client.idle_connections(legacy.url)

    body, idle = run(scenario)
    assert body == b"000111222333"
    assert idle == 1  # the last chunk ends the body; the connection is kept


def test_body_until_close(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[bytes, int]:
        resp = await client.request("GET", legacy.url, "/until-close?size=200000", hdrs())
        body = await body_of(resp)
        return body, client.idle_connections(legacy.url)

    body, idle = run(scenario)
    assert body == b"u" * 200_000
    assert idle == 0  # ended by the close: nothing to keep


def test_large_body_with_length(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[int, int | None, int]:
        resp = await client.request("GET", legacy.url, "/bytes?size=3000000", hdrs())
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
        resp.release()
        return size, resp.content_length, client.idle_connections(legacy.url)

    assert run(scenario) == (3_000_000, 3_000_000, 1)


def test_head_has_length_but_no_body_and_keeps_the_connection(
    legacy: FakeUpstreamProcess,
) -> None:
    async def scenario(client: UpstreamClient) -> tuple[int | None, bytes, Any]:
        resp = await client.request("HEAD", legacy.url, "/bytes?size=5000", hdrs())
        body = await resp.read()
        resp.release()
        return resp.content_length, body, await echo(client, legacy.url)

    length, body, after = run(scenario)
    assert (length, body) == (5000, b"")
    assert after["method"] == "GET"  # the connection was left in a clean state


def test_interim_1xx_responses_are_skipped(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> Any:
        return await echo(client, legacy.url, "/early-hints")

    assert run(scenario)["target"] == "/early-hints"


def test_request_bodies_bytes_stream_and_declared_length(legacy: FakeUpstreamProcess) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"", b"cd"):
            yield piece

    async def scenario(client: UpstreamClient) -> list[Any]:
        length = CIMultiDict([("Host", "x"), ("Content-Length", "4")])
        return [
            await echo(client, legacy.url, method="POST", body=b"hello"),
            await echo(client, legacy.url, method="PUT", body=parts()),
            await echo(client, legacy.url, method="POST", body=parts(), headers=length),
            await echo(client, legacy.url, method="POST"),
            await echo(client, legacy.url, method="DELETE"),
        ]

    sized, chunked, declared, empty, delete = run(scenario)
    assert sized["body"] == "hello" and ["Content-Length", "5"] in sized["headers"]
    assert chunked["body"] == "abcd" and ["Transfer-Encoding", "chunked"] in chunked["headers"]
    assert declared["body"] == "abcd" and declared["headers"][-1] == ["Content-Length", "4"]
    assert not any(k == "Transfer-Encoding" for k, _ in declared["headers"])
    assert empty["headers"][-1] == ["Content-Length", "0"]  # as aiohttp sends a bodiless POST
    assert delete["headers"][-1] == ["Content-Length", "0"]


def test_failing_body_source_is_a_send_failure(legacy: FakeUpstreamProcess) -> None:
    class Boom(Exception):
        pass

    async def parts() -> AsyncIterator[bytes]:
        yield b"first"
        raise Boom

    async def scenario(client: UpstreamClient) -> Any:
        with pytest.raises(SendFailed) as caught:
            await client.request("POST", legacy.url, "/echo", hdrs(), parts())
        assert isinstance(caught.value.__cause__, Boom)
        return await echo(client, legacy.url)  # a new connection, not the half-sent one

    assert run(scenario)["method"] == "GET"


def test_bad_framing_is_refused(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> None:
        with pytest.raises(BadResponse, match="Content-Length"):
            await client.request("GET", legacy.url, "/bad-framing", hdrs())
        assert client.idle_connections(legacy.url) == 0

    run(scenario)


def test_connection_refused_is_connect_failed() -> None:
    async def scenario(client: UpstreamClient) -> None:
        with pytest.raises(ConnectFailed):
            await client.request("GET", "http://127.0.0.1:9", "/", hdrs())

    run(scenario)


def test_response_timeout_until_headers(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> float:
        t0 = time.monotonic()
        with pytest.raises(ResponseTimeout):
            await client.request(
                "GET", legacy.url, "/slow?delay=3", hdrs(), timeouts=Timeouts(response=0.3)
            )
        return time.monotonic() - t0

    assert 0.25 < run(scenario) < 2.5


@pytest.mark.parametrize(
    ("timeouts", "expected"),
    [
        # both passed by the time one sweep looks: the earlier deadline decides, as with timers
        (Timeouts(response=0.30, idle=0.32), ResponseTimeout),
        (Timeouts(response=0.32, idle=0.30), aiohttp.SocketTimeoutError),
        (Timeouts(response=0.32, idle=0.31, total=0.30), TotalTimeout),
    ],
)
def test_the_earliest_due_deadline_decides(
    legacy: FakeUpstreamProcess, timeouts: Timeouts, expected: type[Exception]
) -> None:
    async def scenario(client: UpstreamClient) -> BaseException:
        with pytest.raises(Exception) as info:
            await client.request("GET", legacy.url, "/slow?delay=3", hdrs(), timeouts=timeouts)
        return info.value

    assert type(run(scenario)) is expected


def test_no_deadline_outlives_its_exchange(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> tuple[int, bool]:
        for _ in range(5):
            await echo(client, legacy.url, timeouts=Timeouts(response=5, idle=5, total=5))
        # nothing in progress: nothing watched, and the sweep stops coming back
        await asyncio.sleep(2 * TICK)
        return len(client._watched), client._ticker is None

    assert run(scenario) == (0, True)


def test_a_closed_connection_leaves_the_sweep_even_if_never_released(
    legacy: FakeUpstreamProcess,
) -> None:
    async def scenario(client: UpstreamClient) -> tuple[bytes, int, bool]:
        # a caller that forgets release(): once the server has closed the connection, the
        # sweep lets go of it instead of waking up for it for ever
        resp = await client.request("GET", legacy.url, "/until-close?size=10", hdrs(),
                                    timeouts=Timeouts(idle=30, total=30))  # fmt: skip
        body = await resp.content.read()
        deadline = time.monotonic() + 5
        while client._watched and time.monotonic() < deadline:
            await asyncio.sleep(TICK)
        await asyncio.sleep(2 * TICK)
        return body, len(client._watched), client._ticker is None

    assert run(scenario) == (b"u" * 10, 0, True)


def test_idle_timeout_between_reads(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> bytes:
        resp = await client.request(
            "GET", legacy.url, "/gated?key=client-idle", hdrs(), timeouts=Timeouts(idle=0.3)
        )
        got = b""
        with pytest.raises(aiohttp.SocketTimeoutError):
            async for chunk in resp.content.iter_any():
                got += chunk
        resp.release()
        await echo(client, legacy.url, "/release?key=client-idle")
        return got

    assert run(scenario) == b"first"


def test_total_timeout_before_and_after_headers(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> None:
        total = Timeouts(total=0.4)
        with pytest.raises(TotalTimeout):
            await client.request("GET", legacy.url, "/slow?delay=3", hdrs(), timeouts=total)
        resp = await client.request("GET", legacy.url, "/gated?key=client-total", hdrs(),
                                    timeouts=total)  # fmt: skip
        assert resp.status == 200
        with pytest.raises(TotalTimeout):
            async for _ in resp.content.iter_any():
                pass
        resp.release()
        await echo(client, legacy.url, "/release?key=client-total")

    run(scenario)


def test_total_timer_is_cancelled_with_the_response(legacy: FakeUpstreamProcess) -> None:
    async def scenario(client: UpstreamClient) -> Any:
        await echo(client, legacy.url, timeouts=Timeouts(total=0.2))
        await asyncio.sleep(0.3)  # the timer of the finished request must not fire on reuse
        return await echo(client, legacy.url)

    assert run(scenario)["method"] == "GET"
