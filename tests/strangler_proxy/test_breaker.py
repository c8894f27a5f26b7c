from __future__ import annotations

from strangler_proxy.breaker import BreakerSettings, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(**kw: float) -> tuple[CircuitBreaker, Clock, list[tuple[str, str]]]:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    b = CircuitBreaker(
        BreakerSettings(**kw),  # type: ignore[arg-type]
        clock=clock,
        on_change=lambda old, new: changes.append((old.value, new.value)),
    )
    return b, clock, changes


def test_stays_closed_below_minimum_calls() -> None:
    b, _, _ = breaker(minimum_calls=10, window=20)
    for _ in range(9):
        assert b.allow()
        b.record(False)
    assert b.state is BreakerState.CLOSED


def test_opens_at_failure_rate_over_window() -> None:
    b, _, changes = breaker(minimum_calls=10, window=10, failure_rate=50)
    for i in range(10):
        b.allow()
        b.record(i % 2 == 0)  # exactly 50% failures
    assert b.state is BreakerState.OPEN
    assert changes == [("closed", "open")]
    assert not b.allow()


def test_below_rate_stays_closed() -> None:
    b, _, _ = breaker(minimum_calls=10, window=10, failure_rate=50)
    for i in range(10):
        b.allow()
        b.record(i % 3 != 0)  # 4 failures of 10
    assert b.state is BreakerState.CLOSED
    assert b.failure_rate == 40.0


def test_half_open_after_wait_and_limited_trials() -> None:
    b, clock, _ = breaker(minimum_calls=2, window=2, open_for=30, half_open_calls=2)
    for _ in range(2):
        b.allow()
        b.record(False)
    assert b.state is BreakerState.OPEN
    clock.now += 29.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow() and b.allow()
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow()  # only two trials at a time


def test_half_open_closes_after_successes() -> None:
    b, clock, changes = breaker(minimum_calls=2, window=2, open_for=1, half_open_calls=2)
    for _ in range(2):
        b.allow()
        b.record(False)
    clock.now += 1
    for _ in range(2):
        assert b.allow()
        b.record(True)
    assert b.state is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    # a fresh window: old failures are forgotten
    b.allow()
    b.record(False)
    assert b.state is BreakerState.CLOSED


def test_half_open_reopens_on_a_failed_trial() -> None:
    b, clock, _ = breaker(minimum_calls=2, window=2, open_for=1, half_open_calls=3)
    for _ in range(2):
        b.allow()
        b.record(False)
    clock.now += 1
    assert b.allow()
    b.record(False)
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.transitions == 3


def test_a_passing_health_check_lets_the_trials_through_before_open_for() -> None:
    b, clock, changes = breaker(minimum_calls=2, window=2, open_for=30, half_open_calls=1)
    b.health_passed()  # closed: nothing to do
    assert b.state is BreakerState.CLOSED
    for _ in range(2):
        b.allow()
        b.record(False)
    assert not b.allow()
    clock.now += 1
    b.health_passed()
    assert b.state is BreakerState.HALF_OPEN and b.allow()
    b.health_passed()  # half open: its trials decide
    assert not b.allow()
    b.record(True)
    assert b.state is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
