"""Reading the gateway's keys of routing.yaml (a mixin of the table's checker).

Every problem is recorded with its ``file:line: key`` like the rest of the table; see
``migration_playbook/reference/routing-yaml.md`` ("Gateway") for every key and default.
"""

from __future__ import annotations

import abc
import re
from dataclasses import replace

from .._yaml import TOKEN, Reader, check_path_template, check_prefix, child, show
from .rewrite import template_names
from .spec import (
    Auth,
    CacheSettings,
    CacheSpec,
    HeaderRewrite,
    IdentitySettings,
    LimitKey,
    PathRewrite,
    PathRewriteKind,
    RateLimit,
    RewriteSpec,
)

__all__ = ["GATEWAY_ROUTE_KEYS", "GatewayReader"]

GATEWAY_ROUTE_KEYS = ("auth", "rate_limit", "cache", "rewrite")
IDENTITY_KEYS = (
    "introspect",
    "cache_ttl",
    "cache_entries",
    "assertion_ttl",
    "key_env",
    "session_cookie",
    "csrf_cookie",
    "logout",
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class GatewayReader(Reader, abc.ABC):
    """The gateway's part of the table checker; ``reference`` resolves upstream names."""

    @abc.abstractmethod
    def reference(self, value: object, path: str) -> str | None:
        """An upstream name as the table checker knows them (``None``: a problem was noted)."""

    # -- table level ------------------------------------------------------------------------
    def identity(self, value: object, default: str | None) -> IdentitySettings | None:
        path = "identity"
        spec = self.mapping(value, path, IDENTITY_KEYS, "a mapping of identity settings")
        if spec is None:
            return None
        before = len(self.problems)
        upstream, intro_path, timeout = default, "/api/accounts/introspect/", 2.0
        if "introspect" in spec:
            where = child(path, "introspect")
            intro = self.mapping(spec["introspect"], where, ("upstream", "path", "timeout"))
            if intro is not None:
                if "upstream" in intro:
                    upstream = self.reference(intro["upstream"], child(where, "upstream"))
                if "path" in intro:
                    given = self.string(intro["path"], child(where, "path"), "a path")
                    if given is not None and (problem := check_prefix(given)):
                        self.problem(child(where, "path"), problem)
                    intro_path = given or intro_path
                if "timeout" in intro:
                    timeout = self.positive(intro["timeout"], child(where, "timeout")) or timeout
        options: dict[str, object] = {}
        for key in ("cache_ttl", "assertion_ttl"):
            if key in spec:
                number = self.positive(spec[key], child(path, key), zero=key == "cache_ttl")
                if number is not None:
                    options[key] = number
        if "cache_entries" in spec:
            options["cache_entries"] = self.integer(
                spec["cache_entries"], child(path, "cache_entries"), 1, None
            )
        if "key_env" in spec:
            options["key_env"] = self.env_name(spec["key_env"], child(path, "key_env"))
        for key in ("session_cookie", "csrf_cookie"):
            if key in spec:
                name = self.string(spec[key], child(path, key), "a cookie name")
                if name is not None and not TOKEN.fullmatch(name):
                    self.problem(child(path, key), f"not a valid cookie name: {name!r}")
                options[key] = name
        if "logout" in spec:
            options["logout"] = self.paths(spec["logout"], child(path, "logout"))
        if len(self.problems) > before or upstream is None:
            return None
        base = IdentitySettings(upstream, intro_path, timeout)
        return replace(base, **options)  # type: ignore[arg-type]

    def cache_settings(self, value: object, path: str) -> CacheSettings | None:
        spec = self.mapping(value, path, ("max_bytes", "max_entry_bytes", "store"))
        if spec is None:
            return None
        options: dict[str, object] = {}
        for key in ("max_bytes", "max_entry_bytes"):
            if key in spec:
                options[key] = self.integer(spec[key], child(path, key), 1, None)
        if "store" in spec:
            store = spec["store"]
            if store in ("memory", "redis"):
                options["store"] = store
            else:
                self.problem(child(path, "store"), f"must be memory or redis, got {show(store)}")
        if any(v is None for v in options.values()):
            return None
        return replace(CacheSettings(), **options)  # type: ignore[arg-type]

    def env_name(self, value: object, path: str) -> str | None:
        if isinstance(value, str) and ENV_NAME.fullmatch(value):
            return value
        self.problem(
            path, f"must be an environment variable name such as STRANGLER_KEY, got {show(value)}"
        )
        return None

    def positive(self, value: object, path: str, *, zero: bool = False) -> float | None:
        if _number(value) and (value >= 0 if zero else value > 0):  # type: ignore[operator]
            return float(value)  # type: ignore[arg-type]
        what = "a number of seconds >= 0" if zero else "a positive number of seconds"
        self.problem(path, f"must be {what}, got {show(value)}")
        return None

    def paths(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(path, f"must be a list of paths such as [/logout/], got {show(value)}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            text = self.string(item, child(path, i), "a path such as /api/accounts/logout/")
            if text is not None and (problem := check_prefix(text)):
                self.problem(child(path, i), problem)
            elif text is not None:
                out.append(text)
        return tuple(out)

    # -- per route ----------------------------------------------------------------------------
    def auth(self, value: object, path: str) -> Auth | None:
        if value in ("none", "optional", "required"):
            return Auth(value)
        self.problem(path, f"must be required, optional or none, got {show(value)}")
        return None

    def rate_limit(self, value: object, path: str) -> RateLimit | None:
        spec = self.mapping(value, path, ("rate", "burst", "key"), "a mapping with rate")
        if spec is None:
            return None
        if not self.required(spec, "rate", path, "such as 10/s or 600/min"):
            return None
        text = spec["rate"]
        found = _RATE.fullmatch(text) if isinstance(text, str) else None
        if found is None or float(found.group(1)) <= 0:
            self.problem(
                child(path, "rate"), f"must be N/s, N/min or N/h with N > 0, got {show(text)}"
            )
            return None
        count = float(found.group(1))
        rate = count / _PER[found.group(2)]
        burst: int | None = max(1, int(count))
        if "burst" in spec:
            burst = self.integer(spec["burst"], child(path, "burst"), 1, None)
        key = LimitKey.IP
        if "key" in spec:
            given = spec["key"]
            if given in ("user", "token", "ip"):
                key = LimitKey(given)
            else:
                self.problem(child(path, "key"), f"must be user, token or ip, got {show(given)}")
                return None
        if burst is None:
            return None
        return RateLimit(rate, burst, key, str(text).strip())

    def route_cache(self, value: object, path: str) -> CacheSpec | None:
        if value is True or value is None:
            return CacheSpec()
        spec = self.mapping(value, path, ("ttl", "default_ttl", "personalised"), "a mapping")
        if spec is None:
            return None
        options: dict[str, object] = {}
        for key in ("ttl", "default_ttl"):
            if key in spec:
                options[key] = self.positive(spec[key], child(path, key), zero=True)
        if "personalised" in spec:
            flag = spec["personalised"]
            if isinstance(flag, bool):
                options["personalised"] = flag
            else:
                self.problem(
                    child(path, "personalised"), f"must be true or false, got {show(flag)}"
                )
                options["personalised"] = None
        if any(v is None for v in options.values()):
            return None
        return replace(CacheSpec(), **options)  # type: ignore[arg-type]

    def rewrite(self, value: object, path: str, template: str | None) -> RewriteSpec | None:
        keys = ("path", "request_headers", "response_headers", "public_links")
        spec = self.mapping(value, path, keys, "a mapping of rewrites")
        if spec is None:
            return None
        before = len(self.problems)
        path_rewrite = None
        if "path" in spec:
            path_rewrite = self.path_rewrite(spec["path"], child(path, "path"), template)
        request = response = HeaderRewrite()
        if "request_headers" in spec:
            request = self.header_rewrite(spec["request_headers"], child(path, "request_headers"))
        if "response_headers" in spec:
            response = self.header_rewrite(
                spec["response_headers"], child(path, "response_headers")
            )
        links = spec.get("public_links", True)
        if not isinstance(links, bool):
            self.problem(child(path, "public_links"), f"must be true or false, got {show(links)}")
        if len(self.problems) > before:
            return None
        return RewriteSpec(path_rewrite, request, response, links is not False)

    def path_rewrite(self, value: object, path: str, template: str | None) -> PathRewrite | None:
        kinds = tuple(k.value for k in PathRewriteKind)
        spec = self.mapping(value, path, kinds, "one of strip_prefix, replace_prefix, template")
        if spec is None:
            return None
        if len(spec) != 1:
            self.problem(path, "give exactly one of strip_prefix, replace_prefix, template")
            return None
        ((key, given),) = spec.items()
        where = child(path, key)
        kind = PathRewriteKind(key)
        if kind is PathRewriteKind.STRIP_PREFIX:
            text = self.string(given, where, "a path prefix such as /api/catalog")
            if text is None:
                return None
            if problem := check_prefix(text):
                self.problem(where, problem)
                return None
            return PathRewrite(kind, text, "")
        if kind is PathRewriteKind.REPLACE_PREFIX:
            pair = self.mapping(given, where, ("from", "to"), "a mapping with from and to")
            if pair is None:
                return None
            ok = self.required(pair, "from", where, "the public prefix")
            ok = self.required(pair, "to", where, "the service's prefix") and ok
            if not ok:
                return None
            texts = []
            for side in ("from", "to"):
                text = self.string(pair[side], child(where, side), "a path prefix")
                if text is not None and (problem := check_prefix(text)):
                    self.problem(child(where, side), problem)
                    text = None
                texts.append(text)
            if texts[0] is None or texts[1] is None:
                return None
            return PathRewrite(kind, texts[0], texts[1])
        text = self.string(given, where, "a path template such as /products/{id}/")
        if text is None:
            return None
        if problem := check_path_template(text):
            self.problem(where, problem)
            return None
        have = set(template_names(template)) if template is not None else set()
        missing = [n for n in template_names(text) if n not in have]
        if missing:
            known = ", ".join(sorted(have)) or "none: the route matches a prefix"
            self.problem(where, f"unknown parameter {{{missing[0]}}} (the match has: {known})")
            return None
        return PathRewrite(kind, "", text)

    def header_rewrite(self, value: object, path: str) -> HeaderRewrite:
        spec = self.mapping(value, path, ("add", "remove", "rename"), "add, remove and rename")
        if spec is None:
            return HeaderRewrite()
        remove: list[str] = []
        rename: list[tuple[str, str]] = []
        add: list[tuple[str, str]] = []
        if "remove" in spec:
            where = child(path, "remove")
            items = spec["remove"]
            if not isinstance(items, list):
                self.problem(where, f"must be a list of header names, got {show(items)}")
            else:
                for i, name in enumerate(items):
                    if self.header_name(name, child(where, i)):
                        remove.append(str(name).lower())
        for key, out in (("rename", rename), ("add", add)):
            if key not in spec:
                continue
            where = child(path, key)
            pairs = spec[key]
            if not isinstance(pairs, dict):
                self.problem(where, f"must be a mapping of header names, got {show(pairs)}")
                continue
            for name, target in pairs.items():
                if not self.header_name(name, child(where, name)):
                    continue
                if key == "rename":
                    if self.header_name(target, child(where, name)):
                        out.append((name.lower(), str(target)))
                elif isinstance(target, str) and "\r" not in target and "\n" not in target:
                    out.append((name, target))
                else:
                    self.problem(
                        child(where, name), f"must be a string (quote numbers), got {show(target)}"
                    )
        return HeaderRewrite(frozenset(remove), tuple(rename), tuple(add))

    def header_name(self, value: object, path: str) -> bool:
        if isinstance(value, str) and TOKEN.fullmatch(value):
            return True
        self.problem(path, f"not a valid header name: {show(value)}")
        return False
