"""The step plan of the ``steps`` load shape, without locust (so it is unit-tested directly)."""

from __future__ import annotations

import math

__all__ = ["parse_steps"]


def parse_steps(text: str, users: int, run_time: float) -> list[tuple[int, float]]:
    """``"4"`` with 20 users, 40 s → ``[(5, 10.0), (10, 10.0), (15, 10.0), (20, 10.0)]``;
    ``"5:10,10:20"`` → ``[(5, 10.0), (10, 20.0)]``."""
    text = text.strip() or "4"
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise ValueError(f"LOADTEST_STEPS: need at least one step, got {text!r}")
        return [
            (max(1, math.ceil(users * (i + 1) / count)), run_time / count) for i in range(count)
        ]
    steps = []
    for part in text.split(","):
        try:
            u, s = part.split(":")
            steps.append((int(u), float(s)))
        except ValueError as err:
            raise ValueError(f"LOADTEST_STEPS: expected users:seconds, got {part!r}") from err
    return steps
