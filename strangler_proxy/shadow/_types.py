"""The shapes shared by comparison, noise learning, the store and the report.

One mirrored request produces one :class:`ShadowResult`::

    json_ = (("content-type", "application/json"),)
    ShadowResult(route="product-detail", method="GET", target="/api/products/17/",
                 request_headers=(("accept", "application/json"),),
                 primary=Captured(200, json_, b'{"id": 17}', 0.012),
                 shadow=Captured(200, json_, b'{"id": 17}', 0.008),
                 comparison=Comparison(Verdict.MATCH, (), ()), timestamp=1767268800.0,
                 request_id="4f1c…")
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from ._paths import Segment

__all__ = [
    "Captured",
    "Comparison",
    "Difference",
    "NoiseSample",
    "ShadowResult",
    "Verdict",
    "decoded_headers",
    "is_error",
]


@dataclass(frozen=True, slots=True)
class Captured:
    """One side's answer. ``status`` is ``None`` when the side failed (``error`` says why,
    e.g. ``"upstream_timeout"``, ``"upstream_unavailable"``). ``latency`` is in seconds."""

    status: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    latency: float
    error: str | None = None

    def header(self, name: str) -> str | None:
        """All values of header ``name`` (any case) joined by ``", "``; ``None`` when absent."""
        lname = name.lower()
        found: str | None = None
        for k, v in self.headers:
            if len(k) == len(lname) and k.lower() == lname:
                found = v if found is None else f"{found}, {v}"
        return found


def decoded_body(content: bytes, encoding: str | None, limit: int | None = None) -> bytes:
    """``content`` decoded per its ``Content-Encoding``, as mitmproxy's
    ``get_content(strict=False)``: the raw bytes when the coding is unknown, its package is
    missing, or the bytes do not decode whole. With ``limit``, decoding stops after
    ``limit + 1`` bytes (a caller that gets more knows the body is over its cap, and a small
    compressed body cannot fill the memory)."""
    coding = (encoding or "").strip().lower()
    if not coding or coding == "identity":
        return content
    bound = None if limit is None else limit + 1
    try:
        if coding in ("gzip", "x-gzip"):
            return _inflate(content, 16 + zlib.MAX_WBITS, bound)
        if coding == "deflate":
            try:
                return _inflate(content, zlib.MAX_WBITS, bound)
            except zlib.error:  # raw deflate, as browsers send
                return _inflate(content, -zlib.MAX_WBITS, bound)
        if coding == "br":  # brotli and zstandard are optional: without them, the raw bytes
            brotli = importlib.import_module("brotli")
            if bound is None:
                decoded: bytes = brotli.decompress(content)
                return decoded
            decoder = brotli.Decompressor()
            decoded = decoder.process(content, output_buffer_limit=bound)
            return decoded if len(decoded) >= bound or decoder.is_finished() else content
        if coding == "zstd":
            zstd = importlib.import_module("zstandard")
            with zstd.ZstdDecompressor().stream_reader(io.BytesIO(content)) as reader:
                decoded = reader.read(-1 if bound is None else bound)
            return decoded
    except Exception:  # strict=False: what does not decode stays as it came
        return content
    return content


def _inflate(content: bytes, wbits: int, bound: int | None) -> bytes:
    """zlib/gzip ``content`` decoded, every gzip member of it, at most ``bound`` bytes; raises
    ``zlib.error`` when it is cut short or not of this kind."""
    parts: list[bytes] = []
    got = 0
    rest = content
    while True:
        decoder = zlib.decompressobj(wbits)
        part = decoder.decompress(rest, 0 if bound is None else bound - got)
        parts.append(part)
        got += len(part)
        if bound is not None and got >= bound:
            break  # over the cap: the caller needs no more
        if not decoder.eof:
            raise zlib.error("incomplete compressed data")
        rest = decoder.unused_data
        if not rest or wbits != 16 + zlib.MAX_WBITS:  # only gzip has members
            break
    return b"".join(parts)


def decoded_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Headers as sent, byte for byte (latin-1): what :class:`Captured` keeps of an answer."""
    return tuple([(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw])


def is_error(side: Captured) -> bool:
    """A side "errored" when it gave no response, or a 5xx: what the report's error rate counts."""
    return side.error is not None or side.status is None or side.status >= 500


class Verdict(enum.Enum):
    MATCH = "match"  # no difference at all
    MISMATCH = "mismatch"  # at least one difference outside the learned noise
    NOISE_ONLY = "noise_only"  # every difference is in a field the monolith varies by itself
    LIKELY_RACE = "likely_race"  # a mismatch that disappeared when both sides were asked again
    ERROR = "error"  # one side (or both) gave no response: nothing to compare


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference. ``path`` is concrete (``$.results[id=17].price``, ``status``,
    ``headers.content-type``, ``body``, ``error``); ``field`` is the generic form results are
    aggregated and noise is learned by (``$.results[*].price``).

    ``kind`` is one of: ``status``, ``header``, ``body`` (non-JSON bytes), ``invalid_json``,
    ``missing`` (only the primary has it), ``extra`` (only the shadow has it), ``value``,
    ``type``, ``tolerance`` (numbers further apart than allowed), ``matcher`` (a side fails
    the value matcher), ``duplicate_key`` / ``missing_key`` (unordered arrays), ``error``.
    """

    path: str
    kind: str
    primary: object
    shadow: object
    field: str = ""
    segments: tuple[Segment, ...] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not self.field:
            object.__setattr__(self, "field", self.path)


@dataclass(frozen=True, slots=True)
class Comparison:
    """``differences`` excludes learned noise; ``noise`` lists the noise fields that differed."""

    verdict: Verdict
    differences: tuple[Difference, ...]
    noise: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The distinct generic fields of ``differences``, sorted."""
        return tuple(sorted({d.field for d in self.differences}))


@dataclass(frozen=True, slots=True)
class ShadowResult:
    """What the store records for one mirrored request (redacted before it is written)."""

    route: str
    method: str
    target: str  # raw path and query
    request_headers: tuple[tuple[str, str], ...]
    primary: Captured  # the side that answered the client (the monolith while shadowing)
    shadow: Captured  # the copy's answer (the extracted service)
    comparison: Comparison
    timestamp: float  # wall clock, seconds since the epoch
    request_id: str = ""
    redact: tuple[str, ...] = ()  # the route's ``CompareRules.redact`` JSON paths


@dataclass(frozen=True, slots=True)
class NoiseSample:
    """One primary-vs-primary comparison: the fields that differed between two monolith calls."""

    route: str
    fields: tuple[str, ...]
    timestamp: float
