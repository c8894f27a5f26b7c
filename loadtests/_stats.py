"""Locust's own outputs, read back: per-endpoint histograms (``--json-file``) and the
per-second history (``--csv-full-history``), merged across rounds without re-measuring.

Locust keeps, per endpoint, a histogram of response times rounded to two significant digits
(``{"12": 40, "130": 2, ...}`` in milliseconds) and computes every percentile from it. We read
that histogram from the JSON file locust writes at the very end of a run and apply locust's
algorithm (:func:`percentile`), so a percentile here is the one locust reports for the same
data; histograms of several rounds merge exactly by adding counts. The ``_stats.csv`` snapshot
is not used for numbers: locust rewrites it once a second, so its last version can miss the
run's final second (the JSON cannot).

Throughput of an endpoint in a run is its requests divided by the run's window (first request
of the run to its last request), as locust's ``Requests/s``; over rounds, requests and windows
add up.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TOTAL",
    "Endpoint",
    "HistoryPoint",
    "Run",
    "StatsFormatError",
    "Summary",
    "merge",
    "percentile",
    "read_history",
    "read_json",
    "read_run",
    "summarize",
]

TOTAL = "Aggregated"


class StatsFormatError(ValueError):
    """A locust output file is not what this locust version writes; the message names it."""


def percentile(histogram: Mapping[int, int], count: int, fraction: float) -> int:
    """Locust's ``calculate_response_time_percentile``: walk the buckets from the slowest
    down and stop at the first one below which at most ``int(count * fraction)`` samples remain.

    >>> percentile({10: 8, 20: 1, 300: 1}, 10, 0.95)
    300
    >>> percentile({10: 8, 20: 1, 300: 1}, 10, 0.5)
    10
    """
    wanted = int(count * fraction)
    seen = 0
    for value in sorted(histogram, reverse=True):
        seen += histogram[value]
        if count - seen <= wanted:
            return value
    return 0


@dataclass(frozen=True)
class Endpoint:
    """One endpoint (method + ``name=``) of one run, or of several merged runs."""

    method: str
    name: str
    requests: int
    failures: int
    histogram: Mapping[int, int]
    total_ms: float
    first: float  # epoch seconds of its first request (locust's start_time)
    last: float  # epoch seconds of its last request

    @property
    def key(self) -> str:
        return f"{self.method} {self.name}".strip()

    def percentile(self, fraction: float) -> int:
        return percentile(self.histogram, sum(self.histogram.values()), fraction)


@dataclass(frozen=True)
class HistoryPoint:
    """One row of ``*_stats_history.csv``: ``t`` seconds after the run's first row."""

    t: float
    key: str
    users: int
    rps: float
    fail_per_s: float
    p50: int | None
    p95: int | None
    p99: int | None


@dataclass(frozen=True)
class Run:
    """One locust run: its endpoints, its window, and (optionally) its history."""

    label: str
    endpoints: Mapping[str, Endpoint]
    history: tuple[HistoryPoint, ...] = ()

    @property
    def window(self) -> float:
        if not self.endpoints:
            return 0.0
        first = min(e.first for e in self.endpoints.values())
        last = max(e.last for e in self.endpoints.values())
        return max(last - first, 1e-3)

    def total(self) -> Endpoint:
        return merge(self.endpoints.values(), method="", name=TOTAL)


def merge(
    parts: Iterable[Endpoint], *, method: str | None = None, name: str | None = None
) -> Endpoint:
    """Add histograms and counts; the window spans them all."""
    parts = list(parts)
    histogram: dict[int, int] = {}
    for part in parts:
        for value, count in part.histogram.items():
            histogram[value] = histogram.get(value, 0) + count
    return Endpoint(
        method=method if method is not None else (parts[0].method if parts else ""),
        name=name if name is not None else (parts[0].name if parts else ""),
        requests=sum(p.requests for p in parts),
        failures=sum(p.failures for p in parts),
        histogram=histogram,
        total_ms=sum(p.total_ms for p in parts),
        first=min((p.first for p in parts), default=0.0),
        last=max((p.last for p in parts), default=0.0),
    )


