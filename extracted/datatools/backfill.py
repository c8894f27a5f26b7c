"""``strangler data backfill SERVICE``: copy the monolith's current rows into the service.

Batches of ``batch_size`` rows in id order; after each batch, in the SAME target transaction
as its rows, the checkpoint ``backfill:<table>`` records the last id, so a run that is killed
resumes after the last committed batch (``restart=True`` starts over). Idempotent: rows are
upserted and rewritten only when they differ. ``rate`` caps rows per second (sleeping between
batches) so a large copy does not starve the monolith.

Version-aware, so it can run while the event consumer applies changes: every source row comes
with the newest outbox version of its aggregate (read in the same statement, so they agree),
and a row is written only when that version is newer than the one the service holds
(``sync_versions``); the service's version is then raised to it, so the event that carries the
same change arrives as stale. Rows missing from the source are deleted only when the source
still lacks them at delete time, and a tombstone keeps late events from bringing them back.

Why the consumer must run first: the relay publishes only to queues that exist. Changes
committed after the backfill read a row but before the consumer's queue was bound would be in
neither the snapshot nor the stream. With the queue bound first, every change is in the stream,
and the version check makes the order in which snapshot and stream arrive irrelevant. The
consumer records itself in ``sync_checkpoints`` (``consumer:<queue>``); the backfill refuses to
start without it (``require_consumer=False`` to override, e.g. for a one-off copy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.engine import Connection, Engine

from extracted.catalog.backfill import _upsert
from extracted.common.inbox import checkpoints, lock_sync, set_versions, utcnow, versions_of
from extracted.datatools.spec import OUTBOX_VERSIONS_SQL, ServiceSpec, TableSpec

__all__ = ["BackfillError", "TableProgress", "backfill_service"]

_LOWEST = -(2**63)


class BackfillError(RuntimeError):
    """The backfill cannot start (no consumer registered, bad arguments)."""


@dataclass
class TableProgress:
    total: int = 0
    read: int = 0
    written: int = 0
    skipped_newer: int = 0  # the service held a newer version (from an event)
    deleted: int = 0
    resumed_after: int | None = None


@dataclass
class _Limiter:
    """At most ``rate`` rows per second on average since the start (``None``: unlimited)."""

    rate: float | None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    rows: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def took(self, rows: int) -> None:
        self.rows += rows
        if self.rate:
            ahead = self.rows / self.rate - (self.clock() - self.started)
            if ahead > 0:
                self.sleep(ahead)


def _checkpoint_name(table: TableSpec) -> str:
    return f"backfill:{table.name}"


def _read_checkpoint(target: Engine, name: str) -> tuple[int | None, bool] | None:
    with target.connect() as conn:
        row = conn.execute(
            select(checkpoints.c.last_id, checkpoints.c.done).where(checkpoints.c.name == name)
        ).first()
    return None if row is None else (row.last_id, bool(row.done))


def _save_checkpoint(conn: Connection, name: str, last_id: int | None, done: bool) -> None:
    values = {"last_id": last_id, "done": done, "updated_at": utcnow()}
    if conn.execute(checkpoints.update().where(checkpoints.c.name == name).values(values)).rowcount:
        return
    conn.execute(checkpoints.insert().values(name=name, **values))


def consumer_registered(target: Engine, queue: str) -> bool:
    return _read_checkpoint(target, f"consumer:{queue}") is not None


def _write_batch(
    conn: Connection, table: TableSpec, rows: list[dict[str, Any]], source_versions: dict[str, int]
) -> tuple[int, int]:
    """Upsert the rows the service does not hold a newer version of → (written, skipped)."""
    if table.aggregate_type is None:
        return _upsert(conn, table.target, rows), 0
    held = versions_of(conn, table.aggregate_type, [str(r["id"]) for r in rows])

    def newer(row: dict[str, Any]) -> bool:
        key = str(row["id"])
        return key not in held or source_versions.get(key, 0) > held[key]

    fresh = [r for r in rows if newer(r)]
    written = _upsert(conn, table.target, fresh)
    set_versions(
        conn,
        table.aggregate_type,
        {
            str(r["id"]): source_versions[str(r["id"])]
            for r in fresh
            if str(r["id"]) in source_versions
        },
    )
    return written, len(rows) - len(fresh)


def _delete_missing(
    conn: Connection, source: Engine, table: TableSpec, low: int, high: int | None, seen: set[int]
) -> int:
    """Delete target rows in ``(low, high]`` that the source lacks, checked again right now."""
    cond = table.target.c.id > low
    if high is not None:
        cond = cond & (table.target.c.id <= high)
    candidates = [int(i) for i in conn.execute(select(table.target.c.id).where(cond)).scalars()]
    candidates = [i for i in candidates if i not in seen]
    if not candidates:
        return 0
    query = text(table.ids_sql()).bindparams(bindparam("ids", expanding=True))
    with source.connect() as src:
        still_there = {int(i) for i in src.execute(query, {"ids": candidates}).scalars()}
    gone = [i for i in candidates if i not in still_there]
    if not gone:
        return 0
    if table.aggregate_type is not None:
        # a tombstone at the source's newest version: late events up to it are stale
        keys = [str(i) for i in gone]
        query = text(OUTBOX_VERSIONS_SQL).bindparams(bindparam("ids", expanding=True))
        with source.connect() as src:
            newest = {
                str(k): int(v)
                for k, v in src.execute(query, {"type": table.aggregate_type, "ids": keys})
            }
        set_versions(conn, table.aggregate_type, newest, deleted=True)
    conn.execute(delete(table.target).where(table.target.c.id.in_(gone)))
    return len(gone)


def _copy_table(
    source: Engine,
    target: Engine,
    table: TableSpec,
    *,
    batch_size: int,
    restart: bool,
    limiter: _Limiter,
    out: TextIO,
) -> TableProgress:
    progress = TableProgress()
    name = _checkpoint_name(table)
    saved = None if restart else _read_checkpoint(target, name)
    low = _LOWEST
    if saved is not None and not saved[1] and saved[0] is not None:
        low = progress.resumed_after = int(saved[0])
        print(f"{table.name}: resuming after id {low}", file=out, flush=True)
    else:
        with target.begin() as conn:
            _save_checkpoint(conn, name, None, False)
    with source.connect() as conn:
        progress.total = int(
            conn.execute(text(f"SELECT COUNT(*) FROM {table.source_table}")).scalar_one()
        )
        if low != _LOWEST:
            progress.read = int(
                conn.execute(
                    text(f"SELECT COUNT(*) FROM {table.source_table} WHERE id <= :low"),
                    {"low": low},
                ).scalar_one()
            )
    while True:
        with source.connect() as conn:
            page = conn.execute(text(table.page_sql()), {"after": low, "limit": batch_size})
            source_rows = list(page.mappings())
        if not source_rows:
            break
        rows = [table.convert(r) for r in source_rows]
        versions = {str(r["id"]): int(r["version"]) for r in source_rows if r["version"]}
        high = int(rows[-1]["id"])
        with target.begin() as conn:
            lock_sync(conn)
            written, skipped = _write_batch(conn, table, rows, versions)
            if not table.delete_last:
                progress.deleted += _delete_missing(
                    conn, source, table, low, high, {int(r["id"]) for r in rows}
                )
            _save_checkpoint(conn, name, high, False)
        low = high
        progress.read += len(rows)
        progress.written += written
        progress.skipped_newer += skipped
        limiter.took(len(rows))
        print(
            f"{table.name}: {progress.read}/{progress.total} read, {progress.written} written,"
            f" {progress.skipped_newer} newer kept, {progress.deleted} deleted",
            file=out,
            flush=True,
        )
    if not table.delete_last:
        with target.begin() as conn:
            lock_sync(conn)
            progress.deleted += _delete_missing(conn, source, table, low, None, set())
            _save_checkpoint(conn, name, low, True)
    return progress


def _delete_pass(source: Engine, target: Engine, table: TableSpec, batch_size: int) -> int:
    """Stale-row deletion for ``delete_last`` tables, after every table was copied."""
    deleted, low = 0, _LOWEST
    while True:
        with source.connect() as conn:
            page = conn.execute(text(table.page_sql()), {"after": low, "limit": batch_size})
            ids = [int(r["id"]) for r in page.mappings()]
        high = ids[-1] if ids else None
        with target.begin() as conn:
            lock_sync(conn)
            deleted += _delete_missing(conn, source, table, low, high, set(ids))
            if high is None:
                _save_checkpoint(conn, _checkpoint_name(table), low, True)
                return deleted
        low = high


def backfill_service(
    spec: ServiceSpec,
    source: Engine,
    target: Engine,
    *,
    batch_size: int = 500,
    rate: float | None = None,
    restart: bool = False,
    require_consumer: bool = True,
    consumer_queue: str | None = None,
    out: TextIO,
) -> dict[str, Any]:
    """Copy every table of ``spec``; print progress lines, then the JSON summary (returned).

    ``consumer_queue`` (default: the spec's) is the queue whose consumer must be registered."""
    if batch_size < 1:
        raise BackfillError(f"--batch-size: must be >= 1, got {batch_size}")
    if rate is not None and rate <= 0:
        raise BackfillError(f"--rate: must be > 0 rows/s, got {rate}")
    started = time.perf_counter()
    spec.ensure_schema(target)
    queue = consumer_queue or spec.consumer_queue
    if require_consumer and not consumer_registered(target, queue):
        raise BackfillError(
            f"no {spec.name} event consumer has declared its queue {queue!r} yet:"
            " start the consumer first (changes made before its queue exists would be lost"
            " between snapshot and stream), or pass --no-consumer-check for a one-off copy"
        )
    limiter = _Limiter(rate)
    summary: dict[str, Any] = {}
    for table in spec.tables:
        progress = _copy_table(
            source, target, table, batch_size=batch_size, restart=restart, limiter=limiter, out=out
        )
        summary[table.name] = asdict(progress)
    for table in spec.tables:
        if table.delete_last:
            summary[table.name]["deleted"] += _delete_pass(source, target, table, batch_size)
            print(f"{table.name}: {summary[table.name]['deleted']} deleted", file=out, flush=True)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(summary), file=out, flush=True)
    return summary
