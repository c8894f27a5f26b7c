from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from strangler_proxy.config import parse_table
from strangler_proxy.model import Mode
from strangler_proxy.workflow.yamledit import (
    PARK,
    EditError,
    RouteState,
    route_value,
    set_route,
    write_atomic,
)

TABLE = """\
# top comment: kept
version: 1
upstreams:
  legacy: http://127.0.0.1:8000   # the monolith
  catalog: http://127.0.0.1:8101
default: legacy

routes:
  # the detail page, in canary
  - name: detail
    match:
      path: /api/products/{id:int}/
      methods: [GET, HEAD]
    mode: canary        # raised on Tuesday
    to: catalog
    weight: 25
    sticky: header:Authorization
    fallback: legacy    # reads only

  # writes stay home
  - name: writes
    match: {prefix: /api/products/, methods: [POST]}
    mode: legacy

  -   name: "list"
      match:
        path: /api/products/
      mode: shadow
      to: catalog
      shadow:
        sample: 0.5
        compare:
          ignore: [$.updated_at]
# trailing comment
"""


def changed(before: str, after: str) -> list[tuple[str, str]]:
    """Lines that differ, paired, when the line count is the same."""
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), (a, b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_changing_the_weight_changes_only_that_line() -> None:
    after = set_route(TABLE, "detail", RouteState(Mode.CANARY, 50, "catalog"))
    assert changed(TABLE, after) == [("    weight: 25", "    weight: 50")]


def test_trailing_comments_stay_on_the_changed_line() -> None:
    after = set_route(TABLE, "detail", RouteState(Mode.EXTRACTED, None, "catalog"))
    assert changed(TABLE, after) == [
        (
            "    mode: canary        # raised on Tuesday",
            "    mode: extracted        # raised on Tuesday",
        ),
        ("    weight: 25", f"    {PARK}weight: 25"),
        ("    sticky: header:Authorization", f"    {PARK}sticky: header:Authorization"),
    ]
    table = parse_table(after)
    assert table.routes[0].mode is Mode.EXTRACTED
    assert table.routes[0].fallback == "legacy"


def test_rollback_to_legacy_parks_and_the_next_canary_restores() -> None:
    legacy = set_route(TABLE, "detail", RouteState(Mode.LEGACY, None, "catalog"))
    assert f"    {PARK}fallback: legacy    # reads only" in legacy.splitlines()
    assert parse_table(legacy).routes[0].mode is Mode.LEGACY
    back = set_route(legacy, "detail", RouteState(Mode.CANARY, 25, "catalog"))
    assert back == TABLE  # byte for byte


def test_inserted_lines_take_the_route_indentation() -> None:
    after = set_route(TABLE, "writes", RouteState(Mode.SHADOW, None, "catalog"))
    lines = after.splitlines()
    i = lines.index("    mode: shadow")
    assert lines[i + 1] == "    to: catalog"
    added = [d for d in difflib.ndiff(TABLE.splitlines(), lines) if d[:2] in ("+ ", "- ")]
    assert added == ["-     mode: legacy", "+     mode: shadow", "+     to: catalog"]
    canary = set_route(after, "writes", RouteState(Mode.CANARY, 1, "catalog"))
    lines = canary.splitlines()
    i = lines.index("    mode: canary")
    assert lines[i + 1 : i + 3] == ["    to: catalog", "    weight: 1"]


def test_odd_indentation_and_a_nested_shadow_block() -> None:
    canary = set_route(TABLE, "list", RouteState(Mode.CANARY, 5, "catalog"))
    lines = canary.splitlines()
    assert f"      {PARK}shadow:" in lines
    assert f"      {PARK}  compare:" in lines
    assert "      weight: 5" in lines
    assert parse_table(canary).routes[2].weight == 5
    again = set_route(canary, "list", RouteState(Mode.SHADOW, None, "catalog"))
    assert "      shadow:" in again.splitlines()
    shadow = parse_table(again).routes[2].shadow
    assert shadow is not None
    assert shadow.sample == 0.5
    assert again == TABLE.replace(
        "      to: catalog\n", f"      to: catalog\n      {PARK}weight: 5\n"
    )


def test_crlf_and_missing_final_newline_are_kept() -> None:
    text = TABLE.rstrip("\n").replace("\n", "\r\n")
    after = set_route(text, "detail", RouteState(Mode.CANARY, 5, "catalog"))
    assert after == text.replace("weight: 25", "weight: 5")


def test_invalid_results_are_refused() -> None:
    with pytest.raises(EditError, match=re.escape("weight: must be an integer 0..100, got 120")):
        set_route(TABLE, "detail", RouteState(Mode.CANARY, 120, "catalog"))
    with pytest.raises(EditError, match="unknown upstream 'nope'"):
        set_route(TABLE, "detail", RouteState(Mode.EXTRACTED, None, "nope"))
    with pytest.raises(EditError, match="no route named 'ghost'"):
        set_route(TABLE, "ghost", RouteState(Mode.LEGACY))


def test_flow_style_routes_are_refused_by_name() -> None:
    text = TABLE.replace(
        "  # writes stay home\n", "  - {name: flow, match: {prefix: /x/}, mode: legacy}\n"
    )
    with pytest.raises(EditError, match="'flow' is a flow mapping"):
        set_route(text, "flow", RouteState(Mode.SHADOW, None, "catalog"))


def test_route_value_reads_keys_the_loader_ignores() -> None:
    legacy = set_route(TABLE, "detail", RouteState(Mode.LEGACY, None, "catalog"))
    assert parse_table(legacy).routes[0].to is None
    assert route_value(legacy, "detail", "to") == "catalog"
    assert route_value(TABLE, "list", "name") == "list"


def test_write_atomic_replaces_in_one_step(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(TABLE)
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    sha = write_atomic(path, TABLE.replace("25", "50"))
    assert path.read_text() == TABLE.replace("25", "50")
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert path.stat().st_mode & 0o777 == 0o640
    assert len(sha) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["routing.yaml"]  # no temp file left


def test_write_atomic_refuses_a_file_changed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(TABLE)
    with pytest.raises(EditError, match="changed while it was being edited"):
        write_atomic(path, TABLE, expected_sha256="0" * 64)
    assert path.read_text() == TABLE


def test_a_dash_alone_on_its_line() -> None:
    text = TABLE.replace("  - name: writes\n", "  -\n    name: writes\n")
    after = set_route(text, "writes", RouteState(Mode.EXTRACTED, None, "catalog"))
    assert "    mode: extracted\n    to: catalog\n" in after
    assert parse_table(after).routes[1].mode is Mode.EXTRACTED
