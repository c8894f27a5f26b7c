"""W3C Trace Context: the proxy takes part in a trace as one span.

An incoming valid ``traceparent`` keeps its trace id and flags; the proxy becomes the parent of
the upstream's span with a new span id. An absent or invalid one (wrong shape, version other
than ``00``, all-zero ids, or sent twice) starts a new trace. Either way the upstream receives
exactly one ``traceparent``; ``tracestate`` passes through untouched.

    >>> child_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")[1]
    '4bf92f3577b34da6a3ce929d0e0e4736'
"""

from __future__ import annotations

import os
import re

__all__ = ["child_traceparent"]

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def child_traceparent(incoming: str | None) -> tuple[str, str]:
    """``(traceparent to send upstream, trace id)`` for a request that carried ``incoming``."""
    span = os.urandom(8).hex()
    if incoming is not None:
        m = _TRACEPARENT.fullmatch(incoming.strip())
        if m is not None and m.group(1) != _ZERO_TRACE and m.group(2) != _ZERO_SPAN:
            trace = m.group(1)
            return f"00-{trace}-{span}-{m.group(3)}", trace
    trace = os.urandom(16).hex()
    return f"00-{trace}-{span}-01", trace
