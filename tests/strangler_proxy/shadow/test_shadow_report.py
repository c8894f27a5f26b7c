from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from strangler_proxy.shadow import (
    NoiseSample,
    RouteVerdict,
    ShadowMetrics,
    ShadowStore,
    Thresholds,
    add_report_arguments,
    build_report,
    open_store,
    render_text,
    report_json,
    run_report,
)
from strangler_proxy.shadow._fakes import T0, json_side, make_result
from strangler_proxy.shadow._histogram import bucket as hbucket
from strangler_proxy.shadow._histogram import percentile, upper_bound

StoreFactory = Callable[..., ShadowStore]
GOOD = make_result(json_side({"p": "1.00"}, latency=0.010), json_side({"p": "1.00"}, latency=0.002))
BAD = make_result(
    json_side({"p": "1.00", "u": "t1"}, latency=0.010),
    json_side({"p": "1.50", "u": "t2"}, latency=0.002),
    request_id="req-bad",
    target="/api/products/7/",
)
STAMP_ONLY = make_result(json_side({"u": "t1"}), json_side({"u": "t2"}))


def fill(store: ShadowStore, route: str, good: int, bad: int) -> None:
    for result in [GOOD] * good + [BAD] * bad:
        store.record(
            make_result(
                result.primary,
                result.shadow,
                route=route,
                request_id=result.request_id,
                target=result.target,
            )
        )
    store.flush()


def test_pass_fail_and_not_enough_data(make_store: StoreFactory) -> None:
    store = make_store()
    fill(store, "passing", 995, 5)
    fill(store, "failing", 90, 10)
    fill(store, "young", 50, 0)
    report = build_report(store, None, Thresholds())
    by_route = {r.route: r for r in report.routes}
    assert by_route["passing"].verdict is RouteVerdict.PASS
    assert by_route["passing"].match_rate == pytest.approx(0.995)
    failing = by_route["failing"]
    assert failing.verdict is RouteVerdict.FAIL
    assert failing.reasons[0] == "match rate 90.00% < 99.00%"
    assert [(f.field, f.count) for f in failing.top_fields] == [("$.p", 10), ("$.u", 10)]
    example = failing.top_fields[0].example
    assert example is not None and example["target"] == "/api/products/7/"
    assert example["difference"] == {
        "path": "$.p",
        "field": "$.p",
        "kind": "value",
        "primary": "1.00",
        "shadow": "1.50",
    }
    assert by_route["young"].verdict is RouteVerdict.NOT_ENOUGH_DATA
    assert report.exit_code == 1  # the worst: fail
    text = render_text(report)
    assert "failing  FAIL" in text and "$.p  10x value" in text and "/api/products/7/" in text
    assert build_report(store, "passing", Thresholds()).exit_code == 0
    assert build_report(store, "young", Thresholds()).exit_code == 2
    assert build_report(store, "nothing-here", Thresholds()).exit_code == 2


def test_noise_learned_later_is_excluded_from_the_match_rate(make_store: StoreFactory) -> None:
    store = make_store()
    for result in [GOOD] * 95 + [STAMP_ONLY] * 5:
        store.record(result)
    store.flush()
    assert build_report(store, None, Thresholds()).exit_code == 1
    for _ in range(3):
        store.record_noise(NoiseSample("products", ("$.u",), T0))
    store.flush()
    (route,) = build_report(store, None, Thresholds()).routes
    assert route.verdict is RouteVerdict.PASS and route.match_rate == 1.0
    assert (route.mismatched, route.noise_only) == (0, 5)
    assert [(n.field, n.count) for n in route.noise_fields] == [("$.u", 3)]
    assert route.top_fields == ()
    assert "noise fields (3 monolith-vs-monolith samples): $.u (3x)" in render_text(
        build_report(store, None, Thresholds())
    )


