"""Who writes products: ONE writer at a time, chosen by configuration both deployables read.

    STRANGLER_WRITER_CATALOG_PRODUCT=monolith   (default) the monolith writes products
    STRANGLER_WRITER_CATALOG_PRODUCT=catalog    the catalog service writes them; here
                                                POST/PUT/PATCH /api/products/ answer 409 and
                                                the admin shows products read-only

A Django setting of the same name wins over the environment. The catalog service reads the
same variable (``extracted/catalog/writer.py``). Stock is not covered: placing and cancelling
orders keep moving it here, whoever writes the rest of the product (and the catalog service
takes only ``stock`` from the monolith's events then). An invalid value stops the start-up.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from legacy_monolith.core.exceptions import Conflict

__all__ = ["CATALOG", "MONOLITH", "WRITER_ENV", "NotTheWriter", "monolith_writes", "writer"]

WRITER_ENV = "STRANGLER_WRITER_CATALOG_PRODUCT"
MONOLITH = "monolith"
CATALOG = "catalog"
WRITERS = (MONOLITH, CATALOG)


def writer() -> str:
    """The configured writer of products (``ImproperlyConfigured`` for an unknown name)."""
    raw = getattr(settings, WRITER_ENV, None) or os.environ.get(WRITER_ENV, "")
    value = str(raw).strip().lower() or MONOLITH
    if value not in WRITERS:
        raise ImproperlyConfigured(
            f"{WRITER_ENV}: expected one of {', '.join(WRITERS)}, got {value!r}"
        )
    return value


def monolith_writes() -> bool:
    return writer() == MONOLITH


class NotTheWriter(Conflict):
    default_detail = f"Products are written by the catalog service ({WRITER_ENV}=catalog)."
    default_code = "not_the_writer"
