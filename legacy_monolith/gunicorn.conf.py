"""gunicorn settings for the monolith; the bind address is given on the command line.

gthread workers keep connections alive, so the strangler proxy's pooled upstream connections
are reused instead of paying a new TCP connection per request (sync workers close each one).
"""

import os

wsgi_app = "legacy_monolith.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
graceful_timeout = 10
timeout = 60
raw_env = ["DJANGO_SETTINGS_MODULE=legacy_monolith.settings"]
