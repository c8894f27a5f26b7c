"""``strangler data backfill|verify``: an interrupted backfill resumes and converges, rows the
event stream made newer are kept, verify names corrupted rows (exit 1) and unreadable
databases (exit 2). On SQLite and on PostgreSQL."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text

from extracted.catalog.dataspec import SPEC
from extracted.catalog.schema import products
from extracted.catalog.sync import apply_catalog_event
from extracted.catalog.testing import REPO_ROOT, seed_monolith
from extracted.common import create_engine_from_url
from extracted.common.events import handle_event, parse_event
from extracted.common.inbox import checkpoints, mark_consumer
from extracted.datatools import Verdict, backfill_service, verify_service
from extracted.datatools.cli import (
    add_backfill_arguments,
    add_verify_arguments,
    main,
    run_backfill,
    run_verify,
)
from extracted.datatools.testing import kill_hard
from strangler_proxy._procs import Process, wait_until


@dataclass
class Pair:
    source: str
    target: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded_source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('dt')}/monolith.sqlite3"
    else:
        url = request.getfixturevalue("pg_database")("dt_src")
    seed_monolith(url)
    return url


@pytest.fixture
def pair(seeded_source: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Pair]:
    if seeded_source.startswith("sqlite"):
        target = f"sqlite:///{tmp_path}/catalog.sqlite3"
    else:
        target = request.getfixturevalue("pg_database")("dt_dst")
    yield Pair(seeded_source, target)


def _sql(url: str, *statements: str) -> None:
    engine = create_engine_from_url(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _checkpoint(url: str, name: str) -> tuple[int | None, bool] | None:
    engine = create_engine_from_url(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(checkpoints.c.last_id, checkpoints.c.done).where(checkpoints.c.name == name)
            ).first()
        return None if row is None else (row[0], bool(row[1]))
    except Exception:  # the tables are not there yet
        return None
    finally:
        engine.dispose()


def _verify(pair: Pair) -> Verdict:
    source, target = create_engine_from_url(pair.source), create_engine_from_url(pair.target)
    try:
        return verify_service(SPEC, source, target).verdict
    finally:
        source.dispose()
        target.dispose()


def test_interrupted_backfill_resumes_and_converges(pair: Pair, tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "extracted.datatools", "backfill", "catalog",
        "--source-url", pair.source, "--target-url", pair.target,
        "--batch-size", "10", "--rate", "80", "--no-consumer-check",
    ]  # fmt: skip
    proc = Process(argv, name="backfill", cwd=REPO_ROOT, log_dir=tmp_path).start()
    try:
        wait_until(
            lambda: ((_checkpoint(pair.target, "backfill:products") or (0, False))[0] or 0) >= 30,
            timeout=30,
            what="the backfill to pass product id 30",
        )
        kill_hard(proc)
    finally:
        proc.stop()
    saved = _checkpoint(pair.target, "backfill:products")
    assert saved is not None and not saved[1] and saved[0] is not None, saved
    assert "products: " in proc.output() and "seconds" not in proc.output()  # interrupted
    out = io.StringIO()
    source, target = create_engine_from_url(pair.source), create_engine_from_url(pair.target)
    try:
        summary = backfill_service(
            SPEC, source, target, batch_size=25, require_consumer=False, out=out
        )
        assert f"products: resuming after id {saved[0]}" in out.getvalue()
        assert summary["products"]["resumed_after"] == saved[0]
        assert summary["products"]["read"] == summary["products"]["total"] == 121
        assert verify_service(SPEC, source, target).verdict is Verdict.OK
        # a finished backfill starts over next time and writes nothing new
        again = backfill_service(
            SPEC, source, target, batch_size=50, require_consumer=False, out=io.StringIO()
        )
        assert again["products"]["resumed_after"] is None
        assert again["products"]["written"] == 0
    finally:
        source.dispose()
        target.dispose()


def test_backfill_keeps_rows_made_newer_by_events(pair: Pair) -> None:
    source, target = create_engine_from_url(pair.source), create_engine_from_url(pair.target)
    SPEC.ensure_schema(target)
    mark_consumer(target, SPEC.consumer_queue)
    # product 5 came through the stream at version 3; the monolith's row has no event yet
    payload = {
        "id": 5, "sku": "SKU-000005", "name": "from an event", "description": "",
        "price": "1.00", "stock": 1, "attributes": {},
        "category": {"id": 1, "name": "Books", "slug": "books", "description": ""},
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    body = {
        "id": "e-5", "type": "catalog.product.changed", "aggregate_type": "catalog.product",
        "aggregate_id": "5", "version": 3, "created_at": "2026-01-01T00:00:00Z",
        "payload": payload,
    }  # fmt: skip
    handle_event(target, apply_catalog_event, parse_event(body))
    try:
        summary = backfill_service(SPEC, source, target, batch_size=40, out=io.StringIO())
        assert summary["products"]["skipped_newer"] == 1
        with target.connect() as conn:
            name = conn.execute(select(products.c.name).where(products.c.id == 5)).scalar_one()
        assert name == "from an event"
    finally:
        source.dispose()
        target.dispose()


def test_backfill_refuses_to_start_before_the_consumer(
    pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backfill", "catalog", "--source-url", pair.source, "--target-url", pair.target])
    assert code == 2
    assert "start the consumer first" in capsys.readouterr().err


def test_verify_names_corrupted_rows(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--source-url", pair.source, "--target-url", pair.target]
    assert main(["backfill", "catalog", *args, "--no-consumer-check"]) == 0
    capsys.readouterr()
    assert main(["verify", "catalog", *args]) == 0
    assert "OK (exit 0)" in capsys.readouterr().out
    _sql(
        pair.target,
        "UPDATE products SET price_cents = price_cents + 1 WHERE id = 9",
        "DELETE FROM products WHERE id = 11",
    )
    assert main(["verify", "catalog", *args]) == 1
    out = capsys.readouterr().out
    assert "missing (1): id 11" in out
    assert "changed (1): id 9" in out
    assert "id 9: price_cents:" in out
    assert main(["verify", "catalog", *args, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "drift"
    assert report["tables"]["products"]["changed"] == [9]
    assert report["tables"]["products"]["missing"] == [11]
    assert report["lag"]["outbox_unsent"] == 0


def test_verify_cannot_read(pair: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = f"sqlite:///{tmp_path}/empty.sqlite3"
    code = main(["verify", "catalog", "--source-url", pair.source, "--target-url", empty, "--json"])
    assert code == 2
    assert json.loads(capsys.readouterr().out)["error"].startswith("cannot read")


def test_cli_functions_plug_into_the_strangler_cli(pair: Pair) -> None:
    parser = argparse.ArgumentParser(prog="strangler")
    data = parser.add_subparsers(dest="group").add_parser("data").add_subparsers(dest="cmd")
    backfill, verify = data.add_parser("backfill"), data.add_parser("verify")
    add_backfill_arguments(backfill)
    add_verify_arguments(verify)
    args = parser.parse_args(["data", "verify", "catalog", "--source-url", pair.source,
                              "--target-url", pair.target, "--json"])  # fmt: skip
    assert args.service == "catalog" and args.json
    assert callable(run_backfill) and run_verify(args) == 2  # nothing copied yet: no tables
