"""The catalog keeps its tables in step with the monolith by applying ``catalog.*`` events.

Events carry a snapshot of the product, so applying one is an upsert guarded by its version::

    held v3, event v4 (changed)  → row written, held v4          Outcome.APPLIED
    held v4, event v3 (late)     → nothing written               Outcome.STALE
    held v4, event v5 (deleted)  → row deleted, tombstone v5     Outcome.APPLIED
    held v5 (deleted), event v4  → stays deleted                 Outcome.STALE

A product's category comes with it and is inserted when the service does not have it yet
(categories have no events of their own; their edits reach the service by backfill).

Once the service is the writer of products (``STRANGLER_WRITER_CATALOG_PRODUCT=catalog``), the
monolith still writes their stock (orders reserve it): its events then update only ``stock``
of a product the service holds, everything else there is the service's own, newer, data.
Events the service published itself (``"origin": "catalog"`` in the message) are skipped by
the consumer: they were applied when they were written.

``GET /sync/status`` shows what was processed, dead-lettered, and the lag.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from extracted.catalog._convert import attributes, cents, utc_naive
from extracted.catalog.api import ENGINE_KEY
from extracted.catalog.schema import categories, products
from extracted.catalog.writer import CATALOG, MONOLITH
from extracted.common.events import Event, PoisonMessage
from extracted.common.inbox import Outcome, set_versions, sync_status, versions_of
from extracted.common.wire import json_response

__all__ = [
    "ORIGIN",
    "PATTERNS",
    "PRODUCT",
    "QUEUE",
    "apply_catalog_event",
    "product_from_payload",
    "register_sync_status",
]

PRODUCT = "catalog.product"
QUEUE = "catalog.sync"
PATTERNS = ["catalog.#"]
DELETED = "catalog.product.deleted"
ORIGIN = "catalog"  # the ``origin`` of the messages the service publishes (see relay.py)
UPSERTS = {"catalog.product.created", "catalog.product.changed", "catalog.product.stock_changed"}


def product_from_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The event's product snapshot → a ``products`` row (``PoisonMessage`` if unusable)."""
    try:
        return {
            "id": int(payload["id"]),
            "sku": str(payload["sku"]),
            "name": str(payload["name"]),
            "description": str(payload.get("description") or ""),
            "price_cents": cents(payload["price"]),
            "stock": int(payload["stock"]),
            "category_id": int(payload["category"]["id"]),
            "attributes": attributes(payload.get("attributes", {})),
            "created_at": utc_naive(payload["created_at"]),
            "updated_at": utc_naive(payload["updated_at"]),
        }
    except (KeyError, TypeError, ValueError, ArithmeticError) as err:
        raise PoisonMessage(f"product payload: {type(err).__name__}: {err}") from None


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _ensure_category(conn: Connection, payload: dict[str, Any]) -> None:
    category = payload["category"]
    stmt = _insert(conn)(categories).values(
        id=int(category["id"]),
        name=str(category.get("name", "")),
        slug=str(category.get("slug", "")),
        description=str(category.get("description") or ""),
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=[categories.c.id]))


def apply_catalog_event(conn: Connection, event: Event, *, writer: str = MONOLITH) -> Outcome:
    """Apply one event of the monolith inside the caller's transaction (see the module
    docstring); ``writer`` is the configured writer of products."""
    if event.aggregate_type != PRODUCT or event.type not in UPSERTS | {DELETED}:
        return Outcome.IGNORED
    held = versions_of(conn, PRODUCT, [event.aggregate_id]).get(event.aggregate_id)
    if held is not None and event.version <= held:
        return Outcome.STALE
    if event.type == DELETED:
        conn.execute(delete(products).where(products.c.id == int(event.aggregate_id)))
        set_versions(conn, PRODUCT, {event.aggregate_id: event.version}, deleted=True)
        return Outcome.APPLIED
    row = product_from_payload(event.payload)
    if str(row["id"]) != event.aggregate_id:
        raise PoisonMessage(f"payload id {row['id']} is not aggregate id {event.aggregate_id}")
    if writer == CATALOG:
        held_row = conn.execute(select(products.c.id).where(products.c.id == row["id"])).first()
        if held_row is not None:  # the monolith's part of a product the service writes
            conn.execute(
                products.update().where(products.c.id == row["id"]).values(stock=row["stock"])
            )
            set_versions(conn, PRODUCT, {event.aggregate_id: event.version})
            return Outcome.APPLIED
    _ensure_category(conn, event.payload)
    stmt = _insert(conn)(products).values(row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[products.c.id],
            set_={name: stmt.excluded[name] for name in row if name != "id"},
        )
    )
    set_versions(conn, PRODUCT, {event.aggregate_id: event.version})
    return Outcome.APPLIED


bp = Blueprint("catalog_sync", __name__)


@bp.get("/sync/status")
def status() -> Response:
    """``{"processed": 120, "applied": 118, "stale": 2, "dead_lettered": 0,
    "last_event_at": "...Z", "last_processed_at": "...Z", "lag_seconds": 0.04}``"""
    engine: Engine = current_app.extensions[ENGINE_KEY]
    with engine.connect() as conn:
        body = sync_status(conn).as_json()
    return json_response(body)


def register_sync_status(app: Flask) -> None:
    app.register_blueprint(bp)
