"""Write cutover end to end: the catalog service writes products, the monolith follows.

Real processes, all on 127.0.0.1: the monolith (gunicorn) and the catalog service (gunicorn),
both with ``STRANGLER_WRITER_CATALOG_PRODUCT=catalog``; the monolith's ``outbox_relay`` and the
catalog's consumer (monolith → service: stock); the catalog's relay and the monolith's
``catalog_reverse_sync`` (service → monolith: everything else). Checked:

- a staff PATCH to the service shows up in the monolith's product API;
- the monolith refuses a product write with 409, and a service configured with the monolith as
  the writer refuses one too;
- an order placed in the monolith moves the stock on both sides and leaves the service's
  fields alone (the two streams do not fight);
- a dry-run PATCH answers as a real one and changes nothing on either side;
- an event published twice is applied once, and no event comes back as an echo.

Once on the embedded defaults (SQLite, SQLite broker), once on PostgreSQL + RabbitMQ (unique
exchange and queue names, deleted afterwards).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.catalog.dataspec import SPEC
from extracted.catalog.testing import REPO_ROOT, gunicorn_argv, monolith_env, seed_monolith
from extracted.common import create_engine_from_url
from extracted.datatools import Verdict, backfill_service, verify_service
from extracted.datatools.testing import delete_amqp_entities
from strangler_proxy._procs import Process, free_port, wait_until
from strangler_proxy.gateway import sign_assertion

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"
PYTHON = sys.executable
WRITER_ENV = "STRANGLER_WRITER_CATALOG_PRODUCT"
KEY = "e2e-identity-key-" + secrets.token_hex(16)
REFUSED_BY_MONOLITH = {"detail": "Products are written by the catalog service "
                                 "(STRANGLER_WRITER_CATALOG_PRODUCT=catalog)."}  # fmt: skip
REFUSED_BY_SERVICE = {"detail": "Products are written by the monolith "
                                "(STRANGLER_WRITER_CATALOG_PRODUCT=monolith)."}  # fmt: skip
PLACE_ORDER = """
from django.contrib.auth import get_user_model
from legacy_monolith.orders.services import place_order
place_order(get_user_model().objects.get(username="user0001"), [(PID, 2)])
print("placed", flush=True)
"""


def staff(**extra: str) -> dict[str, str]:
    claims = {"user_id": 1, "username": "admin", "is_staff": True, "request_id": "e2e"}
    token = sign_assertion(claims, KEY.encode(), ttl=60, audience="catalog", now=time.time())
    return {"X-Strangler-Identity": token, **extra}


@dataclass
class Rig:
    monolith_url: str
    catalog_url: str
    broker_url: str
    log_dir: Path
    suffix: str
    procs: list[Process] = field(default_factory=list)

    @property
    def exchange(self) -> str:
        return f"strangler.events{self.suffix}"

    @property
    def queues(self) -> tuple[str, str]:
        return f"catalog.sync{self.suffix}", f"monolith.catalog.reverse_sync{self.suffix}"

    def start(self, argv: list[str], name: str, env: dict[str, str]) -> Process:
        proc = Process(argv, name=name, env=env, cwd=REPO_ROOT, log_dir=self.log_dir)
        self.procs.append(proc)
        return proc.start()

    def monolith_env(self, **extra: str) -> dict[str, str]:
        return monolith_env(self.monolith_url, PYTHONWARNINGS="ignore", **{WRITER_ENV: "catalog"},
                            **extra)  # fmt: skip

    def catalog_env(self, writer: str = "catalog") -> dict[str, str]:
        return {
            **os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "ignore",
            "CATALOG_DATABASE_URL": self.catalog_url, "CATALOG_IDENTITY_KEY": KEY,
            WRITER_ENV: writer, "GUNICORN_WORKERS": "1",
        }  # fmt: skip

    def wait_consuming(self, proc: Process) -> None:
        def ready() -> bool:
            assert proc.alive(), proc.output()
            return "consuming" in proc.output()

        wait_until(ready, timeout=30, what=f"{proc.name} to declare its queue")

    def start_consumers(self) -> None:
        catalog_queue, reverse_queue = self.queues
        self.wait_consuming(self.start(
            [PYTHON, "-m", "extracted.catalog.consumer", "--broker", self.broker_url,
             "--database-url", self.catalog_url, "--queue", catalog_queue,
             "--exchange", self.exchange, "--visibility-timeout", "2"],
            "catalog-consumer", self.catalog_env(),
        ))  # fmt: skip
        self.wait_consuming(self.start(
            [PYTHON, "-m", "django", "catalog_reverse_sync", "--broker", self.broker_url,
             "--queue", reverse_queue, "--exchange", self.exchange, "--visibility-timeout", "2"],
            "reverse-sync", self.monolith_env(),
        ))  # fmt: skip

    def start_relays(self) -> None:
        self.start(
            [PYTHON, "-m", "django", "outbox_relay", "--broker", self.broker_url,
             "--exchange", self.exchange, "--interval", "0.05"],
            "monolith-relay", self.monolith_env(),
        )  # fmt: skip
        self.start(
            [PYTHON, "-m", "extracted.catalog.relay", "--broker", self.broker_url,
             "--database-url", self.catalog_url, "--exchange", self.exchange,
             "--interval", "0.05"],
            "catalog-relay", self.catalog_env(),
        )  # fmt: skip

    def start_server(self, name: str, argv: list[str], env: dict[str, str], port: int) -> str:
        proc = self.start(argv, name, env)
        url = f"http://127.0.0.1:{port}"
        proc.wait_http(f"{url}/healthz", timeout=60, status=200)
        return url

    def start_monolith(self) -> str:
        port = free_port()
        argv = [str(Path(PYTHON).with_name("gunicorn")), "-c",
                str(REPO_ROOT / "legacy_monolith" / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{port}", "legacy_monolith.wsgi:application"]  # fmt: skip
        return self.start_server("monolith", argv, self.monolith_env(), port)

    def start_catalog(self, name: str, writer: str = "catalog") -> str:
        port = free_port()
        argv = gunicorn_argv("extracted/catalog/gunicorn.conf.py", port)
        return self.start_server(name, argv, self.catalog_env(writer), port)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def _scenario(rig: Rig) -> None:
    seed_monolith(rig.monolith_url, products=30)
    source = create_engine_from_url(rig.monolith_url)
    target = create_engine_from_url(rig.catalog_url)
    try:
        rig.start_consumers()
        with open(rig.log_dir / "backfill.log", "w") as out:
            backfill_service(SPEC, source, target, consumer_queue=rig.queues[0], out=out)
        rig.start_relays()
        monolith = rig.start_monolith()
        catalog = rig.start_catalog("catalog")
        _exercise(rig, monolith, catalog, source, target)
    finally:
        rig.stop_all()
        source.dispose()
        target.dispose()


def _exercise(rig: Rig, monolith: str, catalog: str, source: Engine, target: Engine) -> None:
    pid = int(rows(source, "SELECT MIN(id) FROM catalog_product WHERE stock >= 5")[0][0])
    path = f"/api/products/{pid}/"
    with httpx.Client(base_url=monolith, timeout=30) as legacy, \
            httpx.Client(base_url=catalog, timeout=30) as service:  # fmt: skip
        token = legacy.post("/api/accounts/login/", json={"username": "admin", "password": "admin"})
        admin = {"Authorization": f"Token {token.json()['token']}"}
        stock = legacy.get(path).json()["stock"]

        def monolith_shows(name: str) -> Callable[[], bool]:
            def check() -> bool:
                for proc in rig.procs:
                    assert proc.alive(), f"{proc.name} died:\n{proc.output()}"
                return bool(legacy.get(path).json()["name"] == name)

            return check

        # 1. the service writes; the monolith's product API follows
        resp = service.patch(path, json={"name": "Written by the service", "price": "42.00"},
                             headers=staff())  # fmt: skip
        assert resp.status_code == 200, resp.text
        wait_until(monolith_shows("Written by the service"), timeout=60, what="reverse sync")
        item = legacy.get(path).json()
        assert item["price"] == "42.00" and item["stock"] == stock
        assert item["updated_at"] == resp.json()["updated_at"]

        # 2. the monolith refuses to write products, the service is the writer
        refused = legacy.patch(path, json={"name": "legacy"}, headers=admin)
        assert refused.status_code == 409 and refused.json() == REFUSED_BY_MONOLITH
        # ... and a service told the monolith writes refuses as well
        other = rig.start_catalog("catalog-not-writer", writer="monolith")
        refused = httpx.patch(f"{other}{path}", json={"name": "x"}, headers=staff(), timeout=30)
        assert refused.status_code == 409 and refused.json() == REFUSED_BY_SERVICE

        # 3. stock stays the monolith's: an order moves it on both sides, names do not fight
        placed = subprocess_ok(rig, PLACE_ORDER.replace("PID", str(pid)))
        assert "placed" in placed

        def service_stock_moved() -> bool:
            return bool(service.get(path).json()["stock"] == stock - 2)

        wait_until(service_stock_moved, timeout=60, what="the order's stock in the service")
        assert service.get(path).json()["name"] == "Written by the service"
        assert legacy.get(path).json()["name"] == "Written by the service"
        assert legacy.get(path).json()["stock"] == stock - 2

        # 4. a dry run answers as a real write would, and leaves nothing on either side
        before = service.get(path).json()
        dry = service.patch(
            path, json={"name": "Dry run"}, headers=staff(**{"X-Strangler-Dry-Run": "1"})
        )
        assert dry.status_code == 200 and dry.json()["name"] == "Dry run"
        assert service.get(path).json() == before
        assert rows(target, "SELECT COUNT(*) FROM catalog_outbox")[0][0] == 1

        # 5. the first event published again (a relay that died before marking it sent)
        with target.begin() as conn:
            conn.execute(text("UPDATE catalog_outbox SET sent_at = NULL"))
        resp = service.patch(path, json={"name": "Second write"}, headers=staff())
        assert resp.status_code == 200, resp.text
        # the queue is ordered: once the second write is there, the duplicate went before it
        wait_until(monolith_shows("Second write"), timeout=60, what="the second write")
        legacy_item = legacy.get(path).json()
        assert legacy_item["price"] == "42.00" and legacy_item["stock"] == stock - 2

    events = rows(target, "SELECT event_id, version FROM catalog_outbox ORDER BY seq")
    assert [v for _, v in events] == [1, 2]
    handled = rows(source, "SELECT event_id, version, outcome FROM catalog_reversesyncevent")
    assert sorted((str(e), v, o) for e, v, o in handled) == sorted(
        (str(e), v, "applied") for e, v in events
    )
    # no echo: the monolith's outbox for this product holds only its own stock change
    own = rows(source, "SELECT type FROM outbox_outboxevent WHERE aggregate_id = :i", i=str(pid))
    assert [t for (t,) in own] == ["catalog.product.stock_changed"]
    # and the catalog's consumer skipped the service's own events
    service_ids = {str(e) for e, _ in events}
    consumed = {str(e) for (e,) in rows(target, "SELECT event_id FROM sync_processed")}
    assert not service_ids & consumed
    assert rows(target, "SELECT COUNT(*) FROM sync_dead_letters")[0][0] == 0
    # both sides hold the same catalog: the service's fields, the monolith's stock
    report = verify_service(SPEC, source, target, sample=20)
    assert report.verdict is Verdict.OK, "\n".join(report.lines())


def subprocess_ok(rig: Rig, script: str) -> str:
    proc = rig.start([PYTHON, "-m", "django", "shell", "-c", script], "order", rig.monolith_env())
    wait_until(lambda: not proc.alive(), timeout=60, what="the order to be placed")
    rig.procs.remove(proc)  # done: the liveness checks are for the long-running ones
    assert proc.popen is not None and proc.popen.returncode == 0, proc.output()
    return proc.output()


def test_write_cutover_embedded(tmp_path: Path) -> None:
    rig = Rig(
        monolith_url=f"sqlite:///{tmp_path}/monolith.sqlite3",
        catalog_url=f"sqlite:///{tmp_path}/catalog.sqlite3",
        broker_url=f"sqlite:///{tmp_path}/broker.sqlite3",
        log_dir=tmp_path,
        suffix="",
    )
    _scenario(rig)


@pytest.mark.postgres
def test_write_cutover_rabbitmq_postgres(tmp_path: Path, pg_database: Callable[[str], str]) -> None:
    rig = Rig(
        monolith_url=pg_database("wc_src"),
        catalog_url=pg_database("wc_dst"),
        broker_url=RABBIT_URL,
        log_dir=tmp_path,
        suffix=f".t{secrets.token_hex(4)}",
    )
    try:
        _scenario(rig)
    finally:
        delete_amqp_entities(RABBIT_URL, rig.exchange, list(rig.queues))
