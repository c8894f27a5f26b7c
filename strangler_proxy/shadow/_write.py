"""Apply one folded :class:`Batch` to the store's tables (inside the caller's transaction).

Counters are upserted as increments (``count = count + excluded.count``) so replicas sharing a
PostgreSQL store never overwrite each other; examples go to reservoir slots, whose count of
examples offered is locked before it is read (two replicas adding to one field at once wait
for each other instead of writing back the same count). Rows are touched in sorted key order
in every transaction, so two replicas' batches never wait on each other in a circle (a
deadlock, which PostgreSQL ends by failing one of them). The examples of fields a batch does
not touch expire in a transaction of their own, which waits for nobody::

    now = clock()
    with db.transaction():
        apply_batch(db, Batch.fold(items, max_body=16384), now=now, examples=policy)
    with db.transaction():  # (the store: once a minute)
        expire_examples(db, now - policy.ttl)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._batch import Batch
from ._reservoir import choose_slot
from ._sql import Driver

__all__ = ["ExamplePolicy", "apply_batch", "expire_examples", "reset_route"]


@dataclass(frozen=True, slots=True)
class ExamplePolicy:
    """At most ``per_field`` examples per (route, field), each kept ``ttl`` seconds."""

    per_field: int
    ttl: float
    rng: random.Random


def apply_batch(db: Driver, batch: Batch, now: float, examples: ExamplePolicy) -> None:
    """Every increment of ``batch``, in the caller's transaction."""
    g, least = db.greatest, db.least
    for route, d in sorted(batch.routes.items()):
        db.execute(
            "INSERT INTO shadow_routes (route, compared, matched, mismatched, noise_only, "
            "likely_race, errors, primary_errors, shadow_errors, noise_samples, first_seen, "
            "last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (route) DO UPDATE "
            "SET compared = shadow_routes.compared + excluded.compared, "
            + ", ".join(
                f"{c} = shadow_routes.{c} + excluded.{c}"
                for c in (
                    "matched",
                    "mismatched",
                    "noise_only",
                    "likely_race",
                    "errors",
                    "primary_errors",
                    "shadow_errors",
                    "noise_samples",
                )
            )
            + f", first_seen = COALESCE({least}(shadow_routes.first_seen, excluded.first_seen), "
            "excluded.first_seen, shadow_routes.first_seen), "
            f"last_seen = COALESCE({g}(shadow_routes.last_seen, excluded.last_seen), "
            "excluded.last_seen, shadow_routes.last_seen)",
            (
                route,
                d.compared,
                d.matched,
                d.mismatched,
                d.noise_only,
                d.likely_race,
                d.errors,
                d.primary_errors,
                d.shadow_errors,
                d.noise_samples,
                d.first_seen if d.compared else None,
                d.last_seen if d.compared else None,
            ),
        )
    for table, rows in (("shadow_fields", batch.fields), ("shadow_noise", batch.noise)):
        kind_col, kind_val = (", kind", ", ?") if table == "shadow_fields" else ("", "")
        for (route, field), f in sorted(rows.items()):
            db.execute(
                f"INSERT INTO {table} (route, field{kind_col}, count, first_seen, last_seen) "
                f"VALUES (?, ?{kind_val}, ?, ?, ?) ON CONFLICT (route, field) DO UPDATE SET "
                f"count = {table}.count + excluded.count, "
                f"first_seen = {least}({table}.first_seen, excluded.first_seen), "
                f"last_seen = {g}({table}.last_seen, excluded.last_seen)",
                (route, field, *([f.kind] if kind_col else []), f.count, f.first_seen, f.last_seen),
            )
    for (route, fields), count in sorted(batch.signatures.items()):
        db.execute(
            "INSERT INTO shadow_signatures (route, fields, count) VALUES (?, ?, ?) "
            "ON CONFLICT (route, fields) DO UPDATE SET "
            "count = shadow_signatures.count + excluded.count",
            (route, fields, count),
        )
    for (route, side, bucket), count in sorted(batch.latency.items()):
        db.execute(
            "INSERT INTO shadow_latency (route, side, bucket, count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (route, side, bucket) DO UPDATE SET "
            "count = shadow_latency.count + excluded.count",
            (route, side, bucket, count),
        )
    for route, count in sorted(batch.dropped.items()):
        db.execute(
            "INSERT INTO shadow_drops (route, dropped) VALUES (?, ?) ON CONFLICT (route) "
            "DO UPDATE SET dropped = shadow_drops.dropped + excluded.dropped",
            (route, count),
        )
    _apply_examples(db, batch, now, examples)


