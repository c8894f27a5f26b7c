"""The demo monolith's gunicorn settings behind the proxy (legacy_monolith/gunicorn.conf.py).

* A reload of the monolith (SIGHUP: new workers start, the old ones finish and exit) while
  clients keep sending through the proxy: no client sees an error. The old workers close the
  proxy's pooled connections (a request arriving meanwhile is answered with
  ``Connection: close``); the proxy opens new ones to the new workers.
* ``GUNICORN_REUSE_PORT=1`` gives every worker its own listening socket (the kernel spreads new
  connections over them); without it the workers share one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from extracted.catalog.testing import gunicorn_argv, monolith_env, seed_monolith
from strangler_proxy.testing import Process, free_port, wait_until
from strangler_proxy.testing.harness import ProxyProcess, table_yaml

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 6


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reload') / 'monolith.sqlite3'}"
    seed_monolith(url, products=20)
    return url


def _monolith(database: str, port: int, **env: str) -> Process:
    # two workers, the shared socket unless a test asks (whatever the environment exports)
    env = {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4", "GUNICORN_REUSE_PORT": "0", **env}
    return Process(
        gunicorn_argv("legacy_monolith/gunicorn.conf.py", port),
        name="monolith",
        env=monolith_env(database, DJANGO_ALLOWED_HOSTS="*", DJANGO_TRUST_X_FORWARDED="1", **env),
        cwd=REPO,
    )


def _workers(master: Process) -> set[int]:
    assert master.popen is not None
    out = subprocess.run(
        ["pgrep", "-P", str(master.popen.pid)], capture_output=True, text=True, check=False
    ).stdout
    return {int(pid) for pid in out.split()}


def _listeners(port: int) -> int:
    """Listening TCP sockets on 127.0.0.1:``port`` (state 0A in /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "0A")


def _wait_for_workers(master: Process) -> None:
    wait_until(lambda: len(_workers(master)) == 2, what="two workers", timeout=60)


@pytest.fixture
def monolith(database: str) -> Iterator[tuple[Process, str]]:
    port = free_port()
    with _monolith(database, port) as proc:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz", status=200)
        _wait_for_workers(proc)
        yield proc, f"http://127.0.0.1:{port}"


def test_a_monolith_reload_under_load_loses_no_request(
    monolith: tuple[Process, str], tmp_path: Path
) -> None:
    master, url = monolith
    before = _workers(master)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def client(proxy_url: str) -> None:
        try:
            with httpx.Client(base_url=proxy_url, timeout=30) as http:
                while not stop.is_set():
                    status = http.get("/api/products/?page=1").status_code
                    with lock:
                        statuses[status] += 1
        except BaseException as err:  # a transport error is a lost request too
            errors.append(err)

    def served() -> int:
        with lock:
            return sum(statuses.values())

    with ProxyProcess.from_yaml(table_yaml({"legacy": url}), tmp_path) as proxy:
        threads = [
            threading.Thread(target=client, args=(proxy.url,), daemon=True) for _ in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: served() >= 30, what="traffic before the reload", timeout=60)
            assert master.popen is not None
            os.kill(master.popen.pid, signal.SIGHUP)
            # the reload is over when none of the old workers is left and two new ones run
            wait_until(
                lambda: not (_workers(master) & before) and len(_workers(master)) == 2,
                what="the old workers replaced",
                timeout=60,
            )
            after = served()
            wait_until(lambda: served() >= after + 30, what="traffic after the reload")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a client never finished its request"
    assert not errors, errors
    assert set(statuses) == {200}, statuses
    assert master.alive(), "the monolith's master exited"


def test_reuse_port_gives_every_worker_its_own_listening_socket(database: str) -> None:
    shared, separate = free_port(), free_port()
    with (
        _monolith(database, shared) as one,
        _monolith(database, separate, GUNICORN_REUSE_PORT="1") as each,
    ):
        for proc, port in ((one, shared), (each, separate)):
            proc.wait_http(f"http://127.0.0.1:{port}/healthz", status=200)
            _wait_for_workers(proc)
        # a worker makes its own socket after it is forked: wait for the second one
        wait_until(lambda: _listeners(separate) == 2, what="a listener per worker")
        assert _listeners(shared) == 1
        # and it serves, over several connections
        for _ in range(4):
            with httpx.Client(base_url=f"http://127.0.0.1:{separate}", timeout=30) as http:
                assert http.get("/api/products/?page=1").status_code == 200
