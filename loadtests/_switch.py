"""Switch the routing table of a running strangler proxy, and put the original back.

The table file is copied over the proxy's ``routing.yaml`` (atomically: write beside it, then
rename), the proxy is asked to reload (``POST {admin}/reload``; it also polls the file), and we
wait until ``GET {admin}/table`` reports the new file's ``sha256``. A table the proxy rejects
fails at once with the proxy's own reasons.

    with TableSwitcher("http://127.0.0.1:8081", Path("routing.yaml")) as switch:
        switch.to(Path("tables/a.yaml"))
        ...
    # routing.yaml is byte-for-byte what it was, and active again
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = ["SwitchFailed", "TableSwitcher", "proxy_url"]


class SwitchFailed(RuntimeError):
    """The proxy did not take the table (rejected it, or never reported its sha256)."""


def proxy_url(admin: str, timeout: float = 5.0) -> str:
    """The proxy's public URL, from what its admin API says it listens on."""
    table = _get_table(admin, timeout)
    listen = str(table.get("listening", {}).get("listen") or table.get("listen") or "")
    if not listen:
        raise SwitchFailed(f"{admin}/table does not say where the proxy listens")
    return listen if "://" in listen else f"http://{listen}"


def _get_table(admin: str, timeout: float) -> dict[str, Any]:
    try:
        resp = httpx.get(f"{admin.rstrip('/')}/table", timeout=timeout)
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
    except (httpx.HTTPError, ValueError) as err:
        raise SwitchFailed(f"cannot read {admin}/table: {err}") from err
    return body


class TableSwitcher:
    def __init__(self, admin: str, config: Path, *, timeout: float = 15.0) -> None:
        self.admin = admin.rstrip("/")
        self.config = config
        self.timeout = timeout
        self.original: bytes | None = None
        self.active: str | None = None

    def __enter__(self) -> TableSwitcher:
        self.original = self.config.read_bytes()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def restore(self) -> None:
        if self.original is not None and self.active is not None:
            self._install(self.original, "the original table")
            self.active = None

    def to(self, table: Path) -> str:
        """Make ``table`` the active table; return its sha256."""
        return self._install(table.read_bytes(), str(table))

    def _install(self, data: bytes, what: str) -> str:
        want = hashlib.sha256(data).hexdigest()
        if self.active == want:
            return want
        tmp = self.config.with_name(f".{self.config.name}.loadtest-{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, self.config)
        self.active = want
        try:
            # with the admin token the reload is immediate and a rejection is told at once;
            # without it (403/401) the proxy's file watcher picks the table up below
            token = os.environ.get("STRANGLER_ADMIN_TOKEN", "")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            resp = httpx.post(f"{self.admin}/reload", timeout=self.timeout, headers=headers)
        except httpx.HTTPError as err:
            raise SwitchFailed(f"cannot reach {self.admin}/reload: {err}") from err
        if resp.status_code == 409:
            problems = resp.json().get("problems", [])
            raise SwitchFailed(f"the proxy rejected {what}: " + "; ".join(map(str, problems)))
        deadline = time.monotonic() + self.timeout
        while True:
            if _get_table(self.admin, self.timeout).get("sha256") == want:
                return want
            if time.monotonic() > deadline:
                raise SwitchFailed(
                    f"{self.admin}/table did not report sha256 {want[:12]} of {what} within "
                    f"{self.timeout:.0f}s"
                )
            time.sleep(0.1)  # polling the admin API: the proxy has no change notification
