"""The gates a route must pass to move forward, each returning its numbers.

=======================  ==============================================================
move                     gate
=======================  ==============================================================
legacy → shadow          ``upstream-health``: ``GET {admin}/upstreams`` shows at least one
                         instance of the route's ``to`` healthy and not ejected
shadow → canary          ``shadow-report``: ``build_report`` for the route says ``pass``
canary → canary/extr.    ``live-metrics``: from ``GET {admin}/metrics`` (totals since the proxy
                         started), the service's 5xx share and the fallback share of the route
                         are at most the thresholds, over at least ``min_requests`` requests;
                         ``loadtest``: when a result file is given, its ``verdict`` is ``pass``
=======================  ==============================================================

A gate that cannot be judged (admin API unreachable, no data) fails, with the reason.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..shadow import Thresholds, build_report, open_store
from ..shadow._report_cli import DEFAULT_STORE_PATH

__all__ = [
    "AdminError",
    "GateResult",
    "MetricThresholds",
    "Sample",
    "admin_get",
    "check_health",
    "check_loadtest",
    "check_metrics",
    "check_shadow",
    "parse_prometheus",
    "route_traffic",
    "wait_for_table",
]

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class AdminError(Exception):
    """The proxy's admin API did not answer as expected (the message says how)."""


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str  # upstream-health | shadow-report | live-metrics | loadtest
    passed: bool
    summary: str  # one line with the numbers: "service 5xx 0.40% <= 1.00% over 250 requests"
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "summary": self.summary,
            "numbers": self.numbers,
        }


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class MetricThresholds:
    max_error_rate: float = 0.01  # share of the service's answers that are 5xx
    max_fallback_rate: float = 0.01  # share of the service's attempts served by the fallback
    min_requests: int = 100  # requests the service must have answered


def admin_get(admin: str, path: str, *, timeout: float = 5.0) -> httpx.Response:
    try:
        response = httpx.get(admin.rstrip("/") + path, timeout=timeout)
    except httpx.HTTPError as err:
        raise AdminError(f"admin API {admin} unreachable: {err}") from err
    if response.status_code != 200:
        raise AdminError(f"GET {admin}{path}: HTTP {response.status_code}")
    return response


def parse_prometheus(text: str) -> list[Sample]:
    """``strangler_fallbacks_total{route="a",reason="x"} 3`` → ``Sample(name, {...}, 3.0)``."""
    out = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if found is None or line.startswith("#"):
            continue
        labels = {
            k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            for k, v in _LABEL.findall(found.group("labels") or "")
        }
        try:
            out.append(Sample(found.group("name"), labels, float(found.group("value"))))
        except ValueError:
            continue
    return out


def route_traffic(samples: list[Sample], route: str, service: str | None) -> dict[str, float]:
    """Totals for one route: requests, served by the service, its 5xx, fallbacks."""
    out = dict.fromkeys(("requests", "service", "service_5xx", "legacy_5xx", "fallbacks"), 0.0)
    for s in samples:
        if s.labels.get("route") != route:
            continue
        if s.name == "strangler_requests_total":
            out["requests"] += s.value
            bad = s.labels.get("status_class") in ("5xx", "none")
            if service is not None and s.labels.get("upstream") == service:
                out["service"] += s.value
                out["service_5xx"] += s.value if bad else 0.0
            elif bad:
                out["legacy_5xx"] += s.value
        elif s.name == "strangler_fallbacks_total":
            out["fallbacks"] += s.value
    return out


def check_health(admin: str, upstream: str) -> GateResult:
    try:
        data = admin_get(admin, "/upstreams").json()
    except (AdminError, ValueError) as err:
        return GateResult("upstream-health", False, str(err))
    info = data.get(upstream)
    if not isinstance(info, dict):
        return GateResult("upstream-health", False, f"the proxy knows no upstream '{upstream}'")
    instances = info.get("instances", [])
    ready = [i for i in instances if i.get("healthy") and not i.get("ejected")]
    numbers = {
        "upstream": upstream,
        "instances": len(instances),
        "ready": len(ready),
        "breaker": info.get("breaker"),
    }
    summary = f"{upstream}: {len(ready)} of {len(instances)} instances healthy and not ejected"
    return GateResult("upstream-health", bool(ready), summary, numbers)


