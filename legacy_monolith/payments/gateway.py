"""A simulated payment provider, slow and unreliable on demand.

``PAYMENT_LATENCY_MS`` is slept on every charge; ``PAYMENT_FAILURE_RATE`` is the probability that
a charge fails: ``0`` never fails, ``1`` always fails (deterministic), values in between draw
from ``random``. Used to demonstrate a failing dependency behind the monolith.
"""

from __future__ import annotations

import enum
import random
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings


class ChargeOutcome(enum.Enum):
    APPROVED = "approved"
    FAILED = "failed"


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    provider_reference: str
    error: str = ""


@dataclass(frozen=True)
class SimulatedGateway:
    latency_ms: float
    failure_rate: float

    @classmethod
    def from_settings(cls) -> SimulatedGateway:
        return cls(settings.PAYMENT_LATENCY_MS, settings.PAYMENT_FAILURE_RATE)

    def charge(self, amount: Decimal, reference: str) -> ChargeResult:
        """Charge ``amount`` for ``reference`` → ``ChargeResult(APPROVED, "sim_…")`` or FAILED."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)  # the simulated provider's response time
        provider_reference = "sim_" + uuid.uuid4().hex[:16]
        fails = self.failure_rate >= 1 or (
            self.failure_rate > 0 and random.random() < self.failure_rate
        )
        if fails:
            return ChargeResult(
                ChargeOutcome.FAILED,
                provider_reference,
                f"simulated provider failure (PAYMENT_FAILURE_RATE={self.failure_rate:g})",
            )
        return ChargeResult(ChargeOutcome.APPROVED, provider_reference)
