"""Shadow mode end to end with real processes: the client is never affected, writes are safe,
noise is learned, secrets stay out of the store, and the report judges."""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

SERVICE_APP = """
from pathlib import Path
from flask import Flask
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine
from extracted.common.dryrun import install_request_transactions, is_dry_run, request_connection

HERE = Path(__file__).parent
engine = create_engine(f"sqlite:///{HERE / 'svc.sqlite3'}")
metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String))
metadata.create_all(engine)
app = Flask(__name__)
install_request_transactions(app, engine)

@app.post("/api/things/")
def create():
    request_connection().execute(things.insert().values(name="x"))
    with open(HERE / "received.log", "a") as log:   # outside the transaction, on purpose
        log.write(f"POST dry_run={is_dry_run()}\\n")
    return {"created": True}, 201

@app.get("/healthz")
def health():
    return {"status": "ok"}
"""


def report(store: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "shadow",
            "report",
            *args,
            "--store",
            f"sqlite:///{store}",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    return result.returncode, json.loads(result.stdout)


def route_report(data: dict[str, Any], name: str) -> dict[str, Any]:
    route: dict[str, Any] = next(r for r in data["routes"] if r["route"] == name)
    return route


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A Flask service with a write endpoint, using the shared dry-run helper, under gunicorn."""
    folder = tmp_path_factory.mktemp("svc")
    (folder / "svcapp.py").write_text(textwrap.dedent(SERVICE_APP))
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(folder),
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "1",
        "svcapp:app",
    ]
    with Process(argv, name="dry-run-service") as proc:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz", status=200)
        yield f"http://127.0.0.1:{port}", folder


def shadow(name: str, where: str, to: str = "catalog", **extra: object) -> dict[str, object]:
    """A route in shadow mode: ``where`` ending in ``/`` is a prefix, otherwise a path."""
    match = {"prefix": where} if where.endswith("/") else {"path": where}
    return {"name": name, "match": match, "mode": "shadow", "to": to, **extra}


@pytest.fixture(scope="module")
def shadow_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    legacy: FakeUpstreamProcess,
    catalog: FakeUpstreamProcess,
    service: tuple[str, Path],
) -> Iterator[ProxyProcess]:
    sick = FakeUpstreamProcess("sick", delay=3.0)
    gone = f"http://127.0.0.1:{free_port()}"
    with sick:
        text = table_yaml(
            {
                "legacy": legacy.url,
                "catalog": catalog.url,
                "sick": sick.url,
                "gone": gone,
                "svc": service[0],
            },
            [
                shadow("clock", "/api/clock/", shadow={"noise_sample": 1.0, "recheck_delay": 0}),
                shadow("slow-shadow", "/api/slow/", to="sick", shadow={"timeout": 10}),
                shadow("dead-shadow", "/api/dead/", to="gone"),
                shadow("reads-only", "/api/things-ro/", to="svc"),
                shadow("writes", "/api/things/", to="svc", shadow={"methods": ["POST"]}),
                shadow(
                    "rewritten",
                    "/api/rw/",
                    # the service's layout answers 404 at the monolith's side
                    rewrite={"path": {"template": "/status/404"}},
                    shadow={
                        "noise_sample": 1.0,
                        "recheck_delay": 0,
                        "compare": {"ignore": ["$.name", "$.target", "$.headers"]},
                    },
                ),
                shadow(
                    "paged",
                    "/api/pages/",
                    rewrite={"path": {"replace_prefix": {"from": "/api/pages/", "to": "/svc/"}}},
                    shadow={"compare": {"headers": ["content-type", "location"]}},
                ),
                {  # after the cutover: the service serves, the monolith gets the copies
                    "name": "paged-extracted",
                    "match": {"prefix": "/api/xpages/"},
                    "mode": "extracted",
                    "to": "catalog",
                    "rewrite": {
                        "path": {"replace_prefix": {"from": "/api/xpages/", "to": "/svc/"}}
                    },
                    "shadow": {
                        "noise_sample": 1.0,
                        "compare": {"headers": ["content-type", "location"]},
                    },
                },
                shadow("gzip", "/gzip"),
                shadow("broken-primary", "/drop"),  # the monolith drops the connection
                shadow("upload", "/api/upload/", shadow={"methods": ["POST"]}),
                # the monolith's answer stops half way
                shadow("stalled-primary", "/api/stall/", timeouts={"idle": 0.3}),
                shadow("large", "/bytes"),
                shadow("client-gone", "/api/leave/"),
                shadow("secrets", "/api/secret/", shadow={"compare": {"redact": ["$.headers"]}}),
            ],
        )
        with ProxyProcess.from_yaml(text, tmp_path_factory.mktemp("shadow")) as proxy:
            yield proxy


def store_path(proxy: ProxyProcess) -> Path:
    assert proxy.config is not None
    return proxy.config.parent / "shadow.sqlite3"


def compared(proxy: ProxyProcess, route: str) -> int:
    if not store_path(proxy).exists():
        return 0
    _code, data = report(store_path(proxy), route, "--min-samples", "1")
    routes = [r for r in data["routes"] if r["route"] == route]
    return int(routes[0]["compared"]) if routes else 0


def test_noise_is_learned_and_not_reported(shadow_proxy: ProxyProcess) -> None:
    with httpx.Client(base_url=shadow_proxy.url) as client:
        for i in range(30):
            r = client.get(f"/api/clock/{i}")
            assert r.status_code == 200 and r.headers["x-upstream-name"] == "legacy"
    wait_until(lambda: compared(shadow_proxy, "clock") >= 30, what="30 comparisons stored")
    code, data = report(store_path(shadow_proxy), "clock", "--min-samples", "20")
    clock = route_report(data, "clock")
    assert [f["field"] for f in clock["noise_fields"]] == ["$.now"]
    assert clock["mismatched"] == 0 and clock["match_rate"] == 1.0
    assert clock["verdict"] == "pass" and code == 0


def test_the_serving_side_is_asked_again_in_its_own_layout(shadow_proxy: ProxyProcess) -> None:
    # the copy goes to the service's path (here one that answers 404, so every copy differs);
    # the noise samples ask the monolith again at the path it served: asked at the service's,
    # it would answer 404 too, the status would be learned as noise and the differences hidden
    with httpx.Client(base_url=shadow_proxy.url) as client:
        for i in range(6):
            r = client.get(f"/api/rw/{i}")
            assert r.status_code == 200 and r.json()["target"] == f"/api/rw/{i}"
    wait_until(lambda: compared(shadow_proxy, "rewritten") >= 6, what="6 comparisons stored")
    code, data = report(store_path(shadow_proxy), "rewritten", "--min-samples", "6")
    rewritten = route_report(data, "rewritten")
    assert rewritten["noise_fields"] == [], rewritten["noise_fields"]
    assert rewritten["mismatched"] == 6 and rewritten["verdict"] == "fail" and code == 1


@pytest.mark.parametrize(
    ("route", "prefix", "served_by", "pages"),
    [
        # shadow: the service names its next page, and where it redirects, in its own layout
        # (/svc/...); served to a client, the proxy would make those public (/api/pages/...),
        # as the monolith's already are
        ("paged", "/api/pages/", "legacy", (1, 2, 3)),
        # after the cutover the service serves (its links made public for the client) and is
        # asked again for the noise samples: asked again, its links must be made public too,
        # or they differ from the first answer every time and are learned as noise (hiding
        # every difference in them); its redirect too (the client got a public Location)
        ("paged-extracted", "/api/xpages/", "catalog", (1, 2, 3, 1, 2, 3)),
    ],
)
def test_the_services_answers_are_compared_as_the_client_gets_them(
    shadow_proxy: ProxyProcess, route: str, prefix: str, served_by: str, pages: tuple[int, ...]
) -> None:
    with httpx.Client(base_url=shadow_proxy.url) as client:
        for n in pages:
            r = client.get(f"{prefix}page?page={n}&host=1")
            assert r.status_code == 200 and r.headers["x-upstream-name"] == served_by
        assert r.json()["previous"] == f"{shadow_proxy.url}{prefix}page?page=2"
        r = client.get(f"{prefix}absolute-redirect?host=1")
        assert r.headers["location"] == f"{shadow_proxy.url}{prefix}echo/target"
    n = len(pages) + 1
    wait_until(lambda: compared(shadow_proxy, route) >= n, what=f"{n} comparisons stored")
    code, data = report(store_path(shadow_proxy), route, "--min-samples", str(n))
    paged = route_report(data, route)
    assert paged["noise_fields"] == [], paged
    assert (paged["matched"], paged["mismatched"], code) == (n, 0, 0), paged
    if route == "paged-extracted":  # every answer was asked again: none learned as noise
        assert paged["noise_samples"] == n, paged


def test_compressed_answers_reach_the_client_as_sent_and_are_compared_decoded(
    shadow_proxy: ProxyProcess,
) -> None:
    with httpx.Client(base_url=shadow_proxy.url) as client:
        for _ in range(3):
            with client.stream("GET", "/gzip", headers={"Accept-Encoding": "gzip"}) as r:
                raw = b"".join(r.iter_raw())
            assert r.headers["content-encoding"] == "gzip"
            assert gzip.decompress(raw) == b'{"compressed": true}'  # the bytes as sent
    wait_until(lambda: compared(shadow_proxy, "gzip") >= 3, what="3 comparisons stored")
    code, data = report(store_path(shadow_proxy), "gzip", "--min-samples", "3")
    assert (route_report(data, "gzip")["matched"], code) == (3, 0)


def shadow_metric(proxy: ProxyProcess, name: str, route: str) -> float:
    text = httpx.get(proxy.admin_url + "/metrics").text
    for line in text.splitlines():
        if line.startswith(f"strangler_shadow_{name}_total{{") and f'route="{route}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_copy_without_an_answer_to_compare_is_counted_as_dropped(
    shadow_proxy: ProxyProcess,
) -> None:
    with httpx.Client(base_url=shadow_proxy.url) as client:
        for _ in range(3):
            assert client.get("/drop").status_code == 502
    wait_until(
        lambda: shadow_metric(shadow_proxy, "dropped", "broken-primary") == 3,
        what="3 copies counted as dropped",
    )
    assert shadow_metric(shadow_proxy, "compared", "broken-primary") == 0


def test_the_sides_latencies_are_measured_alike(shadow_proxy: ProxyProcess) -> None:
    # the client takes over a second to send its body; both sides are timed from their own
    # send to the end of their answer, so the monolith's latency does not include the upload
    def slow_body() -> Iterator[bytes]:
        for part in (b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10):
            time.sleep(0.3)  # the client's pace, which is the point of the test
            yield part

    with httpx.Client(base_url=shadow_proxy.url, timeout=10) as client:
        r = client.post("/api/upload/1", content=slow_body())
        assert r.status_code == 200 and r.json()["body_length"] == 40
    wait_until(lambda: compared(shadow_proxy, "upload") >= 1, what="the comparison stored")
    _, data = report(store_path(shadow_proxy), "upload", "--min-samples", "1")
    primary, shadow = route_report(data, "upload")["latency"]
    assert primary["side"] == "primary" and primary["count"] == 1
    assert primary["p50"] is not None and primary["p50"] < 0.5, primary
    assert shadow["p50"] is not None and shadow["p50"] < 0.5, shadow


def _raw_get(proxy: ProxyProcess, target: str, until: bytes | None = None) -> tuple[bytes, int]:
    """``GET target`` on a connection of its own, read until ``until`` came (then the client
    leaves) or until the proxy closes it; what came, and the client's port."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while until is None or until not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received, sock.getsockname()[1]


def test_a_copy_whose_answer_broke_off_is_counted_as_dropped(
    shadow_proxy: ProxyProcess, legacy: FakeUpstreamProcess
) -> None:
    # the first chunk comes, the rest waits for a release that comes after the idle timeout:
    # the client's connection is cut, and the copy has no whole answer to be compared with
    received, _ = _raw_get(shadow_proxy, "/api/stall/gated?key=stall-copy")
    httpx.get(legacy.url + "/release?key=stall-copy")
    assert received.startswith(b"HTTP/1.1 200") and b"first" in received
    wait_until(
        lambda: shadow_metric(shadow_proxy, "dropped", "stalled-primary") == 1,
        what="the copy counted as dropped",
    )
    assert shadow_metric(shadow_proxy, "compared", "stalled-primary") == 0


def _proxy_side_open(proxy_port: int, client_port: int) -> bool:
    """Whether the proxy still holds its end of the client's connection (/proc/net/tcp)."""
    local, remote = f"0100007F:{proxy_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote and fields[3] != "06":  # not TIME_WAIT
            return True
    return False


def test_a_copy_whose_client_left_is_counted_as_dropped(
    shadow_proxy: ProxyProcess, legacy: FakeUpstreamProcess
) -> None:
    # the client reads the first chunk and leaves; the rest of the monolith's answer comes
    # after the proxy has closed that connection: it reaches nobody, and the copy has no
    # whole answer to be compared with
    _, client_port = _raw_get(shadow_proxy, "/api/leave/gated?key=leave", until=b"first")
    wait_until(
        lambda: not _proxy_side_open(shadow_proxy.port, client_port),
        what="the proxy to close its end of the client's connection",
    )
    httpx.get(legacy.url + "/release?key=leave")
    wait_until(
        lambda: shadow_metric(shadow_proxy, "dropped", "client-gone") == 1,
        what="the copy counted as dropped",
    )
    assert shadow_metric(shadow_proxy, "compared", "client-gone") == 0


def test_a_body_in_many_pieces_is_compared_whole(shadow_proxy: ProxyProcess) -> None:
    # 300,000 bytes written in 64 KiB pieces by both sides: the copy's answer must be read to
    # its end, not to the first piece that arrived
    with httpx.Client(base_url=shadow_proxy.url, timeout=10) as client:
        for _ in range(5):
            r = client.get("/bytes", params={"size": "300000"})
            assert r.status_code == 200 and len(r.content) == 300_000
    wait_until(lambda: compared(shadow_proxy, "large") >= 5, what="5 comparisons stored")
    code, data = report(store_path(shadow_proxy), "large", "--min-samples", "5")
    large = route_report(data, "large")
    assert (large["compared"], large["mismatched"], large["errors"]) == (5, 0, 0), large
    assert large["verdict"] == "pass" and code == 0


def test_slow_or_dead_shadow_changes_nothing_for_the_client(shadow_proxy: ProxyProcess) -> None:
    with httpx.Client(base_url=shadow_proxy.url, timeout=10) as client:
        for prefix in ("/api/slow/", "/api/dead/"):
            for i in range(10):
                t0 = time.perf_counter()
                r = client.get(f"{prefix}{i}")
                elapsed = time.perf_counter() - t0
                assert r.status_code == 200 and r.json()["name"] == "legacy"
                # the shadow takes 3 s (or never connects): the client never waits for it
                assert elapsed < 1.5, f"{prefix}: client waited {elapsed:.2f}s"
    wait_until(lambda: compared(shadow_proxy, "dead-shadow") >= 10, what="dead shadow results")
    _, data = report(store_path(shadow_proxy), "dead-shadow", "--min-samples", "5")
    dead = route_report(data, "dead-shadow")
    assert dead["errors"] == 10 and dead["verdict"] == "fail"


def test_writes_are_not_shadowed_unless_opted_in(
    shadow_proxy: ProxyProcess, service: tuple[str, Path]
) -> None:
    _, folder = service
    log = folder / "received.log"
    r = httpx.post(shadow_proxy.url + "/api/things-ro/", json={"name": "a"})
    assert r.json()["name"] == "legacy"
    r = httpx.post(shadow_proxy.url + "/api/things/", json={"name": "b"})
    assert r.json()["name"] == "legacy"
    # the opted-in POST reaches the service, marked, and leaves no row behind
    wait_until(lambda: log.exists() and "POST" in log.read_text(), what="the shadow POST")
    assert log.read_text().splitlines() == ["POST dry_run=True"]
    with sqlite3.connect(folder / "svc.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM things").fetchone() == (0,)
    assert compared(shadow_proxy, "reads-only") == 0


def test_client_cannot_inject_the_shadow_marks(
    shadow_proxy: ProxyProcess, legacy: FakeUpstreamProcess
) -> None:
    r = httpx.get(
        shadow_proxy.url + "/echo",
        headers={
            "X-Strangler-Dry-Run": "1",
            "X-Strangler-Shadow": "1",
            "X-Strangler-Identity": "forged",
        },
    )
    names = {k.lower() for k, _ in r.json()["headers"]}
    assert not names & {"x-strangler-dry-run", "x-strangler-shadow", "x-strangler-identity"}


def test_secrets_never_reach_the_store(shadow_proxy: ProxyProcess) -> None:
    secret_token, secret_cookie, csrf = "Token s3cr3t-t0ken", "s3ssi0n-c00kie", "csrf-v4lue"
    headers = {
        "Authorization": secret_token,
        "Cookie": f"sessionid={secret_cookie}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
    }
    with httpx.Client(base_url=shadow_proxy.url) as client:
        for i in range(5):
            client.get(f"/api/secret/{i}", headers=headers)
    # the echo bodies differ (legacy vs catalog), so full examples are stored
    wait_until(lambda: compared(shadow_proxy, "secrets") >= 5, what="secret route results")
    _, data = report(store_path(shadow_proxy), "secrets", "--min-samples", "1")
    assert route_report(data, "secrets")["mismatched"] == 5
    raw = store_path(shadow_proxy).read_bytes()
    for wal in store_path(shadow_proxy).parent.glob("shadow.sqlite3*"):
        raw += wal.read_bytes()
    for secret in ("s3cr3t-t0ken", secret_cookie, csrf):
        assert secret.encode() not in raw, secret
