"""gunicorn settings for the catalog service; give the bind address on the command line.

gthread workers keep connections alive (keepalive 5 s) so the strangler proxy's pooled
upstream connections are reused (sync workers close every connection).
"""

import os

wsgi_app = "extracted.catalog.wsgi:app"
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
graceful_timeout = 10
timeout = 60