def expire_examples(db: Driver, cutoff: float) -> None:
    """Delete the examples stored before ``cutoff``, every field's, without waiting for another
    writer: rows one holds are left to the next sweep (reads never show them anyway)."""
    if db.for_update:  # PostgreSQL: take only the rows nobody holds
        db.execute(
            "DELETE FROM shadow_examples WHERE ctid = ANY(ARRAY(SELECT ctid FROM "
            "shadow_examples WHERE stored_at < ? FOR UPDATE SKIP LOCKED))",
            (cutoff,),
        )
    else:  # SQLite: one writer at a time
        db.execute("DELETE FROM shadow_examples WHERE stored_at < ?", (cutoff,))


def _apply_examples(db: Driver, batch: Batch, now: float, policy: ExamplePolicy) -> None:
    capacity = policy.per_field
    for (route, field), candidates in sorted(batch.examples.items()):
        # the reservoir's row first, locked: another writer of this field waits here until
        # this transaction ends, then reads what it wrote (slots and count); every row of the
        # field's examples is written only under this lock (their expiry included)
        db.execute(
            "INSERT INTO shadow_reservoir (route, field, seen) VALUES (?, ?, 0) "
            "ON CONFLICT (route, field) DO NOTHING",
            (route, field),
        )
        rows = db.execute(
            "SELECT seen FROM shadow_reservoir WHERE route = ? AND field = ?" + db.for_update,
            (route, field),
        )
        seen = int(str(rows[0][0]))
        db.execute(
            "DELETE FROM shadow_examples WHERE route = ? AND field = ? AND stored_at < ?",
            (route, field, now - policy.ttl),
        )
        occupied = {
            int(str(r[0]))
            for r in db.execute(
                "SELECT slot FROM shadow_examples WHERE route = ? AND field = ?", (route, field)
            )
        }
        if len(occupied) < capacity:  # expiry freed slots: restart the sample from what is left
            seen = len(occupied)
        for request_id, payload in candidates:
            seen += 1
            slot = choose_slot(seen, occupied, capacity, policy.rng)
            if slot is None:
                continue
            occupied.add(slot)
            db.execute(
                "INSERT INTO shadow_examples (route, field, slot, stored_at, request_id, payload) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (route, field, slot) DO UPDATE SET "
                "stored_at = excluded.stored_at, request_id = excluded.request_id, "
                "payload = excluded.payload",
                (route, field, slot, now, request_id, payload),
            )
        db.execute(
            "UPDATE shadow_reservoir SET seen = ? WHERE route = ? AND field = ?",
            (seen, route, field),
        )


# a route's rows, table by table in the order apply_batch takes them; within a table rows are
# deleted in scan order, which is safe because both begin with the route's shadow_routes row (a
# batch with results or noise of the route upserts it first, Batch._route; one with only drops
# of it touches no other row of it): whoever holds that row has the route until it commits
_EVIDENCE = (
    "shadow_routes",
    "shadow_fields",
    "shadow_noise",
    "shadow_signatures",
    "shadow_latency",
    "shadow_drops",
    "shadow_reservoir",
    "shadow_examples",
)


def reset_route(db: Driver, route: str, *, noise: bool) -> int | None:
    """Delete ``route``'s rows (its learned noise only with ``noise``), in the caller's
    transaction; how many comparisons the route had. None, and nothing deleted, when nothing
    was stored for it."""
    tables = [t for t in _EVIDENCE if noise or t != "shadow_noise"]
    if not any(db.execute(f"SELECT 1 FROM {t} WHERE route = ? LIMIT 1", (route,)) for t in tables):
        return None
    rows = db.execute("SELECT compared FROM shadow_routes WHERE route = ?", (route,))
    for table in tables:
        db.execute(f"DELETE FROM {table} WHERE route = ?", (route,))
    return int(str(rows[0][0])) if rows else 0
