"""A fake upstream that reports the exact bytes it received, for tests and benchmarks.

It speaks HTTP/1.1 on raw asyncio streams (no framework between the socket and the report), so
a test sees precisely what the proxy sent: header order, case, repeats, the body's bytes.

    python -m strangler_proxy.testing.upstream --port 9001 --name catalog

Behaviour by path (the query tunes it):

    /echo...                 200 JSON: name, method, target, headers [[k, v], ...], body
                             length and sha256 (any path not listed below echoes too)
    /status/NNN              that status, echo body
    .../slow?delay=S         answers after S seconds
    /stream?chunks=N&size=B  chunked response, N chunks of B bytes
    .../gated?key=K          first chunk at once, the rest after GET /release?key=K
    /waiting?key=K           {"waiting": true} while a /gated response holds
    /release?key=K           releases /gated
    /bytes?size=N            N bytes with Content-Length, written in 64 KiB pieces
    /cookies                 three Set-Cookie headers
    /gzip                    a gzip-compressed JSON body with Content-Encoding: gzip (the
                             same document everywhere, compressed bytes of each upstream's own)
    /redirect                302 to /echo/target with a relative Location
    .../absolute-redirect    302 to this upstream's own absolute address (.../echo/target;
                             with ?host=1: to the address in Host)
    .../page?page=N          a DRF page envelope whose next/previous name this upstream
                             (with &host=1: the address in Host, as Django names them)
    .../cacheable?max_age=S  Cache-Control: max-age=S, an ETag, Vary: Accept-Language and a
                             body counting the calls so far (a cached answer shows an old count)
    .../clock/...            {"id": 7, "name": "clock", "now": <a new timestamp each call>}
    /bare                    no Content-Type, Date or Server header
    /bad-framing             both Content-Length and Transfer-Encoding (a smuggling vector)
    /drop                    closes the connection without answering
    /drop-once?key=K         the first request for K: like /drop; later ones: echo
    /until-close?size=N      N bytes with neither Content-Length nor chunks, then closes
    /early-hints             a 103 interim response, then the echo
    /healthz                 200 {"status": "ok"} (never delayed)

With ``--delay S`` every other answer waits S seconds first. Tests steer a running upstream:

    /__control/delay?seconds=S   from now on, wait S seconds before answering
    /__control/health?ok=0|1     make /healthz answer 503 / 200
    /__control/stats             {"health_checks": <requests for /healthz so far>}

Every response carries ``X-Upstream-Name``. HEAD answers the GET's headers with no body.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import signal
import ssl
import time
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeUpstream", "main"]

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class _Request:
    def __init__(
        self, method: str, target: str, version: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class FakeUpstream:
    def __init__(self, name: str, delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay  # seconds before every answer (a sick service)
        self.healthy = True  # what /healthz says
        self.waiting: set[str] = set()  # gated responses holding at their first chunk
        self.gates: dict[str, asyncio.Event] = {}
        self.calls = 0  # answers of /cacheable so far
        self.health_checks = 0  # requests for /healthz so far
        self.address = ""  # host:port it listens on (for absolute links)
        self.dropped: set[str] = set()  # keys /drop-once has dropped

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        try:
            line = await reader.readline()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            return None
        if not line:
            return None
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            hline = await reader.readline()
            if hline in (b"\r\n", b"\n", b""):
                break
            k, _, v = hline.decode("latin-1").rstrip("\r\n").partition(":")
            headers.append((k, v.strip()))
        req = _Request(method, target, version, headers, b"")
        te = (req.header("transfer-encoding") or "").lower()
        digest = hashlib.sha256()
        length = 0
        chunks: list[bytes] = []
        keep = True  # bodies are kept up to 1 MiB for the report, hashed always
        if te == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b""):
                        pass
                    break
                data = await reader.readexactly(size)
                await reader.readexactly(2)
                digest.update(data)
                length += size
                if keep and length <= 1 << 20:
                    chunks.append(data)
                else:
                    keep = False
        elif (cl := req.header("content-length")) is not None:
            remaining = int(cl)
            while remaining:
                data = await reader.read(min(remaining, 1 << 16))
                if not data:
                    break
                remaining -= len(data)
                digest.update(data)
                length += len(data)
                if keep and length <= 1 << 20:
                    chunks.append(data)
                else:
                    keep = False
        req.body = b"".join(chunks) if keep else b""
        req.body_length = length  # type: ignore[attr-defined]
        req.body_sha256 = digest.hexdigest()  # type: ignore[attr-defined]
        return req

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"X-Upstream-Name: {self.name}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _echo(self, req: _Request) -> bytes:
        return json.dumps(
            {
                "name": self.name,
                "method": req.method,
                "target": req.target,
                "version": req.version,
                "headers": req.headers,
                "body_length": getattr(req, "body_length", 0),
                "body_sha256": getattr(req, "body_sha256", ""),
                "body": req.body.decode("latin-1") if len(req.body) <= 4096 else None,
            }
        ).encode()

    async def _respond(self, req: _Request, writer: asyncio.StreamWriter) -> bool:
        """Write the response; False when the connection must close."""
        url = urlsplit(req.target)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        head_only = req.method == "HEAD"
        std = [
            ("Content-Type", "application/json"),
            ("Date", "Tue, 01 Dec 2026 00:00:00 GMT"),
            ("Server", "fake-upstream"),
        ]

        def simple(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
            hdrs = (std if headers is None else headers) + [("Content-Length", str(len(body)))]
            writer.write(self._head(status, hdrs) + (b"" if head_only else body))

        if path == "/drop":
            return False
        if path == "/drop-once" and q.get("key", "") not in self.dropped:
            self.dropped.add(q.get("key", ""))
            return False
        if path == "/__control/delay":
            self.delay = float(q.get("seconds", "0"))
            simple(200, b'{"delay":%s}' % str(self.delay).encode())
            await writer.drain()
            return True
        if path == "/__control/stats":
            simple(200, json.dumps({"health_checks": self.health_checks}).encode())
            await writer.drain()
            return True
        if path == "/__control/health":
            self.healthy = q.get("ok", "1") == "1"
            simple(200, b"{}")
            await writer.drain()
            return True
        if self.delay and path != "/healthz":
            await asyncio.sleep(self.delay)
        if path == "/healthz":
            self.health_checks += 1
            if self.healthy:
                simple(200, b'{"status":"ok"}')
            else:
                simple(503, b'{"status":"sick"}')
        elif path.startswith("/status/"):
            simple(int(path.rsplit("/", 1)[1]), self._echo(req))
        elif path.endswith("/slow"):
            await asyncio.sleep(float(q.get("delay", "1")))
            simple(200, self._echo(req))
        elif path == "/stream":
            n, size = int(q.get("chunks", "3")), int(q.get("size", "10"))
            writer.write(self._head(200, [*std, ("Transfer-Encoding", "chunked")]))
            if not head_only:
                for i in range(n):
                    data = bytes([48 + i % 10]) * size
                    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
        elif path.endswith("/gated"):
            key = q.get("key", "")
            gate = self.gates.setdefault(key, asyncio.Event())
            writer.write(self._head(200, [*std, ("Transfer-Encoding", "chunked")]))
            writer.write(b"5\r\nfirst\r\n")
            await writer.drain()
            self.waiting.add(key)
            await gate.wait()
            self.waiting.discard(key)
            writer.write(b"4\r\nrest\r\n0\r\n\r\n")
        elif path == "/waiting":
            simple(200, json.dumps({"waiting": q.get("key", "") in self.waiting}).encode())
        elif path == "/release":
            self.gates.setdefault(q.get("key", ""), asyncio.Event()).set()
            simple(200, b'{"released":true}')
        elif path == "/bytes":
            size = int(q.get("size", "0"))
            writer.write(
                self._head(
                    200,
                    [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
                )
            )
            if not head_only:
                piece = b"x" * 65536
                sent = 0
                while sent < size:
                    n = min(65536, size - sent)
                    writer.write(piece[:n])
                    sent += n
                    await writer.drain()
        elif path == "/cookies":
            simple(
                200,
                b"{}",
                [
                    *std,
                    ("Set-Cookie", "a=1; Path=/"),
                    ("Set-Cookie", "b=2; Path=/; HttpOnly"),
                    ("Set-Cookie", "c=3; Path=/; Secure"),
                ],
            )
        elif path == "/gzip":
            # the same document from every upstream, in bytes of its own (the gzip header's
            # time is the length of the upstream's name)
            body = gzip.compress(json.dumps({"compressed": True}).encode(), mtime=len(self.name))
            simple(200, body, [*std, ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
        elif path == "/redirect":
            simple(302, b"", [("Location", "/echo/target?from=redirect"), *std])
        elif path == "/bad-framing":  # both Content-Length and Transfer-Encoding
            writer.write(
                self._head(200, [("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
                + b"0\r\n\r\n"
            )
        elif "/clock" in path:  # the same answer on every side but for a timestamp
            simple(200, json.dumps({"id": 7, "name": "clock", "now": time.time()}).encode())
        elif path == "/until-close":  # the body ends when the connection does
            writer.write(self._head(200, [("Content-Type", "application/octet-stream")]))
            if not head_only:
                writer.write(b"u" * int(q.get("size", "0")))
            await writer.drain()
            return False
        elif path == "/early-hints":
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            simple(200, self._echo(req))
        elif path == "/bare":
            simple(200, b"bare body", [])
        elif path.endswith("/absolute-redirect"):
            host = req.header("host") if q.get("host") == "1" else None  # as Django's
            base = f"http://{host or self.address}{path[: -len('absolute-redirect')]}"
            simple(302, b"", [("Location", f"{base}echo/target"), *std])
        elif path.endswith("/page"):
            n, origin = int(q.get("page", "1")), f"http://{self.address}"
            if q.get("host") == "1" and req.header("host"):  # as Django builds them
                origin = f"http://{req.header('host')}"
            page = {
                "count": 30,
                "next": f"{origin}{path}?page={n + 1}" if n < 3 else None,
                "previous": f"{origin}{path}?page={n - 1}" if n > 1 else None,
                "results": [{"id": i} for i in range(n * 10 - 9, n * 10 + 1)],
            }
            simple(200, json.dumps(page).encode())
        elif path.endswith("/cacheable"):
            self.calls += 1
            body = json.dumps({"calls": self.calls, "target": req.target}).encode()
            simple(200, body, [*std, ("Cache-Control", f"max-age={q.get('max_age', '60')}"),
                               ("ETag", '"v1"'), ("Vary", "Accept-Language")])  # fmt: skip
        else:
            simple(200, self._echo(req))
        await writer.drain()
        return (req.header("connection") or "").lower() != "close"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await self._read_request(reader)
                if req is None or not await self._respond(req, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _serve(
    host: str, port: int, name: str, delay: float, tls: ssl.SSLContext | None = None
) -> None:
    upstream = FakeUpstream(name, delay)
    upstream.address = f"{host}:{port}"
    server = await asyncio.start_server(upstream.handle, host, port, limit=1 << 20, ssl=tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scheme = "https" if tls is not None else "http"
    print(f"fake upstream {name} on {scheme}://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="upstream")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    asyncio.run(_serve(args.host, args.port, args.name, args.delay, tls))


if __name__ == "__main__":
    main()
