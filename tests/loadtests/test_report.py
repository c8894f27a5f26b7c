from __future__ import annotations

import json
import re

from loadtests._charts import Series, _nice_max, bar_chart, line_chart
from loadtests._report import render_html, render_json, render_markdown, render_table
from loadtests._result import Comparison, compare_runs
from loadtests._stats import read_run
from loadtests._verdict import Gates

from .conftest import DATA


def comparison() -> Comparison:
    a = [read_run(DATA / n, n) for n in ("fast1", "fast2")]
    b = [read_run(DATA / n, n) for n in ("slow1", "slow2")]
    return compare_runs(a, b, Gates(), {"baseline": "http://a", "candidate": "http://b"})


def test_table_lists_every_endpoint_and_the_total() -> None:
    result = comparison()
    text = render_table(result)
    for row in result.rows:
        assert row.key in text
    assert "Aggregated" in text
    assert text.splitlines()[-1].startswith("verdict: REGRESSION")


def test_markdown() -> None:
    text = render_markdown(comparison())
    assert "**Verdict: regression** (exit code 1)" in text
    assert "| endpoint | reqs A |" in text
    assert "## Why" in text and "## Noise (A/A)" in text
    assert "`http://a`" in text


def test_json_round_trips() -> None:
    assert json.loads(render_json(comparison()))["verdict"] == "regression"


def test_html_is_self_contained_with_charts() -> None:
    page = render_html(comparison())
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 3  # p95 and p50 over time, per-endpoint bars
    assert "A fast1" in page and "B slow2" in page  # both sides on one chart
    assert "<polyline" in page and "<rect" in page
    # nothing fetched from anywhere: no external script, stylesheet or image
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    embedded = re.search(r'<script type="application/json" id="comparison">(.*?)</script>', page)
    assert embedded is not None


def test_charts_handle_empty_data() -> None:
    assert "no data" in line_chart("empty", [])
    assert "<svg" in bar_chart([])
    assert "stroke-dasharray" in line_chart(
        "two runs", [Series("A 1", "A", [(0, 1)]), Series("A 2", "A", [(0, 2)])]
    )


def test_nice_axis() -> None:
    assert [_nice_max(v) for v in (0, 0.3, 1, 37, 120, 999)] == [1, 1, 1, 50, 200, 1000]
