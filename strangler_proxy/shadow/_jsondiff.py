"""Structural comparison of two parsed JSON documents under :class:`CompareRules`.

Objects are compared by key (order never matters); arrays element by element, or as sets keyed
by a field where ``unordered`` says so; numbers by value (``1`` equals ``1.0``, floats are
parsed as Decimal so nothing is lost to binary rounding); ``true`` never equals ``1``.

    >>> rules = CompareRules(tolerance={"$.price": Tolerance.parse(0.01)})
    >>> [d.path for d in diff_json({"price": "12.50", "n": 1}, {"price": "12.51", "n": 2}, rules)]
    ['$.n']
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

from ._paths import Keyed, Segment, generic, render
from ._rules import CompareRules, as_decimal
from ._types import Difference

__all__ = ["MAX_DIFFERENCES", "diff_json"]

MAX_DIFFERENCES = 50  # per comparison; the rest of a very different document adds nothing
_MISSING = object()
Path = tuple[Segment, ...]


def diff_json(
    primary: object, shadow: object, rules: CompareRules, *, bools: bool = True
) -> list[Difference]:
    """The differences, at most ``MAX_DIFFERENCES``. ``bools=False`` tells that neither
    document holds ``true`` or ``false`` (the caller saw neither word in the bytes)."""
    if not rules.matchers and primary == shadow and (not bools or _same(primary, shadow)):
        # equal by the walk's own rules: none can find a difference then (an ignored path or a
        # tolerance only ever removes one, equal arrays pair up by key); a matcher can refuse
        # a value both sides share, so with matchers the documents are always walked
        return []
    out: list[Difference] = []
    for diff in _walk(primary, shadow, (), rules):
        out.append(diff)
        if len(out) >= MAX_DIFFERENCES:
            break
    return out


def _diff(path: Path, kind: str, primary: object, shadow: object) -> Difference:
    return Difference(render(path), kind, primary, shadow, generic(path), path)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    return type(value).__name__


def _same(a: object, b: object) -> bool:
    """Whether two documents equal in Python's terms (``==``, which is one comparison in C) are
    equal by the walk's rules too: Python has ``True == 1``, the walk has not."""
    if isinstance(a, dict):
        return isinstance(b, dict) and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return isinstance(a, bool) is isinstance(b, bool)


def _walk(a: object, b: object, path: Path, rules: CompareRules) -> Iterator[Difference]:
    if rules.ignored(path):
        return
    matcher = rules.matcher_for(path)
    if matcher is not None:
        if not (matcher.accepts(a) and matcher.accepts(b)):
            yield _diff(path, "matcher", a, b)
        return
    tolerance = rules.tolerance_for(path)
    if tolerance is not None:
        da, db = as_decimal(a), as_decimal(b)
        if da is not None and db is not None:
            if not tolerance.within(da, db):
                yield _diff(path, "tolerance", a, b)
            return
    if isinstance(a, dict) and isinstance(b, dict):
        yield from _walk_object(a, b, path, rules)
    elif isinstance(a, list) and isinstance(b, list):
        key = rules.unordered_key(path)
        if key is None:
            yield from _walk_array(a, b, path, rules)
        else:
            yield from _walk_unordered(a, b, path, key, rules)
    elif _kind(a) != _kind(b):
        yield _diff(path, "type", a, b)
    elif a != b and not (_is_nan(a) and _is_nan(b)):  # NaN on both sides is the same answer
        yield _diff(path, "value", a, b)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


def _walk_object(
    a: dict[str, object], b: dict[str, object], path: Path, rules: CompareRules
) -> Iterator[Difference]:
    for key in sorted(a.keys() | b.keys()):
        child = (*path, key)
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if va is _MISSING or vb is _MISSING:
            if not rules.ignored(child):
                if va is _MISSING:
                    yield _diff(child, "extra", None, vb)
                else:
                    yield _diff(child, "missing", va, None)
        else:
            yield from _walk(va, vb, child, rules)


def _walk_array(
    a: list[object], b: list[object], path: Path, rules: CompareRules
) -> Iterator[Difference]:
    for i in range(max(len(a), len(b))):
        child = (*path, i)
        if i >= len(b):
            if not rules.ignored(child):
                yield _diff(child, "missing", a[i], None)
        elif i >= len(a):
            if not rules.ignored(child):
                yield _diff(child, "extra", None, b[i])
        else:
            yield from _walk(a[i], b[i], child, rules)


def _canonical(value: object) -> str:
    """A key value as text that is equal exactly when the walk finds the values equal:
    numbers by value (``1``, ``1.0`` and ``1E+0`` alike), ``true`` apart from ``1``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        number = as_decimal(value)
        if number is None:  # NaN, infinities
            return f"#{value!r}"
        return "#0" if number == 0 else f"#{number.normalize()}"  # -0 is 0
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(_canonical, value)) + "]"
    return json.dumps(value)


def _group(
    items: list[object], key: str
) -> tuple[dict[str, list[object]], list[object], dict[str, object]]:
    groups: dict[str, list[object]] = {}
    values: dict[str, object] = {}
    unkeyed: list[object] = []
    for item in items:
        if isinstance(item, dict) and key in item:
            k = _canonical(item[key])
            groups.setdefault(k, []).append(item)
            values[k] = item[key]
        else:
            unkeyed.append(item)
    return groups, unkeyed, values


def _walk_unordered(
    a: list[object], b: list[object], path: Path, key: str, rules: CompareRules
) -> Iterator[Difference]:
    """Arrays as sets keyed by ``key``: elements pair up by key value, whatever their order.

    A key value present more times on one side than the other is a ``duplicate_key``
    difference (``primary``/``shadow`` hold the counts); elements without the key field are a
    ``missing_key`` difference unless both sides have the very same such elements.
    """
    ga, unkeyed_a, values_a = _group(a, key)
    gb, unkeyed_b, values_b = _group(b, key)
    for k in sorted(ga.keys() | gb.keys()):
        child = (*path, Keyed(key, values_a.get(k, values_b.get(k))))
        la, lb = ga.get(k, []), gb.get(k, [])
        if not lb:
            if not rules.ignored(child):
                yield _diff(child, "missing", la[0] if len(la) == 1 else la, None)
        elif not la:
            if not rules.ignored(child):
                yield _diff(child, "extra", None, lb[0] if len(lb) == 1 else lb)
        elif len(la) != len(lb):
            yield _diff(child, "duplicate_key", len(la), len(lb))
        else:
            for ea, eb in zip(la, lb, strict=True):
                yield from _walk(ea, eb, child, rules)
    if sorted(map(_canonical, unkeyed_a)) != sorted(map(_canonical, unkeyed_b)):
        yield _diff((*path, Keyed(key, None)), "missing_key", unkeyed_a, unkeyed_b)
