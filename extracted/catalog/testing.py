"""Test and demo helpers for the catalog service: drive the real monolith and PostgreSQL.

The monolith is only ever run as a subprocess (``python -m django ...``, gunicorn), never
imported: the deployables stay independent.

    seed_monolith("sqlite:////tmp/m.sqlite3")   # migrate + seed (small) + edge rows
    with pg_databases() as make:                # fresh PostgreSQL databases, dropped on exit
        url = make("svc")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "EDGE_ROWS",
    "PG_ADMIN_DSN",
    "REPO_ROOT",
    "PostgresUnavailable",
    "gunicorn_argv",
    "monolith_env",
    "pg_databases",
    "pg_url",
    "run_monolith_command",
    "seed_monolith",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PG_ADMIN_DSN = os.environ.get(
    "CATALOG_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pg_url(name: str) -> str:
    """URL of database ``name`` on the test server."""
    return f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server of the tests does not answer; the message says how to start it."""


@contextlib.contextmanager
def pg_databases(admin_dsn: str = PG_ADMIN_DSN) -> Iterator[Callable[[str], str]]:
    """Yield ``make(label) -> url`` creating uniquely named databases; all dropped on exit
    (their connections terminated first)."""
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        raise PostgresUnavailable(
            f"PostgreSQL is required but {admin_dsn} is unreachable: {err}. Start it with "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        ) from err
    created: list[str] = []

    def make(label: str) -> str:
        name = f"t_catalog_{label}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return pg_url(name)

    try:
        yield make
    finally:
        for name in created:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.close()


def gunicorn_argv(conf: str, port: int) -> list[str]:
    """``python -m gunicorn -c <conf> --bind 127.0.0.1:<port>`` (conf relative to the repo)."""
    return [PYTHON, "-m", "gunicorn", "-c", conf, "--bind", f"127.0.0.1:{port}"]


def monolith_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="legacy_monolith.settings",
        DATABASE_URL=database_url,
        DJANGO_DEBUG="0",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


def run_monolith_command(database_url: str, *args: str) -> str:
    """``python -m django <args>`` against ``database_url``; raise with its output on failure."""
    proc = subprocess.run(
        [PYTHON, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=monolith_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"django {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# Rows the seed does not make: non-ASCII and LIKE metacharacters, a price tie, a zero-microsecond
# timestamp, sold out; then one product deleted so ids have a gap.
EDGE_ROWS = """
import datetime
from decimal import Decimal
from legacy_monolith.catalog.models import Category, Product
cat = Category.objects.create(name="Café & Crème", slug="cafe", description="Ünïcödé ☕")
first = Product.objects.order_by("id").first()
Product.objects.create(sku="EDGE-1", name="Café 100% _special_", description="naïve — “quotes”",
    price=first.price, stock=0, category=cat, attributes={"ключ": "значение", "n": [1, 2.5, None]})
Product.objects.create(sku="EDGE-2", name="CAFÉ upper", description="", price=Decimal("0.00"),
    stock=3, category=cat, attributes={})
edge = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
Product.objects.filter(sku="EDGE-2").update(created_at=edge, updated_at=edge)
Product.objects.filter(sku="SKU-000007").delete()
"""


def seed_monolith(database_url: str, *, products: int = 120, categories: int = 5) -> None:
    run_monolith_command(database_url, "migrate", "--noinput")
    run_monolith_command(
        database_url,
        "seed",
        "--products", str(products),
        "--categories", str(categories),
        "--users", "1",
        "--orders", "1",
    )  # fmt: skip
    run_monolith_command(database_url, "shell", "-c", EDGE_ROWS)
