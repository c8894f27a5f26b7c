"""Structured logs for extracted services: one JSON object per line, the same shape as the
monolith's (``legacy_monolith/core/logs.py``) and the proxy's access log, so one request can be
followed across the three processes by ``request_id`` and ``trace_id``. (The deployables never
import each other, so the formatter exists on both sides; a test pins that the shapes agree.)

    install_json_logging(app, service="catalog")
    # {"ts": "…Z", "level": "INFO", "service": "catalog", "logger": "extracted.requests",
    #  "message": "request", "request_id": "9f0c…", "trace_id": "4bf9…", "method": "GET",
    #  "path": "/api/products/", "status": 200, "duration_ms": 3.2}
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from flask import Flask, Response, g, has_request_context, request

__all__ = ["JsonFormatter", "install_json_logging"]

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_FIELDS = ("method", "path", "status", "duration_ms")
REQUEST_LOGGER = "extracted.requests"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        request_id = trace_id = ""
        if has_request_context():
            request_id = request.headers.get("X-Request-ID", "")
            m = _TRACEPARENT.fullmatch(request.headers.get("traceparent", ""))
            trace_id = m.group(1) if m else ""
        line: dict[str, object] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id,
            "trace_id": trace_id,
        }
        for key in _FIELDS:
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


def install_json_logging(app: Flask, service: str, *, requests: bool = True) -> None:
    """JSON lines on stderr for the app's and the request loggers; one line per request."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    for name in (app.logger.name, REQUEST_LOGGER):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    log = logging.getLogger(REQUEST_LOGGER)
    log.setLevel(logging.INFO if requests else logging.WARNING)

    @app.before_request
    def _start() -> None:
        g.strangler_t0 = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        t0 = g.get("strangler_t0")
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - t0) * 1000, 3) if t0 else None,
            },
        )
        return response
