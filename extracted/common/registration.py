"""Register a service instance with the strangler proxy's registry, and keep it registered.

    reg = Registration("http://127.0.0.1:8081", "catalog", "http://127.0.0.1:8102", token)
    reg.start()      # registers now, then renews every ttl/3 seconds on a daemon thread
    ...
    reg.stop()       # deregisters

``from_env(prefix)`` builds one from ``<PREFIX>_REGISTER_ADMIN_URL``,
``<PREFIX>_REGISTER_UPSTREAM``, ``<PREFIX>_REGISTER_URL``, ``<PREFIX>_REGISTER_TTL`` and the token
in ``STRANGLER_REGISTRY_TOKEN``; it returns ``None`` when the service is not configured to
register. Failures to reach the proxy are logged and retried at the next beat: a proxy restart
must not take the service down.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping

__all__ = ["Registration"]

log = logging.getLogger("extracted.registration")


class Registration:
    def __init__(
        self, admin_url: str, upstream: str, url: str, token: str, ttl: float = 10.0
    ) -> None:
        self.endpoint = f"{admin_url.rstrip('/')}/registry/{upstream}"
        self.url = url
        self.token = token
        self.ttl = ttl
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str] | None = None) -> Registration | None:
        e = os.environ if env is None else env
        admin = e.get(f"{prefix}_REGISTER_ADMIN_URL", "").strip()
        if not admin:
            return None
        upstream = e.get(f"{prefix}_REGISTER_UPSTREAM", "").strip()
        url = e.get(f"{prefix}_REGISTER_URL", "").strip()
        token = e.get("STRANGLER_REGISTRY_TOKEN", "").strip()
        if not (upstream and url and token):
            raise ValueError(
                f"{prefix}_REGISTER_ADMIN_URL is set: also set {prefix}_REGISTER_UPSTREAM, "
                f"{prefix}_REGISTER_URL and STRANGLER_REGISTRY_TOKEN"
            )
        ttl = float(e.get(f"{prefix}_REGISTER_TTL", "10"))
        return cls(admin, upstream, url, token, ttl)

    def _call(self, method: str) -> bool:
        body = json.dumps({"url": self.url, "ttl": self.ttl}).encode()
        req = urllib.request.Request(
            self.endpoint,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:  # the proxy's admin API
                return bool(200 <= resp.status < 300)
        except (urllib.error.URLError, OSError) as err:
            log.warning("registry %s %s failed: %s", method, self.endpoint, err)
            return False

    def beat(self) -> bool:
        """Register or renew once."""
        ok = self._call("POST")
        self.beats += ok
        return ok

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            self.beat()

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="registry-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._call("DELETE")
