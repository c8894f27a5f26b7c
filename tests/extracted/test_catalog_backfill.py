"""Backfill: idempotent (second run writes nothing, same target state), updates and deletes in
the source propagate; on SQLite and on PostgreSQL (source and target of the same kind)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from extracted.catalog.backfill import backfill, main
from extracted.catalog.schema import categories, products
from extracted.catalog.testing import seed_monolith
from extracted.common import create_engine_from_url


def _state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine_from_url(url)
    try:
        with engine.connect() as conn:
            return {
                "categories": [tuple(r) for r in conn.execute(select(categories).order_by("id"))],
                "products": [tuple(r) for r in conn.execute(select(products).order_by("id"))],
            }
    finally:
        engine.dispose()


def _source_sql(url: str, *statements: str) -> None:
    engine = create_engine_from_url(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _check_backfill(source: str, target: str) -> None:
    out = io.StringIO()
    first = backfill(source, target, batch_size=40, out=out)
    assert first["products"]["read"] == first["products"]["written"] == 121
    assert first["categories"]["written"] == 6
    assert "products: 40/121 read" in out.getvalue()
    state = _state(target)
    assert len(state["products"]) == 121

    again = backfill(source, target, batch_size=40, out=io.StringIO())
    assert again["products"] == {"read": 121, "written": 0, "deleted": 0}
    assert again["categories"] == {"read": 6, "written": 0, "deleted": 0}
    assert _state(target) == state

    _source_sql(
        source,
        "UPDATE catalog_product SET price = 1.05, stock = 0 WHERE sku = 'SKU-000001'",
        "UPDATE catalog_category SET name = 'Livres' WHERE slug = 'books'",
        "DELETE FROM catalog_product WHERE sku IN ('SKU-000002', 'SKU-000120', 'EDGE-1', 'EDGE-2')",
        "DELETE FROM catalog_category WHERE slug = 'cafe'",
    )
    third = backfill(source, target, batch_size=40, out=io.StringIO())
    assert third["products"] == {"read": 117, "written": 1, "deleted": 4}
    assert third["categories"] == {"read": 5, "written": 1, "deleted": 1}
    after = _state(target)
    assert len(after["products"]) == 117
    by_sku = {row[1]: row for row in after["products"]}
    assert by_sku["SKU-000001"][4:6] == (105, 0)
    assert "SKU-000002" not in by_sku
    assert after["categories"][0][1] == "Livres"
    assert backfill(source, target, batch_size=7, out=io.StringIO())["products"]["written"] == 0


def test_backfill_sqlite(seeded_sqlite_monolith: str, tmp_path: Path) -> None:
    source_file = tmp_path / "monolith.sqlite3"
    shutil.copy(seeded_sqlite_monolith.removeprefix("sqlite:///"), source_file)
    _check_backfill(f"sqlite:///{source_file}", f"sqlite:///{tmp_path}/catalog.sqlite3")


@pytest.mark.postgres
def test_backfill_postgres(pg_database: Callable[[str], str]) -> None:
    source, target = pg_database("bf_src"), pg_database("bf_dst")
    seed_monolith(source)
    _check_backfill(source, target)


def test_cli_prints_progress_and_summary(
    seeded_sqlite_monolith: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"sqlite:///{tmp_path}/cli.sqlite3"
    assert main(["--source-url", seeded_sqlite_monolith, "--target-url", target]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("categories: 6/6 read")
    assert json.loads(lines[-1])["products"]["written"] == 121


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--source-url", "mysql://x/y", "--target-url", "sqlite:///var/x.sqlite3"])
    assert "unsupported scheme 'mysql'" in capsys.readouterr().err
