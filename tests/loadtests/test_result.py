"""Verdicts on recorded locust runs (see data/README.md): fast = the demo monolith with its
default workers, slow = the same shop with one worker and one thread."""

from __future__ import annotations

import json

from loadtests._result import compare_runs, to_json
from loadtests._stats import Run, read_run
from loadtests._verdict import Gates, Verdict

from .conftest import DATA


def runs(*names: str) -> list[Run]:
    return [read_run(DATA / n, n) for n in names]


def test_clear_regression() -> None:
    result = compare_runs(runs("fast1", "fast2"), runs("slow1", "slow2"), Gates())
    assert result.verdict is Verdict.REGRESSION and result.verdict.exit_code == 1
    assert result.total.judgement.verdict is Verdict.REGRESSION
    reasons = " ".join(result.total.judgement.reasons)
    assert "p95" in reasons and "throughput" in reasons
    regressed = {r.key for r in result.rows if r.judgement.verdict is Verdict.REGRESSION}
    assert {"GET /api/products/[id]/", "GET /api/categories/"} <= regressed


def test_clear_pass() -> None:
    result = compare_runs(runs("slow1", "slow2"), runs("fast3"), Gates())
    assert result.verdict is Verdict.PASS and result.verdict.exit_code == 0
    assert not any(r.judgement.verdict is Verdict.REGRESSION for r in result.rows)
    # rare endpoints are reported inconclusive but do not decide the exit code
    rare = [r for r in result.rows if not r.judgement.enough_requests]
    assert rare and all(r.judgement.verdict is Verdict.INCONCLUSIVE for r in rare)
    strict = compare_runs(runs("slow1", "slow2"), runs("fast3"), Gates(all_endpoints=True))
    assert strict.verdict is Verdict.INCONCLUSIVE


def test_noise_is_inconclusive_not_regression() -> None:
    # the same shop three times: A/A differ by ~12% throughput, p95 61 vs 130 ms
    result = compare_runs(runs("fast1", "fast3"), runs("fast2"), Gates())
    assert result.verdict is Verdict.INCONCLUSIVE and result.verdict.exit_code == 2
    assert result.total.judgement.verdict is Verdict.INCONCLUSIVE
    assert all("within A/A noise band" in r for r in result.total.judgement.reasons)
    assert result.total.noise.pairs == 1


def test_same_runs_pass() -> None:
    result = compare_runs(runs("fast1", "fast2"), runs("fast1", "fast2"), Gates())
    assert result.verdict is Verdict.PASS


def test_json_shape() -> None:
    result = compare_runs(runs("fast1", "fast2"), runs("slow1"), Gates(), {"users": 20})
    doc = json.loads(json.dumps(to_json(result)))
    assert doc["verdict"] == "regression" and doc["exit_code"] == 1
    assert doc["settings"] == {"users": 20}
    assert doc["runs"] == {"baseline": ["fast1", "fast2"], "candidate": ["slow1"]}
    row = doc["endpoints"][0]
    assert set(row) >= {"endpoint", "baseline", "candidate", "p95_ratio", "verdict", "reasons"}
    assert set(row["baseline"]) >= {"requests", "rps", "failure_rate", "p50_ms", "p95_ms", "p99_ms"}
    assert doc["total"]["endpoint"] == "Aggregated"
