"""The proxy side of the identity assertion (the service side: tests/extracted)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

import strangler_proxy.gateway
from strangler_proxy.gateway.assertion import ASSERTION_HEADER, sign_assertion

KEY = bytes(range(32))
CLAIMS = {"user_id": 3, "username": "bob", "is_staff": True, "request_id": "abc"}


def _decode(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_public_api_is_pinned() -> None:
    assert sorted(strangler_proxy.gateway.__all__) == sorted(
        [
            "ASSERTION_HEADER", "CacheControl", "CachedResponse", "Decision",
            "InProcessLimiter", "Limiter", "LimiterUnavailable", "RedisLimiter", "RequestPolicy",
            "ResponseCache", "etag_matches", "not_modified", "not_modified_headers",
            "parse_cache_control", "request_policy", "sign_assertion", "storable_ttl",
        ]
    )  # fmt: skip
    assert ASSERTION_HEADER == "X-Strangler-Identity"


def test_a_standard_hs256_jwt() -> None:
    token = sign_assertion(CLAIMS, KEY, ttl=60, audience="orders", now=100.7)
    header, payload, signature = token.split(".")
    assert "=" not in token
    assert _decode(header) == {"alg": "HS256", "typ": "JWT"}
    assert _decode(payload) == {
        "sub": "3", "username": "bob", "is_staff": True, "request_id": "abc",
        "aud": "orders", "iat": 100, "exp": 161,
    }  # fmt: skip
    expected = hmac.new(KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == expected


def test_extra_claims_are_not_signed_and_times_are_whole_seconds() -> None:
    token = sign_assertion(
        {**CLAIMS, "active": True, "exp": 1e12, "aud": "evil", "email": "x"},
        KEY,
        ttl=0.2,
        audience="orders",
        now=100.9,
    )
    payload = _decode(token.split(".")[1])
    assert (payload["aud"], payload["iat"], payload["exp"]) == ("orders", 100, 102)
    assert "email" not in payload and "active" not in payload


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("nan")])
def test_ttl_must_be_positive(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        sign_assertion(CLAIMS, KEY, ttl=ttl, audience="orders", now=0)
