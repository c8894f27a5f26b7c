"""One migrated, seeded monolith under gunicorn per database backend, shared by the session.

The ``monolith`` fixture is parametrised over SQLite and PostgreSQL; PostgreSQL tests carry the
``postgres`` marker and FAIL (never skip) when the server on 127.0.0.1:5432 is unreachable.
Tests create their own rows (SKUs ``T-…``, users ``t_…``) and never depend on another test's.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler_proxy._procs import Process, free_port
from strangler_proxy.testing.postgres import PostgresUnavailable, temporary_database

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SEED_SIZES = {"categories": 5, "products": 60, "users": 10, "orders": 30}


def seed_args(sizes: Mapping[str, int] = SEED_SIZES) -> list[str]:
    return [arg for name, size in sizes.items() for arg in (f"--{name}", str(size))]


@dataclass
class Monolith:
    """A running monolith: its URL, database and the environment its commands run with."""

    backend: str
    database_url: str
    env: dict[str, str]
    log_dir: Path
    base_url: str = ""
    servers: list[Process] = field(default_factory=list)

    def manage(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run ``python -m django <args>`` against this database; return stdout (raise on error)."""
        proc = subprocess.run(
            [PYTHON, "-m", "django", *args],
            env={**self.env, **(env or {})},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"django {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def seed(self, sizes: Mapping[str, int] = SEED_SIZES) -> dict[str, Any]:
        """Run the seed command; return its JSON summary (its last stdout line)."""
        return dict(json.loads(self.manage("seed", *seed_args(sizes)).strip().splitlines()[-1]))

    def start_server(self, name: str, **extra_env: str) -> str:
        """Start gunicorn (gthread, per gunicorn.conf.py) on a free port; return its base URL."""
        port = free_port()
        proc = Process(
            [GUNICORN, "-c", str(REPO / "legacy_monolith" / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}", "legacy_monolith.wsgi:application"],
            name=name,
            env={**self.env, **extra_env},
            cwd=REPO,
            log_dir=self.log_dir,
        )  # fmt: skip
        self.servers.append(proc)
        proc.start()
        url = f"http://127.0.0.1:{port}"
        proc.wait_http(f"{url}/healthz", status=200)
        return url

    def client(self, token: str | None = None, base_url: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=base_url or self.base_url, headers=headers, timeout=30)

    def login(self, username: str, password: str) -> str:
        with self.client() as client:
            resp = client.post(
                "/api/accounts/login/", json={"username": username, "password": password}
            )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["token"])


def monolith_env(database_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "legacy_monolith.settings",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "test-" + secrets.token_hex(16),
        "DJANGO_DEBUG": "0",
        "PAYMENT_LATENCY_MS": "0",
        "PAYMENT_FAILURE_RATE": "0",
        "PYTHONWARNINGS": "ignore",  # the server's warnings are not this test run's
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@pytest.fixture
def fresh_sqlite_shop(tmp_path: Path) -> Monolith:
    """A migrated, empty SQLite database (no server) for seed runs from scratch."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    shop = Monolith("sqlite", url, monolith_env(url), log_dir=tmp_path)
    shop.manage("migrate", "--no-input", "-v", "0")
    return shop


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh ``strangler_t_<random>`` database, dropped (connections terminated) at the end."""
    try:
        with temporary_database("strangler_t") as url:
            yield url
    except PostgresUnavailable as err:
        pytest.fail(f"postgres-marked monolith tests: {err}", pytrace=False)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def monolith(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Monolith]:
    backend: str = request.param
    tmp = tmp_path_factory.mktemp(f"monolith-{backend}")
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp / 'monolith.sqlite3'}"  # absolute: sqlite:////tmp/...
    else:
        database_url = request.getfixturevalue("postgres_url")
    shop = Monolith(backend, database_url, monolith_env(database_url), log_dir=tmp)
    try:
        shop.manage("migrate", "--no-input", "-v", "0")
        shop.seed()
        shop.base_url = shop.start_server(f"monolith-{backend}")
        yield shop
    finally:
        for server in shop.servers:
            server.stop()


@pytest.fixture(scope="session")
def admin_token(monolith: Monolith) -> str:
    return monolith.login("admin", "admin")


@pytest.fixture(scope="session")
def user_tokens(monolith: Monolith) -> list[str]:
    """8 tokens of 4 seeded users, cycling: ``[user0001, user0002, user0003, user0004, user0001,
    ...]`` (neighbours are always different users). Logins are slow on purpose (PBKDF2), so they
    run in parallel and only 4 of them."""
    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(lambda i: monolith.login(f"user{i:04d}", "password"), range(1, 5)))
    return tokens * 2


def new_sku() -> str:
    return f"T-{secrets.token_hex(6).upper()}"


@pytest.fixture
def make_product(monolith: Monolith, admin_token: str) -> Callable[..., dict[str, Any]]:
    """Create a fresh product through the staff API (the seed's first category by default)."""

    def make(**fields: Any) -> dict[str, Any]:
        body = {"sku": new_sku(), "name": "Test item", "price": "10.00", "stock": 5, "category": 1}
        body.update(fields)
        with monolith.client(admin_token) as client:
            resp = client.post("/api/products/", json=body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    return make
