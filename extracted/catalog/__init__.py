"""The catalog service: the monolith's catalog read API, served from the service's own DB.

Run: ``gunicorn -c extracted/catalog/gunicorn.conf.py 'extracted.catalog.wsgi:app'``; fill its
database with ``python -m extracted.catalog.backfill --source-url <monolith DATABASE_URL>``.
"""

from extracted.catalog.app import create_app

__all__ = ["create_app"]
