"""What the proxy refuses or rewrites before routing, so that no request reaches a backend
ambiguously and no moved route can be bypassed by spelling its path differently.

aiohttp's HTTP parser (llhttp) already answers 400 to: both ``Content-Length`` and
``Transfer-Encoding``; repeated or conflicting ``Content-Length``; a ``Transfer-Encoding``
whose last coding is not ``chunked``; NUL, bare CR or LF in header values; obsolete line folding;
invalid header names. On top of that, this module rejects:

* any ``Transfer-Encoding`` other than exactly ``chunked`` (``gzip, chunked`` would reach the
  upstream re-chunked but no longer gzip-coded);
* a header name with ``_`` next to the same name with ``-`` (``X_Forwarded_For`` and
  ``X-Forwarded-For``): WSGI servers map both to one variable, so which one wins is a guess;

and it normalises the path before matching: dot segments (also percent-encoded, ``%2e``) are
resolved and repeated slashes collapsed. The upstream then receives the normalised path, the one
that was matched::

    >>> normalize_path("/api//x/%2e%2e/products/./1/")
    '/api/products/1/'
"""

from __future__ import annotations

from ._front import Request

__all__ = ["normalize_path", "request_problem"]


def request_problem(request: Request) -> str | None:
    """A reason code when the request must be refused with 400, else ``None``."""
    raw = request.raw_headers
    underscore = framing = False
    for k, _ in raw:  # one pass over the raw names; a clean request ends with it
        if b"_" in k:
            underscore = True
        elif len(k) == 17 and k.lower() == b"transfer-encoding":
            framing = True
    if framing:
        te = request.headers.get("Transfer-Encoding")
        if te is not None and te.strip().lower() != "chunked":
            return "bad_transfer_encoding"
    if underscore:
        seen: dict[bytes, bytes] = {}
        for k, _ in raw:
            folded = k.lower().replace(b"_", b"-")
            first = seen.setdefault(folded, k.lower())
            if first != k.lower():
                return "ambiguous_header_names"
    return None


def _is_dot(segment: str, dots: int) -> bool:
    if "%" not in segment:
        return segment == "." * dots
    return segment.lower().replace("%2e", ".") == "." * dots


def normalize_path(path: str) -> str:
    """Resolve dot segments (RFC 3986 5.2.4, ``%2e`` counting as ``.``) and collapse repeated
    slashes; every other byte, percent-encoding included, is kept as it was."""
    if "//" not in path and "/." not in path and not _has_encoded_dot(path):
        return path
    out: list[str] = []
    segments = path.split("/")
    trailing = False
    for i, segment in enumerate(segments[1:], start=1):
        last = i == len(segments) - 1
        if segment == "" and not last:
            continue  # repeated slash
        if _is_dot(segment, 1):
            trailing = last
            continue
        if _is_dot(segment, 2):
            if out:
                out.pop()
            trailing = last
            continue
        out.append(segment)
        trailing = False
    result = "/" + "/".join(out)
    if trailing and not result.endswith("/"):
        result += "/"
    return result


def _has_encoded_dot(path: str) -> bool:
    return "%2e" in path or "%2E" in path
