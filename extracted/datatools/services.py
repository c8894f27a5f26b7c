"""The services the data tools know, by name → where their :class:`ServiceSpec` lives.

Imported lazily, so ``strangler data --help`` does not import every service.
"""

from __future__ import annotations

import importlib

from extracted.datatools.spec import ServiceSpec

__all__ = ["SERVICES", "load_service"]

SERVICES: dict[str, str] = {
    "catalog": "extracted.catalog.dataspec:SPEC",
}


def load_service(name: str) -> ServiceSpec:
    """``"catalog"`` → the catalog's spec; ``KeyError`` names the known services."""
    try:
        module, _, attr = SERVICES[name].partition(":")
    except KeyError:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(sorted(SERVICES))}") from None
    spec = getattr(importlib.import_module(module), attr)
    assert isinstance(spec, ServiceSpec)
    return spec
