"""Load ``routing.yaml`` into a :class:`~strangler_proxy.model.RoutingTable`, validated once.

Every problem in the file is reported at once, each with its place, exactly as
``strangler validate`` prints them (every key: ``migration_playbook/reference/routing-yaml.md``).
Input → output::

    version: 1                          load_table("routing.yaml") →
    upstreams:                            RoutingTable(version=1, default="legacy",
      legacy: http://127.0.0.1:8000         upstreams={"legacy": Upstream(...),
      catalog: http://127.0.0.1:8101                   "catalog": Upstream(...)},
    default: legacy                         routes=(Route(name="products", mode=Mode.CANARY,
    routes:                                   to="catalog", weight=25, line=7, ...),), ...)
      - name: products
        match: {prefix: /api/products/}  with ``weight: 120`` instead, ConfigError whose str is
        mode: canary                        routing.yaml:11: routes[0].weight:
        to: catalog                             must be an integer 0..100, got 120
        weight: 25
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
from dataclasses import replace
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from ._yaml import (
    TOKEN,
    Document,
    YamlSyntaxError,
    check_path_template,
    check_prefix,
    child,
    compose,
    count,
    parse_listen,
    seconds,
    share,
    show,
    url_problem,
)
from .errors import ConfigError, Problem
from .gateway._config import GATEWAY_ROUTE_KEYS, GatewayReader
from .gateway.spec import Auth, LimitKey
from .model import (
    DECISION_HEADERS,
    SAFE_METHODS,
    Balance,
    BreakerSettings,
    HeaderCondition,
    HealthSpec,
    Listen,
    MatchSpec,
    Mode,
    Outlier,
    ProxySettings,
    Route,
    RoutingTable,
    ShadowSpec,
    Sticky,
    StickyKind,
    Timeouts,
    Upstream,
)
from .shadow.compare import CompareRules

__all__ = ["check_path_template", "load_table", "parse_listen", "parse_table"]


NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
MODES = ("legacy", "shadow", "canary", "extracted")
TOP_KEYS = (
    "version",
    "listen",
    "admin",
    "proxy",
    "identity",
    "upstreams",
    "default",
    "routes",
)
UPSTREAM_KEYS = (
    "instances",
    "health",
    "timeouts",
    "balance",
    "outlier",
    "breaker",
    "max_concurrent",
)
BALANCES = ("round_robin", "least_outstanding")
HEALTH_WHAT = "a path such as /healthz, or a mapping with path, interval, timeout, thresholds"
HEALTH_FIELDS = (
    seconds("interval"),
    seconds("timeout"),
    count("healthy_threshold"),
    count("unhealthy_threshold"),
)
OUTLIER_FIELDS = (
    count("consecutive_failures"),
    seconds("ejection_time"),
    seconds("max_ejection_time"),
    count("max_ejected_percent", 0, 100),
)
BREAKER_FIELDS = (
    share("failure_rate", 100.0),
    count("window"),
    count("minimum_calls"),
    seconds("open_for"),
    count("half_open_calls"),
)
ROUTE_KEYS = (
    "name",
    "match",
    "mode",
    "to",
    "weight",
    "sticky",
    "fallback",
    "shadow",
    "timeouts",
    "max_body_bytes",
    "max_concurrent",
    *GATEWAY_ROUTE_KEYS,
)
TIMEOUT_KEYS = ("connect", "response", "idle", "total")
SHADOW_KEYS = (
    "sample",
    "sticky",
    "methods",
    "timeout",
    "max_concurrency",
    "queue",
    "max_body_bytes",
    "noise_sample",
    "recheck_delay",
    "compare",
)


def load_table(path: str | os.PathLike[str]) -> RoutingTable:
    """Read and validate the table at ``path``; raise :class:`ConfigError` with every problem."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError([Problem(source, 0, "", f"cannot read: {exc.strerror or exc}")]) from exc
    return parse_table(data, source)


