"""The proxy's exceptions. Third-party errors are translated at one boundary each.

StranglerError
 ├── ConfigError            routing.yaml is unreadable or invalid (carries every Problem)
 └── UpstreamError          the forwarder could not get a response from an upstream
      ├── UpstreamUnavailable   connection refused/reset before a response (→ 502)
      └── UpstreamTimeout       connect or response-headers timeout (→ 504)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CircuitOpen",
    "ConfigError",
    "Problem",
    "StranglerError",
    "UpstreamBusy",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class StranglerError(Exception):
    """Base of every error the kit raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a table: ``routing.yaml:14: routes[2].weight: must be 0..100``."""

    file: str
    line: int  # 1-based; 0 when the problem has no place in the file (e.g. missing file)
    key: str  # dotted path such as "routes[2].weight"; empty for file-level problems
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(StranglerError):
    """The table was rejected; ``problems`` lists every reason, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UpstreamError(StranglerError):
    """No response from ``upstream`` at ``instance``; ``reason`` is a short machine code."""

    status = 502
    reason = "upstream_error"

    def __init__(
        self, upstream: str, instance: str, detail: str = "", *, reason: str | None = None
    ) -> None:
        self.upstream = upstream
        self.instance = instance
        self.detail = detail
        if reason is not None:
            self.reason = reason
        super().__init__(f"{self.reason}: {upstream} ({instance}) {detail}".rstrip())


class UpstreamUnavailable(UpstreamError):
    status = 502
    reason = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    """``reason`` says which timeout fired: ``connect_timeout``, ``response_timeout``,
    ``idle_timeout`` or ``total_timeout``."""

    status = 504
    reason = "response_timeout"


class CircuitOpen(UpstreamError):
    """The upstream's circuit breaker is open: failing fast instead of piling on."""

    status = 503
    reason = "circuit_open"


class UpstreamBusy(UpstreamError):
    """The upstream (or the route) already has ``max_concurrent`` requests in flight."""

    status = 503
    reason = "upstream_busy"
