"""The identity assertion the proxy hands an extracted service: a short-lived HS256 JWT.

The proxy authenticates the caller once (against the monolith's introspection endpoint) and
tells the service who it is in one signed header, so services never see tokens or sessions::

    sign_assertion({"user_id": 7, "username": "ada", "is_staff": False, "request_id": "r1"},
                   key, ttl=30, audience="catalog", now=1_700_000_000)
    → "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJjYXRhbG9nIiwiZXhwIjoxNzAwMDAwMDMw..."

    header  {"alg": "HS256", "typ": "JWT"}
    claims  {"aud": "catalog", "exp": 1700000030, "iat": 1700000000, "is_staff": false,
             "request_id": "r1", "sub": "7", "username": "ada"}

JWT with HS256 is small enough to write with the standard library (``hmac``, ``hashlib``,
``base64``, ``json``), so the kit does not depend on PyJWT. Only signing lives here; services
verify with ``extracted.common.identity`` (deployables never import each other, so the few
lines of base64url are written twice, and a test checks that one verifies what the other signs).

The audience is the upstream's name: an assertion minted for ``catalog`` is refused by
``orders``. The proxy must drop any ``X-Strangler-Identity`` a client sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["ASSERTION_HEADER", "MIN_KEY_BYTES", "sign_assertion"]

ASSERTION_HEADER = "X-Strangler-Identity"
MIN_KEY_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash output
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _user_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The identity claims, checked: a wrong type here is a bug in the caller, not a 401."""
    if claims.get("active", True) is not True:
        raise ValueError("claims: refusing to sign an inactive identity")
    user_id = claims.get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 0:
        raise ValueError(f"claims.user_id: must be a non-negative int, got {user_id!r}")
    out: dict[str, Any] = {"sub": str(user_id)}
    for name, kind in (("username", str), ("is_staff", bool), ("request_id", str)):
        value = claims.get(name)
        if not isinstance(value, kind):
            raise ValueError(f"claims.{name}: must be {kind.__name__}, got {value!r}")
        out[name] = value
    return out


def sign_assertion(
    claims: Mapping[str, Any], key: bytes, *, ttl: float, audience: str, now: float
) -> str:
    """A compact HS256 JWT for ``claims`` (``user_id``, ``username``, ``is_staff``,
    ``request_id``; an introspection answer's ``"active": true`` is allowed, other keys are
    ignored), valid for ``audience`` from ``now`` (seconds since the epoch) for ``ttl`` seconds.

    Times are whole seconds (``iat`` rounded down, ``exp`` up), as most JWT libraries expect.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"key: must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    if not ttl > 0:
        raise ValueError(f"ttl: must be > 0 seconds, got {ttl!r}")
    if not audience:
        raise ValueError("audience: must not be empty")
    payload = {
        **_user_claims(claims),
        "aud": audience,
        "iat": math.floor(now),
        "exp": math.ceil(now + ttl),
    }
    signing_input = f"{_b64url(_json(_HEADER))}.{_b64url(_json(payload))}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"
