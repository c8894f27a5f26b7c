"""Line-level reading of a block-style ``routes:`` list (helpers of :mod:`.yamledit`).

A route is the lines from its ``-`` item to its last non-comment line (comments deeper than
the dash belong to it; comments at the dash's column introduce the next route). Its *key
column* is where ``name:``, ``mode:``... start::

    routes:
      # product pages                   ← belongs to the next route
      - name: detail                    _Block(start=2, end=6, indent=4)
        match: {prefix: /api/p/}
        mode: canary      # note        _value(lines, block, "mode") → "canary"
        to: catalog
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Block",
    "EditError",
    "find_key",
    "find_route",
    "key_line",
    "key_span",
    "split_comment",
    "value",
]

_ITEM = re.compile(r"^(?P<indent> *)-(?: +(?P<rest>.*))?$")
KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*):(?P<after>(?: .*)?)$")


class EditError(Exception):
    """The edit cannot be made: the route is missing or not in block style, or the result is
    not a valid table (``problems`` then holds the loader's messages)."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message if not problems else f"{message}: {'; '.join(problems)}")
        self.problems = problems


@dataclass(slots=True)
class Block:
    start: int  # index of the "- " line
    end: int  # one past the last line of the route (trailing comments/blanks excluded)
    indent: int  # column of the route's keys


def find_route(lines: list[str], name: str) -> Block:
    top = next((i for i, line in enumerate(lines) if re.match(r"^routes:\s*(#.*)?$", line)), None)
    if top is None:
        raise EditError("no block-style 'routes:' section at the top level")
    i = top + 1
    while i < len(lines):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "-", "#")):
            break  # the next top-level key
        item = _ITEM.match(line.rstrip("\r\n"))
        if item is None:
            i += 1
            continue
        dash = len(item.group("indent"))
        rest = item.group("rest") or ""
        indent = len(line.rstrip("\r\n")) - len(rest) if rest else _next_indent(lines, i)
        end = i + 1
        last = i + 1
        while end < len(lines):
            text = lines[end].rstrip("\r\n")
            depth = len(text) - len(text.lstrip(" "))
            if text.strip() and not text.lstrip().startswith("#") and depth <= dash:
                break
            end += 1
            if text.strip() and (depth > dash or not text.lstrip().startswith("#")):
                last = end  # comments deeper than the dash belong to the route
        block = Block(i, last, indent)
        if rest.startswith("{"):
            if re.search(rf"\bname:\s*['\"]?{re.escape(name)}['\"]?\s*[,}}]", rest):
                raise EditError(f"route '{name}' is a flow mapping; write it in block style")
        elif value(lines, block, "name") == name:
            return block
        i = end
    raise EditError(f"no route named '{name}' in the table")


def _next_indent(lines: list[str], i: int) -> int:
    """Key column of a route whose ``-`` stands alone on its line."""
    for line in lines[i + 1 :]:
        if line.strip() and not line.lstrip().startswith("#"):
            return len(line) - len(line.lstrip(" "))
    return 0


def key_line(line: str, indent: int) -> re.Match[str] | None:
    """The key of ``line`` if it sits exactly at the route's key column."""
    text = line.rstrip("\r\n")
    if indent >= len(text) or text[:indent].strip(" -") or text[indent] == " ":
        return None
    return KEY.match(text[indent:])


def find_key(lines: list[str], block: Block, key: str) -> int | None:
    for i in range(block.start, block.end):
        found = key_line(lines[i], block.indent)
        if found is not None and found.group("key") == key:
            return i
    return None


def value(lines: list[str], block: Block, key: str) -> str | None:
    i = find_key(lines, block, key)
    if i is None:
        return None
    found = key_line(lines[i], block.indent)
    assert found is not None
    return split_comment(found.group("after"))[0].strip().strip("'\"")


def split_comment(after: str) -> tuple[str, str]:
    """``" canary      # 25% now"`` → (``" canary"``, ``"      # 25% now"``)."""
    found = re.search(r"\s+#", after)
    if found is None or after[: found.start()].count('"') % 2 or after.count("'") % 2:
        return after.rstrip(), after[len(after.rstrip()) :]
    return after[: found.start()], after[found.start() :]


def key_span(lines: list[str], block: Block, i: int) -> int:
    """One past the last line of the key at ``i`` (its nested block included)."""
    j = i + 1
    while j < block.end:
        text = lines[j].rstrip("\r\n")
        if text.strip() and len(text) - len(text.lstrip(" ")) <= block.indent:
            break
        j += 1
    return j
