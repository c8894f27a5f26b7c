"""``python -m loadtests.bench_sync`` runs end to end and accounts for every event it wrote.

A correctness check of the benchmark, not a timing assertion: a few seconds at a low rate, and
the report must say that every update committed in the monolith was applied in the catalog
(and ``verify`` found no difference). Once on the embedded defaults (SQLite databases, SQLite
broker), once on PostgreSQL + RabbitMQ, the benchmark's own default.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_bench(*args: str) -> tuple[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.bench_sync", "--rate", "20", "--seconds", "3",
         "--backlog", "30", "--products", "15", *args],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    report: dict[str, object] = json.loads(last)
    return done.stdout, report


def _check(stdout: str, report: dict[str, object]) -> None:
    assert "lag p50" in stdout and "steady" in stdout  # the table
    assert report["bench"] == "sync" and report["verify"] == "OK"
    backlog = report["backlog"]
    steady = report["steady"]
    assert isinstance(backlog, dict) and isinstance(steady, dict)
    assert backlog["written"] == backlog["seen"] == backlog["applied"] == 30
    # a busy machine may write fewer than scheduled in the 3 s: every one written must arrive
    assert steady["scheduled"] == 60
    assert 0 < steady["written"] == steady["seen"] == steady["applied"] <= 60
    assert set(steady["lag_ms"]) >= {"p50", "p90", "p99", "max"}
    assert 0 <= steady["lag_ms"]["p50"] <= steady["lag_ms"]["p99"] <= steady["lag_ms"]["max"]
    assert steady["relay_events_per_s"] and steady["consumer_events_per_s"]
    assert set(steady["cpu_ms_per_event"]) == {"writer", "relay", "consumer"}


def test_bench_sync_embedded() -> None:
    _check(*_run_bench("--db", "sqlite", "--broker", "sqlite"))


@pytest.mark.postgres
def test_bench_sync_postgres_rabbitmq() -> None:
    _check(*_run_bench("--db", "postgres", "--broker", "amqp"))
