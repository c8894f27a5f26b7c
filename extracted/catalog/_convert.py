"""Monolith column values → the catalog's own representation (shared by backfill and sync)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["attributes", "cents", "utc_naive"]


def utc_naive(value: Any) -> datetime:
    """Django stores UTC: SQLite text ``2026-01-01 12:00:00.5``, PostgreSQL ``timestamptz``."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def cents(value: Any) -> int:
    """``Decimal("12.50")`` (PostgreSQL) or ``12.5`` (SQLite numeric affinity) → ``1250``."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return int(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).scaleb(2))


def attributes(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
