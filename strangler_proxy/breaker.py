"""Circuit breaker per upstream, as Hystrix / resilience4j users know it.

    CLOSED ──(failure rate ≥ threshold in the last `window` calls, ≥ `minimum_calls`)──▶ OPEN
    OPEN ──(`open_for` seconds, or an instance's health check passes again)──▶ HALF_OPEN
    HALF_OPEN ──(`half_open_calls` trial calls all succeed)──▶ CLOSED
    HALF_OPEN ──(any trial call fails)──▶ OPEN

While OPEN, :meth:`CircuitBreaker.allow` says no and the proxy fails fast (or falls back); in
HALF_OPEN it admits at most ``half_open_calls`` trial requests at a time.

    >>> b = CircuitBreaker(BreakerSettings(window=4, minimum_calls=4), clock=lambda: 0.0)
    >>> for ok in (True, False, False, True): b.record(ok)
    >>> b.state
    <BreakerState.OPEN: 'open'>
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

from .model import BreakerSettings

__all__ = ["BreakerSettings", "BreakerState", "CircuitBreaker"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_change = on_change
        self.state = BreakerState.CLOSED
        self._calls: deque[bool] = deque(maxlen=settings.window)
        self._failed = 0  # the False entries of _calls, kept as they come and go
        self._opened_at = 0.0
        self._trials_in_flight = 0
        self._trial_successes = 0
        self.transitions = 0

    def _move(self, state: BreakerState) -> None:
        old, self.state = self.state, state
        self.transitions += 1
        if state is BreakerState.OPEN:
            self._opened_at = self.clock()
        if state is not BreakerState.CLOSED:
            self._trials_in_flight = 0
            self._trial_successes = 0
        else:
            self._calls.clear()
            self._failed = 0
        if self.on_change is not None:
            self.on_change(old, state)

    def health_passed(self) -> None:
        """An active health check found an instance healthy again after failed checks: an open
        breaker lets its trial calls through now, not at the end of ``open_for`` (a monolith
        back after a two-second restart is not refused for another half minute)."""
        if self.state is BreakerState.OPEN:
            self._move(BreakerState.HALF_OPEN)

    def allow(self) -> bool:
        """May a request go to the upstream now? (A True in HALF_OPEN takes a trial slot.)"""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self._opened_at < self.settings.open_for:
                return False
            self._move(BreakerState.HALF_OPEN)
        if self._trials_in_flight + self._trial_successes >= self.settings.half_open_calls:
            return False
        self._trials_in_flight += 1
        return True

    def record(self, success: bool) -> None:
        """The outcome of a call that :meth:`allow` let through."""
        if self.state is BreakerState.HALF_OPEN:
            self._trials_in_flight = max(0, self._trials_in_flight - 1)
            if not success:
                self._move(BreakerState.OPEN)
                return
            self._trial_successes += 1
            if self._trial_successes >= self.settings.half_open_calls:
                self._move(BreakerState.CLOSED)
            return
        if self.state is BreakerState.OPEN:
            return  # a call admitted before the breaker opened
        calls = self._calls
        if len(calls) == calls.maxlen and not calls[0]:
            self._failed -= 1  # the oldest call, a failure, leaves the window
        calls.append(success)
        if not success:
            self._failed += 1
        if len(calls) < self.settings.minimum_calls:
            return
        if self._failed * 100 >= self.settings.failure_rate * len(calls):
            self._move(BreakerState.OPEN)

    @property
    def failure_rate(self) -> float:
        """Percent of failed calls in the current window (0 when empty)."""
        if not self._calls:
            return 0.0
        return self._failed * 100 / len(self._calls)
