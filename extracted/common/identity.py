"""Who is calling: the proxy's signed identity assertion, verified (HS256 JWT, stdlib only).

The strangler proxy authenticates the caller against the monolith and forwards the answer as
``X-Strangler-Identity: <JWT>`` signed with a key it shares with the service. Services do not
import the proxy (each deployable stands alone), so verification is written here, with the
standard library (``hmac``, ``hashlib``, ``base64``, ``json``) instead of PyJWT::

    install_identity(app, key=b"...32+ bytes...", audience="catalog")

    @bp.get("/api/things/")
    def things():
        who = current_identity()          # Identity(user_id=7, username="ada", ...) or None
        ...
        who = require_identity()          # None → 401 {"detail": "Authentication credentials
                                          #                        were not provided."}

No header: ``flask.g.identity`` is ``None`` (anonymous, as DRF's ``AnonymousUser``). A header
that does not verify: 401 ``{"detail": "Invalid identity assertion: <reason>."}``, in DRF's
error format, before any view runs.

Exceptions::

    InvalidAssertion(reason: Reason)   malformed | algorithm | signature | expired |
                                       not_yet_valid | audience
    NotAuthenticated (APIError, 401)   require_identity() without an identity
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request

from extracted.common.errors import APIError
from extracted.common.wire import json_response

__all__ = [
    "ASSERTION_HEADER",
    "Identity",
    "InvalidAssertion",
    "NotAuthenticated",
    "Reason",
    "current_identity",
    "install_identity",
    "require_identity",
    "verify_assertion",
]

log = logging.getLogger(__name__)

ASSERTION_HEADER = "X-Strangler-Identity"
MIN_KEY_BYTES = 32
_MAX_TOKEN = 8192  # far above a real assertion (~300 bytes); bounds the work on garbage
# what DRF's TokenAuthentication.authenticate_header answers with its 401s
_WWW_AUTHENTICATE = {"WWW-Authenticate": "Token"}


class Reason(enum.Enum):
    MALFORMED = "malformed"
    ALGORITHM = "algorithm"  # alg is not HS256 ("none" included)
    SIGNATURE = "signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"  # issued in the future (clock skew beyond the leeway)
    AUDIENCE = "audience"


class InvalidAssertion(Exception):
    """The assertion was refused; ``reason`` says why (never the token itself)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


class NotAuthenticated(APIError):
    """DRF's ``NotAuthenticated`` as the monolith renders it (401, ``WWW-Authenticate``)."""

    status = 401

    def __init__(self) -> None:
        super().__init__(
            {"detail": "Authentication credentials were not provided."}, _WWW_AUTHENTICATE
        )


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: int
    username: str
    is_staff: bool
    request_id: str


def _b64decode(part: str) -> bytes:
    if "=" in part:  # JWS base64url has no padding; accepting it would make tokens malleable
        raise InvalidAssertion(Reason.MALFORMED, "padded base64url")
    try:
        return base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidAssertion(Reason.MALFORMED, "bad base64url") from err


def _json_object(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(part))
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidAssertion(Reason.MALFORMED, "bad JSON") from err
    if not isinstance(value, dict):
        raise InvalidAssertion(Reason.MALFORMED, "not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidAssertion(Reason.MALFORMED, f"{name} missing or not a number")
    return float(value)


def _identity(claims: dict[str, Any]) -> Identity:
    sub, username = claims.get("sub"), claims.get("username")
    is_staff, request_id = claims.get("is_staff"), claims.get("request_id")
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
        raise InvalidAssertion(Reason.MALFORMED, "sub is not a user id")
    if not (
        isinstance(username, str) and isinstance(is_staff, bool) and isinstance(request_id, str)
    ):
        raise InvalidAssertion(Reason.MALFORMED, "username/is_staff/request_id")
    return Identity(int(sub), username, is_staff, request_id)


def verify_assertion(
    token: str, key: bytes, *, audience: str, now: float, leeway: float = 5
) -> Identity:
    """The identity in ``token`` if it is an HS256 JWT signed with ``key`` for ``audience``
    and valid at ``now`` (seconds since the epoch, ± ``leeway`` for clock skew).

    Checks run header → signature → claims, so nothing of an unsigned token is trusted.
    Raises :class:`InvalidAssertion`.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"key: must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    if len(token) > _MAX_TOKEN or not token.isascii():
        raise InvalidAssertion(Reason.MALFORMED, "too long or not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidAssertion(Reason.MALFORMED, "not three parts")
    header = _json_object(parts[0])
    if header.get("alg") != "HS256":
        raise InvalidAssertion(Reason.ALGORITHM, f"alg {header.get('alg')!r}")
    if header.get("typ", "JWT") != "JWT" or "crit" in header:
        raise InvalidAssertion(Reason.MALFORMED, "unsupported header")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    expected = hmac.new(key, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(parts[2])):
        raise InvalidAssertion(Reason.SIGNATURE)
    claims = _json_object(parts[1])
    if now > _number(claims, "exp") + leeway:
        raise InvalidAssertion(Reason.EXPIRED)
    if _number(claims, "iat") > now + leeway:
        raise InvalidAssertion(Reason.NOT_YET_VALID)
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise InvalidAssertion(Reason.AUDIENCE, f"not for {audience!r}")
    return _identity(claims)


def install_identity(
    app: Flask,
    key: bytes,
    audience: str,
    *,
    leeway: float = 5,
    clock: Callable[[], float] = time.time,
) -> None:
    """Verify ``X-Strangler-Identity`` before every request of ``app``; see the module doc."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"identity key: must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    if not audience:
        raise ValueError("identity audience: must not be empty")

    @app.before_request
    def _identify() -> Response | None:
        g.identity = None
        token = request.headers.get(ASSERTION_HEADER)
        if token is None:
            return None
        try:
            g.identity = verify_assertion(token, key, audience=audience, now=clock(), leeway=leeway)
        except InvalidAssertion as err:
            log.warning("identity assertion refused on %s %s: %s", request.method,
                        request.path, err)  # fmt: skip
            detail = f"Invalid identity assertion: {err.reason.value.replace('_', ' ')}."
            return json_response({"detail": detail}, status=401, headers=_WWW_AUTHENTICATE)
        return None


def current_identity() -> Identity | None:
    """The verified caller of the current request, or ``None`` (anonymous)."""
    identity: Identity | None = g.get("identity")
    return identity


def require_identity() -> Identity:
    """The verified caller; raises :class:`NotAuthenticated` (401) for anonymous requests."""
    identity = current_identity()
    if identity is None:
        raise NotAuthenticated()
    return identity
