"""``strangler demo``: the demo shop behind the proxy, on embedded defaults.

Reads the routing table to learn the addresses, then:

1. migrates and seeds the monolith's SQLite database (idempotent: a second run adds nothing),
2. starts the catalog's event consumer (its queue exists before anything is published), then
   backfills the catalog service's own SQLite database (after the consumer: no change between
   snapshot and stream is lost),
3. with ``--payments service``: starts the payments worker and the monolith's saga consumer
   (order placed → payment → paid and shipped, or cancelled with the stock released),
4. starts the monolith's outbox relay, the monolith (gunicorn, gthread), the catalog service
   (gunicorn) and the proxy,
5. prints the URLs to try and waits; Ctrl-C stops everything, proxy first.

Events travel through the embedded broker (``var/broker.sqlite3``; ``STRANGLER_BROKER_URL``
overrides it, e.g. ``amqp://guest:guest@127.0.0.1:5672//``). The deployables stay separate
processes that share only HTTP, the broker and, for the backfill, a read of the monolith's
tables; the demo imports none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ._procs import Process, ProcessFailed
from .config import load_table
from .errors import ConfigError
from .model import RoutingTable

__all__ = ["run_demo"]

PY = sys.executable


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _step(argv: list[str], env: dict[str, str], what: str) -> None:
    _say(what)
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise ProcessFailed(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    for line in result.stdout.strip().splitlines()[-2:]:
        _say(f"  {line}")


def _bind(table: RoutingTable, upstream: str) -> str:
    url = urlsplit(table.upstreams[upstream].instances[0])
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(
            f"the demo starts {upstream} locally; routing.yaml points it at {url.netloc}"
        )
    return url.netloc


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers={"Host": urlsplit(url).netloc})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def _tour(proxy_url: str) -> bool:
    """Ask the proxy for a product list and an order list; print who served them."""
    ok = True
    for path, want in (("/api/products/", "catalog"), ("/api/orders/", "legacy")):
        status, headers, _ = _get(proxy_url + path)
        served = headers.get("X-Strangler-Upstream", "?")
        route = headers.get("X-Strangler-Route", "?")
        _say(f"  GET {path:<16} → {status}, route {route}, served by {served}")
        ok = ok and served == want
    return ok


def run_demo(args: argparse.Namespace) -> int:
    try:
        table = load_table(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 1
    if "legacy" not in table.upstreams or "catalog" not in table.upstreams:
        print(f"{args.config}: the demo needs upstreams named legacy and catalog", file=sys.stderr)
        return 2
    var = Path(args.var).resolve()
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    monolith_db = f"sqlite:///{var / 'monolith.sqlite3'}"
    catalog_db = f"sqlite:///{var / 'catalog.sqlite3'}"
    base_env = dict(os.environ)
    base_env.pop("DJANGO_SETTINGS_MODULE", None)
    broker = os.environ.get("STRANGLER_BROKER_URL") or f"sqlite:///{var / 'broker.sqlite3'}"
    base_env["STRANGLER_BROKER_URL"] = broker
    monolith_env = base_env | {
        "DJANGO_SETTINGS_MODULE": "legacy_monolith.settings",
        "DATABASE_URL": monolith_db,
        "DJANGO_TRUST_X_FORWARDED": "1",
        "DJANGO_ALLOWED_HOSTS": "*",
        "STRANGLER_PAYMENTS_OWNER": args.payments,
    }
    catalog_env = base_env | {"CATALOG_DATABASE_URL": catalog_db, "CATALOG_TRUST_X_FORWARDED": "1"}
    payments_env = base_env | {"PAYMENTS_DATABASE_URL": f"sqlite:///{var / 'payments.sqlite3'}"}
    started: list[Process] = []

    def background(argv: list[str], name: str, env: dict[str, str]) -> Process:
        """A consumer or relay: started, and for consumers, waited for until its queue is
        declared (``consuming <queue>``)."""
        proc = Process(argv, name=name, env=env, log_dir=logs)
        started.append(proc.start())
        if name != "relay":
            _wait_output(proc, "consuming", 60)
        _say(f"{name} running (log {proc.log_path})")
        return proc

    try:
        _step([PY, "-m", "django", "migrate", "--noinput"], monolith_env, "migrating the monolith")
        _step(
            [PY, "-m", "django", "seed", "--products", str(args.products)],
            monolith_env,
            f"seeding the demo shop ({args.products} products; nothing is added twice)",
        )
        background([PY, "-m", "extracted.catalog.consumer"], "catalog-events", catalog_env)
        _step(
            [
                PY,
                "-m",
                "extracted.catalog.backfill",
                "--source-url",
                monolith_db,
                "--target-url",
                catalog_db,
            ],
            catalog_env,
            "backfilling the catalog service's own database",
        )
        if args.payments == "service":
            background([PY, "-m", "extracted.payments.worker"], "payments-worker", payments_env)
            background([PY, "-m", "django", "saga_consumer"], "saga", monolith_env)
        background([PY, "-m", "django", "outbox_relay"], "relay", monolith_env)
    except ProcessFailed as err:
        print(err, file=sys.stderr)
        _stop(started)
        return 1

    gunicorn = [PY, "-m", "gunicorn"]
    monolith = Process(
        [
            *gunicorn,
            "-c",
            _package_file("legacy_monolith", "gunicorn.conf.py"),
            "-b",
            _bind(table, "legacy"),
        ],
        name="monolith",
        env=monolith_env,
        log_dir=logs,
    )
    catalog = Process(
        [
            *gunicorn,
            "-c",
            _package_file("extracted.catalog", "gunicorn.conf.py"),
            "-b",
            _bind(table, "catalog"),
        ],
        name="catalog",
        env=catalog_env,
        log_dir=logs,
    )
    access_log = logs / "proxy-access.log"
    proxy = Process(
        [
            PY,
            "-m",
            "strangler_proxy",
            "proxy",
            "--config",
            str(Path(args.config).resolve()),
            "--access-log",
            str(access_log),
            "--shadow-store",
            f"sqlite:///{var / 'shadow.sqlite3'}",
            "--inventory-settings",
            "legacy_monolith.settings",
        ],
        name="proxy",
        env=base_env,
        log_dir=logs,
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        for proc, up in ((monolith, "legacy"), (catalog, "catalog")):
            started.append(proc.start())
            proc.wait_http(table.upstreams[up].instances[0] + "/healthz", status=200)
            _say(f"{proc.name} up at {table.upstreams[up].instances[0]} (log {proc.log_path})")
        started.append(proxy.start())
        admin_url = f"http://{table.settings.admin_listen}"
        proxy_url = f"http://{table.settings.listen}"
        proxy.wait_http(admin_url + "/healthz", status=200)
        _say(f"proxy up at {proxy_url} (admin {admin_url}, access log {access_log})")
        ok = _tour(proxy_url)
        if args.check:
            return 0 if ok else 1
        _say("")
        _say("Try:")
        _say(f"  curl -si {proxy_url}/api/products/ | grep X-Strangler     # the catalog service")
        _say(f"  curl -si {proxy_url}/api/orders/   | grep X-Strangler     # the monolith")
        _say(f"  curl -s  {admin_url}/table                                # the active table")
        _say(f"  edit {args.config} (e.g. product-list → mode: legacy) and save: live within 1 s")
        _say("Ctrl-C stops everything.")
        while not stop.wait(0.5):
            for proc in started:
                if not proc.alive():
                    _say(f"{proc.name} exited unexpectedly:\n{proc.output()}")
                    return 1
        return 0
    except ProcessFailed as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(started)


def _stop(started: list[Process]) -> None:
    """Stop in reverse order: the proxy first, the consumers last (nothing left unread)."""
    for proc in reversed(started):
        with contextlib.suppress(Exception):
            proc.stop()
    if started:
        _say("stopped " + ", ".join(p.name for p in reversed(started)))


def _wait_output(proc: Process, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.output():
        if not proc.alive():
            raise ProcessFailed(f"{proc.name} exited:\n{proc.output()}")
        if time.monotonic() > deadline:
            raise ProcessFailed(f"{proc.name} did not print {text!r} in {timeout:g}s")
        time.sleep(0.1)  # polling a log file: there is no notification to wait for


def _package_file(package: str, name: str) -> str:
    """A file beside a deployable's package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"the demo needs the {package} package installed (pip install -e .)")
    return str(Path(spec.origin).parent / name)
