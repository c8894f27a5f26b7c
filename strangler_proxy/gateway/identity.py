"""Who is calling: the monolith's introspection endpoint, asked once per credentials.

The proxy never reads the monolith's tables; it shows the monolith the request's own
credentials (``Authorization`` and the ``Cookie`` header) and gets back who they name::

    GET /api/accounts/introspect/   Authorization: Token 9944b0...
    → 200 {"active": true, "user_id": 7, "username": "ada", "is_staff": false}

Answers are kept ``cache_ttl`` seconds per credentials (a SHA-256 of the ``Authorization``
value and the session cookie), negative ones too; a successful ``POST`` to a ``logout`` path
drops the answers this process holds for that user (any of their tokens and sessions it has
seen), so logged-out credentials stop working at once here (other processes and replicas:
within ``cache_ttl``).

Unsafe methods with a session cookie and no ``Authorization: Token ...`` (a browser; DRF
ignores other schemes, so such a request is session-authenticated) are introspected with
``POST`` and the request's ``Origin``, ``Referer``, ``X-CSRFToken`` and cookies, uncached: DRF's
``SessionAuthentication`` then runs Django's own CSRF check, so a request the monolith would
refuse with 403 is refused at the edge with the monolith's very answer, whichever upstream
serves the route.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .spec import IdentitySettings

__all__ = ["Caller", "IdentityUnavailable", "Introspector", "Refused"]

log = logging.getLogger("strangler.gateway.identity")

# the request headers the introspection call carries (Host: the CSRF check compares Origin)
_PASSED = ("Authorization", "Cookie", "Host", "Origin", "Referer", "X-CSRFToken")
_FORWARDED = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID")


@dataclass(frozen=True, slots=True)
class Caller:
    """An introspection answer. ``active`` False: anonymous (no or unknown credentials)."""

    active: bool
    user_id: int | None = None
    username: str = ""
    is_staff: bool = False
    credentials: bool = False  # the request carried credentials at all

    @property
    def key(self) -> str:
        """For cache keys and rate limits: ``user:7`` or ``anonymous``."""
        return f"user:{self.user_id}" if self.active else "anonymous"

    def claims(self, request_id: str) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "is_staff": self.is_staff,
            "request_id": request_id,
        }


ANONYMOUS = Caller(False)


@dataclass(frozen=True, slots=True)
class Refused:
    """The monolith refused the request itself (a failed CSRF check): relay its answer."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class IdentityUnavailable(Exception):
    """The introspection endpoint could not be asked or gave an unexpected answer."""


def credentials_key(authorization: str | None, session: str | None) -> str | None:
    """The cache key of a request's credentials; ``None`` when it carries none."""
    if not authorization and not session:
        return None
    raw = f"{authorization or ''}\0{session or ''}".encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest()


class Introspector:
    """Asks the introspection endpoint, keeps answers for ``cache_ttl`` seconds (LRU-bounded).

    Lives across reloads (the cache survives a table swap); ``settings`` come per call.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._answers: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._by_user: dict[int | None, set[str]] = {}  # user id → keys of its answers
        self.counts: dict[str, int] = {}

    def _count(self, event: str) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1

    def metric_samples(self) -> dict[tuple[str, ...], float]:
        return {(k,): float(v) for k, v in self.counts.items()}

    def __len__(self) -> int:
        return len(self._answers)

    def forget(self, key: str) -> int:
        """After a logout with these credentials: drop their cached answer and every other
        answer this process holds for the same user (the monolith's logout deletes the user's
        token and ends the session); how many."""
        found = self._answers.pop(key, None)
        if found is None:
            return 0
        answer = found[1]
        self._unindex(key, answer)
        dropped = 1
        if answer.active:
            for other in self._by_user.pop(answer.user_id, set()):
                if self._answers.pop(other, None) is not None:
                    dropped += 1
        return dropped

    async def resolve(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        settings: IdentitySettings,
        method: str,
        headers: CIMultiDictProxy[str] | CIMultiDict[str],
        cookies: Mapping[str, str],
        forwarded: Mapping[str, str],
    ) -> Caller | Refused:
        """Who the request's credentials name; raises :class:`IdentityUnavailable`."""
        authorization = headers.get("Authorization")
        session_id = cookies.get(settings.session_cookie)
        key = credentials_key(authorization, session_id)
        if key is None:
            return ANONYMOUS
        # a browser's write: DRF authenticates it by its session (any Authorization but
        # "Token ..." is ignored there) and checks CSRF; asked with POST, never cached
        token = authorization is not None and authorization.split(" ", 1)[0].lower() == "token"
        browser_write = (
            method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and session_id is not None
            and not token
        )
        if not browser_write and settings.cache_ttl > 0:
            found = self._answers.get(key)
            if found is not None and found[0] > self.clock():
                self._answers.move_to_end(key)
                self._count("hit")
                return found[1]
        self._count("miss")
        call_headers: CIMultiDict[str] = CIMultiDict()
        for name in _PASSED:
            for value in headers.getall(name, ()):
                call_headers.add(name, value)
        for name, value in forwarded.items():
            if name in _FORWARDED:
                call_headers[name] = value
        call_headers["Accept"] = "application/json"
        answer = await self._ask(
            session, base_url, settings, "POST" if browser_write else "GET", call_headers
        )
        if isinstance(answer, Caller) and not browser_write and settings.cache_ttl > 0:
            self._keep(key, answer, settings)
        return answer

    def _keep(self, key: str, answer: Caller, settings: IdentitySettings) -> None:
        self._answers[key] = (self.clock() + settings.cache_ttl, answer)
        self._answers.move_to_end(key)
        if answer.active:
            self._by_user.setdefault(answer.user_id, set()).add(key)
        while len(self._answers) > settings.cache_entries:
            old, (_, gone) = self._answers.popitem(last=False)
            self._unindex(old, gone)

    def _unindex(self, key: str, answer: Caller) -> None:
        keys = self._by_user.get(answer.user_id) if answer.active else None
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_user[answer.user_id]

    async def _ask(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        settings: IdentitySettings,
        method: str,
        headers: CIMultiDict[str],
    ) -> Caller | Refused:
        url = URL(base_url + settings.path, encoded=True)
        try:
            async with asyncio.timeout(settings.timeout):
                async with session.request(
                    method, url, headers=headers, allow_redirects=False
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    raw = tuple(
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers
                    )
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            self._count("error")
            raise IdentityUnavailable(f"introspection at {url} failed: {err!r}") from err
        if status == 403 and method == "POST":
            self._count("refused")
            return Refused(status, raw, body)
        try:
            data = json.loads(body) if status == 200 else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("active"), bool):
            self._count("error")
            raise IdentityUnavailable(f"introspection at {url} answered {status}")
        if not data["active"]:
            return Caller(False, credentials=True)
        user_id = data.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            self._count("error")
            raise IdentityUnavailable(f"introspection at {url}: active without an int user_id")
        return Caller(
            True,
            user_id,
            str(data.get("username", "")),
            data.get("is_staff") is True,
            credentials=True,
        )
