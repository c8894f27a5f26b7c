"""Sync lag under a steady write load: monolith commit → outbox relay → broker → catalog database.

    python -m loadtests.bench_sync [--rate 200] [--seconds 20] [--broker amqp|sqlite|URL]
                                   [--db postgres|sqlite] [--products 200] [--backlog 500]
                                   [--batch-size 100] [--relay-interval 0.2]

Everything runs on 127.0.0.1 as real processes, as in production:

1. two fresh databases: the monolith's and the catalog's (``--db postgres``, the default:
   temporary databases on the PostgreSQL server at 127.0.0.1:5432, dropped afterwards;
   ``--db sqlite``: files in a temp folder); the monolith is migrated and seeded
   (``--products``), and the catalog consumer (``python -m extracted.catalog.consumer``) is
   started, then the catalog backfilled (``backfill_service``), as the playbook orders it;
2. **backlog** (``--backlog N``, 0 to skip): N product updates are committed with no relay
   running, then the relay (``python -m django outbox_relay``) is started and the backlog
   drained: how many events per second the relay publishes, and the consumer applies, when
   they are not waiting for work;
3. **steady load**: a writer (``python -m django shell``: ``Product.save()`` and
   ``product_event(PRODUCT_CHANGED)`` in one ``transaction.atomic()``, as the monolith's
   product update does) commits ``--rate`` updates per second for ``--seconds``, paced on a
   schedule, round-robin over the products, and notes the wall-clock time after each commit
   per (product id, version, event id). A writer that falls behind its schedule writes as fast
   as it can and still stops after ``--seconds`` (the run stays bounded; the report says it
   was not a steady state). Once every event is applied, the lag of each is
   ``processed_at - commit time``, where ``processed_at`` is the consumer's stamp in
   ``sync_processed``, written in the transaction that applies the event (visibility is at
   its commit, a few ms later). ``commit → sent`` is the part up to the relay marking the
   event's batch sent (after the broker took the whole batch).

The broker is RabbitMQ (``--broker amqp``, default: amqp://guest:guest@127.0.0.1:5672//, with an
exchange and queue named for this run and deleted afterwards) or the embedded SQLite transport
(``--broker sqlite``: a file in the temp folder); a full broker URL is accepted too.

Also reported: the CPU time per event of the writer, the relay and the consumer (from /proc;
the databases' and the broker's own CPU are not counted), how far the writer fell behind its
schedule (when it cannot keep ``--rate``, the load is the most it could write), and
``strangler data verify``'s verdict at the end (the catalog equals the monolith).

Prints a table, then one JSON line (``{"bench": "sync", ...}``). Exit 0 when every written
event was applied in the catalog and verify found no difference, 1 otherwise. Record results in
``migration_playbook/reference/benchmarks.md`` with the command line that produced them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from extracted.catalog.dataspec import SPEC
from extracted.catalog.testing import REPO_ROOT, monolith_env, run_monolith_command
from extracted.common import create_engine_from_url
from extracted.datatools import Verdict, backfill_service, verify_service
from extracted.datatools.testing import delete_amqp_entities
from strangler_proxy.testing import Process, wait_until
from strangler_proxy.testing.postgres import temporary_database

__all__ = ["WRITER_SCRIPT", "main"]

PYTHON = sys.executable
RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"

#: Paced product updates through the monolith's models and outbox (run by ``django shell``).
#: Environment: BENCH_RATE (per second, 0 = as fast as possible), BENCH_COUNT, BENCH_SECONDS
#: (stop then even when fewer than BENCH_COUNT were written; 0 = no limit), BENCH_OUT.
#: Writes one JSON line per committed update to BENCH_OUT: [event id, product id, version,
#: commit time (epoch seconds)], then prints a summary line.
WRITER_SCRIPT = """
import json, os, time
from decimal import Decimal
from django.db import transaction
from legacy_monolith.catalog.models import Product
from legacy_monolith.outbox.events import EventType, product_event
rate = float(os.environ["BENCH_RATE"])
count = int(os.environ["BENCH_COUNT"])
limit = float(os.environ["BENCH_SECONDS"])
ids = list(Product.objects.order_by("id").values_list("id", flat=True))
done = []
behind = 0.0
cpu_start = time.process_time()
start = time.monotonic()
for i in range(count):
    if limit > 0 and time.monotonic() - start >= limit:
        break
    if rate > 0:
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            behind = max(behind, -delay)
    pk = ids[i % len(ids)]
    with transaction.atomic():
        p = Product.objects.get(pk=pk)
        p.price = Decimal(100 + (i * 7919) % 99900) / 100
        p.save()
        event = product_event(EventType.PRODUCT_CHANGED, pk)
    done.append((str(event.event_id), pk, event.version, time.time()))
