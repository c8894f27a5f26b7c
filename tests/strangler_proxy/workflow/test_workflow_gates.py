from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from strangler_proxy.model import Mode
from strangler_proxy.workflow.audit import (
    AuditEntry,
    append_entry,
    previous_state,
    read_entries,
    render_history,
)
from strangler_proxy.workflow.gates import (
    MetricThresholds,
    check_loadtest,
    check_metrics,
    parse_prometheus,
    route_traffic,
)
from strangler_proxy.workflow.promote import gates_for, next_state, parse_target, previous_rung
from strangler_proxy.workflow.yamledit import RouteState

from .conftest import Cli

METRICS = """\
# HELP strangler_requests_total Requests by route, mode, upstream and status class
# TYPE strangler_requests_total counter
strangler_requests_total{route="detail",mode="canary",upstream="catalog",status_class="2xx"} 196
strangler_requests_total{route="detail",mode="canary",upstream="catalog",status_class="5xx"} 4
strangler_requests_total{route="detail",mode="canary",upstream="legacy",status_class="2xx"} 800
strangler_requests_total{route="other",mode="legacy",upstream="legacy",status_class="5xx"} 9
strangler_fallbacks_total{route="detail",reason="upstream_unavailable"} 2
strangler_table_generation 3
"""

LEGACY = RouteState(Mode.LEGACY, None, "catalog")
SHADOW = RouteState(Mode.SHADOW, None, "catalog")


def canary(weight: int) -> RouteState:
    return RouteState(Mode.CANARY, weight, "catalog")


EXTRACTED = RouteState(Mode.EXTRACTED, None, "catalog")


def test_prometheus_text_is_parsed_per_route() -> None:
    samples = parse_prometheus(METRICS + 'x{a="q\\"uote"} 1\n')
    assert samples[-1].labels == {"a": 'q"uote'}
    assert route_traffic(samples, "detail", "catalog") == {
        "requests": 1000,
        "service": 200,
        "service_5xx": 4,
        "legacy_5xx": 0,
        "fallbacks": 2,
    }


def test_the_ladder() -> None:
    path = [LEGACY]
    while (step := next_state(path[-1])) is not None:
        path.append(step)
    assert [str(s) for s in path] == [
        "legacy", "shadow", "canary 1%", "canary 5%", "canary 25%", "canary 50%", "extracted"
    ]  # fmt: skip
    assert next_state(canary(10)) == canary(25)
    assert next_state(canary(75)) == EXTRACTED
    assert next_state(canary(0)) == canary(1)
    assert [str(previous_rung(s)) for s in (EXTRACTED, canary(25), canary(1), SHADOW)] == [
        "canary 50%", "canary 5%", "shadow", "legacy"
    ]  # fmt: skip


def test_gates_per_boundary() -> None:
    assert gates_for(LEGACY, SHADOW) == ["upstream-health"]
    assert gates_for(SHADOW, canary(1)) == ["shadow-report", "loadtest"]
    assert gates_for(canary(5), canary(25)) == ["live-metrics", "loadtest"]
    assert gates_for(canary(50), EXTRACTED) == ["live-metrics", "loadtest"]
    # skipping the canary crosses every boundary: the metrics gate cannot pass without traffic
    assert gates_for(LEGACY, EXTRACTED) == [
        "upstream-health", "shadow-report", "live-metrics", "loadtest"
    ]  # fmt: skip
    assert gates_for(canary(25), SHADOW) == []  # moving back needs no gate


def test_targets() -> None:
    assert parse_target("canary:25", "catalog") == canary(25)
    assert parse_target("Extracted", None) == RouteState(Mode.EXTRACTED)
    for bad in ("canary", "canary:101", "legacy:5", "canery:5"):
        with pytest.raises(ValueError):
            parse_target(bad, None)


def test_loadtest_result_files(tmp_path: Path) -> None:
    for verdict, passed in (("pass", True), ("regression", False), ("inconclusive", False)):
        path = tmp_path / f"{verdict}.json"
        path.write_text(json.dumps({"verdict": verdict, "endpoints": []}))
        result = check_loadtest(path)
        assert (result.passed, result.numbers["verdict"]) == (passed, verdict)
    assert not check_loadtest(tmp_path / "missing.json").passed


def test_unreachable_admin_fails_the_metrics_gate() -> None:
    result = check_metrics("http://127.0.0.1:9", "detail", "catalog", MetricThresholds())
    assert not result.passed and "unreachable" in result.summary


def entry(action: str, before: RouteState, after: RouteState) -> AuditEntry:
    return AuditEntry(time.time(), "t", action, "detail", before, after)


def test_rollback_walks_the_audit_log_back(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    moves = [
        entry("promote", LEGACY, SHADOW),
        entry("promote", SHADOW, canary(1)),
        entry("promote", canary(1), canary(25)),
        entry("rollback", canary(25), canary(1)),
    ]
    for e in moves:
        append_entry(log, e)
    entries = read_entries(log, "detail")
    assert len(entries) == 4 and read_entries(log, "other") == []
    assert previous_state(entries, canary(1)) == SHADOW  # not forward to 25 again
    assert previous_state(entries[:3], canary(25)) == canary(1)
    assert previous_state(entries, canary(5)) is None  # edited by hand since: unknown
    assert previous_state([], LEGACY) is None
    assert "rollback" in render_history(entries)


def test_a_corrupt_audit_line_is_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append_entry(log, entry("promote", LEGACY, SHADOW))
    with log.open("a") as f:
        f.write("{not json\n")
    with pytest.raises(ValueError, match=re.escape("audit.jsonl:2: not an audit entry")):
        read_entries(log)


ROUTED = """\
version: 1
upstreams:
  legacy: http://127.0.0.1:8000
  catalog: http://127.0.0.1:8101
default: legacy
routes:
  - name: detail
    match: {prefix: /api/products/}
    mode: canary
    to: catalog
    weight: 25
"""


def test_moves_without_a_proxy(tmp_path: Path, cli: Cli) -> None:
    table = tmp_path / "routing.yaml"
    table.write_text(ROUTED)
    base = ("--config", str(table), "--audit", str(tmp_path / "a.jsonl"), "--by", "t")
    # no audit record of the current state: one rung back, and it says so
    code, out, _ = cli("rollback", "detail", *base)
    assert code == 0
    assert "canary 25% → canary 5% (one rung back (no audit record" in out
    assert table.read_text() == ROUTED.replace("weight: 25", "weight: 5")
    # an unreachable admin API fails the gate: refused, with the reason
    code, _, err = cli("promote", "detail", *base, "--admin", "http://127.0.0.1:9")
    assert code == 1 and "live-metrics: admin API http://127.0.0.1:9 unreachable" in err
    # usage errors: exit 2
    assert cli("promote", "ghost", *base)[0] == 2
    assert cli("promote", "detail", *base, "--to", "canary:300")[0] == 2
    # an explicit move back needs no gate; extracted has nothing further
    code, out, _ = cli("promote", "detail", *base, "--to", "legacy")
    assert code == 0 and "canary 5% → legacy" in out
    table.write_text(
        ROUTED.replace("mode: canary", "mode: extracted").replace("    weight: 25\n", "")
    )
    code, _, err = cli("promote", "detail", *base)
    assert code == 1 and "nothing further to promote" in err
