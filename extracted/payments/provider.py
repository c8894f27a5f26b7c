"""A deterministic fake payment provider (the monolith's simulated gateway, made repeatable).

Rules, checked in this order:

- ``card_limit`` (``PAYMENT_CARD_LIMIT`` / ``--card-limit``, e.g. ``100.00``): a charge above
  it is declined, ``"declined: amount 500.00 is over the card limit 100.00"``. The way a test
  makes one order fail and another succeed in the same run.
- ``failure_rate`` (``PAYMENT_FAILURE_RATE``, as the monolith's ``payments/gateway.py``): ``0``
  never fails, ``1`` always fails; a rate in between fails a fixed share of orders, chosen by a
  hash of the idempotency key (the order reference) instead of ``random``, so a redelivered
  event gets the same answer.
- ``latency_ms`` (``PAYMENT_LATENCY_MS``, default 0): slept on every charge.

Like a real provider called with an idempotency key, charging one key twice returns the same
result and the same ``provider_reference`` (``sim_`` + a hash of the key).
"""

from __future__ import annotations

import enum
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["Charge", "ChargeOutcome", "FakeProvider", "money"]


class ChargeOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Charge:
    outcome: ChargeOutcome
    provider_reference: str
    reason: str = ""


def money(cents: int) -> str:
    """``1250`` → ``"12.50"`` (the monolith's wire format for amounts)."""
    return format((Decimal(cents) / 100).quantize(Decimal("0.01")), "f")


def _decimal(name: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation as err:
        raise ValueError(f"{name}: expected an amount like 100.00, got {raw!r}") from err
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name}: expected an amount >= 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class FakeProvider:
    failure_rate: float = 0.0
    card_limit: Decimal | None = None
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure rate: must be 0..1, got {self.failure_rate}")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        failure_rate: str | None = None,
        card_limit: str | None = None,
    ) -> FakeProvider:
        """From ``PAYMENT_FAILURE_RATE``, ``PAYMENT_CARD_LIMIT``, ``PAYMENT_LATENCY_MS``;
        the keyword arguments (command-line flags) win over the environment."""
        rate_raw = failure_rate or environ.get("PAYMENT_FAILURE_RATE", "").strip() or "0"
        limit_raw = card_limit or environ.get("PAYMENT_CARD_LIMIT", "").strip()
        latency_raw = environ.get("PAYMENT_LATENCY_MS", "").strip() or "0"
        try:
            rate, latency = float(rate_raw), float(latency_raw)
        except ValueError as err:
            raise ValueError(f"PAYMENT_FAILURE_RATE/PAYMENT_LATENCY_MS: {err}") from err
        limit = _decimal("PAYMENT_CARD_LIMIT", limit_raw) if limit_raw else None
        return cls(failure_rate=rate, card_limit=limit, latency_ms=latency)

    def charge(self, amount_cents: int, idempotency_key: str) -> Charge:
        """Charge ``amount_cents``; the same key always gets the same answer."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)  # the simulated provider's response time
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        reference = "sim_" + digest[:16]
        amount = Decimal(amount_cents) / 100
        if self.card_limit is not None and amount > self.card_limit:
            return Charge(
                ChargeOutcome.FAILED,
                reference,
                f"declined: amount {money(amount_cents)} is over the card limit "
                f"{self.card_limit.quantize(Decimal('0.01'))}",
            )
        draw = int(digest[16:24], 16) / 2**32  # in [0, 1), fixed per key
        if self.failure_rate >= 1 or (self.failure_rate > 0 and draw < self.failure_rate):
            return Charge(
                ChargeOutcome.FAILED,
                reference,
                f"simulated provider failure (PAYMENT_FAILURE_RATE={self.failure_rate:g})",
            )
        return Charge(ChargeOutcome.SUCCEEDED, reference)