elapsed = time.monotonic() - start
cpu = time.process_time() - cpu_start
with open(os.environ["BENCH_OUT"], "w") as out:
    for row in done:
        out.write(json.dumps(row) + "\\n")
summary = {"written": len(done), "seconds": elapsed, "max_behind_s": behind, "cpu_s": cpu}
print(json.dumps(summary), flush=True)
"""


@dataclass(frozen=True)
class Written:
    event_id: str
    product_id: int
    version: int
    committed: float  # epoch seconds


def _uuid(value: Any) -> str:
    """Outbox ids are UUIDs on PostgreSQL and 32 hex digits on SQLite; one spelling for both."""
    return str(uuid.UUID(str(value)))


def _epoch(value: Any) -> float:
    """A database timestamp (naive = UTC, aware, or SQLite's text) as epoch seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    stamp: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return stamp.timestamp()


def _pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _summary_ms(values: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {}
    return {
        "p50": round(_pct(ms, 0.50), 1),
        "p90": round(_pct(ms, 0.90), 1),
        "p99": round(_pct(ms, 0.99), 1),
        "max": round(max(ms), 1),
        "mean": round(statistics.fmean(ms), 1),
    }


def _cpu_seconds(proc: Process) -> float:
    """User + system CPU time of ``proc`` so far (from /proc; 0.0 when it is gone)."""
    if proc.popen is None:
        return 0.0
    try:
        stat = Path(f"/proc/{proc.popen.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rate(stamps: Sequence[float]) -> float | None:
    """Events per second over the span of ``stamps``, not counting the ones sharing the first
    stamp (a relay marks a whole batch with one time: they were published before it)."""
    if len(stamps) < 2:
        return None
    first, last = min(stamps), max(stamps)
    if last <= first:
        return None
    later = sum(1 for s in stamps if s > first)
    return round(later / (last - first), 1)


class Rig:
    """The processes and databases of one run."""

    def __init__(self, args: argparse.Namespace, folder: Path, stack: contextlib.ExitStack):
        self.args = args
        self.folder = folder
        self.procs: list[Process] = []
        suffix = f".bench{secrets.token_hex(3)}"
        if args.db == "postgres":
            self.monolith_url = stack.enter_context(temporary_database("bench_sync_mono"))
            self.catalog_url = stack.enter_context(temporary_database("bench_sync_cat"))
        else:
            self.monolith_url = f"sqlite:///{folder / 'monolith.sqlite3'}"
            self.catalog_url = f"sqlite:///{folder / 'catalog.sqlite3'}"
        broker = {"amqp": RABBIT_URL, "sqlite": f"sqlite:///{folder / 'broker.sqlite3'}"}
        self.broker_url = broker.get(args.broker, args.broker)
        self.exchange = f"strangler.events{suffix}"
        self.queue = f"catalog.sync{suffix}"
        if self.broker_url.startswith("amqp"):
            stack.callback(delete_amqp_entities, self.broker_url, self.exchange, [self.queue])
        stack.callback(self.stop_all)
        self.monolith: Engine = create_engine_from_url(self.monolith_url)
        self.catalog: Engine = create_engine_from_url(self.catalog_url)
        stack.callback(self.monolith.dispose)
        stack.callback(self.catalog.dispose)

    def _start(self, argv: list[str], name: str, env: dict[str, str]) -> Process:
        proc = Process(argv, name=name, env=env, cwd=REPO_ROOT, log_dir=self.folder)
        self.procs.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def _await(self, proc: Process, needle: str, what: str) -> None:
        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
            return needle in proc.output(200_000)

        wait_until(ready, timeout=60, interval=0.05, what=what)

    def seed(self) -> None:
        run_monolith_command(self.monolith_url, "migrate", "--noinput")
        run_monolith_command(
            self.monolith_url, "seed", "--products", str(self.args.products),
            "--categories", "5", "--users", "1", "--orders", "0",
        )  # fmt: skip

    def start_consumer(self) -> Process:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "ignore"}
        proc = self._start(
            [PYTHON, "-m", "extracted.catalog.consumer", "--broker", self.broker_url,
             "--database-url", self.catalog_url, "--queue", self.queue,
             "--exchange", self.exchange],
            "consumer", env,
        )  # fmt: skip
        self._await(proc, "consuming", "the consumer to declare its queue")
        return proc

    def backfill(self) -> None:
        with open(self.folder / "backfill.log", "w") as out:
            backfill_service(SPEC, self.monolith, self.catalog, consumer_queue=self.queue, out=out)

    def start_relay(self) -> Process:
        env = monolith_env(self.monolith_url, PYTHONWARNINGS="ignore")
        proc = self._start(
            [PYTHON, "-m", "django", "outbox_relay", "--broker", self.broker_url,
             "--exchange", self.exchange, "--batch-size", str(self.args.batch_size),
             "--interval", str(self.args.relay_interval)],
            "relay", env,
        )  # fmt: skip
        self._await(proc, "publishing to", "the relay to start")
        return proc

    def write(
        self, name: str, count: int, rate: float, seconds: float = 0.0
    ) -> tuple[list[Written], dict[str, Any]]:
        out = self.folder / f"{name}.jsonl"
        env = monolith_env(
            self.monolith_url,
            PYTHONWARNINGS="ignore",
            BENCH_RATE=str(rate),
            BENCH_COUNT=str(count),
            BENCH_SECONDS=str(seconds),
            BENCH_OUT=str(out),
        )
        proc = self._start([PYTHON, "-m", "django", "shell", "-c", WRITER_SCRIPT], name, env)
        budget = 120 + (seconds or count / 20)
        assert proc.popen is not None
        try:
            code = proc.popen.wait(budget)
        except Exception:
            proc.stop()
            raise
        if code != 0:
            raise RuntimeError(f"{name} exited with {code}:\n{proc.output()}")
        summary = json.loads(proc.output().strip().splitlines()[-1])
        rows = [json.loads(line) for line in out.read_text().splitlines() if line]
        return [Written(_uuid(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in rows], summary

    # -- reading the databases ---------------------------------------------------------------
    def processed(self) -> dict[str, tuple[float, str]]:
        """event id → (processed_at, outcome) of every event the catalog handled."""
        try:
            with self.catalog.connect() as conn:
                rows = conn.execute(
                    text("SELECT event_id, processed_at, outcome FROM sync_processed")
                ).all()
        except Exception:  # the consumer has not created its tables yet
            return {}
        return {_uuid(r[0]): (_epoch(r[1]), str(r[2])) for r in rows}

    def processed_count(self) -> int:
        with self.catalog.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM sync_processed")).scalar_one())

    def sent(self) -> dict[str, float | None]:
        """event id → sent_at (None while unsent) of every outbox row."""
        with self.monolith.connect() as conn:
            rows = conn.execute(text("SELECT event_id, sent_at FROM outbox_outboxevent")).all()
        return {_uuid(r[0]): None if r[1] is None else _epoch(r[1]) for r in rows}

    def wait_applied(self, total: int, timeout: float) -> None:
        wait_until(
            lambda: self.processed_count() >= total,
            timeout=timeout,
            interval=0.1,
            what=f"the catalog to handle {total} events",
        )
        for proc in self.procs:
            if proc.name in {"relay", "consumer"} and not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")


def _phase(rig: Rig, written: list[Written], *, lags: bool = True) -> dict[str, Any]:
    processed = rig.processed()
    sent = rig.sent()
    seen = [w for w in written if w.event_id in processed]
    applied = [w for w in seen if processed[w.event_id][1] == "applied"]
    lag = [processed[w.event_id][0] - w.committed for w in seen]
    relay_lag = [s - w.committed for w in written if (s := sent.get(w.event_id)) is not None]
    sent_stamps = [s for w in written if (s := sent.get(w.event_id)) is not None]
    commits = [w.committed for w in written]
    # a backlog's lags only say how long it waited for the relay to start: left out
    return {
        "written": len(written),
        "seen": len(seen),
        "applied": len(applied),
        "write_rate": _rate(commits),
        "lag_ms": _summary_ms(lag) if lags else {},
        "commit_to_sent_ms": _summary_ms(relay_lag) if lags else {},
        "relay_events_per_s": _rate(sent_stamps),
        "consumer_events_per_s": _rate([processed[w.event_id][0] for w in seen]),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sync-")))
        rig = Rig(args, folder, stack)
        began = time.monotonic()
        try:
            rig.seed()
            consumer = rig.start_consumer()
            rig.backfill()
            report: dict[str, Any] = {
                "bench": "sync",
                "db": args.db,
                "broker": args.broker,
                "rate": args.rate,
                "seconds": args.seconds,
                "products": args.products,
                "batch_size": args.batch_size,
                "relay_interval": args.relay_interval,
            }
            total = 0
            if args.backlog > 0:
                backlog, _ = rig.write("backlog-writer", args.backlog, 0)
                total += len(backlog)
                relay = rig.start_relay()
                rig.wait_applied(total, timeout=120)
                report["backlog"] = _phase(rig, backlog, lags=False)
            else:
                relay = rig.start_relay()
            cpu_before = {p: _cpu_seconds(p) for p in (relay, consumer)}
            count = round(args.rate * args.seconds)
            # at most --seconds (plus the pause before the last update): an overloaded machine
            # writes fewer, as fast as it can, rather than running longer
            steady, writer = rig.write("writer", count, args.rate, args.seconds + 1 / args.rate)
            total += len(steady)
            rig.wait_applied(total, timeout=120)
            phase = report["steady"] = _phase(rig, steady)
            phase["writer_max_behind_s"] = round(writer["max_behind_s"], 3)
            phase["scheduled"] = count
            # a steady state: the writer kept its schedule and the consumer kept up with it;
            # otherwise the lags measure a queue that grew during the run
            phase["kept_up"] = bool(
                writer["max_behind_s"] < 0.5
                and phase["consumer_events_per_s"]
                and phase["write_rate"]
                and phase["consumer_events_per_s"] >= 0.95 * phase["write_rate"]
            )
            # CPU per event of each process (the databases' and the broker's own not counted)
            n = max(1, len(steady))
            phase["cpu_ms_per_event"] = {
                "writer": round(writer["cpu_s"] * 1000 / n, 2),
                **{
                    p.name: round((_cpu_seconds(p) - before) * 1000 / n, 2)
                    for p, before in cpu_before.items()
                },
            }
            verdict = verify_service(SPEC, rig.monolith, rig.catalog, settle=10).verdict
            report["verify"] = verdict.name
            report["total_s"] = round(time.monotonic() - began, 1)
            return report
        except BaseException:
            for proc in rig.procs:
                sys.stderr.write(f"--- {proc.name} ---\n{proc.output()}\n")
            raise


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(report: dict[str, Any]) -> None:
    print(
        f"sync lag: db={report['db']} broker={report['broker']} rate={report['rate']}/s "
        f"for {report['seconds']} s, {report['products']} products, relay batch "
        f"{report['batch_size']} interval {report['relay_interval']} s"
    )
    head = (
        f"{'phase':<8} {'written':>7} {'applied':>7} {'write/s':>8} {'relay/s':>8} "
        f"{'cons/s':>8} {'lag p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'→sent p50':>9} "
        f"{'p99':>8}"
    )
    print(head)
    print("-" * len(head))
    for name in ("backlog", "steady"):
        ph = report.get(name)
        if ph is None:
            continue
        lag, rel = ph["lag_ms"], ph["commit_to_sent_ms"]
        print(
            f"{name:<8} {_fmt(ph['written']):>7} {_fmt(ph['applied']):>7} "
            f"{_fmt(ph['write_rate']):>8} {_fmt(ph['relay_events_per_s']):>8} "
            f"{_fmt(ph['consumer_events_per_s']):>8} {_fmt(lag.get('p50')):>8} "
            f"{_fmt(lag.get('p90')):>8} {_fmt(lag.get('p99')):>8} {_fmt(lag.get('max')):>8} "
            f"{_fmt(rel.get('p50')):>9} {_fmt(rel.get('p99')):>8}"
        )
    steady = report["steady"]
    if steady["kept_up"]:
        print("steady state: the writer kept its schedule and the consumer kept up")
    else:
        print(
            f"NOT a steady state: {steady['written']} of {steady['scheduled']} updates written"
            f" (at most {steady['writer_max_behind_s']:.1f} s behind schedule); the lags"
            " measure a queue that grew during the run"
        )
    cpu = steady["cpu_ms_per_event"]
    print(
        "CPU ms per event: "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        + f"; verify: {report['verify']}"
    )
    print("(lags in ms: commit in the monolith → applied in the catalog database; →sent: to the")
    print(" relay marking the batch sent. backlog: written before the relay started)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_sync", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rate", type=float, default=200.0, help="product updates per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady load")
    parser.add_argument(
        "--broker", default="amqp", help="amqp (RabbitMQ on 127.0.0.1), sqlite, or a URL"
    )
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument(
        "--backlog", type=int, default=500, help="updates drained at full speed first (0: none)"
    )
    parser.add_argument("--batch-size", type=int, default=100, help="the relay's --batch-size")
    parser.add_argument(
        "--relay-interval", type=float, default=0.2, help="the relay's idle poll --interval"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.products < 1 or args.backlog < 0:
        parser.error("--rate, --seconds and --products must be positive, --backlog >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print_table(report)
    print(json.dumps(report), flush=True)
    phases = [report[p] for p in ("backlog", "steady") if p in report]
    complete = all(ph["applied"] == ph["written"] for ph in phases)
    return 0 if complete and report["verify"] == Verdict.OK.name else 1


if __name__ == "__main__":
    sys.exit(main())
