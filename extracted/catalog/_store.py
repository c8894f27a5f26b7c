"""Reads of the catalog tables: one place that turns a :class:`ProductQuery` into SQL.

Search follows Django's ``icontains`` per backend (SQLite ``LIKE ... ESCAPE '\\'``, ASCII-only
case folding; PostgreSQL ``UPPER(col) LIKE UPPER(pattern)``) so both sides find the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.engine import Connection, RowMapping

from extracted.catalog._params import ProductQuery
from extracted.catalog.schema import categories, products

__all__ = [
    "BIGINT_MAX",
    "BIGINT_MIN",
    "category_item",
    "category_select",
    "count_rows",
    "ordered",
    "price_text",
    "product_item",
    "product_select",
]

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# cents beyond this are beyond any numeric(10, 2) price: clamp instead of overflowing SQLite
_CENTS_LIMIT = 2**62

_ORDER_COLUMNS = {
    "price": products.c.price_cents,
    "name": products.c.name,
    "created_at": products.c.created_at,
    "stock": products.c.stock,
    "id": products.c.id,
}


def _cents_bound(value: Decimal, *, lower: bool) -> int:
    """Smallest (lower) / largest (upper) integer cents within ``value``: exact comparisons."""
    if value > _CENTS_LIMIT:
        return _CENTS_LIMIT
    if value < -_CENTS_LIMIT:
        return -_CENTS_LIMIT
    scaled = value.scaleb(2)
    return math.ceil(scaled) if lower else math.floor(scaled)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _icontains(column: Any, term: str, dialect: str) -> ColumnElement[bool]:
    pattern = f"%{_like_escape(term)}%"
    if dialect == "postgresql":
        return func.upper(column).like(func.upper(pattern))
    return column.like(pattern, escape="\\")  # type: ignore[no-any-return]


def product_select(query: ProductQuery, dialect: str) -> Select[Any]:
    """Filtered, unordered, unpaginated ``SELECT`` of products joined to their category."""
    stmt = select(
        products,
        categories.c.name.label("category_name"),
        categories.c.slug.label("category_slug"),
    ).join(categories, categories.c.id == products.c.category_id)
    if query.category_slug is not None:
        stmt = stmt.where(categories.c.slug == query.category_slug)
    if query.min_price is not None:
        stmt = stmt.where(products.c.price_cents >= _cents_bound(query.min_price, lower=True))
    if query.max_price is not None:
        stmt = stmt.where(products.c.price_cents <= _cents_bound(query.max_price, lower=False))
    if query.in_stock is True:
        stmt = stmt.where(products.c.stock > 0)
    elif query.in_stock is False:
        stmt = stmt.where(products.c.stock == 0)
    fields = (products.c.name, products.c.description, products.c.sku)
    for term in query.search_terms:
        stmt = stmt.where(or_(*(_icontains(col, term, dialect) for col in fields)))
    return stmt


def ordered(stmt: Select[Any], ordering: Sequence[str]) -> Select[Any]:
    clauses = []
    for field in ordering:
        column = _ORDER_COLUMNS[field.lstrip("-")]
        clauses.append(column.desc() if field.startswith("-") else column.asc())
    return stmt.order_by(*clauses)


def count_rows(conn: Connection, stmt: Select[Any]) -> int:
    return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def _datetime(value: datetime) -> str:
    """DRF ``DateTimeField``: UTC ISO 8601, ``Z`` suffix, microseconds only when non-zero."""
    text = value.replace(tzinfo=UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def price_text(cents: int) -> str:
    """``1250`` → ``"12.50"`` (DRF ``DecimalField(decimal_places=2)`` as a string)."""
    return format(Decimal(cents).scaleb(-2), "f")


def product_item(row: RowMapping, *, bug: str = "") -> dict[str, Any]:
    """One product in the monolith's ``ProductSerializer`` key order.

    ``bug="price_rounding"`` (test-only, ``CATALOG_TEST_BUG``) rounds prices to whole units, a
    deliberate contract break for the shadow-traffic tests and the playbook's refused promote.
    """
    cents = row["price_cents"]
    if bug == "price_rounding":
        cents = (cents + 50) // 100 * 100
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "description": row["description"],
        "price": price_text(cents),
        "stock": row["stock"],
        "in_stock": row["stock"] > 0,
        "category": {
            "id": row["category_id"],
            "name": row["category_name"],
            "slug": row["category_slug"],
        },
        "attributes": row["attributes"],
        "created_at": _datetime(row["created_at"]),
        "updated_at": _datetime(row["updated_at"]),
    }


def category_item(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "description": row["description"],
    }


def category_select() -> Select[Any]:
    return select(categories)
