"""Product writes, once the catalog service is the writer (``STRANGLER_WRITER_CATALOG_PRODUCT``).

    PUT   /api/products/<id>/   every writable field (DRF ``update``)
    PATCH /api/products/<id>/   some of them (DRF ``partial_update``)

Checks run in the monolith's order, with its bodies::

    no identity            401 {"detail": "Authentication credentials were not provided."}
    not staff              403 {"detail": "You do not have permission to perform this action."}
    not the writer         409 {"detail": "Products are written by the monolith (...=monolith)."}
    unknown id             404 {"detail": "No Product matches the given query."}
    invalid fields         400 {"price": ["A valid number is required."], ...}

The caller is the proxy's signed assertion (:func:`require_identity`). A valid write updates
the row and appends ``catalog.product.changed`` (a snapshot in the monolith's payload shape,
the next version of the service's own stream) to ``catalog_outbox`` in ONE transaction, the
request's (:func:`request_connection`): a dry-run copy (``X-Strangler-Dry-Run: 1``) answers
the same and leaves neither. ``python -m extracted.catalog.relay`` publishes the outbox.

Stock stays the monolith's (orders reserve it): a body may repeat the current ``stock`` (a
GET → edit → PUT round trip), any other value is a 400. Creating and deleting products is not
offered here yet (405).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from extracted.catalog._convert import cents
from extracted.catalog._store import BIGINT_MAX, BIGINT_MIN, price_text, product_item
from extracted.catalog.api import TEST_BUG_KEY, _lookup_id
from extracted.catalog.schema import categories, outbox, products
from extracted.catalog.writer import CATALOG, NotTheWriter
from extracted.common.dryrun import request_connection
from extracted.common.errors import APIError, NotFound, ValidationFailed
from extracted.common.identity import require_identity
from extracted.common.inbox import lock_sync, utcnow
from extracted.common.wire import json_response

__all__ = ["CHANGED", "WRITER_KEY", "product_snapshot", "register_writes"]

WRITER_KEY = "WRITER"
CHANGED = "catalog.product.changed"
PRODUCT = "catalog.product"
DETAIL_ALLOW = "GET, PUT, PATCH, HEAD, OPTIONS"  # the monolith's product detail view

STOCK_OWNED = (
    "Stock is written by the monolith (order reservations): send the current value or leave it out."
)

bp = Blueprint("catalog_writes", __name__)


class PermissionDenied(APIError):
    status = 403

    def __init__(self) -> None:
        super().__init__({"detail": "You do not have permission to perform this action."})


class UnsupportedMediaType(APIError):
    status = 415

    def __init__(self, content_type: str) -> None:
        super().__init__({"detail": f'Unsupported media type "{content_type}" in request.'})


class ParseError(APIError):
    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__({"detail": detail})


# -- field validation, DRF's messages ---------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _char(value: Any, *, max_length: int, allow_blank: bool) -> str:
    """DRF ``CharField`` (``trim_whitespace``)."""
    if value is None:
        raise _Invalid("This field may not be null.")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid("Not a valid string.")
    text = str(value).strip()
    if text == "" and not allow_blank:
        raise _Invalid("This field may not be blank.")
    if len(text) > max_length:
        raise _Invalid(f"Ensure this field has no more than {max_length} characters.")
    return text


def _price(value: Any) -> Decimal:
    """DRF ``DecimalField(max_digits=10, decimal_places=2, min_value=0)``."""
    if value is None:
        raise _Invalid("This field may not be null.")
    raw = str(value).strip()
    if len(raw) > 1000:
        raise _Invalid("String value too large.")
    try:
        amount = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise _Invalid("A valid number is required.") from None
    if not amount.is_finite():
        raise _Invalid("A valid number is required.")
    _, digit_tuple, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent >= 0:
        total_digits = whole_digits = len(digit_tuple) + exponent
        decimals = 0
    elif len(digit_tuple) > -exponent:
        total_digits, decimals = len(digit_tuple), -exponent
        whole_digits = total_digits - decimals
    else:
        total_digits = decimals = -exponent
        whole_digits = 0
    if total_digits > 10:
        raise _Invalid("Ensure that there are no more than 10 digits in total.")
    if decimals > 2:
        raise _Invalid("Ensure that there are no more than 2 decimal places.")
    if whole_digits > 8:
        raise _Invalid("Ensure that there are no more than 8 digits before the decimal point.")
    if amount < 0:
        raise _Invalid("Ensure this value is greater than or equal to 0.")
    return amount


def _integer(value: Any) -> int:
    """DRF ``IntegerField``."""
    if value is None:
        raise _Invalid("This field may not be null.")
    if isinstance(value, bool):
        raise _Invalid("A valid integer is required.")
    try:
        number = Decimal(str(value).strip())
        if number != number.to_integral_value():
            raise ValueError(value)
        return int(number)
    except (InvalidOperation, ValueError):
        raise _Invalid("A valid integer is required.") from None


def _category(conn: Connection, value: Any) -> dict[str, Any]:
    """DRF ``PrimaryKeyRelatedField`` over the service's categories."""
    if value is None:
        raise _Invalid("This field may not be null.")
    incorrect = f"Incorrect type. Expected pk value, received {type(value).__name__}."
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(incorrect)
    try:
        pk = int(value)
    except ValueError:
        raise _Invalid(incorrect) from None
    row = None
    if BIGINT_MIN <= pk <= BIGINT_MAX:
        row = conn.execute(select(categories).where(categories.c.id == pk)).mappings().first()
    if row is None:
        raise _Invalid(f'Invalid pk "{value}" - object does not exist.')
    return dict(row)


