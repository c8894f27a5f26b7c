"""Copy categories and products from the monolith's database into the catalog service's own.

    python -m extracted.catalog.backfill --source-url sqlite:///var/monolith.sqlite3 \\
        [--target-url sqlite:///var/catalog.sqlite3] [--batch-size 500]

Idempotent and resumable: rows are read in id order (keyset pages), upserted by id, and a
row is rewritten only when it differs, so a second run writes nothing. Target rows whose id
is missing from the source are deleted (products first, then categories, because products
reference categories). Progress goes to stdout, one line per batch, then a JSON summary::

    categories: 20/20 read, 20 written, 0 deleted
    products: 500/1000 read, 500 written, 0 deleted
    ...
    {"categories": {"read": 20, "written": 20, "deleted": 0}, "products": {...}, "seconds": 0.4}

This is the plain copy, for a service no event consumer writes to yet. Once the consumer runs,
use ``strangler data backfill catalog`` (``extracted/datatools``, built on these functions):
it is resumable from checkpoints, rate-limited, and never overwrites a row that an event made
newer, which this copy would.

The source is only read, through plain ``SELECT``s on ``catalog_category`` and
``catalog_product`` (the monolith's tables are never touched at run time by the service).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from sqlalchemy import Table, and_, delete, not_, or_, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from extracted.catalog._convert import attributes as _attributes
from extracted.catalog._convert import cents as _cents
from extracted.catalog._convert import utc_naive as _utc_naive
from extracted.catalog.app import settings_from_env
from extracted.catalog.schema import categories, ensure_schema, products
from extracted.common import create_engine_from_url

__all__ = ["TableStats", "backfill", "main"]

_CATEGORY_SQL = (
    "SELECT id, name, slug, description FROM catalog_category"
    " WHERE id > :after ORDER BY id LIMIT :limit"
)
_PRODUCT_SQL = (
    "SELECT id, sku, name, description, price, stock, category_id, attributes,"
    " created_at, updated_at FROM catalog_product WHERE id > :after ORDER BY id LIMIT :limit"
)


@dataclass
class TableStats:
    read: int = 0
    written: int = 0
    deleted: int = 0


def _category_row(row: RowMapping) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "name": row["name"],
        "slug": row["slug"],
        "description": row["description"] or "",
    }


def _product_row(row: RowMapping) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "sku": row["sku"],
        "name": row["name"],
        "description": row["description"] or "",
        "price_cents": _cents(row["price"]),
        "stock": int(row["stock"]),
        "category_id": int(row["category_id"]),
        "attributes": _attributes(row["attributes"]),
        "created_at": _utc_naive(row["created_at"]),
        "updated_at": _utc_naive(row["updated_at"]),
    }


def _source_batches(source: Engine, sql: str, batch_size: int) -> Iterator[list[RowMapping]]:
    after = -(2**63)
    while True:
        with source.connect() as conn:
            rows = conn.execute(text(sql), {"after": after, "limit": batch_size}).mappings().all()
        if not rows:
            return
        yield list(rows)
        after = int(rows[-1]["id"])


def _upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or update by id; unchanged rows are not rewritten. Returns rows written."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(list(rows))
    columns = [c.name for c in table.columns if c.name != "id"]
    changed = or_(*(table.c[name].is_distinct_from(stmt.excluded[name]) for name in columns))
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: stmt.excluded[name] for name in columns},
        where=changed,
    )
    # RETURNING lists inserted and changed rows only (rowcount is not portable here)
    return len(conn.execute(stmt.returning(table.c.id)).all())


def _delete_missing(
    conn: Connection, table: Table, low: int, high: int | None, ids: list[int]
) -> int:
    """Delete target rows with ``low < id <= high`` (no upper bound when ``high`` is None)
    whose id is not in ``ids`` (the source's ids in that range)."""
    cond = table.c.id > low
    if high is not None:
        cond = and_(cond, table.c.id <= high)
    if ids:
        cond = and_(cond, not_(table.c.id.in_(ids)))
    return int(conn.execute(delete(table).where(cond)).rowcount or 0)


def _sync_table(
    source: Engine,
    target: Engine,
    table: Table,
    sql: str,
    convert: Callable[[RowMapping], dict[str, Any]],
    *,
    batch_size: int,
    delete_stale: bool,
    out: TextIO,
) -> TableStats:
    stats = TableStats()
    with source.connect() as conn:
        source_table = "catalog_category" if table is categories else "catalog_product"
        total = int(conn.execute(text(f"SELECT COUNT(*) FROM {source_table}")).scalar_one())
    low = -(2**63)
    for batch in _source_batches(source, sql, batch_size):
        rows = [convert(row) for row in batch]
        ids = [row["id"] for row in rows]
        with target.begin() as conn:
            stats.written += _upsert(conn, table, rows)
            if delete_stale:
                stats.deleted += _delete_missing(conn, table, low, ids[-1], ids)
        low = ids[-1]
        stats.read += len(rows)
        print(
            f"{table.name}: {stats.read}/{total} read, {stats.written} written,"
            f" {stats.deleted} deleted",
            file=out,
            flush=True,
        )
    if delete_stale:
        with target.begin() as conn:
            stats.deleted += _delete_missing(conn, table, low, None, [])
    return stats


def _delete_stale_categories(source: Engine, target: Engine, batch_size: int) -> int:
    deleted = 0
    low = -(2**63)
    for batch in _source_batches(source, _CATEGORY_SQL, batch_size):
        ids = [int(row["id"]) for row in batch]
        with target.begin() as conn:
            deleted += _delete_missing(conn, categories, low, ids[-1], ids)
        low = ids[-1]
    with target.begin() as conn:
        deleted += _delete_missing(conn, categories, low, None, [])
    return deleted


def backfill(
    source_url: str, target_url: str, *, batch_size: int = 500, out: TextIO | None = None
) -> dict[str, Any]:
    """Run one backfill; returns the summary that is also printed (to ``out``, default
    stdout) as the last line."""
    out = sys.stdout if out is None else out
    if batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {batch_size}")
    started = time.perf_counter()
    source = create_engine_from_url(source_url)
    target = create_engine_from_url(target_url)
    try:
        ensure_schema(target)
        cats = _sync_table(
            source, target, categories, _CATEGORY_SQL, _category_row,
            batch_size=batch_size, delete_stale=False, out=out,
        )  # fmt: skip
        prods = _sync_table(
            source, target, products, _PRODUCT_SQL, _product_row,
            batch_size=batch_size, delete_stale=True, out=out,
        )  # fmt: skip
        # categories last: their products are gone from the target by now
        cats.deleted = _delete_stale_categories(source, target, batch_size)
        print(f"categories: {cats.deleted} deleted", file=out, flush=True)
    finally:
        source.dispose()
        target.dispose()
    summary: dict[str, Any] = {
        "categories": asdict(cats),
        "products": asdict(prods),
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary), file=out, flush=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m extracted.catalog.backfill", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--source-url", required=True, help="the monolith's DATABASE_URL")
    parser.add_argument(
        "--target-url",
        default=None,
        help="the service's database (default: CATALOG_DATABASE_URL or sqlite:///var/catalog.sqlite3)",
    )
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    target_url = args.target_url or str(settings_from_env()["DATABASE_URL"])
    try:
        backfill(args.source_url, target_url, batch_size=args.batch_size)
    except ValueError as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
