"""Renderings of a :class:`~loadtests._result.Comparison`: terminal table, Markdown, HTML.

The HTML page is self-contained (inline SVG from ``_charts.py``, inline CSS, no script, no
CDN), so it opens anywhere, offline, and can be attached to a pull request as one file.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from ._charts import Series, bar_chart, line_chart
from ._result import Comparison, Row, to_json
from ._stats import TOTAL, Summary

__all__ = ["render_html", "render_json", "render_markdown", "render_table"]

_COLUMNS = (
    "endpoint", "reqs A", "reqs B", "rps A", "rps B", "fail% A", "fail% B",
    "p50 A", "p50 B", "p95 A", "p95 B", "p99 A", "p99 B", "p95 x", "verdict",
)  # fmt: skip


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cells(row: Row) -> list[str]:
    a, b = row.baseline, row.candidate
    return [
        row.key,
        str(a.requests), str(b.requests),
        f"{a.rps:.1f}", f"{b.rps:.1f}",
        f"{a.failure_rate * 100:.1f}", f"{b.failure_rate * 100:.1f}",
        str(a.p50), str(b.p50), str(a.p95), str(b.p95), str(a.p99), str(b.p99),
        _ratio(row.p95_ratio),
        row.judgement.verdict.value,
    ]  # fmt: skip


def _rows(result: Comparison) -> list[Row]:
    return [*result.rows, result.total]


def render_table(result: Comparison) -> str:
    """A fixed-width table for the terminal (A = baseline, B = candidate, times in ms)."""
    grid = [list(_COLUMNS), *(_cells(r) for r in _rows(result))]
    widths = [max(len(line[i]) for line in grid) for i in range(len(_COLUMNS))]
    lines = []
    for n, line in enumerate(grid):
        first = line[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]))
        if n == 0 or n == len(grid) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(_footer(result))
    return "\n".join(lines)


def _footer(result: Comparison) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in result.counts().items())
    return f"verdict: {result.verdict.value.upper()} (endpoints: {counts})"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(result: Comparison) -> str:
    out = ["# Load test comparison", ""]
    out.append(f"**Verdict: {result.verdict.value}** (exit code {result.verdict.exit_code})")
    out.append("")
    out.extend(_settings_lines(result))
    out.append("")
    out.append("A = baseline, B = candidate; latencies in ms (locust's percentiles).")
    out.append("")
    out.append("| " + " | ".join(_COLUMNS) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(_COLUMNS) - 2) + ["---"]) + "|")
    for row in _rows(result):
        cells = _cells(row)
        if row.key == TOTAL:
            cells = [f"**{c}**" for c in cells]
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    out.append("")
    reasons = [r for r in _rows(result) if r.judgement.reasons]
    if reasons:
        out.append("## Why")
        out.append("")
        for row in reasons:
            for reason in row.judgement.reasons:
                out.append(f"- `{row.key}` {row.judgement.verdict.value}: {reason}")
        out.append("")
    out.append("## Noise (A/A)")
    out.append("")
    n = result.total.noise
    out.append(
        f"Total: p95 ±{n.p95:.0%}, throughput ±{n.throughput:.0%}, failures "
        f"±{n.failure_points:.1f} points, from {n.pairs} same-side pair(s) of runs."
    )
    out.append("")
    return "\n".join(out)


def _settings_lines(result: Comparison) -> list[str]:
    g = result.gates
    lines = [f"- {k}: `{v}`" for k, v in result.settings.items()]
    lines.append(
        f"- gates: p95 ≤ x{g.p95_ratio:g} (or ≤ {g.p95_floor_ms:g} ms slower), failures ≤ "
        f"baseline + {g.failure_points:g} points, throughput ≥ x{g.throughput_ratio:g}, "
        f"≥ {g.min_requests} requests per side (fewer: "
        f"{'inconclusive, and decides' if g.all_endpoints else 'inconclusive, not deciding'}), "
        f"A/A noise x{g.noise_factor:g}"
    )
    lines.append(
        "- runs: baseline "
        + ", ".join(r.label for r in result.baseline_runs)
        + "; candidate "
        + ", ".join(r.label for r in result.candidate_runs)
    )
    return lines


def render_json(result: Comparison) -> str:
    return json.dumps(to_json(result), indent=2, sort_keys=False) + "\n"


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total{font-weight:bold}
.pass{background:#e6f4ea}.regression{background:#fce8e6}.inconclusive{background:#fef7e0}
h1 span{padding:2px 8px;border-radius:4px}svg{display:block;margin:1em 0}
"""


def _time_series(result: Comparison, which: str) -> list[Series]:
    series = []
    for side, runs in (("A", result.baseline_runs), ("B", result.candidate_runs)):
        for run in runs:
            points = [
                (p.t, float(v))
                for p in run.history
                if p.key == TOTAL and (v := getattr(p, which)) is not None and p.users > 0
            ]
            if points:
                series.append(Series(f"{side} {run.label}", side, points))
    return series


def _bar_groups(rows: Sequence[Row]) -> list[tuple[str, list[tuple[str, float, float]]]]:
    def trio(s: Summary) -> tuple[float, float, float]:
        return float(s.p50), float(s.p95), float(s.p99)

    groups = []
    for row in rows:
        a, b = trio(row.baseline), trio(row.candidate)
        groups.append(
            (row.key, [(f"p{q}", x, y) for q, x, y in zip((50, 95, 99), a, b, strict=True)])
        )
    return groups


def render_html(result: Comparison) -> str:
    esc = html.escape
    verdict = result.verdict.value
    head = [f"<th>{esc(c)}</th>" for c in _COLUMNS]
    body = []
    for row in _rows(result):
        klass = row.judgement.verdict.value + (" total" if row.key == TOTAL else "")
        cells = "".join(
            f'<td class="{"n" if 0 < i < len(_COLUMNS) - 1 else ""}">{esc(c)}</td>'
            for i, c in enumerate(_cells(row))
        )
        title = esc("; ".join(row.judgement.reasons))
        body.append(f'<tr class="{klass}" title="{title}">{cells}</tr>')
    reasons = "".join(
        f"<li><code>{esc(r.key)}</code> {esc(r.judgement.verdict.value)}: {esc(reason)}</li>"
        for r in _rows(result)
        for reason in r.judgement.reasons
    )
    settings = "".join(f"<li>{esc(line[2:])}</li>" for line in _settings_lines(result))
    charts = [
        "<h2>Latency over time (all endpoints, locust's 10 s window)</h2>",
        line_chart("p95 over time", _time_series(result, "p95"), y_label="p95 ms"),
        line_chart("p50 over time", _time_series(result, "p50"), y_label="p50 ms"),
        "<h2>Latency per endpoint</h2>",
        bar_chart(_bar_groups(_rows(result))),
    ]
    data = esc(json.dumps(to_json(result)))
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>Load test comparison: {verdict}</title><style>{_CSS}</style></head><body>",
            f'<h1>Load test comparison: <span class="{verdict}">{verdict}</span></h1>',
            f"<ul>{settings}</ul>",
            "<p>A = baseline (blue), B = candidate (orange); times in ms.</p>",
            f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody>",
            "</table>",
            f"<h2>Why</h2><ul>{reasons or '<li>every gate passed</li>'}</ul>",
            *charts,
            f'<script type="application/json" id="comparison">{data}</script>',
            "</body></html>",
        ]
    )