def _validate(
    conn: Connection, current: dict[str, Any], data: dict[str, Any], *, partial: bool
) -> dict[str, Any]:
    """The changed columns of ``products`` (plus ``_category``), or ``ValidationFailed``."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}

    def field(name: str, required: bool, parse: Any) -> None:
        if name not in data:
            if required and not partial:
                errors[name] = ["This field is required."]
            return
        try:
            parse(data[name])
        except _Invalid as err:
            errors[name] = [err.message]

    def sku(value: Any) -> None:
        text = _char(value, max_length=32, allow_blank=False)
        taken = conn.execute(
            select(products.c.id).where(products.c.sku == text, products.c.id != current["id"])
        ).first()
        if taken is not None:
            raise _Invalid("product with this sku already exists.")
        changes["sku"] = text

    def name(value: Any) -> None:
        changes["name"] = _char(value, max_length=200, allow_blank=False)

    def description(value: Any) -> None:
        changes["description"] = _char(value, max_length=10**9, allow_blank=True)

    def price(value: Any) -> None:
        changes["price_cents"] = cents(_price(value))

    def stock(value: Any) -> None:
        number = _integer(value)
        if number < 0:
            raise _Invalid("Ensure this value is greater than or equal to 0.")
        if number > 2147483647:
            raise _Invalid("Ensure this value is less than or equal to 2147483647.")
        if number != current["stock"]:
            raise _Invalid(STOCK_OWNED)

    def category(value: Any) -> None:
        row = _category(conn, value)
        changes["category_id"] = row["id"]
        changes["_category"] = row

    def attributes(value: Any) -> None:
        if not isinstance(value, dict):
            raise _Invalid("Expected a JSON object.")
        changes["attributes"] = value

    field("sku", True, sku)
    field("name", True, name)
    field("description", False, description)
    field("price", True, price)
    field("stock", False, stock)
    field("category", True, category)
    field("attributes", False, attributes)
    if errors:
        raise ValidationFailed(errors)
    return changes


# -- the snapshot the events carry (the monolith's ``product_snapshot``) -----------------------


def _when(value: Any) -> str:
    return str(value.isoformat(timespec="microseconds")) + "Z"


def product_snapshot(row: dict[str, Any], category: dict[str, Any]) -> dict[str, Any]:
    """``catalog.product.*`` payload: the monolith's shape, key for key."""
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "description": row["description"],
        "price": price_text(row["price_cents"]),
        "stock": row["stock"],
        "category": {
            "id": category["id"],
            "name": category["name"],
            "slug": category["slug"],
            "description": category["description"],
        },
        "attributes": row["attributes"],
        "created_at": _when(row["created_at"]),
        "updated_at": _when(row["updated_at"]),
    }


def record_event(conn: Connection, product_id: int, payload: dict[str, Any]) -> int:
    """Append ``catalog.product.changed`` with the next version of the service's stream."""
    key = str(product_id)
    latest = conn.execute(
        select(func.max(outbox.c.version)).where(
            outbox.c.aggregate_type == PRODUCT, outbox.c.aggregate_id == key
        )
    ).scalar_one()
    version = int(latest or 0) + 1
    conn.execute(
        outbox.insert().values(
            event_id=str(uuid.uuid4()),
            type=CHANGED,
            aggregate_type=PRODUCT,
            aggregate_id=key,
            version=version,
            payload=payload,
            created_at=utcnow(),
        )
    )
    return version


# -- the view ---------------------------------------------------------------------------------


def _body() -> dict[str, Any]:
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(request.content_type or "")
    raw = request.get_data(cache=True, as_text=True)
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ParseError(f"JSON parse error - {err}") from None
    if not isinstance(data, dict):
        kind = {list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(
            type(data), type(data).__name__
        )
        raise ValidationFailed(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    return data


def product_write(pk: str) -> Response:
    identity = require_identity()
    if not identity.is_staff:
        raise PermissionDenied()
    if current_app.config.get(WRITER_KEY) != CATALOG:
        raise NotTheWriter()
    product_id = _lookup_id(pk, "Product")
    conn = request_connection()  # the request's transaction: rolled back for a dry run
    lock_sync(conn)  # serialise with the consumer's applies of the monolith's stock events
    found = conn.execute(select(products).where(products.c.id == product_id)).mappings().first()
    if found is None:
        raise NotFound("No Product matches the given query.")
    current = dict(found)
    changes = _validate(conn, current, _body(), partial=request.method == "PATCH")
    category = changes.pop("_category", None)
    if category is None:
        category = dict(
            conn.execute(select(categories).where(categories.c.id == current["category_id"]))
            .mappings()
            .one()
        )
    row = {**current, **changes, "updated_at": utcnow()}
    conn.execute(
        products.update()
        .where(products.c.id == product_id)
        .values({k: v for k, v in row.items() if k != "id"})
    )
    record_event(conn, product_id, product_snapshot(row, category))
    shown = {**row, "category_name": category["name"], "category_slug": category["slug"]}
    bug = str(current_app.config.get(TEST_BUG_KEY, ""))
    return json_response(product_item(shown, bug=bug), headers={"Allow": DETAIL_ALLOW})


bp.add_url_rule("/api/products/<lookup:pk>/", view_func=product_write, methods=["PUT", "PATCH"])


def register_writes(app: Flask) -> None:
    app.register_blueprint(bp)
