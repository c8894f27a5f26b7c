"""Flow files with real processes: mismatches of a running proxy exported as mitmproxy flow
files, and recorded traffic replayed against two real upstreams with the route's comparison.

No mitmproxy here: the kit writes and reads the format itself (``test_flows_format.py`` pins it
to what mitmproxy 11.0.2 writes; ``test_flows_mitmproxy.py`` checks it with the real one)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler_proxy.config import load_table
from strangler_proxy.shadow import (
    FlowFileError,
    Verdict,
    export_mismatches,
    open_store,
    render_replay,
    replay,
)
from strangler_proxy.shadow._fakes import T0, FakeClock, json_side, make_result
from strangler_proxy.shadow.flows import (
    FlowRequest,
    FlowResponse,
    HttpFlow,
    read_http_flows,
    write_flows,
)
from strangler_proxy.testing import free_port, wait_until
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

REPO = Path(__file__).resolve().parents[3]
SECRET = "Token tok-FLOWSECRET"


def strangler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", *args], capture_output=True, text=True, cwd=REPO
    )


def read_flows(path: Path) -> list[HttpFlow]:
    flows, other = read_http_flows([path])
    assert other == 0
    return flows


def recorded(
    method: str,
    target: str,
    *,
    body: bytes = b"",
    response: tuple[int, bytes] | None = (200, b'{"recorded": true}'),
) -> HttpFlow:
    """One flow as mitmdump records it: client request, server response."""
    now = time.time()
    request = FlowRequest(
        method,
        target,
        "shop.example",
        80,
        headers=(
            (b"Host", b"shop.example"),
            (b"Accept", b"application/json"),
            (b"X-Strangler-Dry-Run", b"0"),
            (b"content-length", str(len(body)).encode()),
        ),
        content=body,
        timestamp_start=now,
        timestamp_end=now,
    )
    if response is None:
        return HttpFlow(request, error="no response")
    status, content = response
    return HttpFlow(
        request,
        FlowResponse(
            status,
            headers=(
                (b"Content-Type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ),
            content=content,
            timestamp_start=now + 0.01,
            timestamp_end=now + 0.02,
        ),
    )


def save(path: Path, flows: list[HttpFlow]) -> Path:
    write_flows(path, flows)
    return path


# -- export ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mismatching_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    legacy: FakeUpstreamProcess,
    catalog: FakeUpstreamProcess,
) -> Iterator[ProxyProcess]:
    """A proxy shadowing /api/items/ from legacy to catalog: every copy mismatches on $.name."""
    text = table_yaml(
        {"legacy": legacy.url, "catalog": catalog.url},
        [
            {
                "name": "items",
                "match": {"prefix": "/api/items/"},
                "mode": "shadow",
                "to": "catalog",
                "shadow": {
                    "noise_sample": 0,
                    "recheck_delay": 0,
                    "compare": {"redact": ["$.headers"]},
                },
            }
        ],
    )
    with ProxyProcess.from_yaml(text, tmp_path_factory.mktemp("flows-proxy")) as proxy:
        yield proxy


def test_export_after_a_real_shadow_run(mismatching_proxy: ProxyProcess, tmp_path: Path) -> None:
    assert mismatching_proxy.config is not None
    store_url = f"sqlite:///{mismatching_proxy.config.parent / 'shadow.sqlite3'}"
    with httpx.Client(base_url=mismatching_proxy.url) as client:
        for target in ("/api/items/1?page=2", "/api/items/2", "/api/items/3"):
            r = client.get(target, headers={"Authorization": SECRET})
            assert r.status_code == 200 and r.json()["name"] == "legacy"

    def stored() -> int:
        store = open_store(store_url, tmp_path / "unused.sqlite3")
        try:
            return len(store.mismatch_examples("items"))
        finally:
            store.close()

    wait_until(lambda: stored() >= 3, what="3 stored mismatches")
    out = tmp_path / "out" / "mismatches.flows"
    result = strangler("shadow", "export", "items", "--out", str(out), "--store", store_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{out}: 3 mismatches of items (6 flows")

    flows = read_flows(out)
    assert len(flows) == 6
    pairs = [(flows[i], flows[i + 1]) for i in range(0, 6, 2)]
    targets = set()
    for primary, shadow in pairs:
        assert primary.request.method == shadow.request.method == "GET"
        assert primary.request.path == shadow.request.path
        targets.add(primary.request.path)
        # the request as the proxy saw it (secrets redacted) and both responses
        assert primary.request.header("authorization") == "[redacted]"
        assert primary.response.status_code == shadow.response.status_code == 200
        assert json.loads(primary.response.content)["name"] == "legacy"
        assert json.loads(shadow.response.content)["name"] == "catalog"
        assert "application/json" in (primary.response.header("content-type") or "")
        # what mitmweb shows: comments naming the side and the differing field; a red mark
        assert primary.comment.startswith("[strangler] mismatch ")
        assert "PRIMARY" in primary.comment and "SHADOW" in shadow.comment
        assert '$.name  value  "legacy" → "catalog"' in primary.comment
        assert shadow.marked == ":red_circle:" and not primary.marked
        meta = primary.metadata["strangler"]
        assert meta["route"] == "items" and meta["side"] == "primary"
        assert meta["shadow_flow"] == shadow.id and meta["primary_flow"] == primary.id
        assert meta["shadow_response"]["status"] == 200
        assert "$.name" in [d["path"] for d in meta["differences"]]
        assert shadow.metadata["strangler"]["side"] == "shadow"
    assert targets == {"/api/items/1?page=2", "/api/items/2", "/api/items/3"}
    assert "FLOWSECRET" not in out.read_bytes().decode("latin-1")

    # --limit keeps the newest N
    two = tmp_path / "two.flows"
    result = strangler(
        "shadow", "export", "items", "--out", str(two), "--store", store_url, "--limit", "2"
    )
    assert result.returncode == 0, result.stderr
    assert len(read_flows(two)) == 4


def test_export_on_each_store_backend(make_store: Any, tmp_path: Path) -> None:
    """In process, on SQLite and PostgreSQL: a truncated body and a write are flagged."""
    clock = FakeClock()
    store = make_store(clock=clock, max_body=8)
    store.record(
        make_result(
            json_side({"id": 1, "price": "1.00"}, latency=0.012),
            json_side({"id": 1, "price": "1.50"}, latency=0.004),
            route="detail",
            request_headers=(("Host", "shop.example:8443"), ("Cookie", "sessionid=abc")),
            at=T0,
        )
    )
    store.flush()
    out = tmp_path / "detail.flows"
    assert export_mismatches(store, "detail", out, limit=10) == 1
    primary, shadow = read_flows(out)
    assert (primary.request.host, primary.request.port) == ("shop.example", 8443)
    assert primary.request.header("cookie") == "sessionid=[redacted]"
    assert primary.response.content == b'{"id": 1'  # stored cut at max_body=8
    assert shadow.response.content == b'{"id": 1' and shadow.marked
    assert "cut at the store's limit" in primary.comment
    assert primary.request.timestamp_start == T0
    assert export_mismatches(store, "nothing", tmp_path / "empty.flows", limit=10) == 0
    assert read_flows(tmp_path / "empty.flows") == []


def test_export_with_an_unreadable_store_is_a_usage_error(tmp_path: Path) -> None:
    result = strangler(
        "shadow",
        "export",
        "items",
        "--out",
        str(tmp_path / "x.flows"),
        "--store",
        "mysql://nope",
    )
    assert result.returncode == 2
    assert "cannot read the store" in result.stderr


# -- replay ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def twins() -> Iterator[tuple[FakeUpstreamProcess, FakeUpstreamProcess]]:
    """Two upstreams that answer alike (same name in the echo)."""
    with FakeUpstreamProcess("twin") as a, FakeUpstreamProcess("twin") as b:
        yield a, b


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
                    # the echo lists the request headers: the service's copy carries the
                    # shadow mark, so they are not part of the verdict
                    "shadow": {"noise_sample": 0, "compare": {"ignore": ["$.headers"]}},
                },
                {"name": "other", "match": {"prefix": "/api/other/"}, "mode": "legacy"},
            ],
        )
    )
    return path


@pytest.fixture
def traffic(tmp_path: Path) -> Path:
    return save(
        tmp_path / "traffic.flows",
        [
            recorded("GET", "/api/items/1?page=2"),
            recorded("POST", "/api/items/", body=b'{"name": "new"}'),
            recorded("GET", "/api/other/9"),
            recorded("GET", "/api/items/2"),
            recorded("GET", "/healthz"),
        ],
    )


def test_replay_against_upstreams_that_agree_passes(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess], traffic: Path, tmp_path: Path
) -> None:
    a, b = twins
    table = table_file(tmp_path, a.url, b.url)
    result = strangler(
        "shadow", "replay", str(traffic), "--route", "items", "--table", str(table), "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["exit_code"] == 0 and data["http_flows"] == 5
    assert (data["replayed"], data["matched"], data["mismatched"]) == (2, 2, 0)
    # the route filter: only /api/items/ requests; the write skipped by default
    assert data["skipped"] == {
        "writes": 1,
        "writes_without_recorded_response": 0,
        "other_routes": 2,
        "not_http": 0,
    }
    assert data["legacy_url"] == a.url and data["service_url"] == b.url
    assert data["report"]["routes"][0]["verdict"] == "pass"

    text = strangler("shadow", "replay", str(traffic), "--route", "items", "--table", str(table))
    assert text.returncode == 0
    assert text.stdout.startswith(f"replay of {traffic} on route items: PASS")
    assert "2 replayed: 2 matched, 0 mismatched" in text.stdout
    assert "skipped: 1 writes (--include-writes sends them, dry-run)" in text.stdout
    assert "2 requests of other routes" in text.stdout


def test_replay_against_a_differing_service_fails_naming_the_field(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess],
    catalog: FakeUpstreamProcess,
    traffic: Path,
    tmp_path: Path,
) -> None:
    a, _ = twins
    table = table_file(tmp_path, a.url, "http://127.0.0.1:9")  # overridden by --service
    args = ["shadow", "replay", str(traffic), "--route", "items", "--table", str(table)]
    result = strangler(*args, "--service", catalog.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "on route items: FAIL" in result.stdout
    assert "2 replayed: 0 matched, 2 mismatched" in result.stdout
    assert "GET /api/items/1?page=2" in result.stdout
    assert '$.name  value  "twin" → "catalog"' in result.stdout
    assert "$.name  2x value" in result.stdout  # the shadow report's top differing fields
    data = json.loads(strangler(*args, "--service", catalog.url, "--json").stdout)
    assert data["mismatched"] == 2
    assert {d["field"] for m in data["mismatches"] for d in m["differences"]} == {"$.name"}


def test_included_writes_go_to_the_service_only_marked_dry_run(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess], tmp_path: Path
) -> None:
    _, b = twins
    dead_monolith = f"http://127.0.0.1:{free_port()}"  # anything sent there would be an error
    table = load_table(table_file(tmp_path, dead_monolith, b.url))
    flows = save(
        tmp_path / "writes.flows",
        [
            recorded("POST", "/api/items/", body=b'{"name": "new"}', response=(201, b"{}")),
            recorded("DELETE", "/api/items/4", response=None),  # nothing to compare with
        ],
    )
    skipped = replay([flows], table, "items", dead_monolith, b.url)
    assert (skipped.replayed, skipped.skipped_writes, skipped.exit_code) == (0, 2, 2)

    result = replay([flows], table, "items", dead_monolith, b.url, include_writes=True)
    assert result.replayed == 1 and result.skipped_unrecorded == 1
    only = result.results[0]
    assert only.primary.status == 201 and only.primary.body == b"{}"  # the recording
    echo = json.loads(only.shadow.body)
    assert echo["method"] == "POST" and echo["body"] == '{"name": "new"}'
    sent = {k.lower(): v for k, v in echo["headers"]}
    assert sent["x-strangler-dry-run"] == "1" and sent["x-strangler-shadow"] == "1"
    assert sent["host"] == "shop.example"  # kept, as the proxy keeps it
    assert only.comparison.verdict is Verdict.MISMATCH  # the echo is not the recording
    assert result.exit_code == 1
    assert "1 writes without a recorded response" in render_replay(result)


def test_corrupt_or_missing_flow_files_are_usage_errors(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess], traffic: Path, tmp_path: Path
) -> None:
    a, b = twins
    table = table_file(tmp_path, a.url, b.url)
    garbage = tmp_path / "garbage.flows"
    garbage.write_bytes(b"this is not a flow file\x00\xff")
    truncated = tmp_path / "truncated.flows"
    truncated.write_bytes(traffic.read_bytes()[:-40])
    for bad in (garbage, truncated, tmp_path / "missing.flows"):
        result = strangler(
            "shadow", "replay", str(traffic), str(bad), "--route", "items", "--table", str(table)
        )
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert result.stderr.startswith(f"strangler shadow replay: {bad}: ")
        assert result.stdout == ""  # nothing was replayed
    with pytest.raises(FlowFileError, match="not a readable mitmproxy flow file"):
        replay([garbage], load_table(table), "items", a.url, b.url)


def test_unknown_route_or_nothing_to_replay_are_usage_errors(
    twins: tuple[FakeUpstreamProcess, FakeUpstreamProcess], tmp_path: Path
) -> None:
    a, b = twins
    table = table_file(tmp_path, a.url, b.url)
    flows = save(tmp_path / "t.flows", [recorded("GET", "/api/other/1")])
    unknown = strangler("shadow", "replay", str(flows), "--route", "nope", "--table", str(table))
    assert unknown.returncode == 2
    assert "has no route 'nope' (routes: items, other)" in unknown.stderr
    nothing = strangler("shadow", "replay", str(flows), "--route", "items", "--table", str(table))
    assert nothing.returncode == 2
    assert "nothing to replay: no request in the flow files goes to route 'items'" in (
        nothing.stderr
    )
