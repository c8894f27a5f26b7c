"""Tiny inline-SVG charts for the HTML report (no library, no network).

    line_chart("p95", [Series("A A1", "A", [(0, 12.0), (1, 14.0)])], y_label="ms")
    bar_chart([("GET /x", [("p95", 12.0, 15.0)])])

Side ``"A"`` (baseline) is drawn blue, ``"B"`` (candidate) orange; repeated runs of a side
are drawn as separate lines of the same colour, dashed after the first.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COLORS", "Series", "bar_chart", "line_chart"]

COLORS = {"A": "#1f77b4", "B": "#ff7f0e"}
_W, _H, _L, _R, _T, _B = 760, 260, 56, 150, 24, 36


@dataclass(frozen=True)
class Series:
    label: str
    side: str
    points: Sequence[tuple[float, float]]


def _nice_max(value: float) -> float:
    """Round up to 1, 2 or 5 x 10^n: 37 → 50, 0 → 1."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    while step > value * 10:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10  # pragma: no cover


def _axes(title: str, x_max: float, y_max: float, x_label: str, y_label: str) -> list[str]:
    esc = html.escape
    out = [
        f'<text x="{_L}" y="16" font-size="13" font-weight="bold">{esc(title)}</text>',
        f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#444"/>',
        f'<line x1="{_L}" y1="{_T}" x2="{_L}" y2="{_H - _B}" stroke="#444"/>',
    ]
    for i in range(5):
        y = _H - _B - (_H - _T - _B) * i / 4
        out.append(f'<line x1="{_L}" y1="{y:.1f}" x2="{_W - _R}" y2="{y:.1f}" stroke="#eee"/>')
        value = y_max * i / 4
        out.append(
            f'<text x="{_L - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value:g}</text>'
        )
    if x_max:
        for i in range(5):
            x = _L + (_W - _L - _R) * i / 4
            out.append(
                f'<text x="{x:.1f}" y="{_H - _B + 14}" font-size="10" text-anchor="middle">'
                f"{x_max * i / 4:g}</text>"
            )
    out.append(
        f'<text x="{(_W - _R + _L) / 2}" y="{_H - 4}" font-size="11" text-anchor="middle">'
        f"{esc(x_label)}</text>"
    )
    out.append(
        f'<text x="12" y="{(_H - _B + _T) / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(_H - _B + _T) / 2})">{esc(y_label)}</text>'
    )
    return out


def line_chart(
    title: str, series: Sequence[Series], *, x_label: str = "seconds", y_label: str = "ms"
) -> str:
    """Lines of (x, y) points on shared axes; an empty chart says so."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    x_max, y_max = _nice_max(max(xs, default=0)), _nice_max(max(ys, default=0))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img">']
    out += _axes(title, x_max, y_max, x_label, y_label)
    if not series:
        out.append(f'<text x="{_L + 20}" y="{_H / 2}" font-size="12">no data</text>')
    seen: dict[str, int] = {}
    for s in series:
        n = seen[s.side] = seen.get(s.side, 0) + 1
        coords = " ".join(
            f"{_L + (_W - _L - _R) * x / x_max:.1f},{_H - _B - (_H - _T - _B) * y / y_max:.1f}"
            for x, y in s.points
        )
        dash = ' stroke-dasharray="5,3"' if n > 1 else ""
        color = COLORS.get(s.side, "#555")
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{coords}">'
            f"<title>{html.escape(s.label)}</title></polyline>"
        )
    for i, s in enumerate(series):
        y = _T + 14 * i
        color = COLORS.get(s.side, "#555")
        out.append(
            f'<line x1="{_W - _R + 10}" y1="{y}" x2="{_W - _R + 28}" y2="{y}" stroke="{color}"/>'
            f'<text x="{_W - _R + 32}" y="{y + 4}" font-size="10">{html.escape(s.label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(groups: Sequence[tuple[str, Sequence[tuple[str, float, float]]]]) -> str:
    """Horizontal bars: per group (endpoint) and per metric a baseline and a candidate bar."""
    bar, gap, label_w, plot_w = 7, 10, 330, 380
    metrics = max((len(m) for _, m in groups), default=0)
    group_h = metrics * (2 * bar + 3) + gap
    height = _T + group_h * len(groups) + 30
    top = max((max(a, b) for _, m in groups for _, a, b in m), default=0.0)
    scale = _nice_max(top)
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 90}" '
        f'height="{height}" role="img">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">p50 / p95 / p99 per endpoint (ms,'
        f" axis to {scale:g}); blue A, orange B</text>",
    ]
    y = _T
    for name, values in groups:
        out.append(f'<text x="0" y="{y + 10}" font-size="11">{esc(name)}</text>')
        for metric, a, b in values:
            for side, value in (("A", a), ("B", b)):
                width = plot_w * value / scale
                out.append(
                    f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar}" '
                    f'fill="{COLORS[side]}"><title>{esc(name)} {metric} {side}: {value:g} ms'
                    f"</title></rect>"
                    f'<text x="{label_w + width + 3:.1f}" y="{y + bar}" font-size="9">'
                    f"{metric} {value:g}</text>"
                )
                y += bar + 1
            y += 1
        y += gap
    out.append("</svg>")
    return "\n".join(out)
