"""Flow files against the real mitmproxy 11.0.2, which lives in its own venv (installed next to
the kit it would hold h11, httpcore and Flask back): small scripts run with that venv's
interpreter in a subprocess.

(a) a file ``strangler shadow export`` wrote is read by mitmproxy's ``FlowReader`` (requests,
both responses, comments, marks, metadata as exported; each state exactly what mitmproxy's own
``get_state()`` of the flow it read is) and opened by ``mitmdump -r``; (b) a file mitmproxy's
``FlowWriter`` wrote (as ``mitmdump -w`` writes it) is read as recorded and replayed by
``strangler shadow replay`` with the expected verdict.

The interpreter is ``$STRANGLER_MITMPROXY_PYTHON``, else the repository's
``.venv-flows/bin/python`` (``./kit test`` creates it). Without it these tests fail when
``CI=true`` and are skipped elsewhere, both naming the command that creates it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from strangler_proxy.shadow import open_store
from strangler_proxy.shadow._fakes import json_side, make_result
from strangler_proxy.shadow.flows import FLOW_FORMAT_VERSION, _to_request, read_http_flows
from strangler_proxy.testing.harness import FakeUpstreamProcess, table_yaml

REPO = Path(__file__).resolve().parents[3]
MITMPROXY_VERSION = "11.0.2"
CREATE = (
    "python3 -m venv .venv-flows && .venv-flows/bin/pip install -q "
    f"--disable-pip-version-check mitmproxy=={MITMPROXY_VERSION}"
)
SECRET = "Token tok-FLOWSECRET"


@dataclass(frozen=True)
class Mitmproxy:
    python: str
    version: str
    flow_format: int

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``script`` with mitmproxy's interpreter, isolated (-I: no PYTHONPATH, no user site,
        not the kit's source tree), from a neutral directory."""
        return subprocess.run(
            [self.python, "-I", "-c", script, *args],
            capture_output=True,
            text=True,
            cwd="/",
            timeout=120,
        )


