"""The comparison of a baseline and a candidate: per endpoint and in total, with verdicts.

result = compare_runs(baseline_runs, candidate_runs, Gates(), settings={...})
result.verdict.exit_code      # 0 pass, 1 regression, 2 inconclusive
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from ._stats import TOTAL, Run, Summary, summarize
from ._verdict import Gates, Judgement, Noise, Verdict, estimate_noise, judge, worst

__all__ = ["Comparison", "Row", "compare_runs", "to_json"]


@dataclass(frozen=True)
class Row:
    """One endpoint (or the total): both sides, the measured noise, the verdict."""

    key: str
    baseline: Summary
    candidate: Summary
    noise: Noise
    judgement: Judgement

    @property
    def p95_ratio(self) -> float | None:
        return self.candidate.p95 / self.baseline.p95 if self.baseline.p95 else None

    @property
    def rps_ratio(self) -> float | None:
        return self.candidate.rps / self.baseline.rps if self.baseline.rps else None


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    total: Row
    gates: Gates
    baseline_runs: tuple[Run, ...]
    candidate_runs: tuple[Run, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        """The total and every endpoint judged on enough requests (all, with ``all_endpoints``)."""
        deciding = [r for r in self.rows if r.judgement.enough_requests or self.gates.all_endpoints]
        return worst([self.total.judgement.verdict, *(r.judgement.verdict for r in deciding)])

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for row in self.rows:
            out[row.judgement.verdict.value] += 1
        return out


def _typical(noises: Sequence[Noise]) -> Noise:
    """The median noise of the endpoints: no endpoint is quieter than the typical one."""
    if not noises:
        return Noise()
    return Noise(
        p95=median(n.p95 for n in noises),
        throughput=median(n.throughput for n in noises),
        failure_points=median(n.failure_points for n in noises),
        pairs=max(n.pairs for n in noises),
    )


def _floor(noise: Noise, floor: Noise) -> Noise:
    return Noise(
        p95=max(noise.p95, floor.p95),
        throughput=max(noise.throughput, floor.throughput),
        failure_points=max(noise.failure_points, floor.failure_points),
        pairs=noise.pairs,
    )


def compare_runs(
    baseline: Sequence[Run],
    candidate: Sequence[Run],
    gates: Gates,
    settings: Mapping[str, Any] | None = None,
) -> Comparison:
    """Every endpoint seen on either side, sorted by key, plus the total.

    An endpoint's noise is what its own A/A runs showed, but at least the median over the
    endpoints with enough requests: with two runs per side, one endpoint's runs can agree by
    chance, and a single lucky pair must not turn ordinary jitter into a regression.
    """
    keys = sorted({k for run in (*baseline, *candidate) for k in run.endpoints})
    sides = {k: (summarize(baseline, k), summarize(candidate, k)) for k in [*keys, TOTAL]}
    noises = {k: estimate_noise(a.runs, b.runs) for k, (a, b) in sides.items()}
    sampled = [noises[k] for k in keys if min(s.requests for s in sides[k]) >= gates.min_requests]
    typical = _typical(sampled)

    def row(key: str) -> Row:
        base, cand = sides[key]
        noise = noises[key] if key == TOTAL else _floor(noises[key], typical)
        return Row(key, base, cand, noise, judge(base, cand, gates, noise, throughput=key == TOTAL))

    return Comparison(
        rows=tuple(row(k) for k in keys),
        total=row(TOTAL),
        gates=gates,
        baseline_runs=tuple(baseline),
        candidate_runs=tuple(candidate),
        settings=dict(settings or {}),
    )


def _summary_json(s: Summary) -> dict[str, Any]:
    return {
        "requests": s.requests,
        "failures": s.failures,
        "failure_rate": s.failure_rate,
        "rps": s.rps,
        "p50_ms": s.p50,
        "p95_ms": s.p95,
        "p99_ms": s.p99,
        "runs": [asdict(r) for r in s.runs],
    }


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "endpoint": row.key,
        "baseline": _summary_json(row.baseline),
        "candidate": _summary_json(row.candidate),
        "p95_ratio": row.p95_ratio,
        "rps_ratio": row.rps_ratio,
        "noise": asdict(row.noise),
        "verdict": row.judgement.verdict.value,
        "reasons": list(row.judgement.reasons),
    }


def to_json(result: Comparison) -> dict[str, Any]:
    """The whole comparison as plain JSON values (``report.json``)."""
    return {
        "verdict": result.verdict.value,
        "exit_code": result.verdict.exit_code,
        "counts": result.counts(),
        "gates": asdict(result.gates),
        "settings": dict(result.settings),
        "runs": {
            "baseline": [r.label for r in result.baseline_runs],
            "candidate": [r.label for r in result.candidate_runs],
        },
        "total": _row_json(result.total),
        "endpoints": [_row_json(r) for r in result.rows],
    }