def parse_table(text: str | bytes, source: str = "<memory>") -> RoutingTable:
    """Validate the table in ``text`` (``source`` names it in problems and on the table)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, 0, "", f"not UTF-8 text: {exc.reason}")]) from exc
    try:
        doc = compose(decoded)
    except YamlSyntaxError as exc:
        raise ConfigError([Problem(source, exc.line, "", exc.message)]) from exc
    checker = _Checker(source, doc)
    table = checker.table(hashlib.sha256(data).hexdigest())
    if checker.problems or table is None:
        raise ConfigError(sorted(checker.problems, key=lambda p: p.line))
    return table


def _absent_is_empty(mapping: dict[str, object], key: str) -> object:
    """A section left empty (``proxy:`` with every key commented out) is an empty mapping."""
    value = mapping.get(key)
    return {} if value is None else value


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(value: object) -> TypeGuard[str]:
    return isinstance(value, str)


class _Checker(GatewayReader):
    def __init__(self, source: str, doc: Document) -> None:
        super().__init__(source, doc)
        self.upstream_names: list[str] = []
        self.route_index: dict[str, int] = {}

    def table(self, sha256: str) -> RoutingTable | None:
        root = self.doc.value
        if root is None:
            self.problem("", "the file is empty: expected version, upstreams and default", 0)
            return None
        if not isinstance(root, dict):
            what = "the top level must be a mapping with version, upstreams and default"
            self.problem("", f"{what}, got {show(root)}")
            return None
        top = self.mapping(root, "", TOP_KEYS) or {}
        version = top.get("version")
        if self.required(top, "version", "", "version: 1") and (
            type(version) is not int or version != 1
        ):
            self.problem("version", f"must be 1, got {show(version)}")
        settings = self.settings(top)
        upstreams: dict[str, Upstream] = {}
        if self.required(top, "upstreams", "", "a mapping of upstream names to URLs"):
            upstreams = self.upstreams(top["upstreams"])
        default = None
        if self.required(top, "default", "", "the upstream that serves unmatched requests"):
            default = self.reference(top["default"], "default")
        identity = None
        if "identity" in top and default is not None:
            identity = self.identity(_absent_is_empty(top, "identity"), default)
        routes = self.routes(top.get("routes"), default)
        self.gateway_needs(routes, settings, identity is not None or "identity" in top)
        if self.problems or default is None:
            return None
        return RoutingTable(1, upstreams, default, routes, settings, self.source, sha256, identity)

    def gateway_needs(
        self, routes: tuple[Route, ...], settings: ProxySettings, identity: bool
    ) -> None:
        """What routes ask of the table: identity for auth and per-user limits, Redis."""
        for i, route in enumerate(routes):
            path = child("routes", self.route_index.get(route.name, i))
            if route.auth in (Auth.REQUIRED, Auth.OPTIONAL) and not identity:
                self.problem(
                    child(path, "auth"),
                    f"auth: {route.auth.value} needs the table's identity: block "
                    "(where callers are resolved)",
                )
            limit = route.rate_limit
            if limit is not None and limit.key is not LimitKey.IP and not identity:
                self.problem(
                    child(child(path, "rate_limit"), "key"),
                    f"key: {limit.key.value} needs the table's identity: block (or use ip)",
                )
            if route.cache is not None and route.cache.personalised and not identity:
                self.problem(
                    child(child(path, "cache"), "personalised"),
                    "personalised: true needs the table's identity: block (the key names the "
                    "caller)",
                )
        if settings.cache.store == "redis" and settings.redis_url is None:
            self.problem("proxy.cache.store", "store: redis needs proxy.redis_url")

    def reference(self, value: object, path: str) -> str | None:
        name = self.string(value, path, "an upstream name")
        if name is None or not self.upstream_names:
            return None
        if name not in self.upstream_names:
            known = ", ".join(sorted(self.upstream_names))
            self.problem(path, f"unknown upstream '{name}' (known: {known})")
            return None
        return name

    def listen(self, value: object, path: str) -> Listen | None:
        text = self.string(value, path, "host:port such as 127.0.0.1:8080")
        parsed = parse_listen(text) if text is not None else None
        if isinstance(parsed, str):
            self.problem(path, f"{parsed}, got {text!r}")
            return None
        return parsed

    def settings(self, top: dict[str, object]) -> ProxySettings:
        base = ProxySettings()
        listen = admin_listen = None
        if "listen" in top:
            listen = self.listen(top["listen"], "listen")
        admin = self.mapping(
            _absent_is_empty(top, "admin"),
            "admin",
            ("listen", "token_env", "registry_token_env"),
        )
        if admin and "listen" in admin:
            admin_listen = self.listen(admin["listen"], "admin.listen")
        token_env = base.registry_token_env
        if admin and "registry_token_env" in admin:
            given = admin["registry_token_env"]
            if _is_str(given) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", given):
                token_env = given
            else:
                self.problem(
                    "admin.registry_token_env",
                    f"must be an environment variable name such as STRANGLER_REGISTRY_TOKEN, "
                    f"got {show(given)}",
                )
        admin_token_env = base.admin_token_env
        if admin and "token_env" in admin:
            admin_token_env = self.env_name(admin["token_env"], "admin.token_env") or ""
        proxy_keys = (
            "decision_headers",
            "trusted_proxies",
            "max_body_bytes",
            "shadow_store",
            "max_header_bytes",
            "redis_url",
            "cache",
        )
        proxy = self.mapping(_absent_is_empty(top, "proxy"), "proxy", proxy_keys) or {}
        decisions = self.decision_headers(proxy.get("decision_headers", True))
        redis_url = proxy.get("redis_url")
        if redis_url is not None and not (
            _is_str(redis_url) and redis_url.startswith(("redis://", "rediss://", "unix://"))
        ):
            self.problem(
                "proxy.redis_url",
                f"must be a redis://host:port/db URL, got {show(redis_url)}",
            )
            redis_url = None
        cache = base.cache
        if "cache" in proxy:
            cache = self.cache_settings(_absent_is_empty(proxy, "cache"), "proxy.cache") or cache
        networks = self.networks(proxy.get("trusted_proxies", []))
        size = proxy.get("max_body_bytes")
        if size is not None:
            size = self.integer(size, "proxy.max_body_bytes", 1, None)
        store = proxy.get("shadow_store")
        if store is not None and not (
            _is_str(store) and store.startswith(("postgresql://", "postgres://", "sqlite:///"))
        ):
            self.problem(
                "proxy.shadow_store",
                f"must be a postgresql://... or sqlite:///path URL, got {show(store)}",
            )
            store = None
        public, private = listen or base.listen, admin_listen or base.admin_listen
        wildcard = {public.host, private.host} & {"0.0.0.0", "::"}
        if public.port == private.port and (public.host == private.host or wildcard):
            where = "admin.listen" if admin_listen else "listen"
            self.problem(where, f"the admin address {private} must differ from listen ({public})")
        header_limit = base.max_header_bytes
        if "max_header_bytes" in proxy:
            header_limit = (
                self.integer(proxy["max_header_bytes"], "proxy.max_header_bytes", 1024, None)
                or header_limit
            )
        return ProxySettings(
            public,
            private,
            decisions,
            networks,
            size,
            store if _is_str(store) else None,
            token_env,
            header_limit,
            admin_token_env,
            redis_url if _is_str(redis_url) else None,
            cache,
        )

    def decision_headers(self, value: object) -> frozenset[str]:
        """``true`` (all), ``false`` (none) or a list of route, upstream, fallback, error."""
        if isinstance(value, bool):
            return DECISION_HEADERS if value else frozenset()
        path = "proxy.decision_headers"
        if not isinstance(value, list):
            self.problem(path, f"must be true, false or a list such as [route], got {show(value)}")
            return DECISION_HEADERS
        names = set()
        for i, item in enumerate(value):
            if item in DECISION_HEADERS:
                names.add(str(item))
            else:
                known = ", ".join(sorted(DECISION_HEADERS))
                self.problem(child(path, i), f"must be one of {known}, got {show(item)}")
        return frozenset(names)

    def networks(self, value: object) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        if not isinstance(value, list):
            self.problem("proxy.trusted_proxies", f"must be a list of CIDRs, got {show(value)}")
            return ()
        networks = []
        for i, item in enumerate(value):
            try:
                networks.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                path = child("proxy.trusted_proxies", i)
                self.problem(
                    path, f"must be an address or CIDR such as 10.0.0.0/8, got {show(item)}"
                )
        return tuple(dict.fromkeys(networks))

    def upstreams(self, value: object) -> dict[str, Upstream]:
        if not isinstance(value, dict) or not value:
            what = "a mapping of upstream names to URLs"
            got = "an empty mapping" if value == {} else show(value)
            self.problem("upstreams", f"must be {what} with at least one upstream, got {got}")
            return {}
        result = {}
        for name, body in value.items():
            path = child("upstreams", name)
            if not NAME.fullmatch(name):
                self.problem(path, f"upstream name must match {NAME.pattern}, got {name!r}")
                continue
            self.upstream_names.append(name)
            if upstream := self.upstream(name, body, path):
                result[name] = upstream
        return result

    def upstream(self, name: str, body: object, path: str) -> Upstream | None:
        if isinstance(body, str | list):
            body = {"instances": [body] if isinstance(body, str) else body}
            self.doc.lines.setdefault(child(path, "instances"), self.doc.line(path))
        what = "a URL, a list of URLs, or a mapping with instances"
        spec = self.mapping(body, path, UPSTREAM_KEYS, what)
        if spec is None or not self.required(spec, "instances", path, "a list of base URLs"):
            return None
        before = len(self.problems)
        instances = self.instances(spec["instances"], child(path, "instances"))
        health = self.health(spec["health"], child(path, "health")) if "health" in spec else None
        timeouts = self.timeouts(_absent_is_empty(spec, "timeouts"), child(path, "timeouts"))
        options: dict[str, Any] = {}
        if "balance" in spec:
            where = child(path, "balance")
            choice = spec["balance"]
            if choice in BALANCES:
                options["balance"] = Balance(choice)
            else:
                self.problem(where, f"must be round_robin or least_outstanding, got {show(choice)}")
        for key, fields, cls in (
            ("outlier", OUTLIER_FIELDS, Outlier),
            ("breaker", BREAKER_FIELDS, BreakerSettings),
        ):
            block = self.mapping(
                _absent_is_empty(spec, key), child(path, key), [f.key for f in fields]
            )
            if block:
                options[key] = cls(**self.numbers(block, child(path, key), fields))  # type: ignore[arg-type]
        if "max_concurrent" in spec:
            options["max_concurrent"] = self.integer(
                spec["max_concurrent"], child(path, "max_concurrent"), 1, None
            )
        if len(self.problems) > before or instances is None or timeouts is None:
            return None
        return Upstream(name, instances, health, timeouts, **options)

    def health(self, value: object, path: str) -> HealthSpec | None:
        """``/healthz`` or ``{path: /healthz, interval: 5, timeout: 2, ...}``."""
        spec = {"path": value} if isinstance(value, str) else value
        block = self.mapping(spec, path, ["path", *(f.key for f in HEALTH_FIELDS)], HEALTH_WHAT)
        if block is None or not self.required(block, "path", path, "the path to ask, /healthz"):
            return None
        where = path if isinstance(value, str) else child(path, "path")
        check = block["path"]
        if not (_is_str(check) and check.startswith("/")):
            self.problem(where, f"must be a path starting with '/', got {show(check)}")
            return None
        return HealthSpec(check, **self.numbers(block, path, HEALTH_FIELDS))  # type: ignore[arg-type]

    def instances(self, value: object, path: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value:
            self.problem(path, f"must be a non-empty list of URLs, got {show(value)}")
            return None
        urls: dict[str, int] = {}
        for i, url in enumerate(value):
            if not (
                text := self.string(url, child(path, i), "a URL such as http://127.0.0.1:8000")
            ):
                continue
            if problem := url_problem(text):
                self.problem(child(path, i), problem)
                continue
            parts = urlsplit(text)
            base = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
            if base in urls:
                self.problem(child(path, i), f"duplicates {child(path, urls[base])} ({base})")
            urls.setdefault(base, i)
        return tuple(urls) if len(urls) == len(value) else None

    def timeouts(self, value: object, path: str) -> Timeouts | None:
        given = self.timeout_values(value, path)
        return None if given is None else Timeouts(**dict(given))  # type: ignore[arg-type]

    def timeout_values(
        self, value: object, path: str
    ) -> tuple[tuple[str, float | None], ...] | None:
        """The timeouts given in a ``timeouts:`` mapping (``total`` may be null)."""
        spec = self.mapping(value, path, TIMEOUT_KEYS)
        if spec is None:
            return None
        values: list[tuple[str, float | None]] = []
        for key, given in spec.items():
            if key == "total" and given is None:
                values.append((key, None))
            elif _is_number(given) and given > 0:
                values.append((key, float(given)))
            else:
                self.problem(
                    child(path, key), f"must be a positive number of seconds, got {show(given)}"
                )
        return tuple(values) if len(values) == len(spec) else None

    def routes(self, value: object, default: str | None) -> tuple[Route, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem("routes", f"must be a list of routes, got {show(value)}")
            return ()
        routes: list[Route] = []
        names: dict[str, int] = {}
        self.route_index = {}
        matches: dict[object, Route] = {}
        for i, item in enumerate(value):
            path = child("routes", i)
            route = self.route(item, path, default)
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and NAME.fullmatch(name):
                if name in names:
                    line = self.doc.line(child(path, "name"))
                    self.problem(
                        child(path, "name"),
                        f"duplicate route name '{name}' (first on line {names[name]})",
                        line,
                    )
                names.setdefault(name, self.doc.line(path))
            if route is None:
                continue
            self.route_index[route.name] = i
            spec = route.match
            key = (spec.path, spec.prefix, spec.methods, frozenset(spec.headers))
            if key in matches:
                first = matches[key]
                self.problem(
                    child(path, "match"),
                    f"duplicates the match of route '{first.name}' (line {first.line})",
                )
            matches.setdefault(key, route)
            routes.append(route)
        return tuple(routes)

    def route(self, value: object, path: str, default: str | None) -> Route | None:
        before = len(self.problems)
        what = "a route mapping (name, match, mode, ...)"
        spec = self.mapping(value, path, ROUTE_KEYS, what)
        if spec is None:
            return None
        name = match = mode = None
        if self.required(spec, "name", path, "lower case letters, digits, '.', '_', '-'"):
            name = self.string(spec["name"], child(path, "name"))
            if name is not None and not NAME.fullmatch(name):
                self.problem(child(path, "name"), f"must match {NAME.pattern}, got {name!r}")
        if self.required(spec, "match", path, "path or prefix, optional methods and headers"):
            match = self.match(spec["match"], child(path, "match"))
        if self.required(spec, "mode", path, "legacy, shadow, canary or extracted"):
            mode = self.mode(spec["mode"], child(path, "mode"))
        if mode is None:
            return None
        routed = mode in (Mode.CANARY, Mode.EXTRACTED)  # the service answers some clients
        needs_to = routed or mode is Mode.SHADOW
        for key in ("weight", "sticky", "fallback"):
            if key in spec and not (mode is Mode.CANARY or (routed and key == "fallback")):
                modes = "canary and extracted routes" if key == "fallback" else "canary routes"
                self.problem(child(path, key), f"only applies to {modes} (this is {mode.value})")
        if "shadow" in spec and mode not in (Mode.SHADOW, Mode.EXTRACTED):
            self.problem(
                child(path, "shadow"),
                f"only applies to shadow and extracted routes (this is {mode.value})",
            )
        to = fallback = None
        if "to" in spec or needs_to:
            if self.required(spec, "to", path, f"the upstream a {mode.value} route sends to"):
                to = self.reference(spec["to"], child(path, "to"))
            if needs_to and to is not None and to == default:
                message = f"must differ from default ({default}): {mode.value} routes go elsewhere"
                self.problem(child(path, "to"), message)
        weight, sticky = 0, Sticky()
        if mode is Mode.CANARY:
            if self.required(spec, "weight", path, "the canary's share in percent, 0..100"):
                weight = self.integer(spec["weight"], child(path, "weight"), 0, 100) or 0
            if "sticky" in spec:
                sticky = self.sticky(spec["sticky"], child(path, "sticky")) or sticky
        if routed and "fallback" in spec:
            fallback = self.reference(spec["fallback"], child(path, "fallback"))
            if fallback is not None and fallback == to:
                self.problem(child(path, "fallback"), f"must differ from to ({to})")
        shadow = None
        if mode is Mode.SHADOW or (mode is Mode.EXTRACTED and "shadow" in spec):
            shadow = self.shadow(
                _absent_is_empty(spec, "shadow"), child(path, "shadow"), reverse=routed
            )
        timeouts = self.timeout_values(_absent_is_empty(spec, "timeouts"), child(path, "timeouts"))
        limits: dict[str, int | None] = {}
        for key in ("max_body_bytes", "max_concurrent"):
            if key in spec:
                limits[key] = self.integer(spec[key], child(path, key), 1, None)
        auth = self.auth(spec["auth"], child(path, "auth")) if "auth" in spec else None
        rate_limit = cache = rewrite = None
        if "rate_limit" in spec:
            rate_limit = self.rate_limit(spec["rate_limit"], child(path, "rate_limit"))
        if "cache" in spec:
            cache = self.route_cache(spec["cache"], child(path, "cache"))
        if "rewrite" in spec and match is not None:
            rewrite = self.rewrite(spec["rewrite"], child(path, "rewrite"), match.path)
        if len(self.problems) > before or name is None or match is None or timeouts is None:
            return None
        to = to if needs_to else None
        line = self.doc.line(path)
        return Route(
            name,
            match,
            mode,
            to,
            weight,
            sticky,
            fallback,
            line,
            shadow,
            timeouts,
            **limits,
            auth=auth,
            rate_limit=rate_limit,
            cache=cache,
            rewrite=rewrite,
        )

    def shadow(self, value: object, path: str, *, reverse: bool) -> ShadowSpec | None:
        """The ``shadow:`` block; ``reverse``: the copy goes to the monolith (safe methods only)."""
        spec = self.mapping(value, path, SHADOW_KEYS, "a mapping of shadow settings")
        if spec is None:
            return None
        base = ShadowSpec()
        options: dict[str, Any] = {}
        numbers = (
            ("sample", 0.0, 1.0, "a share 0..1"),
            ("noise_sample", 0.0, 1.0, "a share 0..1"),
            ("timeout", 1e-9, None, "a positive number of seconds"),
            ("recheck_delay", 0.0, None, "a number of seconds >= 0"),
        )
        for key, low, high, what in numbers:
            if key in spec:
                given = spec[key]
                if _is_number(given) and low <= given and (high is None or given <= high):
                    options[key] = float(given)
                else:
                    self.problem(child(path, key), f"must be {what}, got {show(given)}")
        for key, low in (("max_concurrency", 1), ("queue", 0), ("max_body_bytes", 1)):
            if key in spec:
                number = self.integer(spec[key], child(path, key), low, None)
                if number is not None:
                    options[key] = number
        if "sticky" in spec:
            sticky = self.sticky(spec["sticky"], child(path, "sticky"))
            if sticky is not None:
                options["sticky"] = sticky
        if "methods" in spec:
            where = child(path, "methods")
            methods = frozenset(self.methods(spec["methods"], where))
            unsafe = sorted(methods - SAFE_METHODS)
            if reverse and unsafe:
                self.problem(
                    where,
                    f"writes are never copied to the monolith: only GET, HEAD, OPTIONS on an "
                    f"extracted route, got {', '.join(unsafe)}",
                )
            elif methods:
                options["methods"] = methods
        if "compare" in spec:
            where = child(path, "compare")
            rules = spec["compare"]
            if not isinstance(rules, dict):
                self.problem(where, f"must be a mapping of comparison rules, got {show(rules)}")
            else:
                try:
                    options["compare"] = CompareRules.from_config(rules)
                except ValueError as err:
                    key, sep, message = str(err).partition(": ")
                    self.problem(child(where, key) if sep else where, message if sep else key)
        return replace(base, **options)

    def match(self, value: object, path: str) -> MatchSpec | None:
        before = len(self.problems)
        keys = ("path", "prefix", "methods", "headers")
        spec = self.mapping(value, path, keys, "a mapping with path or prefix")
        if spec is None:
            return None
        if "path" in spec and "prefix" in spec:
            self.problem(path, "give either path or prefix, not both")
        elif "path" not in spec and "prefix" not in spec:
            self.problem(path, "needs a path or a prefix")
        template = prefix = None
        if "path" in spec:
            where = child(path, "path")
            template = self.string(spec["path"], where, "a path template such as /api/items/{id}/")
            if template is not None and (problem := check_path_template(template)):
                self.problem(where, problem)
        if "prefix" in spec:
            where = child(path, "prefix")
            prefix = self.string(spec["prefix"], where, "a path prefix such as /api/catalog/")
            if prefix is not None and (problem := check_prefix(prefix)):
                self.problem(where, problem)
        methods = self.methods(spec["methods"], child(path, "methods")) if "methods" in spec else ()
        headers = self.headers(_absent_is_empty(spec, "headers"), child(path, "headers"))
        if len(self.problems) > before:
            return None
        return MatchSpec(template, prefix, frozenset(methods), headers)

    def methods(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            what = "a non-empty list such as [GET, HEAD] (omit it to match every method)"
            self.problem(path, f"must be {what}, got {show(value)}")
            return ()
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            if not _is_str(item) or not TOKEN.fullmatch(item):
                self.problem(
                    child(path, i), f"must be an HTTP method such as GET, got {show(item)}"
                )
            elif item.upper() in seen:
                first = child(path, seen[item.upper()])
                self.problem(child(path, i), f"duplicates {first} ({item.upper()})")
            else:
                seen[item.upper()] = i
        return tuple(seen)

    def headers(self, value: object, path: str) -> tuple[HeaderCondition, ...]:
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping of header names to values, got {show(value)}")
            return ()
        seen: dict[str, str] = {}
        conditions = []
        for name, wanted in value.items():
            where = child(path, name)
            if not TOKEN.fullmatch(name):
                self.problem(where, f"not a valid header name: {name!r}")
            elif name.lower() in seen:
                self.problem(where, f"duplicates header '{seen[name.lower()]}' (names ignore case)")
            elif wanted is not None and not _is_str(wanted):
                message = 'must be a string (quote numbers: "1"), "*" or null'
                self.problem(where, f"{message}, got {show(wanted)}")
            else:
                seen[name.lower()] = name
                conditions.append(HeaderCondition(name.lower(), None if wanted == "*" else wanted))
        return tuple(conditions)

    def sticky(self, value: object, path: str) -> Sticky | None:
        text = self.string(value, path, "header:NAME, cookie:NAME or ip")
        if text is None:
            return None
        kind, sep, name = text.partition(":")
        if text == "ip":
            return Sticky()
        if not sep or kind not in ("header", "cookie"):
            self.problem(path, f"must be header:NAME, cookie:NAME or ip, got {text!r}")
        elif not TOKEN.fullmatch(name):
            example = "header:Authorization" if kind == "header" else "cookie:sessionid"
            self.problem(path, f"needs a valid {kind} name such as {example}, got {text!r}")
        else:
            return Sticky(StickyKind(kind), name.lower() if kind == "header" else name)
        return None

    def mode(self, value: object, path: str) -> Mode | None:
        if value in MODES:
            return Mode(value)
        close = difflib.get_close_matches(str(value), MODES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.problem(path, f"must be legacy, shadow, canary or extracted, got {show(value)}{hint}")
        return None
