"""The strangler kit's proxy: routing table, data path, evidence, and the ``strangler`` command.

The public API is what this module exports; everything else (modules starting with ``_``,
and the submodules' internals) may change without notice::

    from strangler_proxy import load_table, ProxyServer
    table = load_table("routing.yaml")          # ConfigError lists every problem
"""

from .config import load_table, parse_table
from .errors import ConfigError, Problem, StranglerError, UpstreamError
from .model import Mode, Route, RoutingTable, Upstream
from .server import ProxyServer, run

__all__ = [
    "ConfigError",
    "Mode",
    "Problem",
    "ProxyServer",
    "Route",
    "RoutingTable",
    "StranglerError",
    "Upstream",
    "UpstreamError",
    "load_table",
    "parse_table",
    "run",
]