@pytest.fixture(scope="module")
def mitm() -> Mitmproxy:
    configured = os.environ.get("STRANGLER_MITMPROXY_PYTHON")
    python = Path(configured) if configured else REPO / ".venv-flows" / "bin" / "python"
    if not (python.is_file() and os.access(python, os.X_OK)):
        where = f"STRANGLER_MITMPROXY_PYTHON={configured}" if configured else str(python)
        message = (
            f"the mitmproxy interop tests need mitmproxy {MITMPROXY_VERSION} in its own venv "
            f"({where} is missing); create it in {REPO}: {CREATE}  (./kit test does)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    probe = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "import json, mitmproxy.version as v; print(json.dumps([v.VERSION, "
            "v.FLOW_FORMAT_VERSION]))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:  # an interpreter without mitmproxy is a broken setup, not a skip
        pytest.fail(f"{python} cannot import mitmproxy: {probe.stderr.strip()}; {CREATE}")
    version, flow_format = json.loads(probe.stdout)
    return Mitmproxy(str(python), version, flow_format)


def strangler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", *args], capture_output=True, text=True, cwd=REPO
    )


# -- (a) mitmproxy reads what we export -----------------------------------------------------------
READ = r"""
import io, json, sys
from mitmproxy import http
from mitmproxy import io as mio
from mitmproxy.io import tnetstring

data = open(sys.argv[1], "rb").read()
flows = list(mio.FlowReader(io.BytesIO(data)).stream())

def canon(value):  # order-insensitive for dicts, type-sensitive for everything else
    if isinstance(value, dict):
        return ["dict", sorted([k, canon(v)] for k, v in value.items())]
    if isinstance(value, (list, tuple)):
        return ["list", [canon(v) for v in value]]
    return [type(value).__name__, repr(value)]

written = io.BytesIO(data)
states = [tnetstring.load(written) for _ in flows]
as_mitmproxy = [tnetstring.loads(tnetstring.dumps(f.get_state())) for f in flows]

def message(m):
    return None if m is None else {
        "http_version": m.http_version,
        "headers": [[k, v] for k, v in m.headers.items(multi=True)],
        "body": m.get_text(strict=False),
    }

print(json.dumps({
    "same_states": [canon(a) == canon(b) for a, b in zip(states, as_mitmproxy)],
    "flows": [
        {
            "http": isinstance(f, http.HTTPFlow),
            "id": f.id,
            "method": f.request.method,
            "url": f.request.url,
            "path": f.request.path,
            "request": message(f.request),
            "status": f.response.status_code if f.response else None,
            "reason": f.response.reason if f.response else None,
            "response": message(f.response),
            "error": f.error.msg if f.error else None,
            "comment": f.comment,
            "marked": f.marked,
            "metadata": f.metadata,
        }
        for f in flows
    ],
}))
"""

MITMDUMP = "import sys; from mitmproxy.tools.main import mitmdump; sys.exit(mitmdump())"


def test_mitmproxy_reads_what_export_writes(mitm: Mitmproxy, tmp_path: Path) -> None:
    store = open_store(None, tmp_path / "shadow.sqlite3")
    now = time.time()  # the CLI's store keeps samples for 7 days of its own clock
    headers = (("Host", "shop.example:8443"), ("Accept", "application/json"))
    store.record(
        make_result(
            json_side({"id": 1, "name": "legacy", "price": "1.00"}),
            json_side({"id": 1, "name": "catalog", "price": "1.00"}),
            route="items",
            request_headers=(*headers, ("Authorization", SECRET)),
            target="/api/items/1?page=2",
            request_id="r-1",
            at=now - 1,
        )
    )
    store.record(
        make_result(
            json_side({"id": 2, "name": "legacy"}),
            json_side({"detail": "Not found."}, status=404),
            route="items",
            request_headers=headers,
            target="/api/items/2",
            request_id="r-2",
            at=now,
        )
    )
    store.flush()
    store.close()
    out = tmp_path / "mismatches.flows"
    url = f"sqlite:///{tmp_path / 'shadow.sqlite3'}"
    result = strangler("shadow", "export", "items", "--out", str(out), "--store", url)
    assert result.returncode == 0, result.stderr
    assert "FLOWSECRET" not in out.read_bytes().decode("latin-1")

    read = mitm.run(READ, str(out))
    assert read.returncode == 0, read.stderr
    data = json.loads(read.stdout)
    if mitm.flow_format == FLOW_FORMAT_VERSION:  # no migration: every key, value and type
        assert data["same_states"] == [True] * 4  # as mitmproxy's own get_state() has them
    flows = data["flows"]
    assert len(flows) == 4 and all(f["http"] for f in flows)
    (p2, s2, p1, s1) = flows  # newest mismatch first, primary then shadow
    for primary, shadow in ((p1, s1), (p2, s2)):
        for flow in (primary, shadow):
            assert flow["method"] == "GET" and flow["error"] is None
            assert flow["request"]["http_version"] == "HTTP/1.1"
            assert flow["request"]["body"] == ""
            assert ["Host", "shop.example:8443"] in flow["request"]["headers"]
            assert ["Accept", "application/json"] in flow["request"]["headers"]
        assert json.loads(primary["response"]["body"])["name"] == "legacy"
        assert primary["status"] == 200 and primary["reason"] == "OK"
        assert primary["comment"].startswith("[strangler] mismatch ")
        assert "PRIMARY" in primary["comment"] and "SHADOW" in shadow["comment"]
        assert primary["marked"] == "" and shadow["marked"] == ":red_circle:"
        meta = primary["metadata"]["strangler"]
        assert meta["side"] == "primary" and shadow["metadata"]["strangler"]["side"] == "shadow"
        assert (meta["primary_flow"], meta["shadow_flow"]) == (primary["id"], shadow["id"])
    assert p1["url"] == s1["url"] == "http://shop.example:8443/api/items/1?page=2"
    assert ["Authorization", "[redacted]"] in p1["request"]["headers"]
    assert json.loads(s1["response"]["body"])["name"] == "catalog" and s1["status"] == 200
    assert '$.name  value  "legacy" → "catalog"' in p1["comment"]
    assert p2["path"] == s2["path"] == "/api/items/2"
    assert (s2["status"], s2["reason"]) == (404, "Not Found")
    assert json.loads(s2["response"]["body"]) == {"detail": "Not found."}
    assert ["content-type", "application/json"] in [
        [k.lower(), v] for k, v in s2["response"]["headers"]
    ]
    assert p2["metadata"]["strangler"]["shadow_response"]["status"] == 404

    dump = mitm.run(MITMDUMP, "-n", "-r", str(out), "--set", "flow_detail=1")
    assert dump.returncode == 0, dump.stdout + dump.stderr
    assert dump.stdout.count("GET http://shop.example:8443/api/items/") == 4
    assert "<< 200 OK" in dump.stdout and "<< 404 Not Found" in dump.stdout


# -- (b) replay reads what mitmproxy writes -------------------------------------------------------
WRITE = r"""
import sys
from mitmproxy import connection, http
from mitmproxy import io as mio
from mitmproxy.test import tflow

def recorded(method, url, body=b"", response=(200, b'{"recorded": true}', {}), headers=None):
    flow = http.HTTPFlow(
        connection.Client(peername=("10.0.0.7", 51000), sockname=("10.0.0.1", 80)),
        connection.Server(address=("shop.example", 80)),
    )
    flow.request = http.Request.make(
        method,
        url,
        body,
        headers if headers is not None else {
            "Host": "shop.example", "Accept": "application/json", "X-Strangler-Dry-Run": "0"
        },
    )
    if response is not None:
        status, content, extra = response
        flow.response = http.Response.make(
            status, content, {"Content-Type": "application/json", **extra}
        )
    flow.comment = "recorded by mitmproxy"
    return flow

h2 = recorded("GET", "https://shop.example/api/items/2", headers={"Accept": "application/json"})
h2.request.http_version = "HTTP/2.0"
h2.request.authority = "shop.example"
zipped = (201, b'{"id": 9}', {"Content-Encoding": "gzip"})  # make() compresses it
with open(sys.argv[1], "wb") as fo:
    writer = mio.FlowWriter(fo)
    writer.add(recorded("GET", "http://shop.example/api/items/1?page=2"))
    writer.add(recorded("POST", "http://shop.example/api/items/", b'{"name": "new"}', zipped))
    writer.add(recorded("GET", "http://shop.example/api/other/9"))
    writer.add(h2)
    writer.add(tflow.ttcpflow())
    writer.add(tflow.tflow(resp=True))  # http://address:22/path: no route of ours
"""


@pytest.fixture(scope="module")
def twins() -> Iterator[tuple[FakeUpstreamProcess, FakeUpstreamProcess]]:
    """Two upstreams that answer alike (same name in the echo)."""
    with FakeUpstreamProcess("twin") as a, FakeUpstreamProcess("twin") as b:
        yield a, b


@pytest.fixture(scope="module")
def recorded_traffic(mitm: Mitmproxy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mitmdump") / "traffic.flows"
    wrote = mitm.run(WRITE, str(path))
    assert wrote.returncode == 0, wrote.stderr
    return path


def table_file(folder: Path, legacy_url: str, service_url: str) -> Path:
    path = folder / "routing.yaml"
    path.write_text(
        table_yaml(
            {"legacy": legacy_url, "svc": service_url},
            [
                {
                    "name": "items",
                    "match": {"prefix": "/api/items/"},
                    "mode": "shadow",
                    "to": "svc",
                    # the echo lists the request headers: the copy carries the shadow mark
                    "shadow": {"noise_sample": 0, "compare": {"ignore": ["$.headers"]}},
                },
                {"name": "other", "match": {"prefix": "/api/other/"}, "mode": "legacy"},
            ],
        )
    )
    return path


def test_what_mitmproxy_wrote_reads_as_recorded(recorded_traffic: Path) -> None:
    flows, not_http = read_http_flows([recorded_traffic])
    assert not_http == 1 and len(flows) == 5
    get1, post, _, h2, _ = flows
    assert (get1.request.method, get1.request.path) == ("GET", "/api/items/1?page=2")
    assert get1.comment == "recorded by mitmproxy"
    assert get1.response is not None and get1.response.content == b'{"recorded": true}'
    sent = _to_request(post)
    assert (sent.method, sent.target, sent.body) == ("POST", "/api/items/", b'{"name": "new"}')
    assert ("Accept", "application/json") in sent.headers
    assert not any(k.lower() == "x-strangler-dry-run" for k, _ in sent.headers)
    assert sent.recorded is not None and sent.recorded.status == 201
    assert post.response is not None and post.response.content != b'{"id": 9}'  # gzip
    assert sent.recorded.body == b'{"id": 9}'  # decoded, as mitmproxy shows it
    again = _to_request(h2)
    assert h2.request.http_version == "HTTP/2.0"
    assert again.headers == (("Host", "shop.example"), ("Accept", "application/json"))


def test_replaying_what_mitmproxy_wrote_against_agreeing_upstreams_passes(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess], recorded_traffic: Path, tmp_path: Path
) -> None:
    a, b = twins
    table = table_file(tmp_path, a.url, b.url)
    args = ["shadow", "replay", str(recorded_traffic), "--route", "items", "--table", str(table)]
    result = strangler(*args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert (data["http_flows"], data["replayed"], data["matched"], data["mismatched"]) == (
        5,
        2,
        2,
        0,
    )
    assert data["skipped"] == {
        "writes": 1,
        "writes_without_recorded_response": 0,
        "other_routes": 2,
        "not_http": 1,
    }
    text = strangler(*args)
    assert text.returncode == 0
    assert text.stdout.startswith(f"replay of {recorded_traffic} on route items: PASS")


def test_replaying_what_mitmproxy_wrote_against_a_differing_service_fails(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess],
    catalog: FakeUpstreamProcess,
    recorded_traffic: Path,
    tmp_path: Path,
) -> None:
    a, _ = twins
    table = table_file(tmp_path, a.url, catalog.url)
    args = ["shadow", "replay", str(recorded_traffic), "--route", "items", "--table", str(table)]
    result = strangler(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "on route items: FAIL" in result.stdout
    assert "2 replayed: 0 matched, 2 mismatched" in result.stdout
    assert '$.name  value  "twin" → "catalog"' in result.stdout
    writes = json.loads(strangler(*args, "--include-writes", "--json").stdout)
    assert writes["exit_code"] == 1 and writes["replayed"] == 3
    post = [m for m in writes["mismatches"] if m["method"] == "POST"]
    assert [m["target"] for m in post] == ["/api/items/"]  # compared with the recorded 201
