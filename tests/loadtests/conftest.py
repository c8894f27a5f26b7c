"""A small seeded demo shop (SQLite, gunicorn on a free port) shared by the load-test tests.

Written here rather than imported from tests/legacy_monolith/conftest.py: that module defines
session fixtures (and needs PostgreSQL for some), which importing would register twice.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from strangler_proxy._procs import Process, free_port

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("data")
SEED = ["--categories", "8", "--products", "300", "--users", "50", "--orders", "100"]


@dataclass(frozen=True)
class Shop:
    url: str
    env: dict[str, str]


def shop_env(database_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "legacy_monolith.settings",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "loadtest-" + secrets.token_hex(16),
        "DJANGO_TRUST_X_FORWARDED": "1",
        "DJANGO_ALLOWED_HOSTS": "*",
        "PAYMENT_LATENCY_MS": "0",
        "PYTHONWARNINGS": "ignore",  # the server's warnings are not this test run's
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _django(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"django {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The seeded monolith under gunicorn (gthread, keep-alive) on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("shop")
    env = shop_env(f"sqlite:///{folder / 'shop.sqlite3'}")
    _django(env, "migrate", "--no-input", "-v", "0")
    _django(env, "seed", *SEED)
    port = free_port()
    server = Process(
        [sys.executable, "-m", "gunicorn", "-c", str(REPO / "legacy_monolith/gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "legacy_monolith.wsgi:application"],
        name="loadtest-monolith",
        env=env,
        cwd=REPO,
        log_dir=folder,
    )  # fmt: skip
    with server:
        url = f"http://127.0.0.1:{port}"
        server.wait_http(f"{url}/healthz", status=200)
        yield Shop(url, env)
