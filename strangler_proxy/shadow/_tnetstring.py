"""tnetstrings (https://tnetstring.org), the encoding of mitmproxy's flow files.

A value is ``LENGTH:PAYLOAD`` followed by a one-byte type tag: ``,`` bytes, ``;`` UTF-8 text
(mitmproxy's extension of the specification), ``#`` integer, ``^`` float, ``!`` boolean
(``true``/``false``), ``~`` null (empty payload), ``]`` list (its items, concatenated) and ``}``
dict (key, value, key, value, ...). A flow file is a sequence of such values.

Written from the specification for the flow files only (no dependency on mitmproxy).
:func:`dumps` produces exactly the bytes mitmproxy's encoder produces for the same value,
including its one quirk: a dict's items come out in reverse insertion order (mitmproxy builds
its output back to front), so a flow state built in mitmproxy's key order encodes to the bytes
its ``FlowWriter`` writes. Reading is order-independent. :func:`load` reads one value from a
file and raises :class:`EOFError` at a clean end of file; anything malformed raises
:class:`TNetstringError`.
"""

from __future__ import annotations

import re
from typing import BinaryIO

__all__ = ["TNetstringError", "dumps", "load", "loads"]

_MAX_PREFIX = 12  # digits of a length prefix: up to ~1 TB, as mitmproxy allows
_PIECE = 1 << 20
_INTEGER = re.compile(rb"[-+]?[0-9]+")


class TNetstringError(ValueError):
    """Bytes that are not a (complete) tnetstring."""


def dumps(value: object) -> bytes:
    """``value`` (None, bool, int, float, bytes, str, list/tuple, dict with str or bytes keys)
    as a tnetstring; ``TypeError`` for anything else."""
    return b"".join(_encode(value))


def _encode(value: object) -> list[bytes]:
    if value is None:
        return [b"0:~"]
    if value is True:
        return [b"4:true!"]
    if value is False:
        return [b"5:false!"]
    parts: list[bytes]
    if isinstance(value, int):
        parts, tag = [str(value).encode("ascii")], b"#"
    elif isinstance(value, float):
        parts, tag = [repr(value).encode("ascii")], b"^"  # repr round-trips exactly
    elif isinstance(value, bytes | bytearray):
        parts, tag = [bytes(value)], b","
    elif isinstance(value, str):
        parts, tag = [value.encode("utf-8")], b";"
    elif isinstance(value, list | tuple):
        parts, tag = [chunk for item in value for chunk in _encode(item)], b"]"
    elif isinstance(value, dict):
        parts, tag = [], b"}"
        for key, item in reversed(value.items()):  # mitmproxy's order (see the module doc)
            if not isinstance(key, str | bytes):
                raise TypeError(f"tnetstring dict keys are str or bytes, not {type(key).__name__}")
            parts += _encode(key)
            parts += _encode(item)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a tnetstring")
    size = sum(len(p) for p in parts)
    return [str(size).encode("ascii"), b":", *parts, tag]


def loads(data: bytes) -> object:
    """The one value ``data`` holds (trailing bytes are an error)."""
    value, end = _pop(data, 0, len(data))
    if end != len(data):
        raise TNetstringError(f"{len(data) - end} bytes after the value")
    return value


def load(fo: BinaryIO) -> object:
    """The next value of ``fo``, reading no further than its end; :class:`EOFError` when ``fo``
    is at its end before the first byte."""
    c = fo.read(1)
    if not c:
        raise EOFError
    prefix = b""
    while c.isdigit():
        prefix += c
        if len(prefix) > _MAX_PREFIX:
            raise TNetstringError("absurdly long length prefix")
        c = fo.read(1)
    if c != b":" or not prefix:
        raise TNetstringError(f"missing or invalid length prefix ({(prefix + c)[:16]!r})")
    length = int(prefix)
    payload = _read(fo, length)
    tag = fo.read(1)
    if len(payload) != length or not tag:
        raise TNetstringError(
            f"truncated: a {length}-byte value ends after {len(payload)} bytes"
            if len(payload) != length
            else "truncated: the type tag is missing"
        )
    return _parse(payload, 0, length, tag[0])


def _read(fo: BinaryIO, length: int) -> bytes:
    """Up to ``length`` bytes, a piece at a time: a corrupt prefix claiming a terabyte must end
    in "truncated", not in an attempt to allocate it."""
    pieces = []
    left = length
    while left > 0:
        piece = fo.read(min(left, _PIECE))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def _pop(data: bytes, pos: int, end: int) -> tuple[object, int]:
    """The value at ``data[pos:]`` (within ``end``) and the position after it."""
    colon = data.find(b":", pos, min(end, pos + _MAX_PREFIX + 1))
    if colon <= pos or not data[pos:colon].isdigit():
        raise TNetstringError(f"missing or invalid length prefix at byte {pos}")
    start = colon + 1
    stop = start + int(data[pos:colon])
    if stop >= end:  # the payload and its tag must fit in the enclosing value
        raise TNetstringError(f"a value at byte {pos} is longer than what encloses it")
    return _parse(data, start, stop, data[stop]), stop + 1


def _parse(data: bytes, start: int, stop: int, tag: int) -> object:
    payload = data[start:stop]
    if tag == ord(","):
        return payload
    if tag == ord(";"):
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as err:
            raise TNetstringError(f"text that is not UTF-8: {err}") from None
    if tag == ord("#"):
        if not _INTEGER.fullmatch(payload):
            raise TNetstringError(f"invalid integer {payload[:32]!r}")
        return int(payload)
    if tag == ord("^"):
        try:
            return float(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise TNetstringError(f"invalid float {payload[:32]!r}") from None
    if tag == ord("!"):
        if payload in (b"true", b"false"):
            return payload == b"true"
        raise TNetstringError(f"invalid boolean {payload[:32]!r}")
    if tag == ord("~"):
        if payload:
            raise TNetstringError("a null with a payload")
        return None
    if tag == ord("]"):
        items = []
        pos = start
        while pos < stop:
            item, pos = _pop_nested(data, pos, stop)
            items.append(item)
        return items
    if tag == ord("}"):
        result: dict[str | bytes, object] = {}
        pos = start
        while pos < stop:
            key, pos = _pop_nested(data, pos, stop)
            if not isinstance(key, str | bytes):
                raise TNetstringError(f"a dict key that is a {type(key).__name__}")
            if pos >= stop:
                raise TNetstringError(f"dict key {key!r} without a value")
            result[key], pos = _pop_nested(data, pos, stop)
        return result
    raise TNetstringError(f"unknown type tag {bytes([tag])!r}")


def _pop_nested(data: bytes, pos: int, end: int) -> tuple[object, int]:
    try:
        return _pop(data, pos, end)
    except RecursionError:  # a corrupt file nesting containers thousands deep
        raise TNetstringError("containers nested too deeply") from None
