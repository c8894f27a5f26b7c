"""The monolith's wire details: Django ``QueryDict`` lookups and DRF's ``JSONRenderer`` bytes.

Django's ``QueryDict.get`` returns the *last* value of a repeated key (werkzeug's ``MultiDict``
returns the first), so services read query parameters through :func:`query_params`::

    ?page=1&page=3  →  query_params(environ)["page"] == "3"
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, request

__all__ = ["QueryParams", "install_request_id", "json_response", "query_params", "render_json"]

QueryParams = Mapping[str, str]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")


def raw_query_string(environ: Mapping[str, Any]) -> str:
    """``QUERY_STRING`` decoded as Django does: UTF-8, falling back to ISO-8859-1."""
    raw = str(environ.get("QUERY_STRING", "")).encode("iso-8859-1", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def query_params(environ: Mapping[str, Any]) -> dict[str, str]:
    """Last value per key, blank values kept: Django's ``request.GET.get`` semantics."""
    return dict(parse_qsl(raw_query_string(environ), keep_blank_values=True, encoding="utf-8"))


def render_json(data: Any) -> bytes:
    """DRF ``JSONRenderer``: compact, ``ensure_ascii=False``, no NaN, U+2028/9 escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode("utf-8")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A response as a DRF view renders it (``Content-Type: application/json``, ``Vary``)."""
    response = Response(render_json(data), status=status, content_type="application/json")
    response.headers["Vary"] = "Accept"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def install_request_id(app: Flask) -> None:
    """Echo a sane ``X-Request-ID`` or generate one (32 hex chars), like the monolith."""

    @app.after_request
    def _request_id(response: Response) -> Response:
        incoming = request.headers.get("X-Request-ID", "")
        response.headers["X-Request-ID"] = (
            incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        return response
