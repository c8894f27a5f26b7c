"""Compare the primary's answer with the shadow's: status, chosen headers, body.

    >>> ok = Captured(200, (("Content-Type", "application/json"),), b'{"id": 1, "a": [1]}', 0.01)
    >>> other = Captured(200, (("content-type", "application/json"),), b'{"a": [2], "id": 1}', 0.02)
    >>> compare(ok, other, CompareRules())
    Comparison(verdict=<Verdict.MISMATCH: 'mismatch'>, differences=(Difference(path='$.a[0]',
    kind='value', primary=1, shadow=2, field='$.a[*]'),), noise=())

How each part is compared:

* **status**: equal integers, else a ``status`` difference at path ``status``.
* **headers**: only the names in ``rules.headers`` (case-insensitive; repeated headers joined
  with ``", "``); values are compared after lower-casing and dropping blanks around ``;`` so
  ``application/json; charset=utf-8`` equals ``application/json;charset=UTF-8``. ``Date`` and
  ``Server`` are never compared. Path ``headers.<name>``.
* **body**: structurally (see :mod:`._jsondiff`) when either side's ``Content-Type`` mentions
  ``json``; a side that does not parse is an ``invalid_json`` difference (both unparsable:
  compared as bytes). Otherwise by *normalized bytes*: ``\\r\\n`` → ``\\n``, trailing spaces
  and tabs removed from every line, trailing newlines removed from the end. Path ``body``.
* **errors**: a side without a response (``error`` set or ``status`` None) makes the verdict
  ``ERROR`` with one ``error`` difference; nothing else is compared.

Differences whose ``field`` is in ``noise`` are moved to ``Comparison.noise``; when nothing else
differs the verdict is ``NOISE_ONLY``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from ._jsondiff import MAX_DIFFERENCES, diff_json
from ._rules import NEVER_COMPARED, CompareRules, Matcher, Tolerance
from ._types import Captured, Comparison, Difference, ShadowResult, Verdict

__all__ = [
    "MAX_DIFFERENCES",
    "NEVER_COMPARED",
    "Captured",
    "CompareRules",
    "Comparison",
    "Difference",
    "Matcher",
    "ShadowResult",
    "Tolerance",
    "Verdict",
    "classify_race",
    "compare",
    "normalize_bytes",
]

_EXCERPT = 120  # characters of a non-JSON body shown around the first difference
_TRAILING_WS = re.compile(rb"[ \t]+$", re.MULTILINE)
_PARAM_SEP = re.compile(r"\s*;\s*")


def normalize_bytes(body: bytes) -> bytes:
    """``b"a  \\r\\nb\\n\\n"`` → ``b"a\\nb"``: line endings, trailing blanks, final newlines."""
    return _TRAILING_WS.sub(b"", body.replace(b"\r\n", b"\n")).rstrip(b"\n")


def _header_value(value: str | None) -> str | None:
    return None if value is None else _PARAM_SEP.sub(";", value.strip().lower())


def _compare_headers(primary: Captured, shadow: Captured, rules: CompareRules) -> list[Difference]:
    diffs = []
    for name in rules.headers:
        a, b = primary.header(name), shadow.header(name)
        if a != b and _header_value(a) != _header_value(b):
            diffs.append(Difference(f"headers.{name}", "header", a, b))
    return diffs


def _is_json(side: Captured) -> bool:
    content_type = side.header("content-type")
    return content_type is not None and "json" in content_type.lower()


_DECODER = json.JSONDecoder(parse_float=Decimal)  # one decoder: json.loads makes one per call


def _parse(body: bytes) -> tuple[bool, object]:
    try:  # as json.loads(body) reads bytes: UTF-8 (a BOM allowed), UTF-16 or UTF-32
        return True, _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError):  # not JSON (or nested too deep): compared as bytes
        return False, None


def _may_hold_bools(*sides: Captured) -> bool:
    """False only when neither body can hold ``true`` or ``false``: UTF-8 (as good as every
    JSON body) without either word; UTF-16 and UTF-32 spell them in other bytes."""
    return any(
        b"true" in side.body
        or b"false" in side.body
        or json.detect_encoding(side.body) not in ("utf-8", "utf-8-sig")
        for side in sides
    )


def _excerpt(body: bytes, start: int) -> str:
    return body[start : start + _EXCERPT].decode("utf-8", "replace")


def text_difference(kind: str, primary: bytes, shadow: bytes) -> Difference | None:
    """A whole-body difference shown as text: ``invalid_json`` (one side is not JSON) with the
    start of each body, ``body`` with each body around the first byte that differs (after
    :func:`normalize_bytes`); None when the bodies are the same."""
    if kind == "invalid_json":
        return Difference("body", "invalid_json", _excerpt(primary, 0), _excerpt(shadow, 0))
    a, b = normalize_bytes(primary), normalize_bytes(shadow)
    if a == b:
        return None
    first = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    start = max(0, first - 20)
    return Difference("body", "body", _excerpt(a, start), _excerpt(b, start))


def _compare_body(primary: Captured, shadow: Captured, rules: CompareRules) -> list[Difference]:
    if _is_json(primary) or _is_json(shadow):
        if primary.body == shadow.body and not rules.matchers:
            return []  # the same bytes are the same document (or the same invalid one)
        ok_a, doc_a = _parse(primary.body)
        ok_b, doc_b = _parse(shadow.body)
        if ok_a and ok_b:
            return diff_json(doc_a, doc_b, rules, bools=_may_hold_bools(primary, shadow))
        kind = "invalid_json" if ok_a or ok_b else "body"
    else:
        kind = "body"
    diff = text_difference(kind, primary.body, shadow.body)
    return [] if diff is None else [diff]


def compare(
    primary: Captured,
    shadow: Captured,
    rules: CompareRules,
    noise: frozenset[str] = frozenset(),
) -> Comparison:
    """Compare two answers to the same request; ``noise`` holds fields learned as noise."""
    if primary.status is None or shadow.status is None or primary.error or shadow.error:
        diff = Difference("error", "error", primary.error, shadow.error)
        return Comparison(Verdict.ERROR, (diff,), ())
    diffs: list[Difference] = []
    if primary.status != shadow.status:
        diffs.append(Difference("status", "status", primary.status, shadow.status))
    diffs += _compare_headers(primary, shadow, rules)
    diffs += _compare_body(primary, shadow, rules)
    if not diffs:
        return Comparison(Verdict.MATCH, (), ())
    real = tuple(d for d in diffs if d.field not in noise)
    noisy = tuple(sorted({d.field for d in diffs if d.field in noise}))
    return Comparison(Verdict.MISMATCH if real else Verdict.NOISE_ONLY, real, noisy)


def classify_race(first: Comparison, recheck: Comparison) -> Comparison:
    """The outcome of a mismatch after both sides were asked once more, a moment later.

    ``MISMATCH`` then ``MATCH``/``NOISE_ONLY`` → ``LIKELY_RACE`` (the data changed between the
    two calls; the first differences are kept as evidence). A mismatch that persists, or a
    re-check that failed (``ERROR``), keeps the first comparison. Other verdicts are returned
    unchanged: only mismatches are re-checked.

        >>> classify_race(Comparison(Verdict.MISMATCH, diffs), Comparison(Verdict.MATCH, ()))
        Comparison(verdict=<Verdict.LIKELY_RACE: 'likely_race'>, differences=diffs, noise=())
    """
    if first.verdict is not Verdict.MISMATCH:
        return first
    if recheck.verdict in (Verdict.MATCH, Verdict.NOISE_ONLY):
        return Comparison(Verdict.LIKELY_RACE, first.differences, first.noise)
    return first
