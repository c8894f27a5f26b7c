"""The payments service's own tables: ``payments``, ``payments_outbox`` and the inbox tables.

Amounts are integer cents; datetimes naive UTC. ``payments.order_id`` is unique: an order is
charged at most once, whatever the broker delivers. ``payments_outbox`` is this service's
transactional outbox: its rows are written in the transaction that records the payment and
published by :mod:`extracted.payments.relay` (same wire format as the monolith's relay).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

from extracted.common.inbox import inbox_metadata

__all__ = ["ensure_schema", "metadata", "outbox", "payments"]

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", String(32), primary_key=True),  # "pay_…": never collides with monolith ids
    Column("order_id", BigInteger, nullable=False, unique=True),
    Column("order_reference", String(32), nullable=False),
    Column("user_id", BigInteger, nullable=True, index=True),  # who placed the order
    Column("amount_cents", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # succeeded | failed
    Column("provider_reference", String(64), nullable=False, default=""),
    Column("reason", String(255), nullable=False, default=""),
    Column("placed_event_id", String(36), nullable=False),
    Column("created_at", DateTime(), nullable=False),
)

outbox = Table(
    "payments_outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("aggregate_type", String(50), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("created_at", DateTime(), nullable=False),
    Column("sent_at", DateTime(), nullable=True),
    Index("payments_outbox_unsent_idx", "sent_at", "seq"),
)


def ensure_schema(engine: Engine) -> None:
    """Create the service's tables and the inbox tables (dedup, dead letters) if missing."""
    metadata.create_all(engine)
    inbox_metadata.create_all(engine)
