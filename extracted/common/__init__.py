"""Helpers every extracted service shares, so they all speak the monolith's (DRF's) dialect.

- :mod:`.errors`: the one error handler module (DRF JSON errors, Django's HTML 404 page,
  Django's ``APPEND_SLASH`` redirect, 405 with ``Allow``).
- :mod:`.pagination`: DRF ``PageNumberPagination`` (page/page_size, absolute next/previous).
- :mod:`.wire`: Django ``QueryDict`` lookups, DRF's JSON renderer, ``X-Request-ID``.
- :mod:`.dburl`: ``DATABASE_URL`` → SQLAlchemy engine.
- :mod:`.dryrun`: one transaction per request, always rolled back for the proxy's dry-run
  shadow copies (``X-Strangler-Dry-Run: 1``).
"""

from extracted.common.dburl import create_engine_from_url, to_sqlalchemy_url
from extracted.common.dryrun import (
    DRY_RUN_HEADER,
    install_request_transactions,
    is_dry_run,
    request_connection,
)
from extracted.common.errors import (
    APIError,
    NotFound,
    ValidationFailed,
    install_error_handlers,
)
from extracted.common.pagination import (
    Page,
    PageRequest,
    build_absolute_uri,
    remove_query_param,
    replace_query_param,
)
from extracted.common.wire import QueryParams, json_response, query_params

__all__ = [
    "DRY_RUN_HEADER",
    "APIError",
    "NotFound",
    "Page",
    "PageRequest",
    "QueryParams",
    "ValidationFailed",
    "build_absolute_uri",
    "create_engine_from_url",
    "install_error_handlers",
    "install_request_transactions",
    "is_dry_run",
    "json_response",
    "query_params",
    "remove_query_param",
    "replace_query_param",
    "request_connection",
    "to_sqlalchemy_url",
]
