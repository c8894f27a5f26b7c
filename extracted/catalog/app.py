"""``create_app``: the catalog service's Flask application factory.

Configuration, read once here (environment, then ``overrides``)::

    CATALOG_DATABASE_URL        sqlite:///var/catalog.sqlite3 (default) or postgresql://...
    CATALOG_TRUST_X_FORWARDED   1 → next/previous links use X-Forwarded-Host/-Proto
                                (as the monolith's DJANGO_TRUST_X_FORWARDED=1)
    CATALOG_TEST_BUG            test-only: ``price_rounding`` breaks the price contract on
                                purpose (shadow-traffic tests, the playbook's refused promote)

``overrides`` keys: ``DATABASE_URL``, ``TRUST_X_FORWARDED`` and any Flask setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from extracted.catalog.api import ENGINE_KEY, TEST_BUG_KEY, TRUST_FORWARDED_KEY, register
from extracted.catalog.schema import ensure_schema
from extracted.catalog.sync import register_sync_status
from extracted.common import (
    create_engine_from_url,
    install_error_handlers,
    install_request_transactions,
)
from extracted.common.logs import install_json_logging
from extracted.common.wire import install_request_id

__all__ = ["DEFAULT_DATABASE_URL", "create_app", "settings_from_env"]

DEFAULT_DATABASE_URL = "sqlite:///var/catalog.sqlite3"
_TRUE = {"1", "true", "yes", "on"}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    return {
        "DATABASE_URL": env.get("CATALOG_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        TRUST_FORWARDED_KEY: env.get("CATALOG_TRUST_X_FORWARDED", "").strip().lower() in _TRUE,
        TEST_BUG_KEY: env.get("CATALOG_TEST_BUG", "").strip(),
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
    install_json_logging(app, service="catalog", requests=app.config.get("REQUEST_LOG", True))
    register(app)
    register_sync_status(app)  # GET /sync/status: the event consumer's progress and lag
    return app
