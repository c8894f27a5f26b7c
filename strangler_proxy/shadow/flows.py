"""Shadow mismatches as mitmproxy flow files, and recorded flow files replayed against both sides.

The kit reads and writes mitmproxy's flow files itself and never imports mitmproxy: mitmproxy
stays out of the data path (DESIGN.md), and its pinned dependencies (on Python 3.11 mitmproxy
11.0.x holds h11, httpcore and Flask back) must not enter the kit's environment. A flow file is
a sequence of tnetstrings (:mod:`._tnetstring`), one flow state dict each, with a ``version``
key. Export writes HTTP flows exactly as mitmproxy 11.0.2's ``FlowWriter`` writes them: flow
format version :data:`FLOW_FORMAT_VERSION` (21), every key of the flow, its client and server
connection, request and response, so ``mitmweb -r FILE`` and ``mitmdump -r FILE`` of mitmproxy
11 and newer open them (newer versions migrate older formats when they read). Replay reads the
files mitmproxy 9 to 12 write (``mitmdump -w``; their HTTP fields are alike, and so are those of
older formats, which are read too); of a flow it uses the request (method, scheme, host, port,
path, HTTP version, headers, body), the response (status, reason, headers, body), error,
comment, mark and metadata; TCP, UDP and DNS flows are counted and skipped. A file that is not
a flow file (a HAR file, a truncated or corrupt one) raises :class:`FlowFileError` naming the
file and the flow.

Export (``strangler shadow export ROUTE --out FILE``)::

    n = export_mismatches(store, "product-detail", Path("mismatches.flows"), limit=50)
    # mitmweb -r mismatches.flows

The store keeps a few samples per (route, differing field) (see :mod:`.store`); each distinct
stored mismatch becomes **two** flows with the same request, one after the other:

1. the primary's response (the side that answered the client), comment
   ``[strangler] mismatch 1/3 on product-detail: PRIMARY …`` listing the differences;
2. the shadow's response (the copy's answer), comment ``… SHADOW …``, marked with a red
   circle in mitmweb's list.

mitmweb shows a flow's comment and its response with its content views, so both answers can be
read (and diffed by eye) without anything but mitmproxy. Both flows also carry
``flow.metadata["strangler"]`` for tools: route, request id, side, verdict, differences, noise,
the pair's flow ids, and (on the primary flow) ``shadow_response``. What the store holds is
what is exported: secrets are already redacted, bodies are cut at 16 KiB (the comment says so),
and the request body is not stored (a write's flow has an empty request body).

Replay (``strangler shadow replay FLOWS... --route NAME``)::

    result = replay([Path("traffic.flows")], table, "product-detail",
                    "http://127.0.0.1:8000", "http://127.0.0.1:8101")
    print(render_replay(result)); sys.exit(result.exit_code)

Every HTTP flow whose request the proxy's own :class:`~strangler_proxy.routing.Router` sends to
``route`` is asked of the monolith (primary) and of the service (shadow, with
``X-Strangler-Shadow: 1``), at most ``concurrency`` at a time, and compared exactly as the
proxy compares live copies: the route's ``compare`` rules, a re-check of safe mismatches after
``recheck_delay`` (a mismatch that disappears is a likely race), monolith-vs-monolith noise
probes for ``noise_sample`` of the requests. The results go through a throw-away store and the
same report as ``strangler shadow report``. Exit code: 0 everything matched, 1 a mismatch or a
side that failed, 2 usage (unreadable flow file or table, unknown route, nothing to replay).

Writes (methods other than GET/HEAD/OPTIONS) are skipped unless ``include_writes``; then they go
to the service only, with ``X-Strangler-Dry-Run: 1`` (services built on
``extracted/common/dryrun.py`` roll them back), and are compared with the response recorded
in the flow file (its body decoded per ``Content-Encoding``, as mitmproxy shows it), never sent
to the monolith. A write without a recorded response is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import http as _http
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _tnetstring
from ._snapshot import ExampleRow
from ._types import Captured, Comparison, ShadowResult, Verdict, decoded_body, decoded_headers
from .compare import classify_race, compare
from .noise import NoiseLearner

if TYPE_CHECKING:
    from ..model import Route, RoutingTable
    from .report import Report
    from .store import ShadowStore

__all__ = [
    "FLOW_FORMAT_VERSION",
    "FlowFileError",
    "FlowRequest",
    "FlowResponse",
    "HttpFlow",
    "ReplayResult",
    "add_export_arguments",
    "add_replay_arguments",
    "export_mismatches",
    "read_http_flows",
    "render_replay",
    "replay",
    "replay_json",
    "run_export",
    "run_replay",
    "write_flows",
]

# the flow format version mitmproxy 11.0.x writes (mitmproxy/version.py; mitmproxy 8 wrote 17).
# mitmproxy reads its own version and migrates older ones when it reads, never newer ones.
FLOW_FORMAT_VERSION = 21
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})  # as strangler_proxy.model.SAFE_METHODS
SHADOW_HEADER = "X-Strangler-Shadow"  # as strangler_proxy.mirror
DRY_RUN_HEADER = "X-Strangler-Dry-Run"
SHADOW_MARK = ":red_circle:"
# never replayed from a recording: hop-by-hop, framing (httpx frames the body itself), and the
# proxy's own marks (a recording must not forge them; the proxy strips them from clients too)
_DROP_REQUEST = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
        "x-strangler-shadow",
        "x-strangler-dry-run",
        "x-strangler-identity",
    }
)
# the stored body is decoded text: its framing and encoding headers no longer describe it
_DROP_RESPONSE = frozenset({"content-length", "content-encoding", "transfer-encoding"})

Pairs = tuple[tuple[bytes, bytes], ...]


class FlowFileError(ValueError):
    """A flow file that cannot be read: missing, not a flow file, or corrupt."""


def _json_safe(value: object) -> object:
    """Plain JSON types (flow metadata is written as tnetstrings)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _short(value: object, limit: int = 80) -> str:
    text = json.dumps(_json_safe(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- flows as mitmproxy holds them ----------------------------------------------------------------
def _text(raw: bytes) -> str:
    """mitmproxy's decoding of the request line's parts and of header values."""
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _header(headers: Pairs, name: str) -> str | None:
    """The ``name`` header (case-insensitive) as ``mitmproxy.http.Headers[name]`` has it:
    repeated ones joined with ``, ``; None when there is none."""
    want = name.lower().encode("latin-1")
    values = [_text(v) for k, v in headers if k.lower() == want]
    return ", ".join(values) if values else None


@dataclass(frozen=True, slots=True)
class FlowRequest:
    """A flow's request, as ``mitmproxy.http.Request`` holds it."""

    method: str
    path: str  # path and query, as sent ("*" for OPTIONS *)
    host: str = "localhost"
    port: int = 80
    scheme: str = "http"
    http_version: str = "HTTP/1.1"
    headers: Pairs = ()
    content: bytes | None = b""  # None: the body was not recorded (streamed)
    authority: str = ""  # HTTP/2 and HTTP/3: the :authority pseudo-header
    timestamp_start: float | None = None
    timestamp_end: float | None = None
    trailers: Pairs | None = None

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    @property
    def host_header(self) -> str | None:
        """``Host``, or for HTTP/2 and HTTP/3 the authority (as mitmproxy's ``host_header``)."""
        if self.http_version in ("HTTP/2.0", "HTTP/3"):
            return self.authority or self.header("host")
        return self.header("host")

    def state(self) -> dict[str, object]:
        return {
            "http_version": _raw(self.http_version),
            "headers": self.headers,
            "content": self.content,
            "trailers": self.trailers,
            "timestamp_start": self.timestamp_start,
            "timestamp_end": self.timestamp_end,
            "host": self.host,
            "port": self.port,
            "method": _raw(self.method),
            "scheme": _raw(self.scheme),
            "authority": _raw(self.authority),
            "path": _raw(self.path),
        }


@dataclass(frozen=True, slots=True)
class FlowResponse:
    """A flow's response, as ``mitmproxy.http.Response`` holds it (``content`` as recorded,
    still compressed when it was sent compressed: see :meth:`decoded_content`)."""

    status_code: int
    reason: str = ""
    http_version: str = "HTTP/1.1"
    headers: Pairs = ()
    content: bytes | None = b""
    timestamp_start: float | None = None
    timestamp_end: float | None = None
    trailers: Pairs | None = None

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    def decoded_content(self) -> bytes:
        return decoded_body(self.content or b"", self.header("content-encoding"))

    def state(self) -> dict[str, object]:
        return {
            "http_version": _raw(self.http_version),
            "headers": self.headers,
            "content": self.content,
            "trailers": self.trailers,
            "timestamp_start": self.timestamp_start,
            "timestamp_end": self.timestamp_end,
            "status_code": self.status_code,
            "reason": self.reason.encode("latin-1", "replace"),
        }


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class HttpFlow:
    """One HTTP flow of a flow file: request, response or error, comment, mark, metadata."""

    request: FlowRequest
    response: FlowResponse | None = None
    error: str | None = None  # why there is no response ("no response", a timeout, ...)
    comment: str = ""
    marked: str = ""  # "" or an emoji name such as ":red_circle:" (mitmweb shows it)
    metadata: Mapping[str, object] = field(default_factory=dict)  # tnetstring-serializable
    id: str = field(default_factory=_new_id)
    timestamp_created: float | None = None  # None: the request's start

    def state(self) -> dict[str, object]:
        """The flow's state exactly as mitmproxy 11.0.2's ``HTTPFlow.get_state()`` has it: the
        same keys in the same order (so its tnetstring is what ``FlowWriter`` writes), for a
        plain-HTTP exchange of a client at 127.0.0.1 with ``request.host:port``."""
        req = self.request
        started = req.timestamp_start
        client_ip = ("127.0.0.1", 0)
        return {
            "version": FLOW_FORMAT_VERSION,
            "type": "http",
            "id": self.id,
            "error": (
                None if self.error is None else {"msg": self.error, "timestamp": started or 0.0}
            ),
            "client_conn": {
                "peername": client_ip,
                "sockname": client_ip,
                "id": _new_id(),
                "transport_protocol": "tcp",
                "error": None,
                "tls": False,
                "certificate_list": [],
                "alpn": None,
                "alpn_offers": [],
                "cipher": None,
                "cipher_list": [],
                "tls_version": None,
                "sni": None,
                "timestamp_start": started,
                "timestamp_end": None,
                "timestamp_tls_setup": None,
                "mitmcert": None,
                "proxy_mode": "regular",
            },
            "server_conn": {
                "peername": None,
                "sockname": None,
                "id": _new_id(),
                "transport_protocol": "tcp",
                "error": None,
                "tls": False,
                "certificate_list": [],
                "alpn": None,
                "alpn_offers": [],
                "cipher": None,
                "cipher_list": [],
                "tls_version": None,
                "sni": None,
                "timestamp_start": None,
                "timestamp_end": None,
                "timestamp_tls_setup": None,
                "address": (req.host, req.port),
                "timestamp_tcp_setup": None,
                "via": None,
            },
            "intercepted": False,
            "is_replay": None,
            "marked": self.marked,
            "metadata": dict(self.metadata),
            "comment": self.comment,
            "timestamp_created": (
                self.timestamp_created if self.timestamp_created is not None else started or 0.0
            ),
            "backup": None,
            "request": req.state(),
            "response": self.response.state() if self.response is not None else None,
            "websocket": None,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> HttpFlow:
        """The flow of an HTTP flow state of mitmproxy 9 to 12 (and of older formats whose
        request and response are alike); :class:`ValueError` naming what is wrong."""
        req = _dict(state, "request")
        request = FlowRequest(
            method=_text(_bytes(req, "method")),
            path=_text(_bytes(req, "path")),
            host=_text(_bytes(req, "host")),
            port=_int(req, "port"),
            scheme=_text(_bytes(req, "scheme", b"http")),
            http_version=_text(_bytes(req, "http_version")),
            headers=_pairs(req, "headers"),
            content=_bytes_or_none(req, "content"),
            authority=_text(_bytes(req, "authority", b"")),
            timestamp_start=_number(req, "timestamp_start"),
            timestamp_end=_number(req, "timestamp_end"),
            trailers=_pairs(req, "trailers") if req.get("trailers") is not None else None,
        )
        response: FlowResponse | None = None
        if state.get("response") is not None:
            resp = _dict(state, "response")
            response = FlowResponse(
                status_code=_int(resp, "status_code"),
                reason=_bytes(resp, "reason", b"").decode("latin-1"),
                http_version=_text(_bytes(resp, "http_version", b"HTTP/1.1")),
                headers=_pairs(resp, "headers"),
                content=_bytes_or_none(resp, "content"),
                timestamp_start=_number(resp, "timestamp_start"),
                timestamp_end=_number(resp, "timestamp_end"),
                trailers=_pairs(resp, "trailers") if resp.get("trailers") is not None else None,
            )
        error = state.get("error")
        marked = state.get("marked", "")
        metadata = state.get("metadata")
        return cls(
            request=request,
            response=response,
            error=_text(_bytes(error, "msg", b"")) if isinstance(error, dict) else None,
            comment=_text(_bytes(state, "comment", b"")),
            # before format 13 (mitmproxy 7) a mark was a boolean
            marked=marked if isinstance(marked, str) else (":default:" if marked else ""),
            metadata=metadata if isinstance(metadata, dict) else {},
            id=_text(_bytes(state, "id", b"")),
            timestamp_created=_number(state, "timestamp_created"),
        )


# -- reading a flow state (tolerant of str/bytes, as the format's versions differ) --------------
_ABSENT = object()


def _get(d: Mapping[str, object], key: str, default: object) -> object:
    value = d.get(key, default)
    if value is _ABSENT:
        raise ValueError(f"no {key!r}")
    return value


def _dict(d: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = _get(d, key, _ABSENT)
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} is a {type(value).__name__}, not a dict")
    return value


def _bytes(d: Mapping[str, object], key: str, default: object = _ABSENT) -> bytes:
    value = _get(d, key, default)
    if isinstance(value, str):
        return _raw(value)
    if not isinstance(value, bytes):
        raise ValueError(f"{key!r} is a {type(value).__name__}, not bytes")
    return value


def _bytes_or_none(d: Mapping[str, object], key: str) -> bytes | None:
    return None if d.get(key) is None else _bytes(d, key)


def _int(d: Mapping[str, object], key: str) -> int:
    value = _get(d, key, _ABSENT)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key!r} is a {type(value).__name__}, not an integer")
    return value


def _number(d: Mapping[str, object], key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{key!r} is a {type(value).__name__}, not a number")
    return float(value)


def _pairs(d: Mapping[str, object], key: str) -> Pairs:
    value = _get(d, key, _ABSENT)
    if not isinstance(value, list | tuple):
        raise ValueError(f"{key!r} is a {type(value).__name__}, not a list of [name, value]")
    pairs = []
    for pair in value:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValueError(f"{key!r} holds {pair!r:.60}, not a [name, value] pair")
        name, val = (_raw(x) if isinstance(x, str) else x for x in pair)
        if not (isinstance(name, bytes) and isinstance(val, bytes)):
            raise ValueError(f"{key!r} holds {pair!r:.60}, not a pair of bytes")
        pairs.append((name, val))
    return tuple(pairs)


def _str_keys(value: object) -> object:
    """Dict keys as text at every level (files of old Python 2 mitmproxies have bytes keys)."""
    if isinstance(value, dict):
        return {(_text(k) if isinstance(k, bytes) else k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_str_keys(v) for v in value]
    return value


def _flow_of(value: object) -> HttpFlow | None:
    """The HTTP flow a loaded flow state describes, None for another kind of flow."""
    if not isinstance(value, dict):
        raise ValueError(f"a {type(value).__name__}, not a flow state")
    state = _str_keys(value)
    assert isinstance(state, dict)
    version = state.get("version")
    if isinstance(version, list | tuple):  # mitmproxy 3 and older: (major, minor)
        raise ValueError(
            f"flow format {tuple(version)!r} of mitmproxy 3 or older: convert it with a newer "
            "mitmproxy (mitmdump -nr OLD -w NEW)"
        )
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("a dict without a flow format version")
    kind = state.get("type")
    if isinstance(kind, bytes):
        kind = _text(kind)
    if not isinstance(kind, str):
        raise ValueError("a flow state without a type")
    if kind != "http":
        return None  # tcp, udp, dns: counted by the caller
    return HttpFlow.from_state(state)


def _is_har(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


# -- writing and reading flow files ---------------------------------------------------------------
def write_flows(path: str | os.PathLike[str], flows: Iterable[HttpFlow]) -> int:
    """Write ``flows`` to ``path`` as mitmproxy 11's ``FlowWriter`` would; the file is replaced
    atomically. Returns the number of flows; no flow makes an empty (valid) flow file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    written = 0
    try:
        with open(tmp, "wb") as fo:
            for flow in flows:
                fo.write(_tnetstring.dumps(flow.state()))
                written += 1
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def read_http_flows(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[HttpFlow], int]:
    """Every HTTP flow of ``paths`` (in order) and the number of other flows (TCP, UDP, DNS).

    Raises :class:`FlowFileError` naming the file (and the flow) for a missing, unreadable or
    corrupt file, before anything is replayed."""
    flows: list[HttpFlow] = []
    other = 0
    for p in paths:
        number = 0
        try:
            with open(p, "rb") as fo:
                if _is_har(fo.peek(64)[:64]):
                    raise FlowFileError(
                        f"{p}: a HAR file, not a mitmproxy flow file (mitmproxy converts it: "
                        f"mitmdump -nr {p} -w FILE.flows)"
                    )
                while True:
                    number += 1
                    try:
                        value = _tnetstring.load(fo)
                    except EOFError:
                        break
                    flow = _flow_of(value)
                    if flow is None:
                        other += 1
                    else:
                        flows.append(flow)
        except OSError as err:
            raise FlowFileError(f"{p}: cannot read: {err.strerror or err}") from err
        except ValueError as err:  # TNetstringError, or a flow state we cannot use
            if isinstance(err, FlowFileError):
                raise
            raise FlowFileError(
                f"{p}: not a readable mitmproxy flow file: flow {number}: {err}"
            ) from err
    return flows, other


# -- export ---------------------------------------------------------------------------------------
def _pairs_of(raw: object) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        return []
    return [(str(h[0]), str(h[1])) for h in raw if isinstance(h, list | tuple) and len(h) == 2]


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", "replace")


def _host_port(headers: list[tuple[str, str]]) -> tuple[str, int]:
    """The recorded ``Host`` header as (host, port); ``localhost:80`` when there is none."""
    host = next((v for k, v in headers if k.lower() == "host"), "") or "localhost"
    if host.startswith("["):  # [::1]:8080
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
        return name, int(port) if port.isdigit() else 80
    name, sep, port = host.partition(":")
    return (name, int(port)) if sep and port.isdigit() else (host, 80)


def _difference_lines(payload: Mapping[str, object]) -> list[str]:
    diffs = payload.get("differences")
    lines = []
    for d in diffs if isinstance(diffs, list) else []:
        if isinstance(d, dict):
            lines.append(
                f"  {d.get('path')}  {d.get('kind')}  "
                f"{_short(d.get('primary'))} → {_short(d.get('shadow'))}"
            )
    return lines


def _side_response(side: object, started: float) -> FlowResponse | None:
    if not isinstance(side, dict) or side.get("status") is None:
        return None
    status = int(side["status"])
    headers = [
        (_latin1(k), _latin1(v))
        for k, v in _pairs_of(side.get("headers"))
        if k.lower() not in _DROP_RESPONSE
    ]
    body = str(side.get("body") or "").encode("utf-8")
    headers.append((b"content-length", str(len(body)).encode()))
    try:
        reason = _http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    latency = side.get("latency")
    took = float(latency) if isinstance(latency, int | float) else 0.0
    return FlowResponse(
        status_code=status,
        reason=reason,
        headers=tuple(headers),
        content=body,
        timestamp_start=started,
        timestamp_end=started + took,
    )


def _flow_pair(row: ExampleRow, number: int, total: int) -> tuple[HttpFlow, HttpFlow]:
    p = row.payload
    method = str(p.get("method") or "GET")
    target = str(p.get("target") or "/")
    stamp = p.get("timestamp")
    started = float(stamp) if isinstance(stamp, int | float) else 0.0
    req_headers = _pairs_of(p.get("request_headers"))
    host, port = _host_port(req_headers)
    request = FlowRequest(
        method=method,
        path=target,
        host=host,
        port=port,
        headers=tuple(
            (_latin1(k), _latin1(v)) for k, v in req_headers if k.lower() not in _DROP_REQUEST
        ),
        content=b"",
        timestamp_start=started,
        timestamp_end=started,
    )
    diff_lines = _difference_lines(p)
    notes: list[str] = []
    if method.upper() not in SAFE:
        notes.append("the request body is not stored: this flow's request body is empty")
    for name in ("primary", "shadow"):
        side = p.get(name)
        if isinstance(side, dict) and side.get("body_truncated"):
            notes.append(f"the {name}'s body was stored cut at the store's limit")
    noise = p.get("noise")
    if isinstance(noise, list) and noise:
        notes.append("noise fields that also differed (not counted): " + ", ".join(map(str, noise)))
    ids = {"primary": _new_id(), "shadow": _new_id()}
    common = {
        "route": row.route,
        "request_id": row.request_id,
        "verdict": p.get("verdict"),
        "differences": _json_safe(p.get("differences") or []),
        "noise": _json_safe(p.get("noise") or []),
        "primary_flow": ids["primary"],
        "shadow_flow": ids["shadow"],
    }
    flows = []
    for side_name in ("primary", "shadow"):
        side = p.get(side_name)
        response = _side_response(side, started)
        error = None
        if response is None:
            error = str((side.get("error") if isinstance(side, dict) else None) or "no response")
        role = (
            "PRIMARY (answered the client; the next flow holds the shadow's answer)"
            if side_name == "primary"
            else "SHADOW (the copy's answer; the previous flow holds the primary's)"
        )
        head = (
            f"[strangler] mismatch {number}/{total} on {row.route}: {role}\n"
            f"request id {row.request_id or '-'}, "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(started))} UTC, "
            f"verdict {p.get('verdict')}\n"
            "differences (path  kind  primary → shadow):"
        )
        metadata: dict[str, object] = {**common, "side": side_name}
        if side_name == "primary":
            metadata["shadow_response"] = _json_safe(p.get("shadow"))
        flows.append(
            HttpFlow(
                request=request,
                response=response,
                error=error,
                comment="\n".join([head, *diff_lines, *notes]),
                marked=SHADOW_MARK if side_name == "shadow" else "",
                metadata={"strangler": metadata},
                id=ids[side_name],
                timestamp_created=started,
            )
        )
    return flows[0], flows[1]


def export_mismatches(
    store: ShadowStore, route: str, path: str | os.PathLike[str], limit: int | None = 100
) -> int:
    """Write the stored mismatches of ``route`` (newest first, at most ``limit``) to ``path`` as
    a mitmproxy flow file, two flows per mismatch; returns the number of mismatches written.
    The file is replaced atomically; an empty file (no mismatch stored) is a valid flow file."""
    rows = store.mismatch_examples(route, limit)
    write_flows(
        path,
        (flow for i, row in enumerate(rows, 1) for flow in _flow_pair(row, i, len(rows))),
    )
    return len(rows)


# -- replay ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: str  # raw path and query, as recorded
    headers: tuple[tuple[str, str], ...]
    body: bytes
    recorded: Captured | None  # the response in the flow file, if any


@dataclass(slots=True)
class ReplayResult:
    route: str
    files: tuple[str, ...]
    legacy_url: str
    service_url: str
    http_flows: int = 0
    not_http: int = 0
    other_routes: int = 0  # requests the router sends elsewhere (another route, the default)
    skipped_writes: int = 0  # writes without include_writes
    skipped_unrecorded: int = 0  # writes with include_writes but no recorded response
    results: list[ShadowResult] = field(default_factory=list)
    report: Report | None = None

    @property
    def replayed(self) -> int:
        return len(self.results)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.comparison.verdict is verdict)

    @property
    def mismatched(self) -> int:
        """Mismatches after the report's noise re-evaluation (as ``shadow report`` counts)."""
        if self.report is not None and self.report.routes:
            return self.report.routes[0].mismatched
        return self.count(Verdict.MISMATCH)

    @property
    def exit_code(self) -> int:
        if not self.results:
            return 2
        return 1 if self.mismatched or self.count(Verdict.ERROR) else 0


def _to_request(flow: HttpFlow) -> _Request:
    req = flow.request
    headers = tuple(
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in req.headers
        if k.decode("latin-1").lower() not in _DROP_REQUEST
    )
    host = req.host_header
    if host and not any(k.lower() == "host" for k, _ in headers):
        headers = (("Host", host), *headers)  # HTTP/2: from :authority
    recorded: Captured | None = None
    resp = flow.response
    if resp is not None:
        start = req.timestamp_start
        end = resp.timestamp_end or resp.timestamp_start
        recorded = Captured(
            resp.status_code,
            decoded_headers(resp.headers),
            resp.decoded_content(),
            max(0.0, end - start) if start and end else 0.0,
        )
    return _Request(req.method.upper(), req.path, headers, req.content or b"", recorded)


def _matches(router: Any, request: _Request, route: str) -> bool:
    from urllib.parse import unquote

    from ..hardening import normalize_path

    raw = request.target.partition("?")[0]
    normalized = normalize_path(raw)
    path = unquote(normalized) if "%" in normalized else normalized
    headers = {k.lower(): v for k, v in request.headers}
    match = router.match(request.method, path, headers)
    return match.route is not None and match.route.name == route and not match.append_slash


class _Sides:
    """Both sides over one httpx client, at most ``concurrency`` exchanges at a time."""

    def __init__(self, client: Any, legacy: str, service: str, timeout: float) -> None:
        self.client, self.legacy, self.service, self.timeout = client, legacy, service, timeout

    async def ask(self, base: str, req: _Request, *, copy: bool) -> Captured:
        import httpx

        headers = list(req.headers)
        if copy:
            headers.append((SHADOW_HEADER, "1"))
            if req.method not in SAFE:
                headers.append((DRY_RUN_HEADER, "1"))
        t0 = time.perf_counter()
        try:
            resp = await self.client.request(
                req.method,
                base.rstrip("/") + req.target,
                headers=headers,
                content=req.body or None,
                timeout=self.timeout,
            )
        except httpx.TimeoutException:
            return Captured(None, (), b"", time.perf_counter() - t0, "shadow_timeout")
        except httpx.HTTPError:
            return Captured(None, (), b"", time.perf_counter() - t0, "upstream_unavailable")
        return Captured(
            resp.status_code,
            decoded_headers(resp.headers.raw),
            resp.content,
            time.perf_counter() - t0,
        )


async def _replay_all(
    requests: list[_Request],
    route: Route,
    sides: _Sides,
    store: ShadowStore,
    concurrency: int,
    rng: Callable[[], float],
) -> list[ShadowResult]:
    from ..model import ShadowSpec

    spec = route.shadow or ShadowSpec()
    rules = spec.compare
    learner = NoiseLearner()
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int, req: _Request) -> ShadowResult:
        async with slots:
            safe = req.method in SAFE
            started = time.time()
            if safe:
                primary, shadow = await asyncio.gather(
                    sides.ask(sides.legacy, req, copy=False),
                    sides.ask(sides.service, req, copy=True),
                )
            else:  # include_writes: never to the monolith; compared with the recording
                assert req.recorded is not None
                primary = req.recorded
                shadow = await sides.ask(sides.service, req, copy=True)
            if safe and spec.noise_sample > 0 and rng() < spec.noise_sample:
                again = await sides.ask(sides.legacy, req, copy=False)
                if primary.error is None and again.error is None:
                    store.record_noise(learner.observe(route.name, primary, again, rules))
            noise = learner.noise(route.name)
            comparison: Comparison = compare(primary, shadow, rules, noise)
            if comparison.verdict is Verdict.MISMATCH and safe and spec.recheck_delay >= 0:
                await asyncio.sleep(spec.recheck_delay)
                primary2, shadow2 = await asyncio.gather(
                    sides.ask(sides.legacy, req, copy=False),
                    sides.ask(sides.service, req, copy=True),
                )
                comparison = classify_race(comparison, compare(primary2, shadow2, rules, noise))
            return ShadowResult(
                route=route.name,
                method=req.method,
                target=req.target,
                request_headers=req.headers,
                primary=primary,
                shadow=shadow,
                comparison=comparison,
                timestamp=started,
                request_id=f"replay-{i + 1}",
                redact=rules.redact,
            )

    return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))


def replay(
    flow_paths: Sequence[str | os.PathLike[str]],
    table: RoutingTable,
    route: str,
    legacy_url: str,
    service_url: str,
    *,
    include_writes: bool = False,
    concurrency: int = 4,
    timeout: float | None = None,
    rng: Callable[[], float] | None = None,
) -> ReplayResult:
    """Replay the flows' requests of ``route`` against both sides; see the module docstring.

    Raises :class:`FlowFileError` (unreadable file) and ``KeyError`` for a route the table
    does not have."""
    import httpx

    from ..routing import Router
    from .report import Thresholds, build_report
    from .store import open_store

    the_route = next((r for r in table.routes if r.name == route), None)
    if the_route is None:
        raise KeyError(route)
    flows, not_http = read_http_flows(flow_paths)
    result = ReplayResult(
        route, tuple(str(p) for p in flow_paths), legacy_url, service_url, len(flows), not_http
    )
    router = Router(table)
    chosen: list[_Request] = []
    for flow in flows:
        req = _to_request(flow)
        if not _matches(router, req, route):
            result.other_routes += 1
        elif req.method not in SAFE and not include_writes:
            result.skipped_writes += 1
        elif req.method not in SAFE and req.recorded is None:
            result.skipped_unrecorded += 1
        else:
            chosen.append(req)
    if not chosen:
        return result
    spec_timeout = the_route.shadow.timeout if the_route.shadow is not None else 5.0
    with tempfile.TemporaryDirectory(prefix="strangler-replay-") as folder:
        store = open_store(None, Path(folder) / "replay.sqlite3", queue_size=2 * len(chosen) + 1)

        async def run() -> list[ShadowResult]:
            limits = httpx.Limits(max_connections=concurrency * 2)
            async with httpx.AsyncClient(limits=limits, follow_redirects=False) as client:
                sides = _Sides(client, legacy_url, service_url, timeout or spec_timeout)
                return await _replay_all(
                    chosen, the_route, sides, store, concurrency, rng or random.Random().random
                )

        result.results = asyncio.run(run())
        for r in result.results:
            store.record(r)
        store.flush()
        thresholds = Thresholds(min_samples=1, min_match_rate=1.0, max_extra_error_rate=0.0)
        result.report = build_report(store, route, thresholds)
        store.close()
    return result


# -- output ---------------------------------------------------------------------------------------
def _mismatch_rows(result: ReplayResult) -> Iterator[dict[str, object]]:
    from .redact import redact_result

    for r in result.results:
        if r.comparison.verdict not in (Verdict.MISMATCH, Verdict.ERROR):
            continue
        safe = redact_result(r)
        yield {
            "request_id": r.request_id,
            "method": r.method,
            "target": r.target,
            "verdict": r.comparison.verdict.value,
            "differences": [
                {
                    "path": d.path,
                    "field": d.field,
                    "kind": d.kind,
                    "primary": _json_safe(d.primary),
                    "shadow": _json_safe(d.shadow),
                }
                for d in safe.comparison.differences
            ],
        }


def _skipped(result: ReplayResult) -> dict[str, int]:
    return {
        "writes": result.skipped_writes,
        "writes_without_recorded_response": result.skipped_unrecorded,
        "other_routes": result.other_routes,
        "not_http": result.not_http,
    }


def render_replay(result: ReplayResult, max_listed: int = 20) -> str:
    """The replay as text: counts, what was skipped, each mismatch, then the shadow report."""
    from .report import render_text

    verdict = {0: "PASS", 1: "FAIL", 2: "NOTHING REPLAYED"}[result.exit_code]
    lines = [
        f"replay of {', '.join(result.files)} on route {result.route}: {verdict}",
        f"  monolith {result.legacy_url}  vs  service {result.service_url}",
        f"  {result.http_flows} HTTP flows read; {result.replayed} replayed: "
        f"{result.count(Verdict.MATCH)} matched, {result.mismatched} mismatched, "
        f"{result.count(Verdict.NOISE_ONLY)} noise only, "
        f"{result.count(Verdict.LIKELY_RACE)} likely races, {result.count(Verdict.ERROR)} errors",
        f"  skipped: {result.skipped_writes} writes"
        + ("" if not result.skipped_writes else " (--include-writes sends them, dry-run)")
        + f", {result.skipped_unrecorded} writes without a recorded response, "
        f"{result.other_routes} requests of other routes, {result.not_http} non-HTTP flows",
    ]
    rows = list(_mismatch_rows(result))
    if rows:
        lines.append("  mismatches (path  kind  monolith → service):")
    for row in rows[:max_listed]:
        lines.append(
            f"    {row['method']} {row['target']}  ({row['verdict']}, {row['request_id']})"
        )
        diffs = row["differences"]
        for d in diffs if isinstance(diffs, list) else []:
            lines.append(
                f"      {d['path']}  {d['kind']}  {_short(d['primary'], 60)} → "
                f"{_short(d['shadow'], 60)}"
            )
    if len(rows) > max_listed:
        lines.append(f"    … and {len(rows) - max_listed} more (--json lists all)")
    text = "\n".join(lines) + "\n"
    if result.report is not None and result.report.routes:
        text += "\n" + render_text(result.report)
    return text


def replay_json(result: ReplayResult) -> dict[str, object]:
    from .report import report_json

    return {
        "route": result.route,
        "files": list(result.files),
        "legacy_url": result.legacy_url,
        "service_url": result.service_url,
        "exit_code": result.exit_code,
        "http_flows": result.http_flows,
        "replayed": result.replayed,
        "matched": result.count(Verdict.MATCH),
        "mismatched": result.mismatched,
        "noise_only": result.count(Verdict.NOISE_ONLY),
        "likely_race": result.count(Verdict.LIKELY_RACE),
        "errors": result.count(Verdict.ERROR),
        "skipped": _skipped(result),
        "mismatches": list(_mismatch_rows(result)),
        "report": report_json(result.report) if result.report is not None else None,
    }


# -- the CLI ---------------------------------------------------------------------------------------
def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    from ._report_cli import add_store_argument

    parser.add_argument("route", help="the route whose stored mismatches are exported")
    parser.add_argument("--out", required=True, metavar="FILE", help="the flow file to write")
    add_store_argument(parser)
    parser.add_argument(
        "--limit", type=_positive, default=100, metavar="N", help="newest N mismatches (100)"
    )


def run_export(args: argparse.Namespace) -> int:
    from ._report_cli import DEFAULT_STORE_PATH
    from .store import open_store

    try:
        store = open_store(args.store, DEFAULT_STORE_PATH)
        try:
            written = export_mismatches(store, args.route, args.out, args.limit)
        finally:
            store.close()
    except OSError as err:
        print(f"strangler shadow export: cannot write {args.out}: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # one boundary: a store we cannot read is a usage problem
        print(f"strangler shadow export: cannot read the store: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.out}: {written} mismatches of {args.route} ({2 * written} flows: the primary's "
        "and the shadow's response of each; open with mitmweb --rfile FILE)"
    )
    return 0


def add_replay_arguments(parser: argparse.ArgumentParser, default_table: str) -> None:
    parser.add_argument("flows", nargs="+", metavar="FLOWS", help="mitmproxy flow files")
    parser.add_argument("--route", required=True, metavar="NAME", help="the route to replay")
    parser.add_argument(
        "--table",
        "--config",
        dest="table",
        default=default_table,
        metavar="FILE",
        help="routing table: which requests are the route's, its compare rules and "
        "upstreams (default: %(default)s)",
    )
    parser.add_argument(
        "--legacy", metavar="URL", help="the monolith (default: the table's default upstream)"
    )
    parser.add_argument(
        "--service", metavar="URL", help="the service (default: the route's `to` upstream)"
    )
    parser.add_argument(
        "--include-writes",
        action="store_true",
        help="also replay writes: to the service only, marked X-Strangler-Dry-Run: 1, "
        "compared with the recorded response",
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=4, metavar="N", help="requests in flight (4)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _first_instance(table: RoutingTable, name: str | None) -> str | None:
    if name is None or name not in table.upstreams:
        return None
    instances = table.upstreams[name].instances
    return instances[0] if instances else None


def run_replay(args: argparse.Namespace) -> int:
    from ..config import load_table
    from ..errors import ConfigError

    prog = "strangler shadow replay"
    try:
        table = load_table(args.table)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2
    route = next((r for r in table.routes if r.name == args.route), None)
    if route is None:
        names = ", ".join(r.name for r in table.routes) or "none"
        print(
            f"{prog}: {args.table} has no route {args.route!r} (routes: {names})", file=sys.stderr
        )
        return 2
    legacy = args.legacy or _first_instance(table, table.default)
    service = args.service or _first_instance(table, route.to)
    if legacy is None or service is None:
        print(
            f"{prog}: route {route.name!r} has no service upstream (`to`); give --service URL",
            file=sys.stderr,
        )
        return 2
    try:
        result = replay(
            args.flows,
            table,
            route.name,
            legacy,
            service,
            include_writes=args.include_writes,
            concurrency=args.concurrency,
        )
    except FlowFileError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(replay_json(result), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_replay(result))
    if not result.results:
        print(
            f"{prog}: nothing to replay: no request in the flow files goes to route "
            f"{route.name!r}"
            + (" (writes are skipped without --include-writes)" if result.skipped_writes else ""),
            file=sys.stderr,
        )
    return result.exit_code
