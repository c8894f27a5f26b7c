"""``strangler loadtest compare``: the same load against a baseline and a candidate, judged.

Two URLs::

    python -m loadtests.compare --baseline http://127.0.0.1:8000 \\
        --candidate http://127.0.0.1:8080 --users 20 --duration 60 --rounds 2 --out var/lt

or one proxy with two routing tables (copied over its routing.yaml in turn; the original is
put back at the end)::

    python -m loadtests.compare --proxy-admin http://127.0.0.1:8081 --config routing.yaml \\
        --table-a tables/legacy.yaml --table-b tables/canary50.yaml

Runs alternate A B A B ... (``--rounds`` pairs); with one round a second A run follows, so
there is always an A/A pair to measure the noise. Every run is locust headless with the same
locustfile, shape, seed, users and duration; the numbers are locust's own (see ``_stats.py``).
Writes ``report.md``, ``report.json``, ``report.html`` and every run's locust files under
``runs/``. Exit codes: 0 pass, 1 regression, 2 inconclusive, 3 could not run (bad options, a
target down, locust or the proxy failed).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from ._locust import LOCUSTFILE, LocustFailed, RunSpec, run_locust
from ._report import render_html, render_json, render_markdown, render_table
from ._result import Comparison, compare_runs
from ._stats import Run, StatsFormatError, read_run
from ._switch import SwitchFailed, TableSwitcher, proxy_url
from ._verdict import Gates

__all__ = ["add_arguments", "main", "run", "schedule"]

CANNOT_RUN = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_argument_group("targets: two URLs, or one proxy with two tables")
    targets.add_argument("--baseline", metavar="URL", help="base URL of the baseline (A)")
    targets.add_argument("--candidate", metavar="URL", help="base URL of the candidate (B)")
    targets.add_argument("--proxy-admin", metavar="URL", help="the proxy's admin API")
    targets.add_argument("--proxy", metavar="URL", help="its public URL (default: asked)")
    targets.add_argument("--config", type=Path, help="the routing.yaml the proxy serves")
    targets.add_argument("--table-a", type=Path, metavar="FILE", help="baseline table")
    targets.add_argument("--table-b", type=Path, metavar="FILE", help="candidate table")

    load = parser.add_argument_group("load (the same for every run)")
    load.add_argument("--users", type=int, default=10, help="concurrent users (10)")
    load.add_argument("--spawn-rate", type=float, help="users started per second (= users)")
    load.add_argument("--duration", type=int, default=30, help="seconds per run (30)")
    load.add_argument("--rounds", type=int, default=2, help="A B pairs (2)")
    load.add_argument("--seed", type=int, default=42, help="data choice seed (42)")
    load.add_argument("--shape", choices=["steady", "steps", "none"], default="steady")
    load.add_argument("--locustfile", type=Path, default=LOCUSTFILE)
    load.add_argument(
        "--processes", type=int, help="locust --processes N: N worker processes (-1: one per CPU)"
    )
    load.add_argument(
        "--locust-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="passed on to locust (repeat; e.g. --locust-arg=--master)",
    )
    load.add_argument("--out", type=Path, help="report folder (var/loadtest/<time>)")

    gates = parser.add_argument_group("gates")
    default = Gates()
    gates.add_argument("--max-p95-ratio", type=float, default=default.p95_ratio)
    gates.add_argument(
        "--p95-floor-ms",
        type=float,
        default=default.p95_floor_ms,
        help="a p95 at most this much slower always passes",
    )
    gates.add_argument(
        "--max-failure-points",
        type=float,
        default=default.failure_points,
        help="failure rate may rise this many percentage points",
    )
    gates.add_argument("--min-throughput-ratio", type=float, default=default.throughput_ratio)
    gates.add_argument(
        "--min-requests",
        type=int,
        default=default.min_requests,
        help="fewer on either side: that endpoint is inconclusive",
    )
    gates.add_argument(
        "--noise-factor",
        type=float,
        default=default.noise_factor,
        help="widen the measured A/A noise by this factor",
    )
    gates.add_argument(
        "--all-endpoints",
        action="store_true",
        help="endpoints with too few requests also decide the exit code",
    )


def schedule(rounds: int) -> list[tuple[str, int]]:
    """``2`` → ``[("A", 1), ("B", 1), ("A", 2), ("B", 2)]``; ``1`` → ``A1 B1 A2`` (A/A pair)."""
    runs = [(side, n) for n in range(1, rounds + 1) for side in ("A", "B")]
    return [*runs, ("A", 2)] if rounds == 1 else runs


class _Usage(ValueError):
    pass


def _validate(args: argparse.Namespace) -> tuple[Gates, str]:
    """Check the options once; return the gates and the mode (``urls`` or ``tables``)."""
    urls = args.baseline or args.candidate
    tables = args.proxy_admin or args.table_a or args.table_b or args.config
    if bool(urls) == bool(tables):
        raise _Usage(
            "give either --baseline URL --candidate URL, or --proxy-admin URL --config FILE "
            "--table-a FILE --table-b FILE"
        )
    if urls and not (args.baseline and args.candidate):
        raise _Usage("--baseline and --candidate go together")
    if tables:
        missing = [
            flag
            for flag, value in (
                ("--proxy-admin", args.proxy_admin),
                ("--config", args.config),
                ("--table-a", args.table_a),
                ("--table-b", args.table_b),
            )
            if not value
        ]
        if missing:
            raise _Usage(f"switching tables needs {', '.join(missing)}")
        for flag, path in (("--config", args.config), ("--table-a", args.table_a)):
            if not path.is_file():
                raise _Usage(f"{flag}: no such file: {path}")
        if not args.table_b.is_file():
            raise _Usage(f"--table-b: no such file: {args.table_b}")
    for flag, value in (("--users", args.users), ("--duration", args.duration)):
        if value < 1:
            raise _Usage(f"{flag} must be >= 1, got {value}")
    if args.rounds < 1:
        raise _Usage(f"--rounds must be >= 1, got {args.rounds}")
    try:
        gates = Gates(
            p95_ratio=args.max_p95_ratio,
            p95_floor_ms=args.p95_floor_ms,
            failure_points=args.max_failure_points,
            throughput_ratio=args.min_throughput_ratio,
            min_requests=args.min_requests,
            noise_factor=args.noise_factor,
            all_endpoints=args.all_endpoints,
        )
    except ValueError as err:
        raise _Usage(f"gates: {err}") from err
    return gates, "urls" if urls else "tables"


def _reachable(url: str) -> None:
    try:
        httpx.get(url.rstrip("/") + "/api/categories/", timeout=10)
    except httpx.HTTPError as err:
        raise _Usage(f"{url} does not answer: {err}") from err


def _say(text: str) -> None:
    print(text, flush=True)


def _write(out: Path, result: Comparison) -> list[Path]:
    files = {
        "report.md": render_markdown(result),
        "report.json": render_json(result),
        "report.html": render_html(result),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]


def run(args: argparse.Namespace, *, say: Callable[[str], None] = _say) -> int:
    """Run the comparison the options describe; return the exit code."""
    try:
        gates, mode = _validate(args)
    except _Usage as err:
        print(f"loadtest compare: {err}", file=sys.stderr)
        return CANNOT_RUN
    out: Path = args.out or Path("var/loadtest") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    spec = RunSpec(
        host="",
        users=args.users,
        spawn_rate=args.spawn_rate or float(args.users),
        duration=args.duration,
        seed=args.seed,
        shape="" if args.shape == "none" else args.shape,
        processes=args.processes,
        locustfile=args.locustfile,
        extra=tuple(args.locust_arg),
    )
    settings: dict[str, object] = {
        "users": spec.users,
        "spawn_rate": spec.spawn_rate,
        "duration_s": spec.duration,
        "rounds": args.rounds,
        "seed": spec.seed,
        "shape": args.shape,
        "processes": spec.processes or 1,
    }
    plan = schedule(args.rounds)
    runs: dict[str, list[Run]] = {"A": [], "B": []}
    try:
        if mode == "urls":
            hosts = {"A": str(args.baseline), "B": str(args.candidate)}
            settings |= {"baseline": hosts["A"], "candidate": hosts["B"]}
            for url in hosts.values():
                _reachable(url)
            _run_all(plan, lambda side: hosts[side], spec, out, runs, gates, settings, say)
        else:
            public = args.proxy or proxy_url(args.proxy_admin)
            tables = {"A": args.table_a, "B": args.table_b}
            settings |= {
                "proxy": public,
                "baseline": f"table {args.table_a}",
                "candidate": f"table {args.table_b}",
            }
            with TableSwitcher(args.proxy_admin, args.config) as switch:

                def switch_to(side: str) -> str:
                    sha = switch.to(tables[side])
                    say(f"  proxy table {tables[side]} active (sha256 {sha[:12]})")
                    return str(public)

                _reachable(public)
                _run_all(plan, switch_to, spec, out, runs, gates, settings, say)
            say(f"  proxy table restored ({args.config})")
    except (_Usage, LocustFailed, SwitchFailed, StatsFormatError) as err:
        print(f"loadtest compare: {err}", file=sys.stderr)
        return CANNOT_RUN
    result = compare_runs(runs["A"], runs["B"], gates, settings)
    say("")
    say(render_table(result))
    for path in _write(out, result):
        say(f"wrote {path}")
    return result.verdict.exit_code


def _run_all(
    plan: Sequence[tuple[str, int]],
    host: Callable[[str], str],
    spec: RunSpec,
    out: Path,
    runs: dict[str, list[Run]],
    gates: Gates,
    settings: dict[str, object],
    say: Callable[[str], None],
) -> None:
    names = {"A": "baseline", "B": "candidate"}
    for i, (side, n) in enumerate(plan, start=1):
        label = f"{side}{n}"
        say(f"[{i}/{len(plan)}] {label} {names[side]}, {spec.users} users, {spec.duration}s")
        prefix = run_locust(
            replace(spec, host=host(side)), out / "runs" / label, label=label, say=say
        )
        run = read_run(prefix, label)
        runs[side].append(run)
        total = run.total()
        say(
            f"  {label} done: {total.requests} requests, {total.failures} failures, "
            f"{total.requests / run.window:.1f} req/s, p95 {total.percentile(0.95)} ms"
        )
        if side == "B" and i < len(plan):  # the comparison so far, after every pair
            say(render_table(compare_runs(runs["A"], runs["B"], gates, settings)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.compare",
        description="Compare a baseline and a candidate under the same locust load.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
