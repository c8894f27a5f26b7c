"""Test and demo helpers for the payment saga: every piece runs as a real process.

    rig = SagaRig(monolith_url, payments_url, broker_url, log_dir=tmp, suffix=".tab12")
    rig.migrate_monolith(); ids = rig.shop(SETUP_SCRIPT)
    rig.start_saga_consumer("saga")              # the monolith's saga_consumer
    rig.start_payments_worker("payments", card_limit="100.00")
    rig.start_relay("relay")                     # the monolith's outbox_relay
    ...
    rig.stop_all()

The monolith is only ever run as a subprocess (``python -m django ...``), never imported.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kombu import Producer
from sqlalchemy.engine import Engine

from extracted.catalog.testing import REPO_ROOT, monolith_env, run_monolith_command
from extracted.common import create_engine_from_url
from extracted.common.broker import connect, events_exchange
from strangler_proxy._procs import Process, wait_until

__all__ = ["SagaRig", "publish_raw"]

PYTHON = sys.executable


def publish_raw(broker_url: str, exchange: str, bodies: list[dict[str, Any]]) -> None:
    """Publish message bodies as they are (e.g. a second copy of an event), in order."""
    with connect(broker_url) as conn:
        channel = conn.channel()
        ex = events_exchange(exchange)
        ex.declare(channel=channel)
        producer = Producer(channel, exchange=ex, serializer="json")
        for body in bodies:
            producer.publish(
                body, routing_key=str(body.get("type", "")), message_id=str(body.get("id", ""))
            )
        channel.close()


@dataclass
class SagaRig:
    monolith_url: str
    payments_url: str
    broker_url: str
    log_dir: Path
    suffix: str = ""  # unique exchange/queue names per test run (RabbitMQ is shared)
    visibility_timeout: float = 2.0
    procs: list[Process] = field(default_factory=list)

    @property
    def exchange(self) -> str:
        return f"strangler.events{self.suffix}"

    @property
    def payments_queue(self) -> str:
        return f"payments.orders{self.suffix}"

    @property
    def saga_queue(self) -> str:
        return f"monolith.saga{self.suffix}"

    # -- processes ---------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return monolith_env(
            self.monolith_url, PYTHONWARNINGS="ignore", STRANGLER_PAYMENTS_OWNER="service"
        )

    def _start(self, argv: list[str], name: str, env: dict[str, str]) -> Process:
        proc = Process(argv, name=name, env=env, cwd=REPO_ROOT, log_dir=self.log_dir)
        self.procs.append(proc)
        return proc.start()

    def _wait_consuming(self, proc: Process) -> Process:
        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
            return "consuming" in proc.output()

        wait_until(ready, timeout=60, what=f"{proc.name} to declare its queue")
        return proc

    def start_saga_consumer(self, name: str) -> Process:
        proc = self._start(
            [PYTHON, "-m", "django", "saga_consumer", "--broker", self.broker_url,
             "--queue", self.saga_queue, "--exchange", self.exchange,
             "--visibility-timeout", str(self.visibility_timeout)],
            name, self._env(),
        )  # fmt: skip
        return self._wait_consuming(proc)

    def start_payments_worker(self, name: str, *, card_limit: str | None = None) -> Process:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "ignore"}
        env.pop("PAYMENT_FAILURE_RATE", None)
        argv = [
            PYTHON, "-m", "extracted.payments.worker", "--broker", self.broker_url,
            "--database", self.payments_url, "--queue", self.payments_queue,
            "--exchange", self.exchange, "--visibility-timeout", str(self.visibility_timeout),
            "--relay-interval", "0.05",
        ]  # fmt: skip
        if card_limit is not None:
            argv += ["--card-limit", card_limit]
        return self._wait_consuming(self._start(argv, name, env))

    def start_relay(self, name: str) -> Process:
        return self._start(
            [PYTHON, "-m", "django", "outbox_relay", "--broker", self.broker_url,
             "--exchange", self.exchange, "--interval", "0.05"],
            name, self._env(),
        )  # fmt: skip

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()

    # -- the shop ----------------------------------------------------------------------------
    def migrate_monolith(self) -> None:
        run_monolith_command(self.monolith_url, "migrate", "--noinput", "-v", "0")

    def shop(self, script: str) -> Any:
        """Run ``script`` in ``python -m django shell``; its last stdout line, as JSON."""
        out = run_monolith_command(self.monolith_url, "shell", "-c", script)
        return json.loads(out.strip().splitlines()[-1])

    # -- reading the databases ---------------------------------------------------------------
    def monolith(self) -> Engine:
        return create_engine_from_url(self.monolith_url)

    def payments(self) -> Engine:
        return create_engine_from_url(self.payments_url)
