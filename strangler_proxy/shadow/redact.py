"""Blank secrets out of a :class:`ShadowResult` before anything is stored.

Always redacted:

* headers ``Authorization``, ``Proxy-Authorization``, ``X-CSRFToken``, ``X-Api-Key`` and the
  proxy's own ``X-Strangler-Identity`` assertion (whole value);
  ``Cookie`` and ``Set-Cookie`` keep cookie names and attributes, never values:
  ``sessionid=abc; csrftoken=x`` → ``sessionid=[redacted]; csrftoken=[redacted]``;
* JSON bodies: the keys ``csrfmiddlewaretoken`` and ``csrftoken`` at any depth, plus the
  route's ``redact`` paths (``CompareRules.redact``);
* other bodies (HTML forms, form-encoded text): ``csrfmiddlewaretoken`` / ``csrftoken`` values;
* the values of differences at (or containing) those paths and headers; a difference shown
  as text (``body``, ``invalid_json``: an excerpt of each body) is taken again from the
  redacted bodies, so it cannot show what the bodies' redaction blanked;
* query parameters of the request target whose names say they carry a secret (``token``,
  ``access_token``, ``api_key``, ``password``, ``signature``, ... — see ``SECRET_PARAMS``):
  ``/api/x/?token=abc&page=2`` → ``/api/x/?token=[redacted]&page=2``.

    >>> redact_headers((("Authorization", "Token s3cret"), ("Accept", "*/*")))
    (('Authorization', '[redacted]'), ('Accept', '*/*'))
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from urllib.parse import unquote_plus

from ._paths import Keyed, Pattern, Segment, compile_pattern
from ._types import Captured, Comparison, Difference, ShadowResult
from .compare import text_difference

__all__ = [
    "ALWAYS_REDACTED_PATHS",
    "REDACTED",
    "SECRET_HEADERS",
    "redact_body",
    "redact_headers",
    "redact_result",
    "redact_target",
]

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-csrftoken", "x-api-key", "x-strangler-identity"}
)
# query parameter names (lower case, "-" read as "_") whose values are never stored
SECRET_PARAMS = frozenset(
    {
        "token", "access_token", "refresh_token", "id_token", "auth", "auth_token",
        "api_key", "apikey", "key", "secret", "client_secret", "password", "passwd",
        "signature", "sig", "session", "sessionid", "csrftoken", "csrfmiddlewaretoken", "code",
    }
)  # fmt: skip
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
ALWAYS_REDACTED_PATHS = ("$..csrfmiddlewaretoken", "$..csrftoken")
# name="csrfmiddlewaretoken" value="…", csrfmiddlewaretoken=…, "csrftoken": "…"
_TEXT_SECRET = re.compile(
    rb"((?:csrfmiddlewaretoken|csrftoken)[\"']?(?:\s+value=|\s*[=:]\s*)[\"']?)[^\"'&\s<>;,]+",
    re.IGNORECASE,
)
_TEXT_SECRET_STR = re.compile(_TEXT_SECRET.pattern.decode(), re.IGNORECASE)
_COOKIE_PAIR = re.compile(r"([^=;,\s]+)=[^;,]*")


def _redact_cookie(name: str, value: str) -> str:
    if name == "set-cookie":  # only the first pair is the cookie; the rest are attributes
        head, sep, attributes = value.partition(";")
        return _COOKIE_PAIR.sub(rf"\1={REDACTED}", head, count=1) + sep + attributes
    return _COOKIE_PAIR.sub(rf"\1={REDACTED}", value)


def redact_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    out = []
    for name, value in headers:
        lname = name.lower()
        if lname in SECRET_HEADERS:
            value = REDACTED
        elif lname in _COOKIE_HEADERS:
            value = _redact_cookie(lname, value)
        out.append((name, value))
    return tuple(out)


def _patterns(paths: Iterable[str]) -> tuple[Pattern, ...]:
    return tuple(compile_pattern(p) for p in (*ALWAYS_REDACTED_PATHS, *paths))


def _redact_tree(value: object, path: tuple[Segment, ...], patterns: tuple[Pattern, ...]) -> object:
    if any(p.matches(path) for p in patterns):
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact_tree(v, (*path, k), patterns) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, (*path, i), patterns) for i, v in enumerate(value)]
    if isinstance(value, str):
        return _TEXT_SECRET_STR.sub(rf"\1{REDACTED}", value)
    return value


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def redact_body(body: bytes, paths: Iterable[str] = ()) -> bytes:
    """JSON bodies: parse, blank the paths, serialize (compact); others: text patterns."""
    try:
        doc = json.loads(body, parse_float=Decimal)
        redacted = _redact_tree(doc, (), _patterns(paths))
    except (ValueError, RecursionError):  # not JSON, or nested too deep to walk: as text
        return _TEXT_SECRET.sub(rb"\1" + REDACTED.encode(), body)
    return json.dumps(redacted, default=_json_default, ensure_ascii=False).encode()


_TEXT_KINDS = frozenset({"body", "invalid_json"})  # differences shown as body excerpts
NOT_SHOWN = "[not shown: the bodies differ in redacted values or JSON formatting]"


def _redact_side(side: Captured, paths: tuple[str, ...]) -> Captured:
    return replace(side, headers=redact_headers(side.headers), body=redact_body(side.body, paths))


def _redact_difference(diff: Difference, patterns: tuple[Pattern, ...]) -> Difference:
    if diff.kind == "header":
        name = diff.path.removeprefix("headers.")
        if name in SECRET_HEADERS or name in _COOKIE_HEADERS:
            return replace(diff, primary=REDACTED, shadow=REDACTED)
        return diff
    prefix = diff.segments if diff.segments is not None else ()
    return replace(
        diff,
        primary=_redact_value(diff.primary, prefix, patterns),
        shadow=_redact_value(diff.shadow, prefix, patterns),
    )


def _redact_value(
    value: object, prefix: tuple[Segment, ...], patterns: tuple[Pattern, ...]
) -> object:
    """A difference's value at ``prefix``. Under an unordered array's element (``[id=17]``), a
    list holds the elements that share that key (or have none), each one at that same path."""
    if prefix and isinstance(prefix[-1], Keyed) and isinstance(value, list):
        return [_redact_tree(v, prefix, patterns) for v in value]
    return _redact_tree(value, prefix, patterns)


def redact_comparison(
    comparison: Comparison,
    paths: Iterable[str] = (),
    bodies: tuple[bytes, bytes] | None = None,
) -> Comparison:
    """The differences with their secrets blanked; ``bodies`` (primary, shadow), already
    redacted, are where text differences take their excerpts again (without them, such an
    excerpt keeps only the text patterns' redaction)."""
    patterns = _patterns(paths)
    diffs: list[Difference] = []
    for d in comparison.differences:
        if bodies is not None and d.kind in _TEXT_KINDS and d.segments is None:
            again = text_difference(d.kind, *bodies)
            diffs.append(
                # the stored bodies are the same: they differed in what was redacted, or only
                # in how the JSON was written (redaction writes it again); the excerpts of the
                # originals could show a secret, so neither is kept
                replace(d, primary=NOT_SHOWN, shadow=NOT_SHOWN)
                if again is None
                else replace(d, primary=again.primary, shadow=again.shadow)
            )
        else:
            diffs.append(_redact_difference(d, patterns))
    return replace(comparison, differences=tuple(diffs))


def redact_target(target: str) -> str:
    """``target`` (path and query, as sent) with the values of secret query parameters
    replaced; the rest, percent-encoding included, stays byte for byte."""
    path, sep, query = target.partition("?")
    if not sep or not query:
        return target
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, eq, _ = part.partition("=")
        if eq and unquote_plus(name).lower().replace("-", "_") in SECRET_PARAMS:
            parts[i] = f"{name}={REDACTED}"
            changed = True
    return f"{path}?{'&'.join(parts)}" if changed else target


def redact_result(result: ShadowResult) -> ShadowResult:
    """Everything secret in ``result`` replaced by ``[redacted]``; uses ``result.redact``."""
    primary = _redact_side(result.primary, result.redact)
    shadow = _redact_side(result.shadow, result.redact)
    return replace(
        result,
        target=redact_target(result.target),
        request_headers=redact_headers(result.request_headers),
        primary=primary,
        shadow=shadow,
        comparison=redact_comparison(result.comparison, result.redact, (primary.body, shadow.body)),
    )
