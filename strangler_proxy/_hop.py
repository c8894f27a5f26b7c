"""The headers that describe one hop of a connection, not the message (RFC 9110, 7.6.1):
never relayed by the proxy, never compared by the shadow comparison."""

from __future__ import annotations

__all__ = ["HOP_BY_HOP"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
