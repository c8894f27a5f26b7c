"""``create_app``: the catalog service's Flask application factory.

Configuration, read once here (environment, then ``overrides``)::

    CATALOG_DATABASE_URL        sqlite:///var/catalog.sqlite3 (default) or postgresql://...
    CATALOG_TRUST_X_FORWARDED   1 → next/previous links use X-Forwarded-Host/-Proto
                                (as the monolith's DJANGO_TRUST_X_FORWARDED=1)
    CATALOG_TEST_BUG            test-only: ``price_rounding`` breaks the price contract on
                                purpose (shadow-traffic tests, the playbook's refused promote)
    STRANGLER_WRITER_CATALOG_PRODUCT
                                ``monolith`` (default) or ``catalog``: who writes products;
                                PUT/PATCH answer 409 unless it is ``catalog`` (see writer.py)
    CATALOG_IDENTITY_KEY        the key (32+ bytes) the proxy signs ``X-Strangler-Identity``
                                with (default: ``STRANGLER_IDENTITY_KEY``, the proxy's own
                                variable); without one no caller is known: every write is 401

``overrides`` keys: ``DATABASE_URL``, ``TRUST_X_FORWARDED``, ``WRITER``, ``IDENTITY_KEY`` and
any Flask setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from extracted.catalog.api import ENGINE_KEY, TEST_BUG_KEY, TRUST_FORWARDED_KEY, register
from extracted.catalog.schema import ensure_schema
from extracted.catalog.sync import register_sync_status
from extracted.catalog.writer import writer_from_env
from extracted.catalog.writes import WRITER_KEY, register_writes
from extracted.common import (
    create_engine_from_url,
    install_error_handlers,
    install_request_transactions,
)
from extracted.common.identity import install_identity
from extracted.common.logs import install_json_logging
from extracted.common.wire import install_request_id

__all__ = ["DEFAULT_DATABASE_URL", "create_app", "settings_from_env"]

DEFAULT_DATABASE_URL = "sqlite:///var/catalog.sqlite3"
IDENTITY_KEY = "IDENTITY_KEY"
IDENTITY_AUDIENCE = "catalog"
_TRUE = {"1", "true", "yes", "on"}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    return {
        "DATABASE_URL": env.get("CATALOG_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        TRUST_FORWARDED_KEY: env.get("CATALOG_TRUST_X_FORWARDED", "").strip().lower() in _TRUE,
        TEST_BUG_KEY: env.get("CATALOG_TEST_BUG", "").strip(),
        WRITER_KEY: writer_from_env(env),
        IDENTITY_KEY: (
            env.get("CATALOG_IDENTITY_KEY", "").strip()
            or env.get("STRANGLER_IDENTITY_KEY", "").strip()
        ),
    }


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the service; creates its schema if missing (``metadata.create_all``)."""
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(settings_from_env())
    app.config.update(overrides or {})
    engine = create_engine_from_url(str(app.config["DATABASE_URL"]))
    ensure_schema(engine)
    app.extensions[ENGINE_KEY] = engine
    install_error_handlers(app)
    install_request_id(app)
    install_request_transactions(app, engine)  # writes roll back for dry-run shadow copies
    key = app.config.get(IDENTITY_KEY) or ""
    if key:  # the proxy's signed assertion of the caller (writes need a staff caller)
        install_identity(app, key.encode() if isinstance(key, str) else key, IDENTITY_AUDIENCE)
    install_json_logging(app, service="catalog", requests=app.config.get("REQUEST_LOG", True))
    register(app)
    register_sync_status(app)  # GET /sync/status: the event consumer's progress and lag
    register_writes(app)  # PUT/PATCH /api/products/<id>/ when the service is the writer
    return app
