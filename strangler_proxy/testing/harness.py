"""Run the proxy and fake upstreams as real processes on free ports, for tests and benchmarks.

    with FakeUpstreamProcess("legacy") as legacy, ProxyProcess.from_yaml(text, tmp) as proxy:
        httpx.get(proxy.url + "/echo")

Tables are written with :func:`table_yaml`, which fills in the free ports::

    table_yaml({"legacy": legacy.url, "catalog": catalog.url}, routes=[...])
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .._procs import Process, free_port

__all__ = ["FakeUpstreamProcess", "ProxyProcess", "read_peak_rss_kib", "table_yaml"]


class FakeUpstreamProcess(Process):
    """``python -m strangler_proxy.testing.upstream`` on a free port."""

    def __init__(
        self,
        name: str,
        *,
        port: int | None = None,
        delay: float = 0.0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls``: (certificate chain, key) in PEM: the upstream speaks HTTPS."""
        self.port = port or free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "strangler_proxy.testing.upstream",
            "--port",
            str(self.port),
            "--name",
            name,
            "--delay",
            str(delay),
        ]
        if tls is not None:
            argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.tls = tls
        super().__init__(argv, name=f"upstream-{name}")

    def __enter__(self) -> FakeUpstreamProcess:
        super().__enter__()
        if self.tls is None:
            self.wait_http(self.url + "/healthz", status=200)
        else:
            self.wait_port("127.0.0.1", self.port)
        return self


class ProxyProcess(Process):
    """``strangler proxy`` (as ``python -m strangler_proxy``) with its own ports."""

    def __init__(
        self,
        args: list[str],
        *,
        port: int,
        admin_port: int,
        config: Path | None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port
        self.admin_port = admin_port
        self.url = f"http://127.0.0.1:{port}"
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.config = config
        super().__init__(
            [
                sys.executable,
                "-m",
                "strangler_proxy",
                "proxy",
                *args,
                "--listen",
                f"127.0.0.1:{port}",
                "--admin-listen",
                f"127.0.0.1:{admin_port}",
            ],
            name="proxy",
            env=None if env is None else {**os.environ, **env},
        )

    @classmethod
    def from_yaml(
        cls, text: str, folder: Path, *extra: str, env: Mapping[str, str] | None = None
    ) -> ProxyProcess:
        config = folder / "routing.yaml"
        config.write_text(text)
        store = ["--shadow-store", f"sqlite:///{folder / 'shadow.sqlite3'}"]
        return cls(
            ["--config", str(config), *store, *extra],
            port=free_port(),
            admin_port=free_port(),
            config=config,
            env=env,
        )

    @classmethod
    def passthrough(cls, legacy_url: str, *extra: str) -> ProxyProcess:
        return cls(
            ["--legacy", legacy_url, *extra], port=free_port(), admin_port=free_port(), config=None
        )

    def __enter__(self) -> ProxyProcess:
        super().__enter__()
        self.wait_http(self.admin_url + "/healthz", status=200)
        return self


def table_yaml(
    upstreams: dict[str, Any],
    routes: list[dict[str, Any]] | None = None,
    *,
    default: str = "legacy",
    **top: Any,
) -> str:
    """A routing.yaml text; ``upstreams`` maps names to a URL, a list of URLs or a mapping."""
    doc: dict[str, Any] = {"version": 1, **top, "upstreams": upstreams, "default": default}
    if routes is not None:
        doc["routes"] = routes
    return yaml.safe_dump(doc, sort_keys=False)


def read_peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")
