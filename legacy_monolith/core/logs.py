"""Structured logs: one JSON object per line, the same shape as the strangler proxy's and the
extracted services' (``extracted/common/logs.py``), so one request can be followed across all
three by its ``request_id`` (and W3C ``trace_id``)::

    {"ts": "2026-11-25T22:40:01.123Z", "level": "INFO", "service": "monolith",
     "logger": "legacy_monolith.requests", "message": "request", "request_id": "9f0c…",
     "trace_id": "4bf9…", "method": "GET", "path": "/api/orders/", "status": 200,
     "duration_ms": 12.5}
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

__all__ = ["JsonFormatter", "RequestLogMiddleware", "request_id_var", "trace_id_var"]

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_FIELDS = ("method", "path", "status", "duration_ms")
SERVICE = "monolith"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": SERVICE,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "trace_id": trace_id_var.get(),
        }
        for key in _FIELDS:
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


class RequestLogMiddleware:
    """Binds the request id and trace id to the logs of the request, and logs one line for it.
    Runs after ``RequestIdMiddleware`` (which decides the request id)."""

    log = logging.getLogger("legacy_monolith.requests")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        t0 = time.perf_counter()
        m = _TRACEPARENT.fullmatch(request.headers.get("traceparent", ""))
        tokens = (
            request_id_var.set(getattr(request, "request_id", "")),
            trace_id_var.set(m.group(1) if m else ""),
        )
        try:
            response = self.get_response(request)
            self.log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
                },
            )
            return response
        finally:
            request_id_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