def test_latency_and_error_rates_side_by_side(make_store: StoreFactory) -> None:
    store = make_store()
    failed = make_result(json_side({"p": 1}), json_side(b"", status=None, error="upstream_timeout"))
    for result in [GOOD] * 100 + [failed] * 5:
        store.record(result)
    store.flush()
    (route,) = build_report(store, None, Thresholds()).routes
    primary, shadow = route.latency
    assert primary.p50 == pytest.approx(upper_bound(hbucket(0.010)))
    assert shadow.p99 == pytest.approx(upper_bound(hbucket(0.002)))
    assert (primary.count, shadow.count) == (105, 100)  # a failed side has no latency
    assert shadow.error_rate == pytest.approx(5 / 105) and primary.error_rate == 0
    assert route.verdict is RouteVerdict.FAIL and "service error rate" in route.reasons[0]


def test_json_report(make_store: StoreFactory) -> None:
    store = make_store()
    fill(store, "r", 10, 1)
    doc = report_json(build_report(store, None, Thresholds(min_samples=5)))
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    routes = doc["routes"]
    assert isinstance(routes, list) and routes[0]["verdict"] == "fail"
    json.dumps(doc)  # plain JSON types only


def test_dropped_copies_are_reported(make_store: StoreFactory) -> None:
    # copies the lane could not take were never compared: the report says how many are missing
    store = make_store()
    fill(store, "busy", 150, 0)
    store.record_dropped("busy", 50)
    store.record_dropped("busy")
    store.flush()
    (route,) = build_report(store, None, Thresholds()).routes
    assert (route.compared, route.dropped, route.verdict.value) == (150, 51, "pass")
    assert "51 copies dropped (25.4% of those made)" in render_text(
        build_report(store, None, Thresholds())
    )
    assert report_json(build_report(store, None, Thresholds()))["routes"][0]["dropped"] == 51  # type: ignore[index]
    fill(store, "calm", 5, 0)
    assert "dropped" not in render_text(build_report(store, "calm", Thresholds()))


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    return parser.parse_args(argv)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'shadow.sqlite3'}"
    store = open_store(url, tmp_path / "unused.sqlite3")
    fill(store, "a", 100, 0)
    fill(store, "b", 9, 1)
    store.close()
    assert run_report(_args("a", "--store", url)) == 0
    assert "a  PASS" in capsys.readouterr().out
    assert run_report(_args("b", "--store", url)) == 2
    assert run_report(_args("b", "--store", url, "--min-samples", "10")) == 1
    assert (
        run_report(_args("b", "--store", url, "--min-samples", "10", "--min-match-rate", "90%"))
        == 0
    )
    assert run_report(_args("--store", url)) == 2  # b has not enough data
    capsys.readouterr()
    assert run_report(_args("--store", url, "--json", "--min-samples", "10")) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "fail"
    assert run_report(_args("--store", "mysql://nope")) == 2
    with pytest.raises(SystemExit):
        _args("--min-match-rate", "150%")


def test_percentiles_from_log_buckets() -> None:
    assert percentile({}, 0.5) is None
    counts = {hbucket(0.001): 98, hbucket(0.5): 2}
    assert percentile(counts, 0.5) == pytest.approx(upper_bound(hbucket(0.001)))
    assert percentile(counts, 0.99) == pytest.approx(upper_bound(hbucket(0.5)))
    for latency in (0.00005, 0.0013, 0.2, 7.0):
        assert latency <= upper_bound(hbucket(latency)) <= max(latency, 0.0001) * 1.19 + 1e-12


def test_prometheus_text_format() -> None:
    metrics = ShadowMetrics()
    metrics.observe(GOOD)
    metrics.observe(BAD)
    metrics.observe(make_result(GOOD.primary, GOOD.shadow, route='we"ird\\route'))
    metrics.dropped("products", 2)
    text = metrics.render_prometheus()
    assert text.endswith("\n")
    assert "# TYPE strangler_shadow_compared_total counter\n" in text
    assert 'strangler_shadow_compared_total{route="products"} 2\n' in text
    assert 'strangler_shadow_matched_total{route="products"} 1\n' in text
    assert 'strangler_shadow_mismatched_total{route="products"} 1\n' in text
    assert 'strangler_shadow_dropped_total{route="products"} 2\n' in text
    assert 'strangler_shadow_compared_total{route="we\\"ird\\\\route"} 1\n' in text
    for line in text.splitlines():
        assert line.startswith("# ") or line.split(" ")[-1].isdigit()
