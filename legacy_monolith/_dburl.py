"""Turn ``DATABASE_URL`` into a Django ``DATABASES["default"]`` dict (no dj-database-url).

Accepted forms::

    sqlite:///var/monolith.sqlite3        relative to the repository root
    sqlite:////tmp/shop.sqlite3           absolute path (four slashes)
    postgresql://user:pw@host:5432/shop?sslmode=disable   (also postgres://, psql via psycopg 3)

>>> parse_database_url("postgresql://postgres@127.0.0.1:5432/shop")["NAME"]
'shop'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["parse_database_url"]

SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20}


def parse_database_url(url: str, *, base_dir: Path, conn_max_age: int = 0) -> dict[str, Any]:
    """Parse ``url``; raise ``ValueError`` naming the offending URL when it is not understood."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        raw = unquote(url[len("sqlite://") :])
        if not raw.startswith("/") or raw == "/":
            raise ValueError(
                f"DATABASE_URL: expected sqlite:///relative or sqlite:////abs, got {url!r}"
            )
        path = Path(raw[1:])
        if not path.is_absolute():
            path = base_dir / path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    if scheme in {"postgresql", "postgres", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ValueError(f"DATABASE_URL: missing database name in {url!r}")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": conn_max_age > 0,
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {scheme!r} in {url!r}")
