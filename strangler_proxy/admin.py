"""The admin API, on its own address (never the public port).

GET  /healthz   {"status": "ok"}
GET  /table     the active table: generation, source, sha256, loaded_at, routes, upstreams
GET  /reload    the last reload attempt: ok, generation, sha256, problems, at
POST /reload    reload the file now (same result shape); 409 with problems when rejected
POST /cache/purge?route=NAME   drop the route's cached responses → {"route", "purged"}

Every call that changes state (any method but GET/HEAD) needs ``Authorization: Bearer
<token>``, the token being the value of the environment variable named by
``admin.token_env`` (default ``STRANGLER_ADMIN_TOKEN``), read when the proxy starts. Without a
configured token every change is refused (403); the file watcher still reloads the table. The
registry's calls also accept the registry token (``admin.registry_token_env``), which service
instances hold without holding the admin token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from ._yaml import url_problem
from .events import ReloadFinished
from .metrics import Registry
from .model import Route, RoutingTable
from .proxy import TableHolder
from .registry import MAX_TTL
from .registry import Registry as ServiceRegistry
from .reload import Reloader
from .shadow import ShadowStore, Thresholds, build_report

__all__ = ["create_admin_app", "route_dict", "table_dict"]

HOLDER = web.AppKey("holder", TableHolder)
LISTENING = web.AppKey("listening", dict)
METRICS = web.AppKey("metrics", Registry)
SERVICES = web.AppKey("services", ServiceRegistry)
STORE = web.AppKey("store", ShadowStore)
RELOADER = web.AppKey("reloader", Reloader)
ADMIN_TOKEN = web.AppKey("admin_token", str)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _bearer(header: str | None, token: str | None) -> bool:
    if not token or header is None or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


def _unauthorized() -> web.Response:
    return web.json_response(
        {"detail": "Authentication credentials were not provided or are wrong."},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


@web.middleware
async def _changes_need_token(request: web.Request, handler: Any) -> web.StreamResponse:
    """Reads are open (the admin API binds to localhost); every change needs the token."""
    if request.method in _READS:
        return await handler(request)  # type: ignore[no-any-return]
    token = request.app.get(ADMIN_TOKEN)
    header = request.headers.get("Authorization")
    if _bearer(header, token):
        return await handler(request)  # type: ignore[no-any-return]
    if request.match_info.handler in (_register, _deregister):
        return await handler(request)  # type: ignore[no-any-return]  # its own token check
    if not token:
        return web.json_response(
            {"detail": "admin changes are closed: no admin token is configured "
             "(set the variable named by admin.token_env, default STRANGLER_ADMIN_TOKEN)"},
            status=403,
        )  # fmt: skip
    return _unauthorized()


def route_dict(route: Route) -> dict[str, Any]:
    m = route.match
    return {
        "name": route.name,
        "match": {
            "path": m.path,
            "prefix": m.prefix,
            "methods": sorted(m.methods),
            "headers": {h.name: h.value for h in m.headers},
        },
        "mode": route.mode.value,
        "to": route.to,
        "weight": route.weight,
        "sticky": str(route.sticky),
        "fallback": route.fallback,
        "line": route.line,
        "auth": route.auth.value if route.auth is not None else None,
        "rate_limit": route.rate_limit.text if route.rate_limit is not None else None,
        "cache": asdict(route.cache) if route.cache is not None else None,
        "rewrite": route.rewrite is not None,
    }


def table_dict(table: RoutingTable) -> dict[str, Any]:
    s = table.settings
    return {
        "version": table.version,
        "source": table.source,
        "sha256": table.sha256,
        "default": table.default,
        "listen": str(s.listen),
        "admin_listen": str(s.admin_listen),
        "decision_headers": sorted(s.decision_headers),
        "trusted_proxies": [str(n) for n in s.trusted_proxies],
        "max_body_bytes": s.max_body_bytes,
        "upstreams": {
            name: {
                "instances": list(up.instances),
                "health": asdict(up.health) if up.health else None,
                "balance": up.balance.value,
                "outlier": asdict(up.outlier),
                "breaker": asdict(up.breaker),
                "max_concurrent": up.max_concurrent,
                "timeouts": asdict(up.timeouts),
            }
            for name, up in table.upstreams.items()
        },
        "routes": [route_dict(r) for r in table.routes],
    }


def reload_dict(result: ReloadFinished) -> dict[str, Any]:
    return asdict(result) | {"problems": list(result.problems)}


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _table(request: web.Request) -> web.Response:
    active = request.app[HOLDER].active
    body = table_dict(active.table) | {
        "generation": active.generation,
        "loaded_at": active.loaded_at,
        "listening": request.app[LISTENING],
    }
    return web.json_response(body)


async def _last_reload(request: web.Request) -> web.Response:
    reloader = request.app.get(RELOADER)
    if reloader is None:
        return web.json_response({"detail": "no routing file: pass-through mode"}, status=404)
    return web.json_response(reload_dict(reloader.last))


async def _reload(request: web.Request) -> web.Response:
    reloader = request.app.get(RELOADER)
    if reloader is None:
        return web.json_response({"detail": "no routing file: pass-through mode"}, status=404)
    result = await reloader.reload()
    return web.json_response(reload_dict(result), status=200 if result.ok else 409)


async def _metrics(request: web.Request) -> web.Response:
    text = request.app[METRICS].render()
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def _upstreams(request: web.Request) -> web.Response:
    holder = request.app[HOLDER]
    now = time.monotonic()
    body = {
        name: {
            "breaker": rt.breaker.state.value,
            "failure_rate": rt.breaker.failure_rate,
            "inflight": rt.inflight,
            "retries": rt.retries,
            "ejections": rt.ejections,
            "instances": [
                {
                    "url": inst.url,
                    "healthy": inst.healthy,
                    "ejected": inst.ejected_until > now,
                    "outstanding": inst.outstanding,
                    "registered": inst.registered,
                }
                for inst in rt.pool.instances
            ],
        }
        for name, rt in holder.runtimes.by_name.items()
    }
    return web.json_response(body)


async def _routes(request: web.Request) -> web.Response:
    holder = request.app[HOLDER]
    inflight = holder.route_inflight
    return web.json_response(
        {
            route.name: {
                "mode": route.mode.value,
                "inflight": inflight.get(route.name, 0),
                "max_concurrent": route.max_concurrent,
            }
            for route in holder.active.table.routes
        }
    )


DASHBOARD = Path(__file__).with_name("static") / "dashboard.html"
INVENTORY_TTL = 300.0  # seconds an inventory (a subprocess that loads Django) is reused


class Inventory:
    """The migration progress by the inventory's measure (endpoint methods extracted), computed
    by ``strangler inventory --json`` in a subprocess (the proxy never imports the monolith),
    at most every :data:`INVENTORY_TTL` seconds and again when the table changed."""

    def __init__(self, settings_module: str, config: str) -> None:
        self.settings_module = settings_module
        self.config = config
        self.result: dict[str, Any] | None = None
        self._key: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def progress(self, sha256: str) -> dict[str, Any] | None:
        async with self._lock:
            now = time.monotonic()
            if self._key is None or self._key[0] != sha256 or now - self._key[1] > INVENTORY_TTL:
                self.result = await self._run()
                self._key = (sha256, now)
            return self.result

    async def _run(self) -> dict[str, Any] | None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "strangler_proxy", "inventory", "--json",
            "--settings", self.settings_module, "--config", self.config,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            return None
        data = json.loads(out)
        counts = data.get("counts", {})
        return {
            "share": data.get("share_migrated"),
            "extracted": counts.get("extracted", 0),
            "total": sum(counts.values()),
            "counts": counts,
        }


INVENTORY = web.AppKey("inventory", Inventory)


async def _progress(request: web.Request) -> web.Response:
    inventory = request.app.get(INVENTORY)
    if inventory is None:
        return web.json_response({"source": "table"})
    result = await inventory.progress(request.app[HOLDER].active.table.sha256)
    if result is None:
        return web.json_response({"source": "table", "detail": "the inventory failed"})
    return web.json_response({"source": "inventory", **result})


async def _dashboard(request: web.Request) -> web.Response:
    return web.Response(body=DASHBOARD.read_bytes(), content_type="text/html", charset="utf-8")


async def _shadow(request: web.Request) -> web.Response:
    """Per route: the shadow report's verdict with the default thresholds (for the dashboard
    and ``strangler status``; ``strangler shadow report`` has the details)."""
    store = request.app.get(STORE)
    if store is None:
        return web.json_response({"routes": {}})
    report = await asyncio.to_thread(build_report, store, None, Thresholds())
    return web.json_response(
        {
            "routes": {
                r.route: {
                    "verdict": r.verdict.value,
                    "match_rate": r.match_rate,
                    "compared": r.compared,
                }
                for r in report.routes
            }
        }
    )


def _refused(request: web.Request) -> web.Response | None:
    registry = request.app.get(SERVICES)
    header = request.headers.get("Authorization")
    if _bearer(header, request.app.get(ADMIN_TOKEN)):
        return None
    if registry is None or not registry.token:
        return web.json_response(
            {"detail": "the registry is closed: no token is configured"}, status=403
        )
    if not registry.authorized(header):
        return _unauthorized()
    return None


async def _purge(request: web.Request) -> web.Response:
    name = request.query.get("route", "")
    active = request.app[HOLDER].active
    if name not in {r.name for r in active.table.routes if r.cache is not None}:
        cached = sorted(r.name for r in active.table.routes if r.cache is not None)
        return web.json_response(
            {"detail": f"no cached route {name!r} (cached routes: {', '.join(cached) or 'none'})"},
            status=404,
        )
    store = request.app[HOLDER].gateway.cache
    purged = await store.purge(name) if store is not None else 0
    return web.json_response({"route": name, "purged": purged})


async def _registration(request: web.Request) -> tuple[str, str, float] | web.Response:
    try:
        body = await request.json()
        url = str(body["url"]).rstrip("/")
        ttl = float(body.get("ttl", 10))
    except (ValueError, KeyError, TypeError):
        return web.json_response({"detail": "expected JSON {url, ttl}"}, status=400)
    if url_problem(url) or not 0 < ttl <= MAX_TTL:
        return web.json_response(
            {"detail": f"url must be http(s)://host:port, ttl 0..{MAX_TTL:.0f} s"}, status=400
        )
    return request.match_info["upstream"], url, ttl


async def _register(request: web.Request) -> web.Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    parsed = await _registration(request)
    if isinstance(parsed, web.Response):
        return parsed
    upstream, url, ttl = parsed
    try:
        entry = request.app[SERVICES].register(upstream, url, ttl)
    except KeyError:
        return web.json_response({"detail": f"unknown upstream {upstream!r}"}, status=404)
    return web.json_response({"upstream": upstream, "url": entry.url, "ttl": entry.ttl})


async def _deregister(request: web.Request) -> web.Response:
    if (refusal := _refused(request)) is not None:
        return refusal
    parsed = await _registration(request)
    if isinstance(parsed, web.Response):
        return parsed
    upstream, url, _ = parsed
    found = request.app[SERVICES].deregister(upstream, url)
    return web.json_response({"deregistered": found}, status=200 if found else 404)


async def _registered(request: web.Request) -> web.Response:
    registry = request.app.get(SERVICES)
    entries = list(registry.entries.values()) if registry is not None else []
    now = registry.clock() if registry is not None else 0.0
    return web.json_response(
        [
            {"upstream": e.upstream, "url": e.url, "ttl": e.ttl, "expires_in": e.expires - now}
            for e in entries
        ]
    )


def create_admin_app(
    holder: TableHolder,
    reloader: Reloader | None,
    listening: dict[str, str],
    metrics: Registry | None = None,
    services: ServiceRegistry | None = None,
    store: ShadowStore | None = None,
    inventory: Inventory | None = None,
    admin_token: str | None = None,
) -> web.Application:
    """``listening``: the addresses actually bound (flags may override the table's)."""
    app = web.Application(middlewares=[_changes_need_token])
    if admin_token:
        app[ADMIN_TOKEN] = admin_token
    app[HOLDER] = holder
    app[LISTENING] = listening
    app[METRICS] = metrics or Registry()
    if services is not None:
        app[SERVICES] = services
    if store is not None:
        app[STORE] = store
    if inventory is not None:
        app[INVENTORY] = inventory
    if reloader is not None:
        app[RELOADER] = reloader
    app.router.add_get("/healthz", _health)
    app.router.add_get("/table", _table)
    app.router.add_get("/reload", _last_reload)
    app.router.add_post("/reload", _reload)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/upstreams", _upstreams)
    app.router.add_get("/routes", _routes)
    app.router.add_get("/shadow", _shadow)
    app.router.add_get("/dashboard", _dashboard)
    app.router.add_get("/progress", _progress)
    app.router.add_post("/registry/{upstream}", _register)
    app.router.add_delete("/registry/{upstream}", _deregister)
    app.router.add_get("/registry", _registered)
    app.router.add_post("/cache/purge", _purge)
    return app
