"""``DATABASE_URL`` (the monolith's format) → SQLAlchemy URL and engine.

Accepted, as ``legacy_monolith/_dburl.py`` accepts them::

    sqlite:///var/catalog.sqlite3      relative to the repository root
    sqlite:////tmp/catalog.sqlite3     absolute path
    postgresql://user:pw@host:5432/db  (also postgres://, pgsql://; psycopg 3)

>>> to_sqlalchemy_url("postgres://postgres@127.0.0.1/shop", base_dir=Path("/r"))
'postgresql+psycopg://postgres@127.0.0.1/shop'
>>> to_sqlalchemy_url("sqlite:///var/c.sqlite3", base_dir=Path("/r"))
'sqlite:////r/var/c.sqlite3'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

__all__ = ["REPO_ROOT", "create_engine_from_url", "sqlite_path", "to_sqlalchemy_url"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def sqlite_path(url: str, *, base_dir: Path = REPO_ROOT) -> Path | None:
    """The file of a ``sqlite://`` URL (relative paths under ``base_dir``), else ``None``."""
    if urlsplit(url).scheme.lower() != "sqlite":
        return None
    raw = unquote(url[len("sqlite://") :])
    if not raw.startswith("/") or raw == "/":
        raise ValueError(f"database URL: expected sqlite:///rel or sqlite:////abs, got {url!r}")
    path = Path(raw[1:])
    return path if path.is_absolute() else base_dir / path


def to_sqlalchemy_url(url: str, *, base_dir: Path = REPO_ROOT) -> str:
    """Translate; raise ``ValueError`` naming the URL when it is not understood."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        return f"sqlite:///{sqlite_path(url, base_dir=base_dir)}"
    if scheme in {"postgresql", "postgres", "pgsql", "postgresql+psycopg"}:
        if not urlsplit(url).path.lstrip("/"):
            raise ValueError(f"database URL: missing database name in {url!r}")
        return f"postgresql+psycopg://{rest}"
    raise ValueError(f"database URL: unsupported scheme {scheme!r} in {url!r}")


def create_engine_from_url(url: str, *, base_dir: Path = REPO_ROOT, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and a busy timeout."""
    target = to_sqlalchemy_url(url, base_dir=base_dir)
    path = sqlite_path(url, base_dir=base_dir)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 20})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(target, **kwargs)
