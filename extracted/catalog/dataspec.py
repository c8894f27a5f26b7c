"""What ``strangler data backfill|verify catalog`` need to know about the catalog's data.

Each :class:`~extracted.datatools.TableSpec` reads the monolith's table in id order (keyset
pages) together with the newest outbox version of each row, so the backfill can tell whether
the service already holds something newer (applied from an event) and leave it alone.
Tables are listed in copy order (categories before the products that reference them).
"""

from __future__ import annotations

from extracted.catalog.backfill import _category_row, _product_row
from extracted.catalog.schema import categories, ensure_schema, products
from extracted.catalog.sync import PRODUCT, QUEUE
from extracted.datatools.spec import ServiceSpec, TableSpec

__all__ = ["SPEC"]

_PRODUCT_VERSION = (
    "(SELECT MAX(o.version) FROM outbox_outboxevent o WHERE o.aggregate_type = 'catalog.product'"
    " AND o.aggregate_id = CAST(p.id AS VARCHAR(64)))"
)

SPEC = ServiceSpec(
    name="catalog",
    database_env="CATALOG_DATABASE_URL",
    default_database_url="sqlite:///var/catalog.sqlite3",
    consumer_queue=QUEUE,
    aggregate_types=(PRODUCT,),
    ensure_schema=ensure_schema,
    tables=(
        TableSpec(
            name="categories",
            source_table="catalog_category",
            select="SELECT c.id, c.name, c.slug, c.description, NULL AS version"
            " FROM catalog_category c",
            target=categories,
            convert=_category_row,
            aggregate_type=None,
            delete_last=True,  # after the products that reference them
        ),
        TableSpec(
            name="products",
            source_table="catalog_product",
            select="SELECT p.id, p.sku, p.name, p.description, p.price, p.stock, p.category_id,"
            f" p.attributes, p.created_at, p.updated_at, {_PRODUCT_VERSION} AS version"
            " FROM catalog_product p",
            target=products,
            convert=_product_row,
            aggregate_type=PRODUCT,
        ),
    ),
)
