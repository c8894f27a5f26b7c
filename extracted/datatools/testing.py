"""Test and demo helpers for the data path: monolith → outbox relay → broker → consumer.

Everything runs as real processes on 127.0.0.1 (the monolith's relay and shell, the
catalog's consumer); this module only starts them and reads the databases::

    rig = SyncRig(monolith_url, catalog_url, broker_url, log_dir=tmp, suffix="ab12")
    consumer = rig.start_consumer("consumer-1")       # waits for "consuming ..."
    relay = rig.start_relay("relay-1")
    rig.wait_synced()                                 # outbox sent, every event processed
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.catalog.testing import REPO_ROOT, monolith_env
from extracted.common import create_engine_from_url
from extracted.common.broker import connect
from strangler_proxy._procs import Process, wait_until

__all__ = ["CHURN_SCRIPT", "SyncRig", "delete_amqp_entities", "kill_hard"]

PYTHON = sys.executable

#: Changes through the monolith's own services (each a transaction with its outbox events):
#: price edits, orders placed and cancelled, products created and some deleted. ``N`` rounds.
CHURN_SCRIPT = """
import random
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.db import transaction
from legacy_monolith.catalog.models import Category, Product
from legacy_monolith.core.exceptions import OutOfStock
from legacy_monolith.orders.services import cancel_order, place_order
from legacy_monolith.outbox.events import EventType, product_deleted_event, product_event
rng = random.Random(7)
user = get_user_model().objects.get(username="user0001")
ids = list(Product.objects.order_by("id").values_list("id", flat=True)[:40])
category = Category.objects.order_by("id").first()
created = []
for i in range(N):
    op = rng.random()
    if op < 0.35:
        with transaction.atomic():
            p = Product.objects.get(pk=rng.choice(ids))
            p.price = Decimal(rng.randrange(100, 99999)) / 100
            p.name = f"churn {i}"
            p.save()
            product_event(EventType.PRODUCT_CHANGED, p.pk)
    elif op < 0.75:
        try:
            order = place_order(user, [(rng.choice(ids), 1), (rng.choice(ids), 1)])
        except OutOfStock:
            continue
        if rng.random() < 0.5:
            cancel_order(order.pk, user)
    elif op < 0.9 or not created:
        with transaction.atomic():
            p = Product.objects.create(sku=f"CHURN-{i}", name=f"new {i}", price=Decimal("1.00"),
                                       stock=5, category=category, attributes={"i": i})
            product_event(EventType.PRODUCT_CREATED, p.pk)
        created.append(p.pk)
    else:
        with transaction.atomic():
            pk = created.pop(rng.randrange(len(created)))
            Product.objects.filter(pk=pk).delete()
            product_deleted_event(pk)
print("churn done", flush=True)
"""


def kill_hard(proc: Process) -> None:
    """SIGKILL the process group (no cleanup at all), then reap it."""
    assert proc.popen is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, signal.SIGKILL)
    proc.stop()


def delete_amqp_entities(url: str, exchange: str, queues: list[str]) -> None:
    """Drop a test run's exchange and queues from RabbitMQ."""
    with connect(url) as conn:
        channel = conn.channel()
        for queue in queues:
            channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        channel.close()


@dataclass
class SyncRig:
    monolith_url: str
    catalog_url: str
    broker_url: str
    log_dir: Path
    suffix: str = ""  # unique exchange/queue names per test run (RabbitMQ is shared)
    visibility_timeout: float = 2.0
    procs: list[Process] = field(default_factory=list)

    @property
    def exchange(self) -> str:
        return f"strangler.events{self.suffix}"

    @property
    def queue(self) -> str:
        return f"catalog.sync{self.suffix}"

    def _start(self, argv: list[str], name: str, env: dict[str, str]) -> Process:
        proc = Process(argv, name=name, env=env, cwd=REPO_ROOT, log_dir=self.log_dir)
        self.procs.append(proc)
        return proc.start()

    def start_consumer(self, name: str) -> Process:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "ignore"}
        proc = self._start(
            [PYTHON, "-m", "extracted.catalog.consumer", "--broker", self.broker_url,
             "--database-url", self.catalog_url, "--queue", self.queue,
             "--exchange", self.exchange, "--visibility-timeout", str(self.visibility_timeout)],
            name, env,
        )  # fmt: skip
        wait_until(
            lambda: _alive_or_fail(proc) and "consuming" in proc.output(),
            timeout=30,
            what=f"{name} to declare its queue",
        )
        return proc

    def start_relay(self, name: str, batch_size: int = 20) -> Process:
        env = monolith_env(self.monolith_url, PYTHONWARNINGS="ignore")
        return self._start(
            [PYTHON, "-m", "django", "outbox_relay", "--broker", self.broker_url,
             "--exchange", self.exchange, "--batch-size", str(batch_size), "--interval", "0.05"],
            name, env,
        )  # fmt: skip

    def start_churn(self, name: str, rounds: int) -> Process:
        env = monolith_env(self.monolith_url, PYTHONWARNINGS="ignore")
        script = CHURN_SCRIPT.replace("range(N)", f"range({rounds})")
        return self._start([PYTHON, "-m", "django", "shell", "-c", script], name, env)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()

    # -- reading the databases ---------------------------------------------------------------
    def monolith(self) -> Engine:
        return create_engine_from_url(self.monolith_url)

    def catalog(self) -> Engine:
        return create_engine_from_url(self.catalog_url)

    def outbox_counts(self) -> tuple[int, int]:
        """(catalog events in the outbox, of which sent)."""
        engine = self.monolith()
        try:
            with engine.connect() as conn:
                total, sent = conn.execute(
                    text(
                        "SELECT COUNT(*), COUNT(sent_at) FROM outbox_outboxevent"
                        " WHERE aggregate_type = 'catalog.product'"
                    )
                ).one()
            return int(total), int(sent or 0)
        finally:
            engine.dispose()

    def processed_count(self) -> int:
        engine = self.catalog()
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT COUNT(*) FROM sync_processed")).scalar_one())
        except Exception:  # the consumer has not created its tables yet
            return 0
        finally:
            engine.dispose()

    def all_sent(self) -> bool:
        engine = self.monolith()
        try:
            with engine.connect() as conn:
                unsent = conn.execute(
                    text("SELECT COUNT(*) FROM outbox_outboxevent WHERE sent_at IS NULL")
                ).scalar_one()
            return int(unsent) == 0
        finally:
            engine.dispose()

    def wait_synced(self, timeout: float = 60.0) -> None:
        def synced() -> bool:
            total, _ = self.outbox_counts()
            return self.all_sent() and self.processed_count() == total

        wait_until(synced, timeout=timeout, interval=0.2, what="the catalog to apply every event")


def _alive_or_fail(proc: Process) -> bool:
    if not proc.alive():
        raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
    return True
