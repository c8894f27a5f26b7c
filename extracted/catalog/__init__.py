"""The catalog service: the monolith's catalog read API, served from the service's own DB.

Run: ``gunicorn -c extracted/catalog/gunicorn.conf.py 'extracted.catalog.wsgi:app'``; fill its
database with ``python -m extracted.catalog.backfill --source-url <monolith DATABASE_URL>``.
Once it is the writer of products (``STRANGLER_WRITER_CATALOG_PRODUCT=catalog``) it serves
``PUT``/``PATCH /api/products/<id>/`` too (``writes``), and ``python -m extracted.catalog.relay``
publishes its outbox (migration_playbook/09-write-cutover.md).
"""

from extracted.catalog.app import create_app

__all__ = ["create_app"]
