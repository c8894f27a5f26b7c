"""Prometheus metrics in the text exposition format, with no dependency.

Recording is a dict update on the request path (no locks: one event loop per process); the text
is rendered only when ``GET /metrics`` asks.

    registry = Registry()
    requests = registry.counter("strangler_requests_total", "Requests", ("route", "status_class"))
    requests.inc(("product-detail", "2xx"))
    registry.render()
    # HELP strangler_requests_total Requests
    # TYPE strangler_requests_total counter
    strangler_requests_total{route="product-detail",status_class="2xx"} 1
"""

from __future__ import annotations

import abc
import bisect
import math
from collections.abc import Callable, Sequence

__all__ = ["Counter", "Gauge", "Histogram", "Registry"]

Labels = tuple[str, ...]

# seconds: 1 ms .. 30 s, about 2.5 times per step
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(value)


class _Metric(abc.ABC):
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    @abc.abstractmethod
    def lines(self) -> list[str]:
        """The sample lines of this metric."""


class Gauge(_Metric):
    """A value set directly, or read from a callback at render time."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        collect: Callable[[], dict[Labels, float]] | None = None,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[Labels, float] = {}
        self.collect = collect

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def lines(self) -> list[str]:
        values = self.collect() if self.collect is not None else self.values
        return [
            f"{self.name}{_labels(self.label_names, k)} {_num(v)}"
            for k, v in sorted(values.items())
        ]


class Counter(Gauge):
    """A value that only grows: ``inc`` on the request path, or a callback reading a count
    kept elsewhere (``collect``)."""

    kind = "counter"

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.bounds = tuple(buckets)
        self.series: dict[Labels, list[float]] = {}  # per-bucket counts, then sum, then count

    def observe(self, labels: Labels, value: float) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.bounds):
            series[i] += 1
        series[-2] += value
        series[-1] += 1

    def lines(self) -> list[str]:
        out = []
        for labels, series in sorted(self.series.items()):
            running = 0.0
            for bound, n in zip(self.bounds, series, strict=False):
                running += n
                le = f'le="{_num(bound)}"'
                out.append(
                    f"{self.name}_bucket{_labels(self.label_names, labels, le)} {_num(running)}"
                )
            inf = _labels(self.label_names, labels, 'le="+Inf"')
            out.append(f"{self.name}_bucket{inf} {_num(series[-1])}")
            out.append(f"{self.name}_sum{_labels(self.label_names, labels)} {_num(series[-2])}")
            out.append(f"{self.name}_count{_labels(self.label_names, labels)} {_num(series[-1])}")
        return out


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []
        self.extra: list[Callable[[], str]] = []  # other renderers (e.g. shadow metrics)

    def counter(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        collect: Callable[[], dict[Labels, float]] | None = None,
    ) -> Counter:
        m = Counter(name, help_text, labels, collect)
        self.metrics.append(m)
        return m

    def gauge(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        collect: Callable[[], dict[Labels, float]] | None = None,
    ) -> Gauge:
        m = Gauge(name, help_text, labels, collect)
        self.metrics.append(m)
        return m

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        m = Histogram(name, help_text, labels, buckets)
        self.metrics.append(m)
        return m

    def render(self) -> str:
        lines: list[str] = []
        for m in self.metrics:
            lines += m.header()
            lines += m.lines()
        text = "\n".join(lines) + "\n"
        for render in self.extra:
            text += render()
        return text
