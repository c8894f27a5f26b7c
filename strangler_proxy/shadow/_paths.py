"""JSONPath-like patterns for comparison rules, and the concrete paths they match.

The syntax is a small, predictable subset of JSONPath::

    $                 the document root
    .name  ['name']   an object key
    [3]               an array index
    [*]  .*           any single key or array element
    ..name  ..*       ``name`` (or anything) at any depth below

A concrete path is a tuple of segments: ``str`` (object key), ``int`` (array index) or
:class:`Keyed` (an element of an array compared as a set, identified by its key field).
Results are aggregated by the *generic* form of a path, where every element becomes ``[*]``:

    >>> compile_pattern("$.results[*].updated_at").matches(("results", 3, "updated_at"))
    True
    >>> compile_pattern("$..updated_at").matches(("updated_at",))
    True
    >>> render(("results", Keyed("id", 17), "price")), generic(("results", 3, "price"))
    ('$.results[id=17].price', '$.results[*].price')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["ANY", "DESCENT", "Keyed", "Pattern", "Segment", "compile_pattern", "generic", "render"]


@dataclass(frozen=True, slots=True)
class Keyed:
    """An element of an unordered array: ``Keyed("id", 17)`` renders as ``[id=17]``."""

    key: str
    value: object


Segment = str | int | Keyed


class _Token:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ANY = _Token("ANY")  # one segment, whatever it is
DESCENT = _Token("DESCENT")  # zero or more segments
_Tok = str | int | _Token
_NAME = re.compile(r"[^.\[\]]+")
_BRACKET = re.compile(r"\[(?:(\*)|(-?\d+)|'([^']*)'|\"([^\"]*)\")\]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    tokens: tuple[_Tok, ...]

    def matches(self, path: tuple[Segment, ...]) -> bool:
        return _match(self.tokens, 0, path, 0)


def _match(tokens: tuple[_Tok, ...], i: int, path: tuple[Segment, ...], j: int) -> bool:
    while i < len(tokens):
        tok = tokens[i]
        if tok is DESCENT:
            return any(_match(tokens, i + 1, path, k) for k in range(j, len(path) + 1))
        if j >= len(path):
            return False
        seg = path[j]
        if isinstance(tok, int):
            if isinstance(seg, bool) or not isinstance(seg, int) or seg != tok:
                return False
        elif isinstance(tok, str) and not (isinstance(seg, str) and seg == tok):
            return False
        i, j = i + 1, j + 1
    return j == len(path)


def compile_pattern(text: str) -> Pattern:
    """Parse ``text``; raise ``ValueError`` naming the offending position."""
    if not text.startswith("$"):
        raise ValueError(f"path {text!r} must start with '$'")
    tokens: list[_Tok] = []
    pos = 1
    while pos < len(text):
        rest = text[pos:]
        if rest.startswith(".."):
            tokens.append(DESCENT)
            pos += 2
            rest = text[pos:]
            if rest.startswith("["):
                continue
        elif rest.startswith("."):
            pos += 1
            rest = text[pos:]
        elif not rest.startswith("["):
            raise ValueError(f"path {text!r}: unexpected {rest[0]!r} at position {pos}")
        if rest.startswith("*"):
            tokens.append(ANY)
            pos += 1
            continue
        if rest.startswith("["):
            m = _BRACKET.match(rest)
            if m is None:
                raise ValueError(f"path {text!r}: bad bracket at position {pos}")
            star, index, sq, dq = m.groups()
            if star:
                tokens.append(ANY)
            elif index is not None:
                tokens.append(int(index))
            else:
                tokens.append(sq if sq is not None else dq)
            pos += m.end()
            continue
        m = _NAME.match(rest)
        if m is None:
            raise ValueError(f"path {text!r}: missing name at position {pos}")
        tokens.append(m.group())
        pos += m.end()
    if tokens and tokens[-1] is DESCENT:
        raise ValueError(f"path {text!r} must not end with '..'")
    return Pattern(text, tuple(tokens))


def _render_segment(seg: Segment, generic_form: bool) -> str:
    if isinstance(seg, str):
        return f".{seg}" if _IDENT.match(seg) else f"[{json.dumps(seg)}]"
    if generic_form:
        return "[*]"
    if isinstance(seg, Keyed):
        return f"[{seg.key}={json.dumps(seg.value, default=str, sort_keys=True)}]"
    return f"[{seg}]"


def render(path: tuple[Segment, ...]) -> str:
    """The concrete path as text: ``$.results[3].price``."""
    return "$" + "".join(_render_segment(s, False) for s in path)


def generic(path: tuple[Segment, ...]) -> str:
    """The path with every array element written ``[*]``: how fields are aggregated."""
    return "$" + "".join(_render_segment(s, True) for s in path)
