from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests._stats import (
    TOTAL,
    Endpoint,
    StatsFormatError,
    merge,
    percentile,
    read_history,
    read_json,
    read_run,
    summarize,
)

from .conftest import DATA

RECORDED = ["fast1", "fast2", "fast3", "slow1", "slow2"]

# locust's own numbers for a stats JSON, computed by locust itself in a child process (importing
# locust here would monkey-patch this test process with gevent)
LOCUST_SAYS = """
import json, sys
from locust.stats import RequestStats, StatsEntry
stats = RequestStats()
out = {}
for entry in json.load(open(sys.argv[1])):
    # in memory (and between locust workers) the histogram keys are ints; JSON made them str
    entry["response_times"] = {int(k): v for k, v in entry["response_times"].items()}
    e = StatsEntry.unserialize(entry, stats)
    out[f"{e.method} {e.name}"] = {
        "requests": e.num_requests, "failures": e.num_failures,
        "p50": e.get_response_time_percentile(0.5), "p95": e.get_response_time_percentile(0.95),
        "p99": e.get_response_time_percentile(0.99),
    }
print(json.dumps(out))
"""


def locust_numbers(path: Path) -> dict[str, dict[str, int]]:
    proc = subprocess.run(
        [sys.executable, "-c", LOCUST_SAYS, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(proc.stdout))


def test_percentile_is_locusts_algorithm() -> None:
    histogram = {10: 8, 20: 1, 300: 1}
    assert percentile(histogram, 10, 0.5) == 10
    assert percentile(histogram, 10, 0.8) == 20
    assert percentile(histogram, 10, 0.9) == 300  # locust rounds towards the slower bucket
    assert percentile(histogram, 10, 0.95) == 300
    assert percentile(histogram, 10, 1.0) == 300
    assert percentile({}, 0, 0.95) == 0


@pytest.mark.parametrize("name", RECORDED)
def test_numbers_match_locusts_own_for_recorded_runs(name: str) -> None:
    ours = read_json(DATA / f"{name}.json")
    theirs = locust_numbers(DATA / f"{name}.json")
    assert set(ours) == set(theirs)
    for key, e in ours.items():
        got = {
            "requests": e.requests,
            "failures": e.failures,
            "p50": e.percentile(0.5),
            "p95": e.percentile(0.95),
            "p99": e.percentile(0.99),
        }
        assert got == theirs[key], key


def test_read_run_and_total() -> None:
    run = read_run(DATA / "fast1", "A1")
    total = run.total()
    assert total.name == TOTAL
    assert total.requests == sum(e.requests for e in run.endpoints.values())
    assert sum(total.histogram.values()) == total.requests
    assert "GET /api/products/[id]/" in run.endpoints
    assert 9 < run.window < 11  # a 10 s run
    assert run.history, "the --csv-full-history rows are read"
    assert {p.key for p in run.history} >= {TOTAL, "GET /api/products/[id]/"}


def test_history_rows() -> None:
    points = read_history(DATA / "fast1_stats_history.csv")
    assert points[0].t == 0
    assert points[0].p95 is None  # locust writes N/A before the first request
    last = [p for p in points if p.key == TOTAL][-1]
    assert last.users == 20
    assert last.p95 is not None and last.p95 > 0


def test_merge_adds_histograms_and_windows() -> None:
    a = Endpoint("GET", "/x", 3, 1, {10: 2, 20: 1}, 40.0, 100.0, 110.0)
    b = Endpoint("GET", "/x", 2, 0, {10: 1, 50: 1}, 60.0, 105.0, 120.0)
    m = merge([a, b])
    assert (m.requests, m.failures, m.first, m.last) == (5, 1, 100.0, 120.0)
    assert m.histogram == {10: 3, 20: 1, 50: 1}
    assert m.key == "GET /x"


def test_summarize_over_rounds() -> None:
    runs = [read_run(DATA / n, n) for n in ("fast1", "fast2")]
    s = summarize(runs, "GET /api/products/[id]/")
    parts = [r.endpoints["GET /api/products/[id]/"] for r in runs]
    assert s.requests == sum(p.requests for p in parts)
    assert s.rps == pytest.approx(s.requests / sum(r.window for r in runs))
    assert [f.requests for f in s.runs] == [p.requests for p in parts]
    assert s.p95 == merge(parts).percentile(0.95)


def test_summarize_missing_endpoint_counts_zero() -> None:
    s = summarize([read_run(DATA / "fast1", "A1")], "GET /nowhere/")
    assert (s.requests, s.p95, s.rps) == (0, 0, 0.0)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('[{"name": "/x"}]')
    with pytest.raises(StatsFormatError, match=r"x\.json\[0\]"):
        read_json(bad)
    bad.write_text("{}")
    with pytest.raises(StatsFormatError, match="list of stats entries"):
        read_json(bad)
    with pytest.raises(StatsFormatError, match="cannot read"):
        read_json(tmp_path / "missing.json")
