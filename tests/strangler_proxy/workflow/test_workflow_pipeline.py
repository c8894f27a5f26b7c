"""``strangler gates`` and the pipeline templates that run it."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from strangler_proxy.cli import build_parser
from strangler_proxy.config import parse_table
from strangler_proxy.shadow import open_store
from strangler_proxy.shadow._fakes import json_side, make_result
from strangler_proxy.workflow.pipeline import forward_moves

REPO = Path(__file__).resolve().parents[3]
BASE = """\
version: 1
upstreams: {legacy: "http://127.0.0.1:8000", catalog: "http://127.0.0.1:8101"}
default: legacy
routes:
  - {name: detail, match: {prefix: /api/products/}, mode: shadow, to: catalog}
  - {name: orders, match: {prefix: /api/orders/}, mode: canary, to: catalog, weight: 25}
  - {name: other, match: {prefix: /api/other/}, mode: legacy}
"""


def store_with(tmp_path: Path, mismatch_every: int) -> str:
    path = tmp_path / "shadow.sqlite3"
    store = open_store(f"sqlite:///{path}", path)
    store.start()
    for i in range(150):
        price = "9.99" if mismatch_every and i % mismatch_every == 0 else "10.00"
        store.record(
            make_result(
                json_side({"id": 7, "price": "10.00"}),
                json_side({"id": 7, "price": price}),
                route="detail",
            )
        )
    store.close()
    return f"sqlite:///{path}"


def gates(tmp_path: Path, head: str, store: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "routing.yaml").write_text(head)
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "gates", "--base", str(tmp_path / "base.yaml"),
         "--config", str(tmp_path / "routing.yaml"), "--shadow-store", store],
        capture_output=True, text=True,
    )  # fmt: skip


PROMOTED = BASE.replace("mode: shadow, to: catalog}", "mode: canary, to: catalog, weight: 1}")


def test_forward_moves_finds_only_promotions() -> None:
    head = PROMOTED.replace("weight: 25", "weight: 5").replace(
        "  - {name: other",
        "  - {name: new, match: {prefix: /api/new/}, mode: shadow, to: catalog}\n  - {name: other",
    )
    moves = forward_moves(parse_table(BASE), parse_table(head))
    assert [(n, str(a), str(b)) for n, a, b in moves] == [
        ("detail", "shadow", "canary 1%"),
        ("new", "legacy", "shadow"),
    ]


def test_gates_pass_with_a_passing_shadow_report(tmp_path: Path) -> None:
    result = gates(tmp_path, PROMOTED, store_with(tmp_path, mismatch_every=0))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "detail: shadow → canary 1%" in result.stdout
    assert "shadow-report: pass" in result.stdout


def test_gates_fail_the_pipeline_with_a_failing_report(tmp_path: Path) -> None:
    result = gates(tmp_path, PROMOTED, store_with(tmp_path, mismatch_every=3))
    assert result.returncode == 1
    assert "shadow-report: FAIL" in result.stdout and "$.price" in result.stdout


def test_gates_refuse_an_invalid_table(tmp_path: Path) -> None:
    result = gates(tmp_path, BASE.replace("weight: 25", "weight: 250"), "sqlite:///x")
    assert result.returncode == 1
    assert "routes[1].weight: must be an integer 0..100, got 250" in result.stdout


@pytest.mark.parametrize("template", ["github-actions.yml", "gitlab-ci.yml"])
def test_pipeline_templates_run_commands_that_exist(template: str) -> None:
    doc = yaml.safe_load((REPO / "migration_playbook" / "pipelines" / template).read_text())
    lines: list[str] = []

    def walk(node: object) -> None:  # every `run:` step and `script:` line, at any depth
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "run" and isinstance(value, str):
                    lines.append(value)
                elif key == "script" and isinstance(value, list):
                    lines.extend(str(v) for v in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    commands = [shlex.split(line) for line in lines if line.startswith("strangler ")]
    assert {c[1] for c in commands} == {"validate", "gates"}
    for argv in commands:
        build_parser().parse_args(argv[1:])  # raises SystemExit on an unknown flag
