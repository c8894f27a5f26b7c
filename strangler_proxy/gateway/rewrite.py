"""Path, header and link rewriting as pure functions: the service keeps its own layout.

A route's ``rewrite:`` (:class:`~strangler_proxy.gateway.spec.RewriteSpec`) maps the public
layout that clients know onto an extracted service's layout on the way in, and maps what the
service answers (``Location``, pagination links) back on the way out::

    strip = PathRewrite(PathRewriteKind.STRIP_PREFIX, "/api/catalog", "")
    rewrite_target(strip, "/api/catalog/products/7/?a=1", {})  → "/products/7/?a=1"
    rewrite_target(strip, "/api/catalogue/", {})               → "/api/catalogue/" (not under)
    public_path(strip, "/products/8/")                         → "/api/catalog/products/8/"

    tpl = PathRewrite(PathRewriteKind.TEMPLATE, "", "/v1/items/{id}/")
    rewrite_target(tpl, "/api/products/7/?a=1", {"id": "7"})   → "/v1/items/7/?a=1"
    rewrite_target(tpl, "/api/products/x/", {"id": "a/b"})     → "/v1/items/a%2Fb/"
    template_names("/v1/{shop}/items/{id}/")                   → ("shop", "id")

    bases = ["http://127.0.0.1:8101"]
    public_url("http://127.0.0.1:8101/products/?page=2", bases, "http://shop.example", strip)
        → "http://shop.example/api/catalog/products/?page=2"
    public_url("/products/?page=2", bases, "http://shop.example", strip)
        → "/api/catalog/products/?page=2"
    public_url("https://cdn.example/x.png", bases, "http://shop.example", strip) → None

    rewrite_links(b'{"count":9,"next":"http://127.0.0.1:8101/products/?page=2"}',
                  bases, "http://shop.example", strip)
        → b'{"count":9,"next":"http://shop.example/api/catalog/products/?page=2"}'

Prefixes match whole path segments: ``/api/catalog`` and ``/api/catalog/`` both cover
``/api/catalog``, ``/api/catalog/…`` and ``/api/catalog?…``, never ``/api/catalogue/``. Paths
are compared and rebuilt as sent (percent-encoding untouched); only template values, which the
router hands over decoded, are percent-encoded (every reserved character, ``/`` included).

Nothing here does I/O or raises on what a client or an upstream sends; per request the work is
a few string operations (templates and upstream base URLs are parsed once and memoised).
``rewrite_links`` expects the body as the client will get it minus the links, i.e. not
compressed: call it only for identity ``Content-Encoding`` and :func:`is_json_content_type`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDict

from .spec import HeaderRewrite, PathRewrite, PathRewriteKind, RewriteSpec

__all__ = [
    "LINK_HEADERS",
    "MAX_LINKS_BODY",
    "is_json_content_type",
    "public_path",
    "public_url",
    "rewrite_links",
    "rewrite_request_headers",
    "rewrite_response_headers",
    "rewrite_target",
    "template_names",
]

# bodies larger than this are passed through untouched by rewrite_links
MAX_LINKS_BODY = 2 << 20  # 2 MiB
# response headers whose URL is mapped to the public layout (RewriteSpec.public_links)
LINK_HEADERS = ("Location", "Content-Location")

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}")
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)")
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_ENVELOPE_KEYS = (b'"next"', b'"previous"', b'"links"')
_WS = re.compile(r"[ \t\n\r]*")  # always matches
_DECODER = json.JSONDecoder()

_Origin = tuple[str, str, int | None]  # lower-case scheme, canonical host, port (default filled)


# -- paths ------------------------------------------------------------------------------------


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` (possibly with ``?query``) lies under ``prefix`` (no trailing "/")."""
    if not path.startswith(prefix):
        return False
    n = len(prefix)
    return len(path) == n or path[n] in "/?#"


