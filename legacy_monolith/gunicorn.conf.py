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
# GUNICORN_REUSE_PORT=1: each worker listens on its own socket (SO_REUSEPORT) and the kernel
# spreads new connections over them by address hash. Without it the workers share one socket
# and whichever wakes first takes the connection: a proxy's keep-alive connections can all land
# on one worker (measured: 32/0, half the throughput). With it, a reload (HUP) resets the
# connections still queued on an old worker's socket unless net.ipv4.tcp_migrate_req=1 (Linux
# 5.14+) hands them to the others (migration_playbook/01-proxy-in-front.md, "gunicorn").
reuse_port = os.environ.get("GUNICORN_REUSE_PORT") == "1"
graceful_timeout = 10
timeout = 60
raw_env = ["DJANGO_SETTINGS_MODULE=legacy_monolith.settings"]
