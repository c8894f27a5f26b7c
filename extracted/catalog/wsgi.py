"""WSGI entry point of the catalog service.

    gunicorn -c extracted/catalog/gunicorn.conf.py 'extracted.catalog.wsgi:app'

The app is built at import in each worker (no preload: nothing is shared across the fork).
"""

from extracted.catalog.app import create_app

app = create_app()