def check_shadow(route: str, store_url: str | None, thresholds: Thresholds) -> GateResult:
    try:
        store = open_store(store_url, DEFAULT_STORE_PATH)
        try:
            report = build_report(store, route, thresholds)
        finally:
            store.close()
    except Exception as err:  # one boundary: any store problem fails the gate, with its reason
        return GateResult("shadow-report", False, f"cannot read the shadow store: {err}")
    found = next((r for r in report.routes if r.route == route), None)
    if found is None:
        return GateResult("shadow-report", False, f"no shadow comparisons stored for '{route}'")
    rate = found.match_rate
    numbers = {
        "verdict": found.verdict.value,
        "compared": found.compared,
        "comparable": found.comparable,
        "match_rate": rate,
        "min_samples": thresholds.min_samples,
        "min_match_rate": thresholds.min_match_rate,
        "reasons": list(found.reasons),
    }
    shown = f"{rate:.2%}" if rate is not None else "n/a"
    summary = (
        f"{found.verdict.value}: match rate {shown} over {found.comparable} comparable "
        f"(need >= {thresholds.min_match_rate:.2%} over >= {thresholds.min_samples})"
    )
    if found.reasons:
        summary += "; " + "; ".join(found.reasons)
    return GateResult("shadow-report", found.verdict.value == "pass", summary, numbers)


def check_metrics(admin: str, route: str, service: str, t: MetricThresholds) -> GateResult:
    try:
        samples = parse_prometheus(admin_get(admin, "/metrics").text)
    except AdminError as err:
        return GateResult("live-metrics", False, str(err))
    n = route_traffic(samples, route, service)
    attempts = n["service"] + n["fallbacks"]
    error_rate = n["service_5xx"] / n["service"] if n["service"] else None
    fallback_rate = n["fallbacks"] / attempts if attempts else None
    numbers: dict[str, Any] = {
        **{k: int(v) for k, v in n.items()},
        "error_rate": error_rate,
        "fallback_rate": fallback_rate,
        "max_error_rate": t.max_error_rate,
        "max_fallback_rate": t.max_fallback_rate,
        "min_requests": t.min_requests,
    }
    problems = []
    if n["service"] < t.min_requests:
        problems.append(
            f"{int(n['service'])} requests served by {service}, {t.min_requests} needed"
        )
    if error_rate is not None and error_rate > t.max_error_rate:
        problems.append(f"service 5xx rate {error_rate:.2%} > {t.max_error_rate:.2%}")
    if fallback_rate is not None and fallback_rate > t.max_fallback_rate:
        problems.append(f"fallback rate {fallback_rate:.2%} > {t.max_fallback_rate:.2%}")
    shown = [
        f"{int(n['service'])} of {int(n['requests'])} requests served by {service}",
        f"5xx {error_rate:.2%}" if error_rate is not None else "5xx n/a",
        f"fallbacks {fallback_rate:.2%}" if fallback_rate is not None else "fallbacks n/a",
    ]
    summary = ", ".join(shown) + (" — " + "; ".join(problems) if problems else "")
    return GateResult("live-metrics", not problems, summary, numbers)


def check_loadtest(path: Path) -> GateResult:
    """A load-comparison result file (``strangler loadtest compare --out``): top-level
    ``"verdict"`` must be ``"pass"``; ``regression`` and ``inconclusive`` fail."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return GateResult("loadtest", False, f"cannot read {path}: {err}")
    verdict = data.get("verdict") if isinstance(data, dict) else None
    numbers = {"file": str(path), "verdict": verdict}
    return GateResult("loadtest", verdict == "pass", f"{path}: verdict {verdict}", numbers)


def wait_for_table(admin: str, sha256: str, timeout: float) -> str | None:
    """``None`` once ``GET {admin}/table`` reports ``sha256``; else why it did not."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            served = admin_get(admin, "/table", timeout=2.0).json().get("sha256")
            if served == sha256:
                return None
            last = f"it still serves sha256 {str(served)[:12]}"
        except (AdminError, ValueError) as err:
            last = str(err)
        if time.monotonic() >= deadline:
            return (
                f"the proxy did not pick it up within {timeout:g}s ({last}; see GET {admin}/reload)"
            )
        time.sleep(0.1)
