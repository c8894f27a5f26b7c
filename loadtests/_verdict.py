"""Verdicts: does the candidate keep the baseline's latency, failures and throughput?

Per endpoint (and for the total) three gates, each judged against the noise that an A/A pair
of runs (the same side twice) measured:

``p95``         candidate p95 <= ``p95_ratio`` x baseline p95, or at most ``p95_floor_ms`` slower
                (a 2 ms → 3 ms change is +50% and means nothing)
``failures``    candidate failure rate <= baseline + ``failure_points`` percentage points
``throughput``  candidate requests/s >= ``throughput_ratio`` x baseline (at the same users and
                shape: the total only, an endpoint's share is fixed by the mix)

A gate that is missed by less than the A/A runs differed among themselves is
``inconclusive``, not a regression; so is an endpoint with fewer than ``min_requests`` requests
on either side. One A/A pair underestimates the spread of runs more often than not (the
expected gap of two runs is about 1.1 standard deviations), so the measured noise is widened by
``noise_factor`` (1.5) before it excuses a miss.

The worst verdict wins (pass < inconclusive < regression; exit codes 0, 2, 1) over the total
and every endpoint with enough requests; endpoints with too few are reported as inconclusive but
decide the exit code only with ``all_endpoints`` (a rarely used endpoint cannot be judged in a
short run, and would otherwise make every short run inconclusive).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import combinations

from ._stats import RunFigures, Summary

__all__ = ["Gates", "Judgement", "Noise", "Verdict", "estimate_noise", "judge", "worst"]


class Verdict(Enum):
    PASS = "pass"
    INCONCLUSIVE = "inconclusive"
    REGRESSION = "regression"

    @property
    def exit_code(self) -> int:
        return {Verdict.PASS: 0, Verdict.REGRESSION: 1, Verdict.INCONCLUSIVE: 2}[self]


_RANK = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.REGRESSION: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_RANK.__getitem__, default=Verdict.PASS)


@dataclass(frozen=True)
class Gates:
    p95_ratio: float = 1.10
    p95_floor_ms: float = 5.0
    failure_points: float = 0.5
    throughput_ratio: float = 0.95
    min_requests: int = 20
    noise_factor: float = 1.5
    all_endpoints: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.p95_ratio < 1:
            problems.append(f"p95 ratio must be >= 1, got {self.p95_ratio}")
        if self.p95_floor_ms < 0:
            problems.append(f"p95 floor must be >= 0 ms, got {self.p95_floor_ms}")
        if not 0 <= self.failure_points <= 100:
            problems.append(f"failure points must be 0..100, got {self.failure_points}")
        if not 0 < self.throughput_ratio <= 1:
            problems.append(f"throughput ratio must be in (0, 1], got {self.throughput_ratio}")
        if self.noise_factor < 1:
            problems.append(f"noise factor must be >= 1, got {self.noise_factor}")
        if self.min_requests < 1:
            problems.append(f"min requests must be >= 1, got {self.min_requests}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Noise:
    """How much runs of the same side differed: relative for p95 and throughput (0.08 = 8%),
    percentage points for the failure rate. ``pairs`` = how many same-side pairs were seen."""

    p95: float = 0.0
    throughput: float = 0.0
    failure_points: float = 0.0
    pairs: int = 0


def _relative(a: float, b: float) -> float:
    low, high = sorted((a, b))
    if high == 0:
        return 0.0
    return (high - low) / low if low > 0 else float("inf")


def estimate_noise(*sides: Sequence[RunFigures]) -> Noise:
    """The largest difference between any two runs of the same side (runs without requests
    for the endpoint are left out).

    >>> a = [RunFigures(100, 0.0, 50.0, 20), RunFigures(100, 0.01, 45.0, 22)]
    >>> estimate_noise(a)
    Noise(p95=0.1, throughput=0.1111111111111111, failure_points=1.0, pairs=1)
    """
    p95 = rps = fail = 0.0
    pairs = 0
    for runs in sides:
        seen = [r for r in runs if r.requests]
        for a, b in combinations(seen, 2):
            pairs += 1
            p95 = max(p95, _relative(a.p95, b.p95))
            rps = max(rps, _relative(a.rps, b.rps))
            fail = max(fail, abs(a.failure_rate - b.failure_rate) * 100)
    return Noise(p95=p95, throughput=rps, failure_points=fail, pairs=pairs)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[str, ...]
    enough_requests: bool = True


def judge(
    base: Summary,
    cand: Summary,
    gates: Gates,
    noise: Noise,
    *,
    throughput: bool = False,
) -> Judgement:
    """One endpoint's verdict, with a reason for every gate that was not a plain pass."""
    if min(base.requests, cand.requests) < gates.min_requests:
        return Judgement(
            Verdict.INCONCLUSIVE,
            (
                f"too few requests ({base.requests} vs {cand.requests}, "
                f"need {gates.min_requests} on each side)",
            ),
            enough_requests=False,
        )
    band = Noise(
        p95=noise.p95 * gates.noise_factor,
        throughput=noise.throughput * gates.noise_factor,
        failure_points=noise.failure_points * gates.noise_factor,
        pairs=noise.pairs,
    )
    found: list[tuple[Verdict, str]] = []

    # latency
    slower_ms = cand.p95 - base.p95
    ratio = cand.p95 / base.p95 if base.p95 else (float("inf") if cand.p95 else 1.0)
    if ratio > gates.p95_ratio and slower_ms > gates.p95_floor_ms:
        what = f"p95 {base.p95} → {cand.p95} ms (x{ratio:.2f} > x{gates.p95_ratio:.2f})"
        if ratio - 1 <= band.p95:
            found.append((Verdict.INCONCLUSIVE, f"{what}, within A/A noise band ±{band.p95:.0%}"))
        else:
            found.append((Verdict.REGRESSION, what))

    # failures
    points = (cand.failure_rate - base.failure_rate) * 100
    if points > gates.failure_points:
        what = (
            f"failures {base.failure_rate:.1%} → {cand.failure_rate:.1%} "
            f"(+{points:.1f} points > {gates.failure_points:g})"
        )
        if points <= band.failure_points:
            found.append(
                (Verdict.INCONCLUSIVE, f"{what}, within A/A noise band ±{band.failure_points:.1f}")
            )
        else:
            found.append((Verdict.REGRESSION, what))

    # throughput (at fixed users)
    if throughput and base.rps > 0:
        rps_ratio = cand.rps / base.rps
        if rps_ratio < gates.throughput_ratio:
            what = (
                f"throughput {base.rps:.1f} → {cand.rps:.1f} req/s "
                f"(x{rps_ratio:.2f} < x{gates.throughput_ratio:.2f})"
            )
            if 1 / rps_ratio - 1 <= band.throughput:
                found.append(
                    (Verdict.INCONCLUSIVE, f"{what}, within A/A noise band ±{band.throughput:.0%}")
                )
            else:
                found.append((Verdict.REGRESSION, what))

    if not found:
        return Judgement(Verdict.PASS, ())
    return Judgement(worst(v for v, _ in found), tuple(reason for _, reason in found))
