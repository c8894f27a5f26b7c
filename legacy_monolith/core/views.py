"""Health check and a tiny static file view so the admin has its CSS under gunicorn."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.contrib.staticfiles import finders
from django.db import DatabaseError, connection
from django.http import FileResponse, Http404, HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """``GET /healthz`` → 200 ``{"status": "ok"}`` when a trivial query works, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as err:
        return JsonResponse({"status": "error", "detail": str(err)}, status=503)
    return JsonResponse({"status": "ok"})


def static(request: HttpRequest, path: str) -> FileResponse:
    """Serve app static files (admin CSS/JS) straight from the finders: demo only, no CDN."""
    found = finders.find(path)
    if not found or not Path(found).is_file():
        raise Http404(path)
    content_type, _ = mimetypes.guess_type(found)
    return FileResponse(open(found, "rb"), content_type=content_type)
