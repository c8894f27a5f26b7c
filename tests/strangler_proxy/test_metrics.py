from __future__ import annotations

from strangler_proxy.metrics import Registry


def test_counter_and_labels_are_escaped() -> None:
    r = Registry()
    c = r.counter("strangler_requests_total", "Requests", ("route", "status_class"))
    c.inc(("a", "2xx"))
    c.inc(("a", "2xx"))
    c.inc(('we"ird\n', "5xx"), 3)
    assert r.render() == (
        "# HELP strangler_requests_total Requests\n"
        "# TYPE strangler_requests_total counter\n"
        'strangler_requests_total{route="a",status_class="2xx"} 2\n'
        'strangler_requests_total{route="we\\"ird\\n",status_class="5xx"} 3\n'
    )


def test_histogram_is_cumulative() -> None:
    r = Registry()
    h = r.histogram("lat_seconds", "Latency", ("route",), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 2.0):
        h.observe(("x",), v)
    lines = r.render().splitlines()[2:]
    assert lines == [
        'lat_seconds_bucket{route="x",le="0.1"} 2',
        'lat_seconds_bucket{route="x",le="1"} 3',
        'lat_seconds_bucket{route="x",le="+Inf"} 4',
        'lat_seconds_sum{route="x"} 2.65',
        'lat_seconds_count{route="x"} 4',
    ]


def test_gauge_with_callback_and_extra_renderers() -> None:
    r = Registry()
    r.gauge("up", "Up", ("upstream",), collect=lambda: {("legacy",): 1.0})
    r.extra.append(lambda: "# extra\n")
    assert r.render().splitlines()[-2:] == ['up{upstream="legacy"} 1', "# extra"]


def test_recent_window_forgets_what_is_older_than_five_minutes() -> None:
    from strangler_proxy.observability import RecentWindow

    now = [1000.0]
    window = RecentWindow(clock=lambda: now[0])
    window.inc(("a",))
    now[0] += 120
    window.inc(("a",), 2)
    window.inc(("b",))
    assert window.collect() == {("a",): 3.0, ("b",): 1.0}
    now[0] += 200  # the first count is now more than 5 minutes old
    assert window.collect() == {("a",): 2.0, ("b",): 1.0}
    now[0] += 400
    assert window.collect() == {("a",): 0.0, ("b",): 0.0}