def _swap_prefix(path: str, old: str, new: str) -> str:
    """``old`` → ``new`` at a segment boundary (both without trailing "/"); result starts "/"."""
    if not _under(path, old):
        return path
    result = new + path[len(old) :]
    return result if result.startswith("/") else "/" + result


@functools.lru_cache(maxsize=512)
def _template(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``/v1/{a}/x/{b}`` → (literals ``("/v1/", "/x/", "")``, names ``("a", "b")``)."""
    literals: list[str] = []
    names: list[str] = []
    pos = 0
    for m in _PARAM.finditer(template):
        literals.append(template[pos : m.start()])
        names.append(m.group(1))
        pos = m.end()
    literals.append(template[pos:])
    for text in literals:
        if "{" in text or "}" in text:
            raise ValueError(
                f"malformed path template {template!r}: parameters are written {{name}}"
            )
    return tuple(literals), tuple(names)


def template_names(template: str) -> tuple[str, ...]:
    """The parameter names a rewrite template uses, each once, in order of first use.

    ``{name}`` and ``{name:converter}`` are accepted (a converter means nothing here). The
    loader checks these against the route's match template; a stray or malformed brace
    (``{id``, ``{1d}``) raises :class:`ValueError` with a message fit for a config error.
    """
    return tuple(dict.fromkeys(_template(template)[1]))


def rewrite_target(spec: PathRewrite, target: str, params: Mapping[str, str]) -> str:
    """The upstream target (raw path plus optional ``?query``) for a public ``target``.

    strip_prefix / replace_prefix leave targets outside the prefix unchanged. A template is
    filled from the route's decoded ``params`` (each value percent-encoded in full) and keeps
    the request's query, appended with ``&`` when the template has a query of its own. A name
    missing from ``params`` raises :class:`KeyError`: the loader rejects such tables.
    """
    if spec.kind is PathRewriteKind.STRIP_PREFIX:
        return _swap_prefix(target, spec.source.rstrip("/"), "")
    if spec.kind is PathRewriteKind.REPLACE_PREFIX:
        return _swap_prefix(target, spec.source.rstrip("/"), spec.target.rstrip("/"))
    literals, names = _template(spec.target)
    parts = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        parts.append(quote(params[name], safe=""))
        parts.append(literal)
    path = "".join(parts)
    q = target.find("?")
    if q < 0:
        return path
    query = target[q + 1 :]
    if "?" in path:
        return f"{path}&{query}" if query else path
    return f"{path}?{query}"


def public_path(spec: PathRewrite | None, path: str) -> str:
    """The public path for a path in the service's layout: :func:`rewrite_target` reversed.

    strip_prefix prepends the prefix (``/`` → ``/api/catalog/``); replace_prefix maps the
    target prefix back to the source prefix (other paths unchanged); a template or no rewrite
    leaves ``path`` as it is, as does anything not starting with ``/``.
    """
    if spec is None or not path.startswith("/"):
        return path
    if spec.kind is PathRewriteKind.STRIP_PREFIX:
        return spec.source.rstrip("/") + path
    if spec.kind is PathRewriteKind.REPLACE_PREFIX:
        return _swap_prefix(path, spec.target.rstrip("/"), spec.source.rstrip("/"))
    return path


# -- URLs -------------------------------------------------------------------------------------


def _canonical_ipv6(host: str) -> str:
    """``[0:0::1]`` → ``[::1]``; what is not an IPv6 address (IPvFuture) stays as written."""
    try:
        return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
    except ValueError:
        return host


def _origin(scheme: str, authority: str) -> _Origin | None:
    """(scheme, host, port) of ``scheme://authority``; ``None`` with userinfo or a bad port."""
    if "@" in authority:
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host = authority[: end + 1].lower()
        rest = authority[end + 1 :]
        host = _canonical_ipv6(host)
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        host, _, port_text = authority.partition(":")
        host = host.lower()
    scheme = scheme.lower()
    if not port_text:
        return scheme, host, _DEFAULT_PORTS.get(scheme)
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        return None
    return scheme, host, int(port_text)


@functools.lru_cache(maxsize=256)
def _base_origin(base: str) -> _Origin | None:
    m = _ABSOLUTE.match(base.strip())
    return _origin(m.group(1), m.group(2)) if m else None


def _split_path(reference: str) -> tuple[str, str]:
    """``/a/?q#f`` → (``/a/``, ``?q#f``)."""
    m = _QUERY_OR_FRAGMENT.search(reference)
    return (reference, "") if m is None else (reference[: m.start()], reference[m.start() :])


def public_url(
    value: str, internal_bases: Sequence[str], public_base: str, spec: PathRewrite | None
) -> str | None:
    """The URL a client should see for ``value`` (a ``Location``, a pagination link).

    - an absolute URL on one of ``internal_bases`` (same scheme, host and port; scheme and
      host case-insensitive, default ports equal to none, IPv6 compared canonically):
      ``public_base`` + :func:`public_path` of its path, query and fragment kept;
    - an absolute-path reference (``/…``, not ``//…``): :func:`public_path` applied;
    - anything else (another origin, credentials in the URL, ``//host/…``, a relative
      reference, garbage): ``None``, i.e. leave it.

    ``public_base`` is ``scheme://host[:port]`` of the client's request (a trailing "/" is
    ignored). Only the path is mapped; percent-encoding is kept as sent.
    """
    if value.startswith("/"):
        if value.startswith("//"):
            return None
        path, rest = _split_path(value)
        return public_path(spec, path) + rest
    m = _ABSOLUTE.match(value)
    if m is None:
        return None
    origin = _origin(m.group(1), m.group(2))
    if origin is None or not any(_base_origin(base) == origin for base in internal_bases):
        return None
    path, rest = _split_path(value[m.end() :])
    return public_base.rstrip("/") + public_path(spec, path or "/") + rest


# -- headers ----------------------------------------------------------------------------------


def _apply_headers(headers: CIMultiDict[str], spec: HeaderRewrite) -> None:
    for name in spec.remove:
        headers.popall(name, None)
    for old, new in spec.rename:
        values = headers.popall(old, None)
        for value in values or ():
            headers.add(new, value)
    replaced: set[str] = set()
    for name, value in spec.add:
        key = name.lower()
        if key in replaced:
            headers.add(name, value)  # the same name added twice: both values are sent
        else:
            headers[name] = value
            replaced.add(key)


def rewrite_request_headers(headers: CIMultiDict[str], spec: HeaderRewrite) -> None:
    """Apply ``spec`` to the upstream request's headers, in place.

    In order: ``remove`` (every value), ``rename`` (every value of a repeated header, in
    order, appended after any values the new name already has), ``add`` (replaces all values
    of that name; a name listed twice in ``add`` sends both values). Names match in any case.
    """
    if spec:
        _apply_headers(headers, spec)


def rewrite_response_headers(
    headers: CIMultiDict[str],
    spec: RewriteSpec,
    internal_bases: Sequence[str],
    public_base: str,
) -> None:
    """Map ``Location`` / ``Content-Location`` through :func:`public_url` (when
    ``spec.public_links``), then apply ``spec.response_headers`` as
    :func:`rewrite_request_headers` does. In place; values ``public_url`` leaves are kept."""
    if spec.public_links:
        for name in LINK_HEADERS:
            values = headers.getall(name, None)
            if not values:
                continue
            new = [public_url(v, internal_bases, public_base, spec.path) or v for v in values]
            if new == values:
                continue
            if len(new) == 1:
                headers[name] = new[0]
            else:
                del headers[name]
                for value in new:
                    headers.add(name, value)
    if spec.response_headers:
        _apply_headers(headers, spec.response_headers)


# -- bodies -----------------------------------------------------------------------------------


def is_json_content_type(value: str | None) -> bool:
    """``application/json`` or ``application/<name>+json``, any case, parameters allowed."""
    if not value:
        return False
    media = value.partition(";")[0].strip().lower()
    if media == "application/json":
        return True
    return media.startswith("application/") and media.endswith("+json") and len(media) > 17


def _skip(text: str, i: int) -> int:
    """The index of the first non-whitespace character at or after ``i``."""
    m = _WS.match(text, i)
    return m.end() if m is not None else i


def _members(text: str, pos: int) -> tuple[list[tuple[str, int, int, Any]], int]:
    """The members of the JSON object starting at ``text[pos] == "{"``: (key, value start,
    value end, value) each, and the index after the closing brace. Raises on invalid JSON."""
    members: list[tuple[str, int, int, Any]] = []
    i = _skip(text, pos + 1)
    if text[i] == "}":
        return members, i + 1
    while True:
        if text[i] != '"':
            raise ValueError("expecting a key")
        key, i = _DECODER.raw_decode(text, i)  # a JSON string: the key
        i = _skip(text, i)
        if text[i] != ":":
            raise ValueError("expecting ':'")
        start = _skip(text, i + 1)
        value, end = _DECODER.raw_decode(text, start)
        members.append((key, start, end, value))
        i = _skip(text, end)
        if text[i] == "}":
            return members, i + 1
        if text[i] != ",":
            raise ValueError("expecting ',' or '}'")
        i = _skip(text, i + 1)


def _link_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of every envelope link in the JSON document ``text``."""
    start = _skip(text, 0)
    if text[start] != "{":
        return []
    members, end = _members(text, start)
    if _skip(text, end) != len(text):
        raise ValueError("extra data after the object")
    spans: list[tuple[int, int, str]] = []
    for key, first, last, value in members:
        if key in ("next", "previous"):
            if isinstance(value, str):
                spans.append((first, last, value))
        elif key == "links" and isinstance(value, dict):
            for _, lfirst, llast, link in _members(text, first)[0]:
                if isinstance(link, str):
                    spans.append((lfirst, llast, link))
                elif isinstance(link, dict) and isinstance(link.get("href"), str):
                    # a JSON:API link object {"href": …, "meta": …}
                    spans.extend(
                        (hfirst, hlast, href)
                        for hkey, hfirst, hlast, href in _members(text, lfirst)[0]
                        if hkey == "href" and isinstance(href, str)
                    )
    return spans


def rewrite_links(
    body: bytes, internal_bases: Sequence[str], public_base: str, spec: PathRewrite | None
) -> bytes | None:
    """The body with its pagination links made public, or ``None`` to send it unchanged.

    ``body`` must be a UTF-8 JSON object; its top-level ``next`` / ``previous`` strings (DRF's
    page-number, limit-offset and cursor envelopes) and the strings of a top-level ``links``
    object (``href`` of a JSON:API link object) go through :func:`public_url`. Only those
    values are re-encoded; every other byte is kept as sent (numbers, spacing, escapes).
    ``None`` when no link changes, the body is not such an object or not valid JSON, or it
    is larger than :data:`MAX_LINKS_BODY`; never raises. Keys written with escapes
    (``"\\u006eext"``) are not recognised.
    """
    if len(body) > MAX_LINKS_BODY or not any(key in body for key in _ENVELOPE_KEYS):
        return None
    try:
        text = body.decode("utf-8")
        spans = _link_spans(text)
        pieces: list[str] = []
        pos = 0
        for start, end, old in spans:
            new = public_url(old, internal_bases, public_base, spec)
            if new is None or new == old:
                continue
            pieces += (text[pos:start], json.dumps(new, ensure_ascii=False))
            pos = end
        if not pieces:
            return None
        pieces.append(text[pos:])
        return "".join(pieces).encode("utf-8")
    except (ValueError, IndexError, RecursionError):  # UnicodeError is a ValueError
        return None
