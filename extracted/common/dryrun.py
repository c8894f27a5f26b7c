"""One database transaction per request, rolled back for the proxy's dry-run copies.

When a route opts writes into shadowing, the strangler proxy sends the service a copy of the
monolith's request marked ``X-Strangler-Dry-Run: 1``. The service must answer it exactly as it
would for real (so the answers can be compared) but write nothing. Every extracted service
gets that by taking its connection from :func:`request_connection`::

    install_request_transactions(app, engine)

    @bp.post("/api/things/")
    def create():
        conn = request_connection()
        conn.execute(things.insert().values(...))   # committed after the view returns,
        return json_response(..., status=201)       # rolled back for a dry-run copy

A view that raises, or a response with a 5xx status, rolls back too.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "DRY_RUN_HEADER",
    "install_request_transactions",
    "is_dry_run",
    "request_connection",
]

DRY_RUN_HEADER = "X-Strangler-Dry-Run"
_ENGINE_KEY = "strangler_request_engine"
_CONN = "_strangler_request_conn"


def is_dry_run() -> bool:
    """True when the current request is a shadow copy that must leave no trace."""
    return request.headers.get(DRY_RUN_HEADER, "") == "1"


def request_connection() -> Connection:
    """The current request's connection, inside its one transaction (opened on first use)."""
    conn: Connection | None = g.get(_CONN)
    if conn is None:
        engine: Engine = current_app.extensions[_ENGINE_KEY]
        conn = engine.connect()
        conn.begin()
        setattr(g, _CONN, conn)
    return conn


def _finish(commit: bool) -> None:
    conn: Connection | None = g.pop(_CONN, None)
    if conn is None:
        return
    try:
        if commit:
            conn.commit()
        else:
            conn.rollback()
    finally:
        conn.close()


def install_request_transactions(app: Flask, engine: Engine) -> None:
    app.extensions[_ENGINE_KEY] = engine

    @app.after_request
    def _commit_or_roll_back(response: Response) -> Response:
        # before the response leaves: a failed commit must not follow a 201
        _finish(commit=response.status_code < 500 and not is_dry_run())
        return response

    @app.teardown_request
    def _roll_back_leftovers(exc: BaseException | None) -> None:
        _finish(commit=False)  # only does something when the view raised
