from __future__ import annotations

import pytest

from loadtests._stats import RunFigures, Summary
from loadtests._verdict import Gates, Noise, Verdict, estimate_noise, judge, worst


def side(requests: int = 1000, failures: int = 0, rps: float = 100.0, p95: int = 50) -> Summary:
    return Summary(requests, failures, rps, p50=p95 // 2, p95=p95, p99=p95 * 2)


QUIET = Noise(p95=0.02, throughput=0.01, failure_points=0.0, pairs=1)


def test_clear_pass() -> None:
    j = judge(side(), side(p95=52), Gates(), QUIET, throughput=True)
    assert j.verdict is Verdict.PASS and j.reasons == ()


def test_p95_regression_and_floor() -> None:
    j = judge(side(p95=50), side(p95=80), Gates(), QUIET)
    assert j.verdict is Verdict.REGRESSION
    assert "p95 50 → 80 ms" in j.reasons[0]
    # +60% but only 3 ms slower: under the absolute floor
    assert judge(side(p95=5), side(p95=8), Gates(), QUIET).verdict is Verdict.PASS


def test_difference_inside_noise_is_inconclusive() -> None:
    noisy = Noise(p95=0.5, throughput=0.2, failure_points=2.0, pairs=1)
    j = judge(side(p95=50), side(p95=80), Gates(), noisy)
    assert j.verdict is Verdict.INCONCLUSIVE
    assert "within A/A noise band ±75%" in j.reasons[0]  # 0.5 x noise factor 1.5


def test_failures_gate_in_points() -> None:
    base = side(failures=10)  # 1.0%
    assert judge(base, side(failures=14), Gates(), QUIET).verdict is Verdict.PASS  # +0.4
    j = judge(base, side(failures=30), Gates(), QUIET)  # +2.0 points
    assert j.verdict is Verdict.REGRESSION
    assert "failures 1.0% → 3.0%" in j.reasons[0]


def test_throughput_only_where_asked() -> None:
    slow = side(rps=80.0)
    assert judge(side(), slow, Gates(), QUIET).verdict is Verdict.PASS
    j = judge(side(), slow, Gates(), QUIET, throughput=True)
    assert j.verdict is Verdict.REGRESSION
    assert "throughput 100.0 → 80.0 req/s" in j.reasons[0]


def test_too_few_requests() -> None:
    j = judge(side(requests=5), side(requests=500, p95=5000), Gates(), QUIET)
    assert j.verdict is Verdict.INCONCLUSIVE
    assert not j.enough_requests
    assert "too few requests (5 vs 500" in j.reasons[0]


def test_worst_wins() -> None:
    assert worst([Verdict.PASS, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert worst([Verdict.INCONCLUSIVE, Verdict.REGRESSION]) is Verdict.REGRESSION
    assert worst([]) is Verdict.PASS
    assert [v.exit_code for v in Verdict] == [0, 2, 1]


def test_noise_from_same_side_pairs() -> None:
    a = [RunFigures(100, 0.0, 50.0, 20), RunFigures(100, 0.01, 45.0, 22)]
    b = [RunFigures(100, 0.0, 40.0, 30)]
    n = estimate_noise(a, b)
    assert n.pairs == 1
    assert n.p95 == pytest.approx(0.1)
    assert n.throughput == pytest.approx(50 / 45 - 1)
    assert n.failure_points == pytest.approx(1.0)
    # a run without requests for the endpoint is not a pair
    assert estimate_noise([RunFigures(0, 0, 0, 0), RunFigures(5, 0, 1, 9)]).pairs == 0


def test_gates_are_validated_once() -> None:
    with pytest.raises(ValueError, match=r"p95 ratio must be >= 1, got 0\.9"):
        Gates(p95_ratio=0.9)
    with pytest.raises(ValueError, match="throughput ratio"):
        Gates(throughput_ratio=1.5)
