"""The identity assertion: what the proxy signs the services verify; everything else is 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from flask import Flask

from extracted.common.errors import install_error_handlers
from extracted.common.identity import (
    ASSERTION_HEADER,
    Identity,
    InvalidAssertion,
    Reason,
    current_identity,
    install_identity,
    require_identity,
    verify_assertion,
)
from extracted.common.wire import json_response
from strangler_proxy.gateway import assertion as proxy_side

KEY = b"k" * 32
NOW = 1_700_000_000.0
CLAIMS = {"user_id": 7, "username": "ada", "is_staff": False, "request_id": "req-1"}
ADA = Identity(7, "ada", False, "req-1")


def sign(claims: dict[str, Any] = CLAIMS, **kw: Any) -> str:
    args: dict[str, Any] = {"key": KEY, "ttl": 30, "audience": "catalog", "now": NOW, **kw}
    return proxy_side.sign_assertion(claims, **args)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: Any, payload: Any, key: bytes = KEY) -> str:
    """A token with any header and payload, correctly signed with ``key``."""

    def part(value: Any) -> str:
        return b64(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())

    head = part(header) + "." + part(payload)
    return head + "." + b64(hmac.new(key, head.encode(), hashlib.sha256).digest())


GOOD_PAYLOAD = {"sub": "7", "username": "ada", "is_staff": False, "request_id": "req-1",
                "aud": "catalog", "iat": int(NOW), "exp": int(NOW) + 30}  # fmt: skip
HS256 = {"alg": "HS256", "typ": "JWT"}


def reason(token: str, **kw: Any) -> Reason:
    args: dict[str, Any] = {"audience": "catalog", "now": NOW, **kw}
    with pytest.raises(InvalidAssertion) as info:
        verify_assertion(token, KEY, **args)
    return info.value.reason


# -- signing (proxy) and verifying (service) agree --------------------------------------------


def test_what_the_proxy_signs_the_service_verifies() -> None:
    token = sign()
    assert verify_assertion(token, KEY, audience="catalog", now=NOW) == ADA
    assert proxy_side.ASSERTION_HEADER == ASSERTION_HEADER
    header, payload, _ = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == HS256
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == GOOD_PAYLOAD
    # the introspection answer can be signed as it comes (plus the request id)
    intro = {"active": True, "user_id": 1, "username": "admin", "is_staff": True}
    staff = verify_assertion(sign({**intro, "request_id": "r"}), KEY, audience="catalog", now=NOW)
    assert staff == Identity(1, "admin", True, "r")
    assert forge(HS256, GOOD_PAYLOAD) == token  # the claims are exactly these, nothing hidden


@pytest.mark.parametrize(
    ("claims", "kw", "message"),
    [
        ({**CLAIMS, "active": False}, {}, "inactive"),
        ({**CLAIMS, "user_id": "7"}, {}, "user_id"),
        ({**CLAIMS, "user_id": True}, {}, "user_id"),
        ({k: v for k, v in CLAIMS.items() if k != "request_id"}, {}, "request_id"),
        ({**CLAIMS, "is_staff": 1}, {}, "is_staff"),
        (CLAIMS, {"key": b"short"}, "at least 32 bytes"),
        (CLAIMS, {"ttl": 0}, "ttl"),
        (CLAIMS, {"audience": ""}, "audience"),
    ],
)
def test_signing_refuses_bad_input(
    claims: dict[str, Any], kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sign(claims, **kw)


# -- every way a token is refused --------------------------------------------------------------


def test_expiry_and_clock_skew_leeway() -> None:
    token = sign()
    assert verify_assertion(token, KEY, audience="catalog", now=NOW + 35) == ADA  # leeway 5
    assert reason(token, now=NOW + 35.01) is Reason.EXPIRED
    assert reason(token, now=NOW + 31, leeway=0) is Reason.EXPIRED
    assert verify_assertion(token, KEY, audience="catalog", now=NOW - 5) == ADA
    assert reason(token, now=NOW - 6) is Reason.NOT_YET_VALID


def test_signature_key_and_audience() -> None:
    token = sign()
    head, payload, sig = token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["is_staff"] = True
    assert reason(f"{head}.{b64(json.dumps(tampered).encode())}.{sig}") is Reason.SIGNATURE
    with pytest.raises(InvalidAssertion, match="signature"):
        verify_assertion(token, b"x" * 32, audience="catalog", now=NOW)
    assert reason(token, audience="orders") is Reason.AUDIENCE
    assert (
        verify_assertion(
            forge(HS256, {**GOOD_PAYLOAD, "aud": ["a", "catalog"]}),
            KEY,
            audience="catalog",
            now=NOW,
        )
        == ADA
    )
    assert reason(forge(HS256, {**GOOD_PAYLOAD, "aud": None})) is Reason.AUDIENCE


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "HS512"},
        {"alg": "RS256"},
        {"typ": "JWT"},
        {"alg": "hs256"},
    ],
)
def test_only_hs256_is_accepted(header: dict[str, Any]) -> None:
    assert reason(forge(header, GOOD_PAYLOAD)) is Reason.ALGORITHM
    unsigned = forge(header, GOOD_PAYLOAD).rsplit(".", 1)[0] + "."  # the classic alg=none token
    assert reason(unsigned) is Reason.ALGORITHM


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.sig",
        b64(b"not json") + ".e30.",
        b64(b"[1]") + ".e30.",
        sign() + "=",  # padding is not base64url
        sign().replace(".", ".\u00e9", 1),
        sign() + "A" * 9000,
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert reason(token) is Reason.MALFORMED


@pytest.mark.parametrize(
    "change",
    [
        {"sub": 7},
        {"sub": "-7"},
        {"sub": "\u0667"},  # a digit, but not an ASCII one
        {"username": None},
        {"is_staff": "false"},
        {"request_id": 1},
        {"exp": None},
        {"exp": True},
        {"iat": "0"},
    ],
)
def test_signed_but_malformed_claims(change: dict[str, Any]) -> None:
    assert reason(forge(HS256, {**GOOD_PAYLOAD, **change})) is Reason.MALFORMED


def test_unsupported_header_parameters() -> None:
    assert reason(forge({**HS256, "crit": ["exp"]}, GOOD_PAYLOAD)) is Reason.MALFORMED
    assert reason(forge({**HS256, "typ": "at+jwt"}, GOOD_PAYLOAD)) is Reason.MALFORMED


def test_short_keys_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        verify_assertion(sign(), b"short", audience="catalog", now=NOW)
    with pytest.raises(ValueError, match="32 bytes"):
        install_identity(Flask(__name__), b"short", "catalog")


# -- the Flask side ------------------------------------------------------------------------------


def make_app() -> tuple[Flask, list[str]]:
    app = Flask(__name__)
    install_error_handlers(app)
    install_identity(app, KEY, "catalog", clock=lambda: NOW)
    ran: list[str] = []

    @app.get("/who/")
    def who() -> Any:
        ran.append("who")
        identity = current_identity()
        return json_response(None if identity is None else identity.username)

    @app.get("/mine/")
    def mine() -> Any:
        ran.append("mine")
        return json_response(require_identity().user_id)

    return app, ran


def test_flask_no_header_is_anonymous() -> None:
    app, _ = make_app()
    with app.test_client() as client:
        assert client.get("/who/").get_json() is None
        resp = client.get("/mine/")
    assert resp.status_code == 401
    assert resp.get_json() == {"detail": "Authentication credentials were not provided."}
    assert resp.headers["WWW-Authenticate"] == "Token"


def test_flask_valid_assertion_names_the_caller() -> None:
    app, _ = make_app()
    with app.test_client() as client:
        assert client.get("/who/", headers={ASSERTION_HEADER: sign()}).get_json() == "ada"
        assert client.get("/mine/", headers={ASSERTION_HEADER: sign()}).get_json() == 7


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (sign(now=NOW - 100), "Invalid identity assertion: expired."),
        (sign(audience="orders"), "Invalid identity assertion: audience."),
        (sign(key=b"x" * 32), "Invalid identity assertion: signature."),
        ("", "Invalid identity assertion: malformed."),
        (forge({"alg": "none"}, GOOD_PAYLOAD), "Invalid identity assertion: algorithm."),
        (sign(now=NOW + 100), "Invalid identity assertion: not yet valid."),
    ],
)
def test_flask_invalid_assertion_is_a_drf_401_before_the_view(token: str, detail: str) -> None:
    app, ran = make_app()
    with app.test_client() as client:
        resp = client.get("/who/", headers={ASSERTION_HEADER: token})
    assert resp.status_code == 401
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["WWW-Authenticate"] == "Token"
    assert resp.get_data() == json.dumps({"detail": detail}, separators=(",", ":")).encode()
    assert ran == []
