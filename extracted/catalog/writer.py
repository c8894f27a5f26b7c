"""Who writes products: ONE writer at a time, chosen by configuration both deployables read.

    STRANGLER_WRITER_CATALOG_PRODUCT=monolith   (default) the monolith writes products; the
                                                catalog service refuses PUT/PATCH with 409
    STRANGLER_WRITER_CATALOG_PRODUCT=catalog    the catalog service writes products (and
                                                publishes ``catalog.product.changed``); the
                                                monolith refuses its product writes with 409

The monolith reads the same variable (``legacy_monolith/catalog/writer.py``: the deployables
share configuration, never code). Stock is not part of this: it stays the monolith's (order
reservations), whichever side writes the rest of the product.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from extracted.common.errors import APIError

__all__ = [
    "CATALOG",
    "MONOLITH",
    "WRITERS",
    "WRITER_ENV",
    "NotTheWriter",
    "writer_from_env",
]

WRITER_ENV = "STRANGLER_WRITER_CATALOG_PRODUCT"
MONOLITH = "monolith"
CATALOG = "catalog"
WRITERS = (MONOLITH, CATALOG)


def writer_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The configured writer of products; ``ValueError`` for anything but the two names."""
    env = os.environ if environ is None else environ
    value = env.get(WRITER_ENV, "").strip().lower() or MONOLITH
    if value not in WRITERS:
        raise ValueError(f"{WRITER_ENV}: expected one of {', '.join(WRITERS)}, got {value!r}")
    return value


class NotTheWriter(APIError):
    """409 in DRF's format: this deployable is not the configured writer of products."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            {"detail": f"Products are written by the monolith ({WRITER_ENV}=monolith)."}
        )
