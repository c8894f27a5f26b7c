"""Reverse sync: the catalog service's product events applied to the monolith's tables.

Once the catalog service writes products (``STRANGLER_WRITER_CATALOG_PRODUCT=catalog``) the
monolith's ``catalog_product`` rows are kept up to date from the events the service publishes,
so legacy reads (and orders, which read prices) keep working until the tables retire::

    service event v4 (changed), held v3  → the service's fields written, held v4   applied
    service event v3, held v4 (late)     → nothing written                           stale
    the same event id again              → nothing (its id is in the dedup table)    duplicate
    a message of the monolith itself     → acked, not recorded                       ignored

Each message is applied in ONE transaction: its id goes to ``ReverseSyncEvent`` first (a
duplicate stops there), the version is compared with ``ReverseSyncVersion`` (the service's
stream, apart from the monolith's own outbox versions), then the row is updated with a queryset
``update()``. Nothing here writes an outbox event, so the change is never published again as
the monolith's (no echo loop). Fields taken from the service: ``sku``, ``name``,
``description``, ``price``, ``category``, ``attributes``, ``updated_at``; never ``stock``,
which the monolith keeps writing (orders reserve it).
"""

from __future__ import annotations

import enum
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from legacy_monolith.catalog.models import (
    Category,
    Product,
    ReverseSyncEvent,
    ReverseSyncVersion,
)

__all__ = ["ORIGIN", "Outcome", "PoisonMessage", "apply_service_event", "dead_letter"]

ORIGIN = "catalog"  # the ``origin`` the catalog service's relay puts in its messages
PRODUCT = "catalog.product"
UPSERTS = {"catalog.product.created", "catalog.product.changed"}
SERVICE_FIELDS = ("sku", "name", "description", "price", "category", "attributes", "updated_at")


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


class PoisonMessage(ValueError):
    """A message that can never be applied."""


def _event(body: Any) -> tuple[str, str, str, str, int, dict[str, Any]]:
    if not isinstance(body, dict):
        raise PoisonMessage(f"expected a JSON object, got {type(body).__name__}")
    try:
        version = body["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PoisonMessage(f"version: expected an integer >= 1, got {version!r}")
        payload = body["payload"]
        if not isinstance(payload, dict):
            raise PoisonMessage("payload: expected a JSON object")
        return (
            str(body["id"]),
            str(body["type"]),
            str(body["aggregate_type"]),
            str(body["aggregate_id"]),
            version,
            payload,
        )
    except KeyError as err:
        raise PoisonMessage(f"missing field {err.args[0]!r}") from None


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The service's part of the snapshot, as model values (``PoisonMessage`` if unusable)."""
    try:
        price = Decimal(str(payload["price"]))
        updated_at = parse_datetime(str(payload["updated_at"]))
        if updated_at is None or not price.is_finite():
            raise ValueError("updated_at or price")
        attributes = payload.get("attributes", {})
        if not isinstance(attributes, dict):
            raise ValueError("attributes: not an object")
        return {
            "sku": str(payload["sku"]),
            "name": str(payload["name"]),
            "description": str(payload.get("description") or ""),
            "price": price,
            "category_id": int(payload["category"]["id"]),
            "attributes": attributes,
            "updated_at": updated_at,
        }
    except (KeyError, TypeError, ValueError, InvalidOperation) as err:
        raise PoisonMessage(f"product payload: {type(err).__name__}: {err}") from None


def _ensure_category(payload: dict[str, Any]) -> None:
    category = payload["category"]
    if not Category.objects.filter(pk=int(category["id"])).exists():
        Category.objects.create(
            pk=int(category["id"]),
            name=str(category.get("name", "")),
            slug=str(category.get("slug", "")),
            description=str(category.get("description") or ""),
        )


def apply_service_event(body: Any) -> Outcome:
    """Apply one message (see the module docstring); ``PoisonMessage`` for a malformed one."""
    if not isinstance(body, dict) or body.get("origin") != ORIGIN:
        return Outcome.IGNORED  # the monolith's own events come back on the same exchange
    event_id, type_, aggregate_type, aggregate_id, version, payload = _event(body)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the duplicate's error stays inside
                record = ReverseSyncEvent.objects.create(
                    event_id=event_id,
                    type=type_,
                    aggregate_id=aggregate_id,
                    version=version,
                    outcome=Outcome.APPLIED,
                )
        except IntegrityError:
            return Outcome.DUPLICATE
        outcome = _apply(type_, aggregate_type, aggregate_id, version, payload)
        if outcome is not Outcome.APPLIED:
            record.outcome = outcome
            record.save(update_fields=["outcome"])
        return outcome


def _apply(
    type_: str, aggregate_type: str, aggregate_id: str, version: int, payload: dict[str, Any]
) -> Outcome:
    if aggregate_type != PRODUCT or type_ not in UPSERTS:
        return Outcome.IGNORED
    fields = _fields(payload)
    try:
        product_id = int(aggregate_id)
    except ValueError:
        raise PoisonMessage(f"aggregate id {aggregate_id!r} is not a product id") from None
    if payload.get("id") != product_id:
        raise PoisonMessage(f"payload id {payload.get('id')!r} is not aggregate id {product_id}")
    # lock the product first, in the order orders lock it, then read the held version
    exists = Product.objects.select_for_update().filter(pk=product_id).exists()
    held = ReverseSyncVersion.objects.select_for_update().filter(product_id=product_id).first()
    if held is not None and version <= held.version:
        return Outcome.STALE
    _ensure_category(payload)
    if exists:
        # a queryset update: no auto_now, no signals, and no outbox event (no echo)
        Product.objects.filter(pk=product_id).update(**fields)
    else:  # created by the service: the monolith's row is a copy, with the snapshot's stock
        Product.objects.create(pk=product_id, stock=int(payload.get("stock") or 0), **fields)
        created_at = parse_datetime(str(payload.get("created_at", "")))
        if created_at is not None:
            Product.objects.filter(pk=product_id).update(created_at=created_at, **fields)
    if held is None:
        ReverseSyncVersion.objects.create(product_id=product_id, version=version)
    else:
        held.version = version
        held.save(update_fields=["version"])
    return Outcome.APPLIED


def dead_letter(body: Any, error: str) -> None:
    """Record a message that cannot be applied (its own transaction); a second one of the
    same id is not recorded again."""
    event_id = str(body.get("id", "")) if isinstance(body, dict) else ""
    version = body.get("version") if isinstance(body, dict) else None
    with transaction.atomic():
        ReverseSyncEvent.objects.get_or_create(
            event_id=event_id or f"?{id(body):x}",
            defaults={
                "type": str(body.get("type", "?")) if isinstance(body, dict) else "?",
                "aggregate_id": str(body.get("aggregate_id", "?"))
                if isinstance(body, dict)
                else "?",
                "version": version if isinstance(version, int) and version >= 0 else 0,
                "outcome": Outcome.DEAD_LETTERED,
                "error": error[:2000],
                "body": body if isinstance(body, str) else json.dumps(body, default=str),
            },
        )
