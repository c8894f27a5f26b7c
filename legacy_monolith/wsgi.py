"""WSGI entry point.

    gunicorn -c legacy_monolith/gunicorn.conf.py --bind 127.0.0.1:8000 \\
        legacy_monolith.wsgi:application
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_monolith.settings")

application = get_wsgi_application()
