"""``create_app``: the payments service's read API (Flask), over its own database.

    GET /api/payments/?order=42&status=failed   {"count": 1, "next": null, "previous": null,
                                                 "results": [{"id": "pay_…", "order": 42, …}]}
    GET /api/payments/pay_…/                    one payment (404 ``{"detail": …}`` if absent)
    GET /sync/status                            the consumer's progress and lag

Payments are the caller's own: the proxy's signed identity assertion (``X-Strangler-Identity``,
audience ``payments``) names the caller; a user sees the payments of their orders, staff see
all, no identity is 401 (DRF's words). The key: ``PAYMENTS_IDENTITY_KEY``, else the proxy's
``STRANGLER_IDENTITY_KEY`` (without one, every read is 401).

Pagination, errors and JSON bytes as the monolith's DRF (``extracted/common``). Configuration:
``PAYMENTS_DATABASE_URL`` (default ``sqlite:///var/payments.sqlite3``) or ``overrides``
(``DATABASE_URL``, ``IDENTITY_KEY`` and any Flask setting). Run it with
``gunicorn 'extracted.payments.app:create_app()'``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, current_app, request
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from extracted.common import (
    NotFound,
    PageRequest,
    ValidationFailed,
    build_absolute_uri,
    create_engine_from_url,
    install_error_handlers,
    json_response,
    query_params,
)
from extracted.common.identity import install_identity, require_identity
from extracted.common.inbox import sync_status
from extracted.common.wire import install_request_id
from extracted.payments.provider import money
from extracted.payments.schema import ensure_schema, payments

__all__ = ["create_app", "payment_json"]

ENGINE_KEY = "payments.engine"
IDENTITY_AUDIENCE = "payments"
DEFAULT_DATABASE_URL = "sqlite:///var/payments.sqlite3"


def payment_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "order": int(row.order_id),
        "order_reference": row.order_reference,
        "amount": money(int(row.amount_cents)),
        "status": row.status,
        "provider_reference": row.provider_reference,
        "reason": row.reason,
        "created_at": row.created_at.isoformat(timespec="microseconds") + "Z",
    }


def _engine() -> Engine:
    engine: Engine = current_app.extensions[ENGINE_KEY]
    return engine


def _visible() -> list[Any]:
    """The caller's own payments (staff: every payment); 401 without an identity."""
    who = require_identity()
    return [] if who.is_staff else [payments.c.user_id == who.user_id]


def list_payments() -> Response:
    where = _visible()
    params = query_params(request.environ)
    if params.get("order"):
        try:
            where.append(payments.c.order_id == int(params["order"]))
        except ValueError:
            raise ValidationFailed({"order": ["Enter a whole number."]}) from None
    if params.get("status"):
        if params["status"] not in {"succeeded", "failed"}:
            raise ValidationFailed(
                {"status": ["Select a valid choice. That choice is not one of the available "
                            "choices."]}
            )  # fmt: skip
        where.append(payments.c.status == params["status"])
    wanted = PageRequest.from_params(params)
    with _engine().connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(payments).where(*where)).scalar())
        page = wanted.resolve(count)
        rows = conn.execute(
            select(payments)
            .where(*where)
            .order_by(payments.c.created_at.desc(), payments.c.id)
            .limit(page.size)
            .offset(page.offset)
        ).all()
    url = build_absolute_uri(request.environ, trust_forwarded=False)
    return json_response(page.envelope([payment_json(r) for r in rows], url))


def get_payment(payment_id: str) -> Response:
    where = _visible()
    with _engine().connect() as conn:
        row = conn.execute(select(payments).where(payments.c.id == payment_id, *where)).first()
    if row is None:
        raise NotFound("No Payment matches the given query.")
    return json_response(payment_json(row))


def status() -> Response:
    with _engine().connect() as conn:
        return json_response(sync_status(conn).as_json())


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["DATABASE_URL"] = (
        os.environ.get("PAYMENTS_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    )
    app.config.update(overrides or {})
    engine = create_engine_from_url(str(app.config["DATABASE_URL"]))
    ensure_schema(engine)
    app.extensions[ENGINE_KEY] = engine
    install_error_handlers(app)
    install_request_id(app)
    key = str(
        app.config.get("IDENTITY_KEY")
        or os.environ.get("PAYMENTS_IDENTITY_KEY", "").strip()
        or os.environ.get("STRANGLER_IDENTITY_KEY", "").strip()
    )
    if key:
        install_identity(app, key.encode(), IDENTITY_AUDIENCE)
    app.add_url_rule("/api/payments/", view_func=list_payments, methods=["GET"])
    app.add_url_rule("/api/payments/<payment_id>/", view_func=get_payment, methods=["GET"])
    app.add_url_rule("/sync/status", view_func=status, methods=["GET"])
    return app
