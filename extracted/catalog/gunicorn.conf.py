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
reuse_port = os.environ.get("GUNICORN_REUSE_PORT") == "1"  # as legacy_monolith/gunicorn.conf.py
graceful_timeout = 10
timeout = 60


# Self-registration with the strangler proxy's registry (optional): set
# CATALOG_REGISTER_ADMIN_URL, CATALOG_REGISTER_UPSTREAM (catalog), CATALOG_REGISTER_URL (this
# instance's base URL) and STRANGLER_REGISTRY_TOKEN. The master process registers once it is
# ready, renews every TTL/3, and deregisters when gunicorn exits.
_registration = None


def when_ready(server):  # type: ignore[no-untyped-def]
    global _registration
    from extracted.common.registration import Registration

    _registration = Registration.from_env("CATALOG")
    if _registration is not None:
        _registration.start()


def on_exit(server):  # type: ignore[no-untyped-def]
    if _registration is not None:
        _registration.stop()