def _endpoint(entry: Mapping[str, Any], where: str) -> Endpoint:
    try:
        histogram = {int(float(k)): int(v) for k, v in entry["response_times"].items()}
        return Endpoint(
            method=str(entry["method"] or ""),
            name=str(entry["name"]),
            requests=int(entry["num_requests"]),
            failures=int(entry["num_failures"]),
            histogram=histogram,
            total_ms=float(entry["total_response_time"]),
            first=float(entry["start_time"]),
            last=float(entry["last_request_timestamp"] or entry["start_time"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise StatsFormatError(f"{where}: not a locust stats entry ({err!r})") from err


def read_json(path: Path) -> dict[str, Endpoint]:
    """``locust --json-file PREFIX`` writes ``PREFIX.json``: a list of stats entries."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise StatsFormatError(f"{path}: cannot read locust JSON: {err}") from err
    if not isinstance(entries, list):
        raise StatsFormatError(f"{path}: expected a list of stats entries")
    endpoints = [_endpoint(e, f"{path}[{i}]") for i, e in enumerate(entries)]
    return {e.key: e for e in endpoints}


def _int_or_none(text: str) -> int | None:
    return None if text in ("", "N/A") else int(float(text))


def read_history(path: Path) -> tuple[HistoryPoint, ...]:
    """``PREFIX_stats_history.csv`` (``--csv-full-history``: a row per endpoint per second)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise StatsFormatError(f"{path}: cannot read locust history: {err}") from err
    points: list[HistoryPoint] = []
    start: float | None = None
    for number, row in enumerate(rows, start=2):
        try:
            stamp = float(row["Timestamp"])
            start = stamp if start is None else start
            points.append(
                HistoryPoint(
                    t=stamp - start,
                    key=f"{row['Type']} {row['Name']}".strip(),
                    users=int(row["User Count"]),
                    rps=float(row["Requests/s"]),
                    fail_per_s=float(row["Failures/s"]),
                    p50=_int_or_none(row["50%"]),
                    p95=_int_or_none(row["95%"]),
                    p99=_int_or_none(row["99%"]),
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StatsFormatError(f"{path}:{number}: not a locust history row ({err!r})") from err
    return tuple(points)


def read_run(prefix: Path, label: str) -> Run:
    """The run whose files start with ``prefix`` (``PREFIX.json``, ``PREFIX_stats_history.csv``)."""
    history_path = prefix.with_name(prefix.name + "_stats_history.csv")
    history = read_history(history_path) if history_path.exists() else ()
    return Run(label, read_json(prefix.with_name(prefix.name + ".json")), history)


@dataclass(frozen=True)
class Summary:
    """The numbers a verdict is made of, for one endpoint (or the total) on one side."""

    requests: int
    failures: int
    rps: float
    p50: int
    p95: int
    p99: int
    runs: tuple[RunFigures, ...] = field(default=())

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class RunFigures:
    """One run's own figures for one endpoint: what the noise estimate compares."""

    requests: int
    failure_rate: float
    rps: float
    p95: int


def summarize(runs: Iterable[Run], key: str) -> Summary:
    """``key`` (``"GET /api/products/[id]/"`` or :data:`TOTAL`) over all ``runs`` of a side."""
    runs = list(runs)
    parts: list[Endpoint] = []
    figures: list[RunFigures] = []
    window = 0.0
    for run in runs:
        window += run.window
        part = run.total() if key == TOTAL else run.endpoints.get(key)
        if part is None:
            figures.append(RunFigures(0, 0.0, 0.0, 0))
            continue
        parts.append(part)
        figures.append(
            RunFigures(
                part.requests,
                part.failures / part.requests if part.requests else 0.0,
                part.requests / run.window,
                part.percentile(0.95),
            )
        )
    merged = merge(parts)
    return Summary(
        requests=merged.requests,
        failures=merged.failures,
        rps=merged.requests / window if window else 0.0,
        p50=merged.percentile(0.50),
        p95=merged.percentile(0.95),
        p99=merged.percentile(0.99),
        runs=tuple(figures),
    )
