"""Run locust headless as a child process (never imported here: it monkey-patches with gevent)
and show its progress while it runs.

    spec = RunSpec(host="http://127.0.0.1:8000", users=10, spawn_rate=10, duration=30, seed=42)
    prefix = run_locust(spec, Path("out/runs/A1"), label="A1 baseline")

Outputs of one run, all locust's own: ``PREFIX.json`` (``--json-file``, final histograms),
``PREFIX_stats.csv``, ``PREFIX_stats_history.csv`` (``--csv-full-history``),
``PREFIX_failures.csv``, ``PREFIX_exceptions.csv`` and ``PREFIX.log`` (its console).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LOCUSTFILE", "LocustFailed", "RunSpec", "locust_command", "run_locust"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_AGGREGATED = re.compile(r"^\s*Aggregated\s+(\d+)\s+(\d+)\(", re.MULTILINE)


class LocustFailed(RuntimeError):
    """Locust exited with an error (not request failures: those are data); has its log tail."""


@dataclass(frozen=True)
class RunSpec:
    """What every run of a comparison shares, and the one thing that changes: the host."""

    host: str
    users: int
    spawn_rate: float
    duration: int
    seed: int
    shape: str = "steady"
    processes: int | None = None
    locustfile: Path = LOCUSTFILE
    extra: Sequence[str] = field(default=())


def locust_command(spec: RunSpec, prefix: Path) -> list[str]:
    """The locust command line of one run (``--exit-code-on-error 0``: failed requests are
    results to compare, not a reason to stop)."""
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(spec.locustfile),
        "--headless",
        "--host", spec.host,
        "--users", str(spec.users),
        "--spawn-rate", f"{spec.spawn_rate:g}",
        "--run-time", f"{spec.duration}s",
        "--csv", str(prefix),
        "--csv-full-history",
        "--json-file", str(prefix),
        "--exit-code-on-error", "0",
        "--seed", str(spec.seed),
    ]  # fmt: skip
    if spec.processes:
        argv += ["--processes", str(spec.processes)]
    return [*argv, *spec.extra]


def _progress(log: Path) -> tuple[int, int] | None:
    """The latest ``Aggregated`` requests and failures of locust's console table."""
    try:
        text = log.read_text(errors="replace")[-20_000:]
    except OSError:
        return None
    found = _AGGREGATED.findall(text)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def run_locust(
    spec: RunSpec,
    prefix: Path,
    *,
    label: str,
    say: Callable[[str], None] = print,
    grace: float = 60.0,
) -> Path:
    """Run one bounded locust run; return ``prefix`` once its JSON file exists."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    log = prefix.with_name(prefix.name + ".log")
    env = {
        **os.environ,
        "LOADTEST_SHAPE": spec.shape,
        "LOADTEST_SEED": str(spec.seed),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    started = time.monotonic()
    deadline = started + spec.duration + grace
    with log.open("wb") as out:
        proc = subprocess.Popen(
            locust_command(spec, prefix),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        last = ""
        while True:
            try:
                code = proc.wait(timeout=2.0)
                break
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - started
            if elapsed > spec.duration + grace:
                raise LocustFailed(f"{label}: locust still running {grace:.0f}s after its end")
            seen = _progress(log)
            line = f"  {label}: {min(elapsed, spec.duration):.0f}/{spec.duration}s"
            if seen:
                line += f", {seen[0]} requests, {seen[1]} failures"
            if line != last:
                say(line)
                last = line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    if time.monotonic() > deadline:  # pragma: no cover - guarded above
        raise LocustFailed(f"{label}: locust overran")
    json_path = prefix.with_name(prefix.name + ".json")
    if code != 0 or not json_path.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise LocustFailed(f"{label}: locust exited with {code}; its output ends:\n{tail}")
    return prefix
