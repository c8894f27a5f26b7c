"""Change one route's state in ``routing.yaml`` in place, keeping every other byte.

Only the route's own ``mode:``, ``to:`` and ``weight:`` lines change (or are inserted with the
route's indentation, after ``mode:``); comments, blank lines, quoting and the order of keys
stay as written. Keys the new mode does not allow are *parked*, not deleted: they are commented
out with the marker ``# (parked) `` and restored when a later edit allows them again, so a
rollback from canary to legacy and the next promote keep the route's ``sticky:`` and
``fallback:``::

    set_route(text, "product-detail", RouteState(Mode.LEGACY))

    before                                after
    - name: product-detail                - name: product-detail
      mode: canary      # 25% now           mode: legacy      # 25% now
      to: catalog                           to: catalog
      weight: 25                            # (parked) weight: 25
      sticky: header:Authorization          # (parked) sticky: header:Authorization

Which keys each mode allows: legacy ``to``; shadow ``to``, ``shadow``; canary ``to``,
``weight``, ``sticky``, ``fallback``; extracted ``to``, ``fallback`` (a parked ``shadow:`` block
stays parked there: un-park it by hand to run the reverse shadow). The result is validated with
:func:`~strangler_proxy.config.parse_table` before anything is written; :func:`write_atomic`
then replaces the file in one step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import parse_table
from ..errors import ConfigError
from ..model import Mode, Route, RoutingTable
from ._yamllines import (
    KEY,
    Block,
    EditError,
    find_key,
    find_route,
    key_line,
    key_span,
    split_comment,
    value,
)

__all__ = [
    "PARK",
    "EditError",
    "RouteState",
    "route_value",
    "set_route",
    "state_of_route",
    "write_atomic",
]

PARK = "# (parked) "
_ALLOWED = {
    Mode.LEGACY: {"to"},
    Mode.SHADOW: {"to", "shadow"},
    Mode.CANARY: {"to", "weight", "sticky", "fallback"},
    Mode.EXTRACTED: {"to", "fallback"},
}
_PARKABLE = ("weight", "sticky", "fallback", "shadow")


@dataclass(frozen=True, slots=True)
class RouteState:
    """Where a route stands: ``RouteState(Mode.CANARY, 25, "catalog")`` → ``canary 25%``."""

    mode: Mode
    weight: int | None = None  # canary only
    to: str | None = None

    def __str__(self) -> str:
        return f"canary {self.weight}%" if self.mode is Mode.CANARY else self.mode.value

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode.value, "weight": self.weight, "to": self.to}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RouteState:
        weight, to = data.get("weight"), data.get("to")
        return cls(
            Mode(str(data["mode"])),
            weight if isinstance(weight, int) else None,
            to if isinstance(to, str) else None,
        )


def state_of_route(route: Route) -> RouteState:
    return RouteState(route.mode, route.weight if route.mode is Mode.CANARY else None, route.to)


def _set(lines: list[str], block: Block, key: str, value: str, after_key: str) -> None:
    i = find_key(lines, block, key)
    eol = "\r\n" if lines[block.start].endswith("\r\n") else "\n"
    if i is not None:
        found = key_line(lines[i], block.indent)
        assert found is not None
        comment = split_comment(found.group("after"))[1]
        lines[i] = f"{lines[i][: block.indent]}{key}: {value}{comment}{eol}"
        return
    anchor = find_key(lines, block, after_key)
    at = key_span(lines, block, anchor) if anchor is not None else block.end
    lines.insert(at, f"{' ' * block.indent}{key}: {value}{eol}")
    block.end += 1


def _park(lines: list[str], block: Block, allowed: set[str]) -> None:
    for key in _PARKABLE:
        i = find_key(lines, block, key)
        if key in allowed or i is None:
            continue
        stale = f"{' ' * block.indent}{PARK}{key}:"
        for j in range(block.end - 1, block.start, -1):
            nested = j + 1 < len(lines) and lines[j + 1].startswith(stale[: -len(key) - 1] + " ")
            if lines[j].startswith(stale) and not nested:
                del lines[j]  # an older parked copy: the one parked now supersedes it
                block.end -= 1
                i -= 1 if j < i else 0
        for j in range(i, key_span(lines, block, i)):
            if lines[j].strip():
                lines[j] = lines[j][: block.indent] + PARK + lines[j][block.indent :]


def _unpark(lines: list[str], block: Block, allowed: set[str]) -> None:
    i = block.start
    while i < block.end:
        rest = lines[i][block.indent :]
        found = KEY.match(rest[len(PARK) :].rstrip("\r\n")) if rest.startswith(PARK) else None
        if found is None or found.group("key") not in allowed:
            i += 1
            continue
        if find_key(lines, block, found.group("key")) is not None:
            i += 1  # the live key wins; the parked copy stays a comment
            continue
        lines[i] = lines[i][: block.indent] + rest[len(PARK) :]
        i += 1
        while i < block.end and lines[i][block.indent :].startswith(PARK + " "):
            lines[i] = lines[i][: block.indent] + lines[i][block.indent + len(PARK) :]
            i += 1


def set_route(text: str, name: str, state: RouteState, source: str = "<memory>") -> str:
    """``text`` with route ``name`` moved to ``state``; :class:`EditError` if the result would
    not be a valid table or would not hold the route in exactly that state."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # restored below
    block = find_route(lines, name)
    allowed = _ALLOWED[state.mode]
    _park(lines, block, allowed)
    _unpark(lines, block, allowed)
    _set(lines, block, "mode", state.mode.value, "name")
    if state.to is not None:
        _set(lines, block, "to", state.to, "mode")
    if state.mode is Mode.CANARY:
        if state.weight is None:
            raise EditError("a canary needs a weight")
        _set(lines, block, "weight", str(state.weight), "to")
    result = "".join(lines)
    if not text.endswith("\n"):
        result = result[:-1]
    table = validate(result, source)
    route = next(r for r in table.routes if r.name == name)
    got = state_of_route(route)
    if (
        got.mode is not state.mode
        or (state.mode is not Mode.LEGACY and state.to is not None and got.to != state.to)
        or (state.mode is Mode.CANARY and got.weight != state.weight)
    ):
        raise EditError(f"the edit did not take: route '{name}' is {got} after it")
    return result


def route_value(text: str, name: str, key: str) -> str | None:
    """The value written for ``key`` in route ``name`` (also where the loader ignores it, such
    as ``to:`` on a legacy route): ``route_value(text, "product-detail", "to")`` → ``"catalog"``."""
    lines = text.splitlines(keepends=True)
    return value(lines, find_route(lines, name), key)


def validate(text: str, source: str) -> RoutingTable:
    try:
        return parse_table(text, source)
    except ConfigError as err:
        raise EditError(
            "the edited table would be invalid, nothing written",
            tuple(str(p) for p in err.problems),
        ) from err


def write_atomic(path: Path, text: str, *, expected_sha256: str | None = None) -> str:
    """Replace ``path`` with ``text`` in one step (temp file in the same folder, fsync,
    ``os.replace``), keeping its permissions. With ``expected_sha256``, refuse when the file
    changed since it was read. Returns the new sha256 (the proxy's ``GET /table`` shows it)."""
    data = text.encode("utf-8")
    if expected_sha256 is not None:
        current = hashlib.sha256(path.read_bytes()).hexdigest()
        if current != expected_sha256:
            raise EditError(f"{path} changed while it was being edited; run the command again")
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return hashlib.sha256(data).hexdigest()
