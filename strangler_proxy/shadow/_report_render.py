"""A shadow report as text for people and as JSON for tools.

product-detail  FAIL  match rate 97.00% (970/1000 comparable, 1000 compared)
  reasons: match rate 97.00% < 99.00%; top differing field $.price (30x tolerance)
  latency      p50      p95      p99   errors
  monolith   12.3ms   40.1ms   95.0ms   0.00%
  service     8.1ms   20.5ms   33.2ms   0.10%
  noise fields: $.updated_at (12x)
  top differing fields:
    $.price  30x tolerance  "12.50" → "12.60"  GET /api/products/7/ (req 4f1c…)
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import LatencyReport, Report, RouteReport

__all__ = ["render_text", "report_json"]

_SIDE_NAMES = {"primary": "monolith", "shadow": "service"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _short(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _latency_lines(sides: tuple[LatencyReport, LatencyReport]) -> list[str]:
    lines = [f"  {'latency':<10} {'p50':>9} {'p95':>9} {'p99':>9} {'errors':>8}"]
    for side in sides:
        lines.append(
            f"  {_SIDE_NAMES.get(side.side, side.side):<10} {_ms(side.p50):>9} "
            f"{_ms(side.p95):>9} {_ms(side.p99):>9} {_pct(side.error_rate):>8}"
        )
    return lines


def _route_lines(r: RouteReport) -> list[str]:
    lines = [
        f"{r.route}  {r.verdict.value.upper()}  match rate {_pct(r.match_rate)} "
        f"({r.comparable - r.mismatched}/{r.comparable} comparable, {r.compared} compared; "
        f"{r.mismatched} mismatched, {r.noise_only} noise only, {r.likely_race} likely races, "
        f"{r.errors} errors)"
    ]
    if r.reasons:
        lines.append("  reasons: " + "; ".join(r.reasons))
    if r.dropped:
        share = r.dropped / (r.dropped + r.compared)
        lines.append(
            f"  {r.dropped} copies dropped ({share:.1%} of those made), never compared: the "
            "route's lane or the store's queue was full (shadow.max_concurrency, shadow.queue), "
            "or a body was over shadow.max_body_bytes"
        )
    lines += _latency_lines(r.latency)
    if r.noise_fields:
        noise = ", ".join(f"{n.field} ({n.count}x)" for n in r.noise_fields)
        lines.append(f"  noise fields ({r.noise_samples} monolith-vs-monolith samples): {noise}")
    if r.top_fields:
        lines.append("  top differing fields:")
        for f in r.top_fields:
            line = f"    {f.field}  {f.count}x {f.kind}"
            if f.example is not None:
                diff = f.example.get("difference")
                if isinstance(diff, dict):
                    line += f"  {_short(diff.get('primary'))} → {_short(diff.get('shadow'))}"
                line += (
                    f"  {f.example.get('method')} {f.example.get('target')}"
                    f" (request {f.example.get('request_id') or '-'})"
                )
            lines.append(line)
    return lines


def render_text(report: Report) -> str:
    if not report.routes:
        return "no shadow comparisons stored yet: not enough data\n"
    t = report.thresholds
    lines = [
        f"shadow report: {report.verdict.value}  (thresholds: at least {t.min_samples} "
        f"comparisons, match rate >= {t.min_match_rate:.2%}, service errors at most "
        f"{t.max_extra_error_rate:.2%} above the monolith's, noise after {t.noise_min_count}x)",
    ]
    for route in report.routes:
        lines.append("")
        lines += _route_lines(route)
    return "\n".join(lines) + "\n"


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_json(report: Report) -> dict[str, object]:
    """The report as plain JSON types; ``verdict`` and ``exit_code`` at the top."""
    return {
        "verdict": report.verdict.value,
        "exit_code": report.exit_code,
        "generated_at": report.generated_at,
        "thresholds": dataclasses.asdict(report.thresholds),
        "routes": [_plain(dataclasses.asdict(r)) for r in report.routes],
    }
