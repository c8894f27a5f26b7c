"""The proxy's own benchmark: direct vs the kit's proxy vs nginx, in one run, on 127.0.0.1.

    python -m loadtests.bench_proxy [--duration 10] [--connections 32] [--rounds 3]
                                    [--only fast|django|shadow|shadow-django] [--workers 1,2]
                                    [--quick] [--bare] [--floor] [--tree LABEL=DIR ...]
                                    [--reuse-port]

Starts a fast upstream (nginx serving 1 KiB of JSON) and the demo monolith (gunicorn, gthread),
and in front of each: the kit's proxy (normal routing, access log on, to a file) and nginx
(``proxy_pass`` with upstream keep-alive). wrk (Debian package ``wrk``) generates the load;
nginx comes from the Debian package ``nginx-light`` (or ``nginx``). Without nginx the nginx
rows are skipped with a message; without wrk the benchmark stops with a message.

For every target it prints requests/s, p50 and p99 latency, and for the proxies their CPU time
per request (from /proc, user + system) and peak memory; then the ratios to direct and to
nginx. Runs are alternated (A B C, A B C, ...) and medians reported, so a background hiccup
hits every target alike. nginx forwards the same headers as the kit (X-Forwarded-*,
X-Request-ID, traceparent), so the upstream does the same work behind both. In front of Django
every round is printed too, with the monolith's own CPU per request and how its gunicorn
workers held the target's connections (all on one worker halves any client's throughput), and
each proxy's req/s and p99 over nginx's round by round; ``--reuse-port`` gives every worker its
own listening socket (``GUNICORN_REUSE_PORT=1``), so the kernel spreads the connections.
Record results in migration_playbook/reference/benchmarks.md with the command line that
produced them.

For work on the proxy's own cost:

* ``--quick``: the fast upstream only, 5 s runs, 5 rounds, no direct or nginx row (what a change
  to the hot path is judged by: the proxy's CPU µs per request, which stays comparable while
  the machine is busy; req/s does not);
* ``--bare``: adds "bare aiohttp", a proxy of a dozen lines (aiohttp's low-level server, one
  ``ClientSession``, headers copied, body read whole): the floor the kit's proxy is measured
  against;
* ``--floor``: adds the kit's own upstream client behind a raw ``asyncio.Protocol`` (aiohttp's
  C request parser) and behind aiohttp's low-level server, with nothing else: what the server
  side and the kit's own work each cost;
* ``--tree LABEL=DIR`` (repeatable): adds a kit proxy started from another source tree (a copy
  of the repository, e.g. before a change), so before and after run alternated in one run.

The shadow groups run the same route in legacy mode, copying every request (the kit's own
counters of copies compared and dropped are printed), and copying to an upstream that answers
in 2 s; ``shadow-django`` adds the copies to a static server answering the catalog's bytes (the
proxy's own share) and nginx with and without its ``mirror`` module.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from strangler_proxy._procs import Process, free_port

__all__ = ["main"]

HZ = os.sysconf("SC_CLK_TCK")
PAYLOAD = (
    b'{"results":['
    + b",".join(
        b'{"id":%d,"name":"product number %04d","price":"12.50"}' % (i, i) for i in range(18)
    )
    + b"]}"
)


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float | None
    requests: int
    upstream_cpu_us_per_req: float | None = None  # the monolith's own CPU (Django groups)
    spread: str = ""  # the upstream's connections per worker process, mid-run ("17/15")


@dataclass
class Watch:
    """The upstream whose own CPU per request and connection spread each run reports."""

    port: int
    pids: list[int]  # the master first, then its workers


@dataclass
class Target:
    name: str
    url: str
    pids: list[int] = field(default_factory=list)  # processes whose CPU is the proxy's
    samples: list[Sample] = field(default_factory=list)
    admin: str | None = None  # the kit's admin API (shadow rows: copies compared / dropped)
    watch: Watch | None = None


# the floor: aiohttp's server and client with nothing of the kit's in between
BARE_PROXY = """
import sys, aiohttp, uvloop
from aiohttp import web
from yarl import URL
HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}
async def main():
    upstream, port = sys.argv[1], int(sys.argv[2])
    session = aiohttp.ClientSession(auto_decompress=False,
        connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar())
    async def handle(request):
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP]
        async with session.request(request.method, URL(upstream + request.raw_path,
                encoded=True), headers=headers, allow_redirects=False) as r:
            body = await r.read()
            out = [(k, v) for k, v in r.headers.items() if k.lower() not in HOP]
            return web.Response(status=r.status, body=body, headers=out)
    runner = web.ServerRunner(web.Server(handle, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await __import__("asyncio").Event().wait()
uvloop.run(main())
"""


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _peak_rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return kids + [g for k in kids for g in _children(k)]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _spread(port: int, clients: list[int], workers: list[int]) -> str:
    """How many of the connections from ``clients`` (pids) to ``port`` each server process
    holds, most first (``workers`` with none count as 0): for gunicorn, how its workers shared
    that client's keep-alive connections (another client's idle ones are not counted, nor
    connections not accepted yet)."""
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} or dport = :{port} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"  # no ss (iproute2)
    servers: dict[str, int] = {}  # the client's port -> the server process holding it
    mine: set[str] = set()  # the client's ports that are its own
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5 or (pid := re.search(r"pid=(\d+)", line)) is None:
            continue
        local, peer = fields[2].rpartition(":")[2], fields[3].rpartition(":")[2]
        if local == str(port):
            servers[peer] = int(pid.group(1))
        elif peer == str(port) and int(pid.group(1)) in clients:
            mine.add(local)
    counts = dict.fromkeys(workers, 0)
    for client_port, server in servers.items():
        if client_port in mine:
            counts[server] = counts.get(server, 0) + 1
    return "/".join(str(n) for n in sorted(counts.values(), reverse=True)) or "0"


def run_wrk(
    url: str, duration: int, connections: int, pids: list[int], watch: Watch | None = None
) -> Sample:
    before = _cpu_ticks(pids)
    up_before = _cpu_ticks(watch.pids) if watch is not None else 0
    wrk = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spread = ""
    try:
        try:
            out, err = wrk.communicate(timeout=duration / 2 if watch is not None else None)
        except subprocess.TimeoutExpired:  # half way: how the upstream's workers share the load
            if watch is not None:
                spread = _spread(watch.port, pids or [wrk.pid], watch.pids[1:])
            out, err = wrk.communicate()
    except BaseException:
        wrk.kill()  # an interrupted run leaves no load behind
        wrk.wait()
        raise
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed ({wrk.returncode}): {err}")
    after = _cpu_ticks(pids)
    up_after = _cpu_ticks(watch.pids) if watch is not None else 0
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # the "Latency Distribution" lines: "     50%  512.00us"
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses during the run:\n{out}")
    cpu = (after - before) / HZ * 1e6 / requests if pids and requests else None
    up_cpu = (up_after - up_before) / HZ * 1e6 / requests if watch and requests else None
    return Sample(rps, p50, p99, cpu, requests, up_cpu, spread)


def nginx_conf(folder: Path, servers: str) -> Path:
    conf = folder / "nginx.conf"
    temp = " ".join(
        f"{k} {folder};"
        for k in (
            "client_body_temp_path",
            "proxy_temp_path",
            "fastcgi_temp_path",
            "uwsgi_temp_path",
            "scgi_temp_path",
        )
    )
    conf.write_text(
        f"daemon off; worker_processes 1; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; {temp}\n{servers}\n}}\n"
    )
    return conf


# what the kit's proxy adds to every request, so the upstream does the same work behind both
# (the monolith validates the request id and reads the trace id; Django the forwarded host):
# nginx has no W3C trace context of its own, its 32-hex $request_id stands in for a trace id
_AS_THE_KIT = (
    "proxy_set_header X-Forwarded-For $remote_addr; "
    "proxy_set_header X-Forwarded-Proto $scheme; "
    "proxy_set_header X-Forwarded-Host $http_host; "
    "proxy_set_header X-Request-ID $request_id; "
    "proxy_set_header traceparent 00-$request_id-00f067aa0ba902b7-01;"
)


def proxy_server(port: int, upstream: str, name: str, mirror: str = "") -> str:
    keep = (
        'proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host;'
    )
    pools = f"upstream {name} {{ server {upstream}; keepalive 64; }}\n"
    copy = internal = ""
    if mirror:  # nginx's mirror module: a subrequest per request, its answer thrown away
        pools += f"upstream {name}_m {{ server {mirror.removeprefix('http://')}; keepalive 64; }}\n"
        copy = "mirror /_mirror; mirror_request_body on; "
        internal = (
            f"location = /_mirror {{ internal; proxy_pass http://{name}_m$request_uri; {keep} }} "
        )
    return (
        f"{pools}server {{ listen 127.0.0.1:{port}; {internal}"
        f"location / {{ {copy}proxy_pass http://{name}; {keep} {_AS_THE_KIT} }} }}"
    )


def _kit_target(
    label: str,
    folder: Path,
    procs: list[Process],
    upstream: str,
    path: str,
    workers: int = 1,
    tree: str | None = None,
) -> Target:
    """Start the kit's proxy (from ``tree`` when given) in front of ``upstream``."""
    kit_port, admin = free_port(), free_port()
    table = kit_table(folder, f"http://{upstream}", kit_port, admin)
    argv = [
        sys.executable,
        "-m",
        "strangler_proxy",
        "proxy",
        "--config",
        str(table),
        "--access-log",
        str(folder / f"access-{kit_port}.log"),
    ]
    if workers > 1:
        argv += ["--workers", str(workers)]
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    # python -m puts the working folder first on sys.path: run a tree's proxy from inside it
    kit = Process(argv, name=f"kit-{kit_port}", env=env, cwd=tree).start()
    procs.append(kit)
    kit.wait_http(f"http://127.0.0.1:{admin}/healthz", status=200)
    assert kit.popen is not None
    pids = [kit.popen.pid, *_children(kit.popen.pid)]
    return Target(label, f"http://127.0.0.1:{kit_port}{path}", pids)


# the floors under the kit's proxy: the kit's own upstream client, and in front of it either a
# raw asyncio.Protocol with aiohttp's C request parser (llhttp) or aiohttp's low-level server;
# headers copied, the body read whole, no routing, no metrics, no log
FLOOR_PROXY = """
import asyncio, sys, uvloop
from aiohttp import web
from aiohttp.http import HttpRequestParser
from multidict import CIMultiDict
from strangler_proxy.upstream_client import UpstreamClient
HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}
upstream, port, front = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = UpstreamClient()
async def exchange(method, target, raw):
    headers = CIMultiDict()
    for k, v in raw:
        name = k.decode("latin-1")
        if name.lower() not in HOP:
            headers.add(name, v.decode("latin-1"))
    headers["X-Forwarded-For"] = "127.0.0.1"
    r = await client.request(method, upstream, target, headers, None)
    body = await r.read()
    r.release()
    out = [(k, v) for k, v in r.raw_headers if k.decode("latin-1").lower() not in HOP]
    return r.status, r.reason, out, body
class Front(asyncio.Protocol):
    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.parser = HttpRequestParser(self, self.loop, 2**16)
        self.queue, self.busy = [], False
    def connection_made(self, transport):
        self.transport = transport
    def connection_lost(self, exc):
        self.transport = None
    def data_received(self, data):
        messages, _, _ = self.parser.feed_data(data)
        self.queue += [m for m, _ in messages]
        if not self.busy and self.queue:
            self.busy = True
            self.loop.create_task(self.serve())
    async def serve(self):
        while self.queue and self.transport is not None:
            m = self.queue.pop(0)
            status, reason, out, body = await exchange(m.method, m.path, m.raw_headers)
            head = [b"HTTP/1.1 %d %s\\r\\n" % (status, reason.encode())]
            head += [k + b": " + v + b"\\r\\n" for k, v in out]
            if self.transport is not None:
                self.transport.write(b"".join(head) + b"\\r\\n" + body)
        self.busy = False
async def handle(request):
    m = request
    status, reason, out, body = await exchange(m.method, m.raw_path, m.raw_headers)
    h = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in out)
    return web.Response(status=status, reason=reason, body=body, headers=h)
async def main():
    loop = asyncio.get_running_loop()
    if front == "protocol":
        await loop.create_server(Front, "127.0.0.1", port)
    else:
        runner = web.ServerRunner(web.Server(handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()
uvloop.run(main())
"""


def _floor_targets(procs: list[Process], upstream: str, path: str) -> list[Target]:
    targets = []
    for front, label in (
        ("protocol", "floor: Protocol + llhttp"),
        ("aiohttp", "floor: aiohttp server"),
    ):
        port = free_port()
        floor = Process(
            [sys.executable, "-c", FLOOR_PROXY, f"http://{upstream}", str(port), front],
            name=f"floor-{front}",
        ).start()
        procs.append(floor)
        floor.wait_http(f"http://127.0.0.1:{port}{path}", status=200)
        assert floor.popen is not None
        targets.append(Target(label, f"http://127.0.0.1:{port}{path}", [floor.popen.pid]))
    return targets


def _bare_target(procs: list[Process], upstream: str, path: str) -> Target:
    port = free_port()
    bare = Process(
        [sys.executable, "-c", BARE_PROXY, f"http://{upstream}", str(port)], name="bare-aiohttp"
    ).start()
    procs.append(bare)
    bare.wait_http(f"http://127.0.0.1:{port}{path}", status=200)
    assert bare.popen is not None
    return Target("bare aiohttp", f"http://127.0.0.1:{port}{path}", [bare.popen.pid])


def kit_table(
    folder: Path,
    legacy: str,
    port: int,
    admin: int,
    *,
    mode: str = "canary",
    shadow: str = "",
    lane: int | None = None,
) -> Path:
    """The benchmark's table: ``product-detail`` in canary (25%) by default; with
    ``mode="legacy"`` or ``mode="shadow"`` (a copy of every request to ``shadow``; ``lane``
    sets ``max_concurrency``, the route's default otherwise)."""
    table = folder / f"routing-{port}.yaml"
    wide = f", max_concurrency: {lane}" if lane is not None else ""
    route = {
        "canary": "    mode: canary\n    to: catalog\n    weight: 25\n",
        "legacy": "    mode: legacy\n",
        "shadow": "    mode: shadow\n    to: catalog\n"
        f"    shadow: {{sample: 1.0, noise_sample: 0{wide}}}\n",
    }[mode]
    table.write_text(
        f"version: 1\nlisten: 127.0.0.1:{port}\nadmin: {{listen: 127.0.0.1:{admin}}}\n"
        f"upstreams:\n  legacy: {legacy}\n  catalog: {shadow or legacy}\ndefault: legacy\n"
        "routes:\n"
        "  - name: product-detail\n    match: {path: '/api/products/{id:int}/', "
        "methods: [GET, HEAD]}\n"
        + route
        + "  - name: orders\n    match: {prefix: /api/orders/}\n    mode: legacy\n"
    )
    return table


def report(group: str, targets: list[Target]) -> None:
    print(f"\n== {group}: medians of {len(targets[0].samples)} alternated runs ==")
    head = f"{'target':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}"
    first = "direct" if any(t.name == "direct" for t in targets) else "1st row"
    print(head + f"{'x ' + first:>10}{'x nginx':>9}")
    med: dict[str, tuple[float, float, float, float | None]] = {}
    for t in targets:
        cpu = [s.cpu_us_per_req for s in t.samples if s.cpu_us_per_req is not None]
        med[t.name] = (
            statistics.median(s.rps for s in t.samples),
            statistics.median(s.p50_ms for s in t.samples),
            statistics.median(s.p99_ms for s in t.samples),
            statistics.median(cpu) if cpu else None,
        )
    # ratios: to direct and nginx, or (shadow group) to the first target, legacy mode
    direct = med.get("direct", med[targets[0].name])[0]
    nginx = med.get("nginx", (0.0, 0.0, 0.0, None))[0]
    for t in targets:
        rps, p50, p99, cpu_med = med[t.name]
        cpu_s = f"{cpu_med:.0f}" if cpu_med is not None else "-"
        xd = f"{rps / direct:.2f}" if direct else "-"
        xn = f"{rps / nginx:.2f}" if nginx else "-"
        print(f"{t.name:<28}{rps:>10.0f}{p50:>9.2f}{p99:>9.2f}{cpu_s:>12}{xd:>10}{xn:>9}")
    if any(s.spread for t in targets for s in t.samples):
        _rounds(targets)
    if targets[0].name == "kit, legacy mode":
        _against_legacy(targets)
    for t in targets:
        if t.pids:
            print(f"  peak memory {t.name}: {_peak_rss_mib(t.pids):.1f} MiB")
    for t in targets:
        if t.admin is not None:
            print(f"  copies {t.name}: {_shadow_counts(t.admin)}")


def _rounds(targets: list[Target]) -> None:
    """Every round of every target, with the monolith's own CPU per request and how its
    workers held the connections (gunicorn's workers take keep-alive connections unevenly, and
    all on one worker halves the throughput of any client); then each proxy's throughput over
    nginx's, round by round (both ran in the same round)."""
    print("  round by round (monolith: its own CPU per request; connections per worker):")
    print(f"  {'':<4}{'target':<26}{'req/s':>8}{'p99 ms':>9}{'CPU us/req':>12}"
          f"{'monolith us/req':>17}  spread")  # fmt: skip
    for i in range(len(targets[0].samples)):
        for t in targets:
            s = t.samples[i]
            cpu = f"{s.cpu_us_per_req:.0f}" if s.cpu_us_per_req is not None else "-"
            up = f"{s.upstream_cpu_us_per_req:.0f}" if s.upstream_cpu_us_per_req else "-"
            print(f"  {i + 1:<4}{t.name:<26}{s.rps:>8.0f}{s.p99_ms:>9.2f}{cpu:>12}{up:>17}"
                  f"  {s.spread}")  # fmt: skip
    nginx = next((t for t in targets if t.name == "nginx"), None)
    if nginx is None:
        return
    for t in targets:
        if t is nginx or t.name == "direct":
            continue
        ratios = [a.rps / b.rps for a, b in zip(t.samples, nginx.samples, strict=True)]
        _per_round(f"{t.name} / nginx", "req/s", ratios, t.samples, nginx.samples)


def _against_legacy(targets: list[Target]) -> None:
    """Each shadow row over legacy mode, round by round (the two ran back to back): CPU per
    request (the copy's cost) and p99 (what the client feels), with their medians."""
    legacy = targets[0]
    for t in targets[1:]:
        if not t.name.startswith("kit"):
            continue  # (nginx's rows: over nginx, above)
        cpu = [a.cpu_us_per_req / b.cpu_us_per_req
               for a, b in zip(t.samples, legacy.samples, strict=True)
               if a.cpu_us_per_req and b.cpu_us_per_req]  # fmt: skip
        _per_round(f"{t.name} / legacy mode", "CPU", cpu, t.samples, legacy.samples)


def _per_round(
    label: str, metric: str, ratios: list[float], samples: list[Sample], base: list[Sample]
) -> None:
    """One row's ratios to another's, round by round, then its p99 over the other's, with the
    medians: ``label per round: metric 0.85 0.87 (median 0.86); p99 1.10 1.14 (median 1.12)``."""
    tails = [a.p99_ms / b.p99_ms for a, b in zip(samples, base, strict=True)]
    print(
        f"  {label} per round: {metric} "
        + " ".join(f"{r:.2f}" for r in ratios)
        + (f" (median {statistics.median(ratios):.2f})" if ratios else "")
        + "; p99 "
        + " ".join(f"{r:.2f}" for r in tails)
        + f" (median {statistics.median(tails):.2f})"
    )


def _shadow_counts(admin: str) -> str:
    """The kit's own shadow counters: how many copies were compared, how many dropped."""
    with urllib.request.urlopen(f"{admin}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts = {
        name: sum(
            float(m.group(1))
            for m in re.finditer(rf"^strangler_shadow_{name}_total{{[^}}]*}} (\S+)$", text, re.M)
        )
        for name in ("compared", "matched", "mismatched", "dropped")
    }
    return ", ".join(f"{int(v)} {k}" for k, v in counts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, help="seconds per wrk run (10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, help="alternated rounds (3)")
    parser.add_argument("--only", choices=["fast", "django", "shadow", "shadow-django"])
    parser.add_argument(
        "--workers", default="1", help="kit proxy worker counts, e.g. 1,2 (0: only --tree ones)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fast upstream only, no direct and nginx rows; --duration 5 --rounds 5 by default",
    )
    parser.add_argument("--bare", action="store_true", help="add a bare aiohttp proxy")
    parser.add_argument(
        "--django-path",
        default="/api/products/7/",
        metavar="PATH",
        help="the monolith's endpoint in the django group (/api/products/7/; "
        "/api/products/?page=2 is a heavier one)",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="the monolith's gunicorn workers each listen on their own socket "
        "(GUNICORN_REUSE_PORT=1): the kernel spreads connections over them",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="add the floors: the kit's upstream client behind a raw asyncio.Protocol front "
        "and behind aiohttp's low-level server, nothing else",
    )
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="add a kit proxy run from another source tree (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.only = args.only or "fast"
        args.duration = 5 if args.duration is None else args.duration
        args.rounds = 5 if args.rounds is None else args.rounds
    args.duration = 10 if args.duration is None else args.duration
    args.rounds = 3 if args.rounds is None else args.rounds
    trees: list[tuple[str, str]] = []
    for spec in args.tree:
        label, sep, tree = spec.partition("=")
        if not sep or not label or not tree:
            parser.error("--tree takes LABEL=DIR")
        trees.append((label, str(Path(tree).resolve())))
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): nothing measured", file=sys.stderr)
        return 2
    nginx_bin = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx_bin is None:
        print("nginx is not installed (apt-get install nginx-light): nginx rows skipped")
    workers = [n for w in args.workers.split(",") if (n := int(w)) > 0]  # 0: none
    with tempfile.TemporaryDirectory(prefix="strangler-bench-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # nginx workers run as an unprivileged user
        procs: list[Process] = []
        try:
            groups = []
            if args.only in (None, "fast"):
                groups.append(("fast upstream (nginx static 1 KiB JSON)", "/api/products/7/"))
            if args.only in (None, "django"):
                gthread = (
                    f"gunicorn gthread {os.environ.get('GUNICORN_WORKERS', '2')}x"
                    f"{os.environ.get('GUNICORN_THREADS', '4')}"
                    + (", reuse_port" if args.reuse_port else "")
                )
                groups.append((f"django monolith ({gthread})", args.django_path))
            if args.only in (None, "shadow"):
                groups.append(("shadow cost (fast upstream)", "/api/products/7/"))
            if args.only in (None, "shadow-django"):
                groups.append(
                    ("shadow cost (django monolith, copies to the catalog service"
                     + (", reuse_port)" if args.reuse_port else ")"),
                     "/api/products/7/")
                )  # fmt: skip
            for group, path in groups:
                targets = _start_group(
                    group,
                    path,
                    folder,
                    procs,
                    nginx_bin,
                    workers,
                    bare=args.bare,
                    floor=args.floor,
                    trees=trees,
                    nginx_row=not args.quick,
                    reuse_port=args.reuse_port,
                )
                for _ in range(args.rounds):
                    for t in targets:
                        sample = run_wrk(t.url, args.duration, args.connections, t.pids, t.watch)
                        t.samples.append(sample)
                        cpu = sample.cpu_us_per_req
                        print(
                            f"  {t.name}: {sample.rps:.0f} req/s"
                            + (f", {cpu:.0f} us/req" if cpu is not None else ""),
                            flush=True,
                        )
                report(group, targets)
        finally:
            for proc in reversed(procs):
                proc.stop()
    return 0


def _shadow_targets(
    folder: Path,
    procs: list[Process],
    upstream: str,
    path: str,
    copy_to: str = "",
    extra: tuple[tuple[str, str], ...] = (),
) -> list[Target]:
    """The same route in legacy mode, in shadow mode (100%, copies to ``copy_to``, else to the
    upstream itself; and to each ``(label, base URL)`` of ``extra``), and shadowed to a slow
    (2 s) upstream: the client's numbers must not follow the shadow's."""
    slow_port = free_port()
    slow = Process(
        [
            sys.executable,
            "-m",
            "strangler_proxy.testing.upstream",
            "--port",
            str(slow_port),
            "--name",
            "slow-shadow",
            "--delay",
            "2",
        ],
        name="slow-shadow",
    ).start()
    procs.append(slow)
    slow.wait_http(f"http://127.0.0.1:{slow_port}/healthz", status=200)
    targets = []
    # every request copied and compared: a lane wide enough that none is dropped (64); the
    # slow upstream with the route's defaults (16 in flight, 64 waiting, the rest dropped)
    rows = [
        ("kit, legacy mode", "legacy", "", None),
        ("kit, shadow 100%", "shadow", copy_to, 64),
        ("kit, shadow to 2 s upstream", "shadow", f"http://127.0.0.1:{slow_port}", None),
    ]
    rows[2:2] = [(label, "shadow", base, 64) for label, base in extra]
    for label, mode, shadow, lane in rows:
        port, admin = free_port(), free_port()
        table = kit_table(
            folder, f"http://{upstream}", port, admin, mode=mode, shadow=shadow, lane=lane
        )
        kit = Process(
            [
                sys.executable,
                "-m",
                "strangler_proxy",
                "proxy",
                "--config",
                str(table),
                "--access-log",
                str(folder / f"access-{port}.log"),
                "--shadow-store",
                f"sqlite:///{folder / f'shadow-{port}.sqlite3'}",
            ],
            name=f"kit-{mode}-{port}",
        ).start()
        procs.append(kit)
        kit.wait_http(f"http://127.0.0.1:{admin}/healthz", status=200)
        assert kit.popen is not None
        targets.append(
            Target(
                label,
                f"http://127.0.0.1:{port}{path}",
                [kit.popen.pid],
                admin=f"http://127.0.0.1:{admin}" if mode == "shadow" else None,
            )
        )
    return targets


def _static_copy(
    folder: Path, procs: list[Process], nginx_bin: str | None, service: str, path: str
) -> str:
    """nginx serving, at ``path``, the body ``service`` answers there (as JSON)."""
    if nginx_bin is None:
        raise SystemExit("the static copy target is nginx: install nginx-light")
    with urllib.request.urlopen(f"{service}{path}", timeout=10) as resp:
        body = resp.read()
    port = free_port()
    root = folder / f"static-{port}"
    (root / path.strip("/")).mkdir(parents=True)
    (root / path.strip("/") / "index.json").write_bytes(body)
    conf = nginx_conf(
        root,
        f"server {{ listen 127.0.0.1:{port}; root {root}; default_type application/json;"
        f" index index.json; keepalive_requests 100000; }}",
    )
    static = Process([nginx_bin, "-c", str(conf)], name="static-copy").start()
    procs.append(static)
    static.wait_http(f"http://127.0.0.1:{port}{path}", status=200)
    return f"http://127.0.0.1:{port}"


def _start_catalog(folder: Path, procs: list[Process], path: str) -> str:
    """The extracted catalog service (gunicorn) on a copy of the monolith's data."""
    port = free_port()
    db = folder / f"catalog-{port}.sqlite3"
    subprocess.run(
        [sys.executable, "-m", "extracted.catalog.backfill",
         "--source-url", f"sqlite:///{folder / 'monolith.sqlite3'}", "--target-url", f"sqlite:///{db}"],
        check=True, capture_output=True,
    )  # fmt: skip
    conf = Path(__import__("importlib.util").util.find_spec("extracted.catalog").origin)
    catalog = Process(
        [sys.executable, "-m", "gunicorn", "-c", str(conf.parent / "gunicorn.conf.py"),
         "-b", f"127.0.0.1:{port}"],
        name="catalog",
        env=dict(os.environ) | {"CATALOG_DATABASE_URL": f"sqlite:///{db}"},
    ).start()  # fmt: skip
    procs.append(catalog)
    catalog.wait_http(f"http://127.0.0.1:{port}{path}", status=200)
    return f"http://127.0.0.1:{port}"


def _start_group(
    group: str,
    path: str,
    folder: Path,
    procs: list[Process],
    nginx_bin: str | None,
    workers: list[int],
    *,
    bare: bool = False,
    floor: bool = False,
    trees: list[tuple[str, str]] | None = None,
    nginx_row: bool = True,
    reuse_port: bool = False,
) -> list[Target]:
    trees = trees or []
    watch: Watch | None = None
    if group.startswith(("fast", "shadow cost (fast")):
        port = free_port()
        (folder / "api" / "products" / "7").mkdir(parents=True, exist_ok=True)
        (folder / "api" / "products" / "7" / "index.json").write_bytes(PAYLOAD)
        sub = folder / f"up-{port}"
        sub.mkdir()
        # a second server: the same document in another layout (key order, spacing)
        relaid_port = free_port()
        relaid_root = sub / "relaid"
        (relaid_root / "api" / "products" / "7").mkdir(parents=True)
        doc = json.loads(PAYLOAD)
        relaid_doc = {"results": [dict(reversed(item.items())) for item in doc["results"]]}
        (relaid_root / "api" / "products" / "7" / "index.json").write_text(
            json.dumps(relaid_doc, indent=1)
        )
        conf = nginx_conf(
            sub,
            "".join(
                f"server {{ listen 127.0.0.1:{p}; root {root}; default_type application/json;"
                f" index index.json; keepalive_requests 100000; }}\n"
                for p, root in ((port, folder), (relaid_port, relaid_root))
            ),
        )
        if nginx_bin is None:
            raise SystemExit(
                "the fast upstream is nginx: install nginx-light or pass --only django"
            )
        up = Process([nginx_bin, "-c", str(conf)], name="fast-upstream").start()
        procs.append(up)
        up.wait_http(f"http://127.0.0.1:{port}{path}", status=200)
    else:
        port = free_port()
        db = folder / "monolith.sqlite3"
        env = dict(os.environ) | {
            "DJANGO_SETTINGS_MODULE": "legacy_monolith.settings",
            "DATABASE_URL": f"sqlite:///{db}",
            "DJANGO_TRUST_X_FORWARDED": "1",
            "GUNICORN_REUSE_PORT": "1" if reuse_port else "0",
        }
        for step in (["migrate", "--noinput"], ["seed", "--products", "500", "--orders", "10"]):
            subprocess.run(
                [sys.executable, "-m", "django", *step], env=env, check=True, capture_output=True
            )
        conf_path = Path(__import__("importlib.util").util.find_spec("legacy_monolith").origin)
        up = Process(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(conf_path.parent / "gunicorn.conf.py"),
                "-b",
                f"127.0.0.1:{port}",
            ],
            name="monolith",
            env=env,
        ).start()
        procs.append(up)
        up.wait_http(f"http://127.0.0.1:{port}{path}", status=200)
        assert up.popen is not None
        watch = Watch(port, [up.popen.pid, *_children(up.popen.pid)])
    upstream = f"127.0.0.1:{port}"
    if group.startswith("shadow cost (django"):
        catalog = _start_catalog(folder, procs, path)
        # the catalog's answer, served by nginx: the proxy's own share of a copy, without the
        # catalog's Flask and SQLite work on the same two cores
        static = (
            "kit, shadow 100%, to static",
            _static_copy(folder, procs, nginx_bin, catalog, path),
        )
        targets = _shadow_targets(folder, procs, upstream, path, catalog, extra=(static,))
        if nginx_bin is not None:
            # the same copies with nginx's mirror module, and nginx without it: what a copy to
            # this catalog costs a proxy that is not the kit, on the same two cores
            plain = _nginx_target("nginx", folder, procs, nginx_bin, upstream, path)
            mirrored = _nginx_target(
                "nginx, mirror 100%", folder, procs, nginx_bin, upstream, path, mirror=catalog
            )
            targets += [plain, mirrored]
        for t in targets:
            t.watch = watch
        return targets
    if group.startswith("shadow"):
        # the same JSON in another layout: every comparison parses both documents
        relaid = ("kit, shadow 100%, relaid JSON", f"http://127.0.0.1:{relaid_port}")
        return _shadow_targets(folder, procs, upstream, path, extra=(relaid,))
    targets = [] if not nginx_row else [Target("direct", f"http://{upstream}{path}")]
    if bare:
        targets.append(_bare_target(procs, upstream, path))
    if floor:
        targets += _floor_targets(procs, upstream, path)
    for label, tree in trees:
        targets.append(_kit_target(label, folder, procs, upstream, path, tree=tree))
    for n in workers:
        label = "kit proxy" if n == 1 else f"kit proxy x{n} workers"
        targets.append(_kit_target(label, folder, procs, upstream, path, n))
    if nginx_bin is not None and nginx_row:
        targets.append(_nginx_target("nginx", folder, procs, nginx_bin, upstream, path))
    for t in targets:
        t.watch = watch
    return targets


def _nginx_target(
    label: str,
    folder: Path,
    procs: list[Process],
    nginx_bin: str,
    upstream: str,
    path: str,
    mirror: str = "",
) -> Target:
    """nginx (one worker) in front of ``upstream``; with ``mirror`` (a base URL), every request
    is also copied there by nginx's ``mirror`` module, its answer thrown away."""
    nport = free_port()
    sub = folder / f"nginx-{nport}"
    sub.mkdir()
    conf = nginx_conf(sub, proxy_server(nport, upstream, f"app{nport}", mirror=mirror))
    ng = Process([nginx_bin, "-c", str(conf)], name=f"nginx-{nport}").start()
    procs.append(ng)
    ng.wait_http(f"http://127.0.0.1:{nport}{path}", status=200)
    assert ng.popen is not None
    pids = [ng.popen.pid, *_children(ng.popen.pid)]
    return Target(label, f"http://127.0.0.1:{nport}{path}", pids)


if __name__ == "__main__":
    sys.exit(main())
