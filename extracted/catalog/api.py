"""The catalog read endpoints (blueprint ``catalog``), wire-compatible with the monolith.

    GET /api/categories/        paginated, ordered by id
    GET /api/categories/<id>/   404 {"detail": "No Category matches the given query."}
    GET /api/products/          filters, search, ordering, pagination (see ``_params``)
    GET /api/products/<id>/     404 {"detail": "No Product matches the given query."}
    GET /healthz                {"status": "ok"} when the database answers, else 503

Ids follow DRF's router lookup (``[^/.]+``); an id that is not an integer answers DRF's bare
404 ``{"detail": "Not found."}``, one outside the bigint range the model's "No ... matches".

DRF ``DefaultRouter`` format suffixes are served too (``/api/products.json``,
``/api/products/3.json/``, ``?format=json``); any other format is DRF's 404 "Not found."
(the monolith's browsable ``.api`` HTML is not reproduced).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import BaseConverter

from extracted.catalog._params import ProductQuery
from extracted.catalog._store import (
    BIGINT_MAX,
    BIGINT_MIN,
    category_item,
    category_select,
    count_rows,
    ordered,
    product_item,
    product_select,
)
from extracted.catalog.schema import categories, products
from extracted.common import (
    NotFound,
    PageRequest,
    build_absolute_uri,
    json_response,
    query_params,
)

__all__ = ["ENGINE_KEY", "TRUST_FORWARDED_KEY", "bp", "register"]

ENGINE_KEY = "catalog_engine"
TEST_BUG_KEY = "TEST_BUG"  # test-only deliberate contract break (see _store.product_item)
TRUST_FORWARDED_KEY = "TRUST_X_FORWARDED"

bp = Blueprint("catalog", __name__)


class LookupConverter(BaseConverter):
    """DRF ``SimpleRouter`` default ``lookup_value_regex``."""

    regex = r"[^/.]+"


class FormatConverter(BaseConverter):
    """DRF ``format_suffix_patterns`` suffix (``.json``)."""

    regex = r"[a-z0-9]+"


def register(app: Flask) -> None:
    app.url_map.converters["lookup"] = LookupConverter
    app.url_map.converters["fmt"] = FormatConverter
    app.register_blueprint(bp)


def _routes(path: str) -> list[str]:
    """``/api/products/`` → itself plus DRF's ``/api/products.<fmt>`` with optional slash."""
    base = path.rstrip("/")
    return [path, f"{base}.<fmt:fmt>", f"{base}.<fmt:fmt>/"]


def _negotiate(fmt: str | None) -> None:
    """DRF content negotiation by format: only JSON is rendered here; others are 404."""
    wanted = fmt or query_params(request.environ).get("format")
    if wanted and wanted != "json":
        raise NotFound()


def _engine() -> Engine:
    engine: Engine = current_app.extensions[ENGINE_KEY]
    return engine


def _absolute_url() -> str:
    return build_absolute_uri(
        request.environ, trust_forwarded=bool(current_app.config.get(TRUST_FORWARDED_KEY))
    )


def _lookup_id(raw: str, model: str) -> int:
    """Django ``get_object_or_404(pk=raw)`` as DRF reports it."""
    try:
        pk = int(raw)
    except ValueError:
        raise NotFound() from None
    if not BIGINT_MIN <= pk <= BIGINT_MAX:
        raise NotFound(f"No {model} matches the given query.")
    return pk


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with _engine().connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
    except SQLAlchemyError as err:
        body = json.dumps({"status": "error", "detail": str(err)})
        return Response(body, status=503, content_type="application/json")
    return Response(json.dumps({"status": "ok"}), content_type="application/json")


def category_list(fmt: str | None = None) -> Response:
    _negotiate(fmt)
    params = query_params(request.environ)
    wanted = PageRequest.from_params(params)
    stmt = category_select()
    with _engine().connect() as conn:
        page = wanted.resolve(count_rows(conn, stmt))
        rows = (
            conn.execute(stmt.order_by(categories.c.id).offset(page.offset).limit(page.size))
            .mappings()
            .all()
        )
    results: list[Any] = [category_item(row) for row in rows]
    return json_response(page.envelope(results, _absolute_url()), headers=_allow())


def category_detail(pk: str, fmt: str | None = None) -> Response:
    _negotiate(fmt)
    category_id = _lookup_id(pk, "Category")
    with _engine().connect() as conn:
        row = (
            conn.execute(category_select().where(categories.c.id == category_id)).mappings().first()
        )
    if row is None:
        raise NotFound("No Category matches the given query.")
    return json_response(category_item(row), headers=_allow())


def product_list(fmt: str | None = None) -> Response:
    _negotiate(fmt)
    params = query_params(request.environ)
    query = ProductQuery.from_params(params)
    wanted = PageRequest.from_params(params)
    engine = _engine()
    stmt = product_select(query, engine.dialect.name)
    with engine.connect() as conn:
        page = wanted.resolve(count_rows(conn, stmt))
        rows = (
            conn.execute(ordered(stmt, query.ordering).offset(page.offset).limit(page.size))
            .mappings()
            .all()
        )
    bug = str(current_app.config.get(TEST_BUG_KEY, ""))
    results: list[Any] = [product_item(row, bug=bug) for row in rows]
    return json_response(page.envelope(results, _absolute_url()), headers=_allow())


def product_detail(pk: str, fmt: str | None = None) -> Response:
    _negotiate(fmt)
    product_id = _lookup_id(pk, "Product")
    engine = _engine()
    stmt = product_select(ProductQuery(), engine.dialect.name).where(products.c.id == product_id)
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound("No Product matches the given query.")
    bug = str(current_app.config.get(TEST_BUG_KEY, ""))
    return json_response(product_item(row, bug=bug), headers=_allow())


for _path, _view in (
    ("/api/categories/", category_list),
    ("/api/categories/<lookup:pk>/", category_detail),
    ("/api/products/", product_list),
    ("/api/products/<lookup:pk>/", product_detail),
):
    for _rule in _routes(_path):
        bp.add_url_rule(_rule, view_func=_view, methods=["GET"])


def _allow() -> dict[str, str]:
    return {"Allow": "GET, HEAD, OPTIONS"}
