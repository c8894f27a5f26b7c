"""The gateway's pieces of the data path: answers the proxy gives itself and the rewrites of
what goes to, and comes back from, a service. Called by :mod:`strangler_proxy.proxy`, each a
plain function of the request, so the handler stays one straight line."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from multidict import CIMultiDict

from .._front import Request, Response
from .._hop import HOP_BY_HOP
from ..upstreams import UpstreamRuntime
from .cache import CachedResponse
from .cachecontrol import Headers, not_modified, not_modified_headers, storable_ttl, vary_names
from .identity import Caller, Refused
from .rewrite import (
    is_json_content_type,
    rewrite_links,
    rewrite_request_headers,
    rewrite_response_headers,
    rewrite_target,
)
from .spec import CacheSpec, IdentitySettings, PathRewrite, RewriteSpec

__all__ = [
    "DECISION_NAMES",
    "cached",
    "has_links",
    "is_decision",
    "public_base",
    "public_links",
    "publisher",
    "refusal",
    "relayed_headers",
    "rewrite_request_headers",
    "rewrite_response",
    "rewrite_target",
]

DECISION_NAMES = frozenset(
    {
        "x-strangler-route",
        "x-strangler-upstream",
        "x-strangler-fallback",
        "x-strangler-error",
        "x-strangler-cache",
    }
)
# what an answer of the proxy's own never copies from a stored or refused response
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
MAX_LINKS_BODY = 2 << 20  # bodies up to this size get their pagination links rewritten


def is_decision(name: str) -> bool:
    return name.lower() in DECISION_NAMES


def relayed_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> CIMultiDict[str]:
    """An upstream's response headers as the proxy relays them (order and repeats kept): less
    the hop-by-hop ones (also those ``Connection`` names) and the proxy's decision headers."""
    out: CIMultiDict[str] = CIMultiDict(headers)
    conn = ",".join(out.getall("Connection", ()))  # (every Connection line names some)
    for name in HOP_BY_HOP:
        if name in out:
            del out[name]
    if conn:
        for token in conn.split(","):
            token = token.strip()
            if token and token in out:
                del out[token]
    for name in DECISION_NAMES:  # only the proxy decides what these say
        if name in out:
            del out[name]
    return out


def _answer(status: int, headers: list[tuple[str, str]], body: bytes, head: bool) -> Response:
    """An answer with exactly the given headers (framing headers are the proxy's own)."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        if name.lower() not in _FRAMING:
            out.add(name, value)
    resp = Response(status, headers=out, body=b"")
    if status not in (204, 304):
        resp.body = body
        if head:  # HEAD: the length of the body a GET would get, and no body
            resp.body = b""
            resp.headers["Content-Length"] = str(len(body))
    return resp


def refusal(answer: Refused) -> Response:
    """The monolith's own refusal (its 403 for a failed CSRF check), relayed as it sent it."""
    return _answer(answer.status, list(answer.headers), answer.body, False)


def cached(
    hit: CachedResponse, request: Request, decisions: CIMultiDict[str], now: float
) -> Response:
    """A stored response for ``request`` (``now`` on the store's clock, for ``Age``): 304 when
    its ``If-None-Match`` matches."""
    headers = hit.headers_at(now)
    if hit.status == 200 and not_modified(request.headers.items(), hit.headers):
        resp = _answer(304, not_modified_headers(headers), b"", False)
    else:
        resp = _answer(hit.status, headers, hit.body, request.method == "HEAD")
    resp.headers.extend(decisions)
    return resp


def public_base(request: Request, trusted: bool) -> str:
    """``scheme://host`` as the client addressed the proxy; behind a trusted proxy (a TLS
    terminator), as it says with ``X-Forwarded-Proto`` / ``X-Forwarded-Host``."""
    scheme = "https" if request.secure else "http"
    host = request.host
    if trusted:
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        scheme = proto if proto in ("http", "https") else scheme
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or host
    return f"{scheme}://{host}"


def _bases(runtime: UpstreamRuntime, request: Request, trusted: bool) -> tuple[str, ...]:
    """The addresses a service's links may name: its instances, and the public address (the
    proxy keeps ``Host``, so a service builds absolute links on it, in its own layout)."""
    return (*(inst.url for inst in runtime.pool.instances), public_base(request, trusted))


