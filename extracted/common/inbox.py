"""The consuming side's bookkeeping tables, in the service's own database.

- ``sync_processed``: one row per event id ever handled (the dedup table); ``outcome`` says
  what happened: ``applied``, ``stale`` (an older version than the one held) or ``ignored``.
- ``sync_versions``: the newest version applied per aggregate, kept after a delete (a
  tombstone) so a late, older event cannot bring a deleted row back. Backfills write it too.
- ``sync_dead_letters``: events that could not be applied after the retries, with the error.
- ``sync_checkpoints``: where a backfill of a table got to, so it can resume.

Every function takes a connection inside the caller's transaction: the dedup row, the version
and the data change commit together or not at all.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "Outcome",
    "SyncStatus",
    "checkpoints",
    "claim",
    "dead_letter",
    "dead_letters",
    "ensure_inbox_schema",
    "inbox_metadata",
    "lock_sync",
    "mark_consumer",
    "processed",
    "set_versions",
    "sync_status",
    "utcnow",
    "versions",
    "versions_of",
]

inbox_metadata = MetaData()

processed = Table(
    "sync_processed",
    inbox_metadata,
    Column("event_id", String(36), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("aggregate_type", String(50), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("event_created_at", DateTime(), nullable=False, index=True),
    Column("processed_at", DateTime(), nullable=False, index=True),
)

versions = Table(
    "sync_versions",
    inbox_metadata,
    Column("aggregate_type", String(50), primary_key=True),
    Column("aggregate_id", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)

dead_letters = Table(
    "sync_dead_letters",
    inbox_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, index=True),
    Column("type", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(), nullable=False),
)

checkpoints = Table(
    "sync_checkpoints",
    inbox_metadata,
    Column("name", String(100), primary_key=True),
    Column("last_id", BigInteger, nullable=True),
    Column("done", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(), nullable=False),
)


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # an older (or equal) version than the one held: not applied
    IGNORED = "ignored"  # a type this service does not use
    DUPLICATE = "duplicate"  # seen before (never stored: the first outcome stays)


def utcnow() -> datetime:
    """Naive UTC, as every datetime in the services' tables."""
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_inbox_schema(engine: Engine) -> None:
    inbox_metadata.create_all(engine)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


_SYNC_LOCK_KEY = 0x53594E43  # "SYNC"


def lock_sync(conn: Connection) -> None:
    """Serialise writers of synced rows (event applies, backfill batches) for this transaction.

    Each checks ``sync_versions`` and then writes; without this a backfill batch could read
    "held v4", the consumer commit v5, and the batch then write its older v4 snapshot.
    PostgreSQL: a transaction-level advisory lock. SQLite: a first statement that writes, which
    takes the database's write lock at once (instead of upgrading after a read, which deadlocks).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SYNC_LOCK_KEY})
    else:
        conn.execute(checkpoints.delete().where(text("1 = 0")))


def claim(conn: Connection, event: Any, outcome: Outcome) -> bool:
    """Record ``event`` as handled; ``False`` when its id was already recorded (a duplicate).

    Call it first in the transaction: it is also the write that serialises two consumers
    handling the same event (the second waits, then finds the row).
    """
    stmt = (
        _insert(conn)(processed)
        .values(
            event_id=event.id,
            type=event.type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            version=event.version,
            outcome=outcome.value,
            event_created_at=event.created_at,
            processed_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[processed.c.event_id])
        .returning(processed.c.event_id)
    )
    return conn.execute(stmt).first() is not None


def mark_consumer(engine: Engine, queue: str) -> None:
    """Record that a consumer declared ``queue`` (the backfill checks for it first)."""
    name = f"consumer:{queue}"
    with engine.begin() as conn:
        values = {"last_id": None, "done": True, "updated_at": utcnow()}
        updated = conn.execute(
            checkpoints.update().where(checkpoints.c.name == name).values(values)
        )
        if not updated.rowcount:
            conn.execute(checkpoints.insert().values(name=name, **values))


def set_outcome(conn: Connection, event_id: str, outcome: Outcome) -> None:
    conn.execute(processed.update().where(processed.c.event_id == event_id).values(outcome=outcome))


def versions_of(conn: Connection, aggregate_type: str, ids: list[str]) -> dict[str, int]:
    """Held versions of ``ids`` (absent ids are not in the result)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(versions.c.aggregate_id, versions.c.version).where(
            versions.c.aggregate_type == aggregate_type, versions.c.aggregate_id.in_(ids)
        )
    )
    return {str(r.aggregate_id): int(r.version) for r in rows}


def set_versions(
    conn: Connection, aggregate_type: str, new: dict[str, int], *, deleted: bool = False
) -> None:
    """Upsert the held version of each aggregate id (only ever raising it)."""
    if not new:
        return
    stmt = _insert(conn)(versions).values(
        [
            {"aggregate_type": aggregate_type, "aggregate_id": k, "version": v, "deleted": deleted}
            for k, v in new.items()
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[versions.c.aggregate_type, versions.c.aggregate_id],
        set_={"version": stmt.excluded.version, "deleted": stmt.excluded.deleted},
        where=versions.c.version < stmt.excluded.version,
    )
    conn.execute(stmt)


def dead_letter(
    conn: Connection, event_id: str, type_: str, body: Any, error: str, attempts: int
) -> None:
    text_body = body if isinstance(body, str) else json.dumps(body, default=str)
    conn.execute(
        dead_letters.insert().values(
            event_id=event_id or "?",
            type=type_ or "?",
            body=text_body,
            error=error[:2000],
            attempts=attempts,
            created_at=utcnow(),
        )
    )


@dataclass(frozen=True)
class SyncStatus:
    """What ``GET /sync/status`` answers."""

    processed: int
    applied: int
    stale: int
    dead_lettered: int
    last_event_at: datetime | None
    last_processed_at: datetime | None
    lag_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat(timespec="microseconds") + "Z"

        return {
            "processed": self.processed,
            "applied": self.applied,
            "stale": self.stale,
            "dead_lettered": self.dead_lettered,
            "last_event_at": when(self.last_event_at),
            "last_processed_at": when(self.last_processed_at),
            "lag_seconds": self.lag_seconds,
        }


def sync_status(conn: Connection) -> SyncStatus:
    """Counts, and the lag: how long the newest handled event took from the monolith's commit
    to this database (``processed_at - created_at`` of the most recently processed event)."""
    grouped = select(processed.c.outcome, func.count()).group_by(processed.c.outcome)
    counts: dict[str, int] = {str(k): int(v) for k, v in conn.execute(grouped).all()}
    dead = int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())
    last = conn.execute(
        select(processed.c.event_created_at, processed.c.processed_at)
        .order_by(processed.c.processed_at.desc())
        .limit(1)
    ).first()
    newest = conn.execute(select(func.max(processed.c.event_created_at))).scalar_one()
    lag = None if last is None else max(0.0, (last[1] - last[0]).total_seconds())
    return SyncStatus(
        processed=sum(counts.values()),
        applied=int(counts.get(Outcome.APPLIED.value, 0)),
        stale=int(counts.get(Outcome.STALE.value, 0)),
        dead_lettered=dead,
        last_event_at=newest,
        last_processed_at=None if last is None else last[1],
        lag_seconds=None if lag is None else round(lag, 3),
    )
