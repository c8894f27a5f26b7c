"""The public port's HTTP server: aiohttp's low-level server with the proxy's own answers to
requests that cannot be parsed.

aiohttp answers a malformed request with a plain-text 400 and logs a traceback at ERROR level,
which lets any client flood the proxy's log. Here a request the parser refuses gets the
monolith's (DRF's) error format, a reason in ``X-Strangler-Error`` and one INFO log line:
``431 header_too_large`` for a header line over ``max_header_bytes``, ``400 bad_request`` for
anything else the parser refuses (both Content-Length and Transfer-Encoding, NUL bytes, ...).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

__all__ = ["ProxyHTTPServer"]

log = logging.getLogger("strangler.http")


class _Handler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, LineTooLong):
            code, reason, detail = 431, "header_too_large", "Request header fields too large."
        else:
            code, reason, detail = 400, "bad_request", "Malformed request."
        log.info("refused a request from %s: %s (%s)", request.remote, reason, exc.message)
        resp = web.json_response({"detail": detail}, status=code)
        resp.headers["X-Strangler-Error"] = reason
        resp.force_close()
        return resp


class ProxyHTTPServer(web.Server):
    """``web.Server`` whose connections are served by :class:`_Handler`."""

    def __call__(self) -> RequestHandler:
        # same construction as aiohttp's own (web_server.Server.__call__), our handler class
        kwargs: dict[str, Any] = self._kwargs
        return _Handler(self, loop=self._loop, **kwargs)