def rewrite_response(
    headers: CIMultiDict[str],
    spec: RewriteSpec,
    runtime: UpstreamRuntime,
    request: Request,
    trusted: bool,
) -> None:
    """``Location`` to the public address and layout, then the route's header rewrites."""
    base = public_base(request, trusted)
    rewrite_response_headers(headers, spec, _bases(runtime, request, trusted), base)


def has_links(headers: CIMultiDict[str]) -> bool:
    """A plain JSON body of a known, bounded size: its pagination links can be rewritten."""
    if "Content-Encoding" in headers or not is_json_content_type(headers.get("Content-Type")):
        return False
    length = headers.get("Content-Length")
    return length is not None and length.isdigit() and int(length) <= MAX_LINKS_BODY


def public_links(
    body: bytes,
    response: Response,
    runtime: UpstreamRuntime,
    request: Request,
    spec: PathRewrite | None,
    trusted: bool,
) -> bytes:
    """``body`` with ``next`` / ``previous`` naming the public address and layout;
    Content-Length kept true."""
    base = public_base(request, trusted)
    new = rewrite_links(body, _bases(runtime, request, trusted), base, spec)
    if new is None:
        return body
    response.headers["Content-Length"] = str(len(new))
    return new


Published = Callable[
    [tuple[tuple[str, str], ...], bytes], tuple[tuple[tuple[str, str], ...], bytes]
]


def publisher(
    spec: RewriteSpec, runtime: UpstreamRuntime, request: Request, trusted: bool
) -> Published:
    """What the client would get of a service's answer it did not get (a shadow copy's, or a
    re-ask's, read off the request path): the headers as relayed (:func:`relayed_headers`),
    ``Location`` and the route's response headers rewritten, pagination links made public in a
    plain JSON body of a known length (a ``HEAD`` answer then without ``Content-Length``), as
    the proxy's ``_relay_head`` and :func:`public_links` do on the client's path. The addresses
    are taken from ``request`` now; the function keeps no reference to it."""
    bases, base = _bases(runtime, request, trusted), public_base(request, trusted)
    head = request.method == "HEAD"

    def publish(
        headers: tuple[tuple[str, str], ...], body: bytes
    ) -> tuple[tuple[tuple[str, str], ...], bytes]:
        out = relayed_headers(headers)
        rewrite_response_headers(out, spec, bases, base)
        if spec.public_links and has_links(out):
            if head:  # the GET's body may differ in length
                out.popall("Content-Length", None)
            elif (new := rewrite_links(body, bases, base, spec.path)) is not None:
                body = new
                out["Content-Length"] = str(len(new))
        return tuple(out.items()), body

    return publish


# -- what the cache may keep, and what a service never gets --------------------------------------
_PER_CALLER = frozenset({"authorization", "cookie", "x-strangler-identity"})


def has_credentials(request: Request, identity: IdentitySettings) -> bool:
    return "Authorization" in request.headers or identity.session_cookie in request.cookies


def shareable(request: Request, caller: Caller | None, headers: Headers) -> bool:
    """Whether an answer on a route that is not ``personalised`` may be kept for everyone:
    not when the service answered a resolved caller, nor when it says it varies by caller."""
    if caller is not None and caller.active:
        return False
    return not _PER_CALLER.intersection(vary_names(headers))


def may_store(request: Request, status: int, response_headers: Headers, spec: CacheSpec) -> bool:
    """Decided on the headers, before any byte of the body is kept."""
    ttl = storable_ttl(
        status,
        request.headers.items(),
        response_headers,
        default_ttl=spec.default_ttl,
        cap=spec.ttl,
        personalised=spec.personalised,
    )
    return ttl > 0


def drop_credentials(headers: CIMultiDict[str], identity: IdentitySettings) -> None:
    """The monolith's credentials out of a request to a service (it gets the assertion):
    ``Authorization`` and the session and CSRF cookies; other cookies stay."""
    headers.popall("Authorization", None)
    cookies = headers.popall("Cookie", None)
    if not cookies:
        return
    private = (identity.session_cookie, identity.csrf_cookie)
    for value in cookies:
        kept = [
            part
            for part in value.split(";")
            if part.strip() and part.split("=", 1)[0].strip() not in private
        ]
        if kept:
            headers.add("Cookie", ";".join(kept).strip())
