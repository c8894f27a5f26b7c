"""The playbook's commands: every ``strangler`` line parses, the isolated ones run."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from strangler_proxy.cli import build_parser
from strangler_proxy.workflow.cli import register

from .conftest import Cli

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "migration_playbook"
STEPS = sorted(PLAYBOOK.glob("0[0-8]-*.md"))
SECTIONS = ("## Purpose", "## Entry criteria", "## Commands", "## Exit gate", "## Rollback")
NOT_YET = "# not yet available"
RUNNABLE = {"validate", "routes", "inventory"}  # need nothing but this repository


def commands() -> list[tuple[str, str]]:
    """(file, command line) for every ``strangler`` line in an ``sh`` block."""
    found = []
    for path in sorted(PLAYBOOK.glob("*.md")):
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                if line.startswith("strangler "):
                    found.append((path.name, line))
    return found


def parser() -> argparse.ArgumentParser:
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    if "promote" not in sub.choices:
        register(sub)
    return p


def test_the_steps_are_all_there_in_order() -> None:
    assert [p.name[:2] for p in STEPS] == [f"0{i}" for i in range(9)]
    for path in STEPS:
        text = path.read_text()
        missing = [s for s in SECTIONS if s not in text]
        assert not missing, f"{path.name} lacks {missing}"
    for name in ("README.md", "worked-example.md", "anti-patterns.md"):
        assert (PLAYBOOK / name).exists()


def test_the_playbook_uses_the_workflow_commands() -> None:
    used = {shlex.split(line.partition("#")[0])[1] for _, line in commands()}
    assert {"inventory", "promote", "rollback", "history", "status", "validate"} <= used


@pytest.mark.parametrize(("doc", "line"), commands(), ids=lambda v: str(v)[:60])
def test_every_command_line_parses(doc: str, line: str) -> None:
    if NOT_YET in line:
        argv = shlex.split(line.partition("#")[0])[1:]
        with pytest.raises(SystemExit):  # still missing: the docs say so, and must stay honest
            parser().parse_args(argv)
        return
    argv = shlex.split(line, comments=True)[1:]
    parser().parse_args(argv)


@pytest.mark.parametrize(
    ("doc", "line"),
    [c for c in commands() if shlex.split(c[1], comments=True)[1] in RUNNABLE],
    ids=lambda v: str(v)[:60],
)
def test_isolated_commands_run(
    doc: str, line: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = cli(*shlex.split(line, comments=True)[1:])
    assert code == 0, f"{doc}: {line}\n{out}{err}"
    assert out
