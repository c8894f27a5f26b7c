"""The one error handler module: every error leaves a service as the monolith would send it.

Exception tree (raise these from views; :func:`install_error_handlers` renders them)::

    APIError                  DRF ``APIException``: JSON body, status
    ├── NotFound              404 {"detail": "..."}           (DRF ``NotFound`` / ``Http404``)
    ├── ValidationFailed      400 {"field": ["msg", ...]}     (django-filter, DRF fields)
    └── MethodNotAllowed      405 {"detail": "Method \\"POST\\" not allowed."} + ``Allow``

URLs that do not resolve get Django's production (``DEBUG=0``) HTML 404 page, and a path that
resolves only with a trailing slash gets Django's ``APPEND_SLASH`` 301 redirect::

    GET /api/products?page=2  →  301, Location: /api/products/?page=2
    GET /nope/                →  404 text/html "<h1>Not Found</h1>..."
    GET /api/products/999/    →  404 application/json {"detail":"No Product matches ..."}

Unexpected exceptions become Django's plain HTML 500 page (and are logged by Flask).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as _WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as _WerkzeugNotFound
from werkzeug.routing import RequestRedirect

from extracted.common.wire import json_response, raw_query_string

__all__ = [
    "READ_ONLY_ALLOW",
    "APIError",
    "MethodNotAllowed",
    "NotFound",
    "ValidationFailed",
    "django_error_page",
    "install_error_handlers",
]

log = logging.getLogger(__name__)

#: DRF's ``Allow`` header of a read-only view (``allowed_methods``).
READ_ONLY_ALLOW = "GET, HEAD, OPTIONS"

# django/views/defaults.py ERROR_PAGE_TEMPLATE, byte for byte (leading newline included).
_ERROR_PAGE_TEMPLATE = """
<!doctype html>
<html lang="en">
<head>
  <title>%(title)s</title>
</head>
<body>
  <h1>%(title)s</h1><p>%(details)s</p>
</body>
</html>
"""
_HTML = "text/html; charset=utf-8"


class APIError(Exception):
    """An error with a DRF-shaped JSON body."""

    status: int = 500

    def __init__(self, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.body = body
        self.headers = dict(headers or {})


class NotFound(APIError):
    """``NotFound("No Product matches the given query.")`` → 404 ``{"detail": ...}``."""

    status = 404

    def __init__(self, detail: str = "Not found.") -> None:
        super().__init__({"detail": detail})


class ValidationFailed(APIError):
    """400 with DRF's body: ``{"min_price": ["Enter a number."]}`` or ``["message"]``."""

    status = 400

    def __init__(self, errors: dict[str, list[str]] | list[str]) -> None:
        super().__init__(errors)


class MethodNotAllowed(APIError):
    status = 405

    def __init__(self, method: str, allow: str = READ_ONLY_ALLOW) -> None:
        super().__init__({"detail": f'Method "{method}" not allowed.'}, {"Allow": allow})


def django_error_page(title: str, details: str, status: int) -> Response:
    """Django's template-less error page (what ``DEBUG=0`` without ``404.html`` answers)."""
    body = _ERROR_PAGE_TEMPLATE % {"title": title, "details": details}
    return Response(body, status=status, content_type=_HTML)


def _append_slash_location() -> str:
    """Django ``request.get_full_path(force_append_slash=True)``: relative, query kept."""
    path = quote(request.path, safe="/:@&+$,-_.!~*'()") + "/"
    query = raw_query_string(request.environ)
    if query:
        path += "?" + quote(query, safe="/#%[]=:;$&()+,!?*@'~")
    return path


def install_error_handlers(app: Flask, *, allow: str = READ_ONLY_ALLOW) -> None:
    """Render every error of ``app`` as the monolith does; ``allow`` is the 405 ``Allow``."""
    # Django does not merge '//' and answers 301 (not 308) for a missing trailing slash.
    app.url_map.merge_slashes = False

    @app.before_request
    def _append_slash() -> Response | None:
        # Routing errors are raised after before_request hooks: intercept the slash redirect.
        if isinstance(request.routing_exception, RequestRedirect):
            response = Response(b"", status=301, content_type=_HTML)
            response.headers["Location"] = _append_slash_location()
            return response
        return None

    @app.errorhandler(APIError)
    def _api_error(err: APIError) -> Response:
        return json_response(err.body, status=err.status, headers=err.headers)

    @app.errorhandler(_WerkzeugNotFound)
    def _not_found(_err: _WerkzeugNotFound) -> Response:
        return django_error_page(
            "Not Found", "The requested resource was not found on this server.", 404
        )

    @app.errorhandler(_WerkzeugMethodNotAllowed)
    def _method_not_allowed(_err: _WerkzeugMethodNotAllowed) -> Response:
        return _api_error(MethodNotAllowed(request.method, allow))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        code = err.code or 500
        if code == 400:
            return django_error_page("Bad Request (400)", "", 400)
        return django_error_page(err.name, err.description or "", code)

    @app.errorhandler(Exception)
    def _server_error(err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=err)
        return django_error_page("Server Error (500)", "", 500)
