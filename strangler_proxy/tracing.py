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

__all__ = ["child_traceparent", "random_hex"]

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class _RandomHex:
    """Hex digits from ``os.urandom``, read 4 KiB at a time: one system call per a hundred or
    so requests instead of two per request. Same source, same quality; only the reads are
    batched (a forked child drops what its parent had read, so no two processes share ids)."""

    __slots__ = ("buffer", "pos")

    CHUNK = 4096

    def __init__(self) -> None:
        self.buffer = ""
        self.pos = 0

    def reset(self) -> None:
        self.buffer, self.pos = "", 0

    def take(self, digits: int) -> str:
        pos = self.pos
        end = pos + digits
        if end > len(self.buffer):
            self.buffer = os.urandom(self.CHUNK).hex()
            pos, end = 0, digits
        self.pos = end
        return self.buffer[pos:end]


_random = _RandomHex()
os.register_at_fork(after_in_child=_random.reset)


def random_hex(nbytes: int) -> str:
    """``os.urandom(nbytes).hex()``, with the system calls batched (request ids, span ids).
    For the event loop's thread (the buffer has no lock)."""
    if nbytes > _RandomHex.CHUNK:
        return os.urandom(nbytes).hex()
    return _random.take(2 * nbytes)


def child_traceparent(incoming: str | None) -> tuple[str, str]:
    """``(traceparent to send upstream, trace id)`` for a request that carried ``incoming``."""
    if incoming is not None:
        m = _TRACEPARENT.fullmatch(incoming.strip())
        if m is not None and m.group(1) != _ZERO_TRACE and m.group(2) != _ZERO_SPAN:
            trace = m.group(1)
            return f"00-{trace}-{_random.take(16)}-{m.group(3)}", trace
    ids = _random.take(48)  # a new trace id and span id
    trace = ids[:32]
    return f"00-{trace}-{ids[32:]}-01", trace
