"""Load shapes of the shop's load test, chosen with ``LOADTEST_SHAPE`` (no class picker needed).

``steady``  ramp up to ``--users`` at ``--spawn-rate``, hold until ``--run-time``, stop.
``steps``   ``LOADTEST_STEPS`` equal steps up to ``--users`` (default 4: 25%, 50%, 75%, 100%),
            each held ``--run-time / steps`` seconds; or an explicit list
            ``LOADTEST_STEPS=5:10,10:10,20:20`` (users:seconds, ...).

Both read locust's own ``--users``, ``--spawn-rate`` and ``--run-time`` (``use_common_options``),
so the comparison tool passes the same numbers whatever the shape. The locustfile exposes only
the chosen class, because locust refuses a locustfile with two shapes and no class picker.
"""

from __future__ import annotations

import os
from typing import Any

from locust import LoadTestShape

from loadtests._steps import parse_steps

__all__ = ["SHAPES", "SteadyShape", "StepShape", "parse_steps", "select"]

DEFAULT_USERS = 10
DEFAULT_RUN_TIME = 60


class _Common(LoadTestShape):
    abstract = True
    use_common_options = True

    def _options(self) -> tuple[int, float, float]:
        opts: Any = self.runner.environment.parsed_options if self.runner else None
        users = int(getattr(opts, "num_users", None) or DEFAULT_USERS)
        rate = float(getattr(opts, "spawn_rate", None) or users)
        run_time = float(getattr(opts, "run_time", None) or DEFAULT_RUN_TIME)
        return users, rate, run_time


class SteadyShape(_Common):
    """Steady state: the configured users for the whole run."""

    def tick(self) -> tuple[int, float] | None:
        users, rate, run_time = self._options()
        if self.get_run_time() >= run_time:
            return None
        return users, rate


class StepShape(_Common):
    """Step ramp: hold each level for its share of the run, then the next."""

    def tick(self) -> tuple[int, float] | None:
        users, rate, run_time = self._options()
        elapsed = self.get_run_time()
        for level, seconds in parse_steps(os.environ.get("LOADTEST_STEPS", ""), users, run_time):
            if elapsed < seconds:
                return level, rate
            elapsed -= seconds
        return None


SHAPES: dict[str, type[LoadTestShape]] = {"steady": SteadyShape, "steps": StepShape}


def select(name: str) -> type[LoadTestShape] | None:
    """``""`` or ``"none"`` → no shape (plain ``-u``/``-r``/``-t``); an unknown name raises."""
    name = name.strip().lower()
    if name in ("", "none"):
        return None
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(
            f"LOADTEST_SHAPE must be one of none, {', '.join(SHAPES)}; got {name!r}"
        ) from None
