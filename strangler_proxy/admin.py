"""The admin API, on its own address (never the public port).

GET  /healthz   {"status": "ok"}
GET  /table     the active table: generation, source, sha256, loaded_at, routes, upstreams
GET  /reload    the last reload attempt: ok, generation, sha256, problems, at
POST /reload    reload the file now (same result shape); 409 with problems when rejected
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from .events import ReloadFinished
from .metrics import Registry
from .model import Route, RoutingTable
from .proxy import TableHolder
from .reload import Reloader

__all__ = ["create_admin_app", "route_dict", "table_dict"]

HOLDER = web.AppKey("holder", TableHolder)
LISTENING = web.AppKey("listening", dict)
METRICS = web.AppKey("metrics", Registry)
RELOADER = web.AppKey("reloader", Reloader)


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
        "decision_headers": s.decision_headers,
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


def create_admin_app(
    holder: TableHolder,
    reloader: Reloader | None,
    listening: dict[str, str],
    metrics: Registry | None = None,
) -> web.Application:
    """``listening``: the addresses actually bound (flags may override the table's)."""
    app = web.Application()
    app[HOLDER] = holder
    app[LISTENING] = listening
    app[METRICS] = metrics or Registry()
    if reloader is not None:
        app[RELOADER] = reloader
    app.router.add_get("/healthz", _health)
    app.router.add_get("/table", _table)
    app.router.add_get("/reload", _last_reload)
    app.router.add_post("/reload", _reload)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/upstreams", _upstreams)
    return app
