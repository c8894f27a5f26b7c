"""Start, await and stop the kit's processes (demo and tests share this).

A :class:`Process` is a child started in its own process group so that stopping it also stops
whatever it forked (gunicorn's workers). Readiness is awaited on a condition with a deadline,
never with a fixed sleep::

    with Process(["gunicorn", ...], name="monolith") as proc:
        proc.wait_http("http://127.0.0.1:8000/healthz")
        ...                                   # stopped (TERM, then KILL) on exit
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["Process", "ProcessFailed", "free_port", "wait_until"]


class ProcessFailed(RuntimeError):
    """A child exited early or never became ready; the message carries its output tail."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_handed_out: deque[int] = deque(maxlen=4096)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago, chosen *below* the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` is an ephemeral one: between the moment it is
    returned and the moment a server binds it, any outgoing connection on the machine may be
    given the same local port, and the server then fails with "address already in use". Ports
    below the ephemeral range are never given to outgoing connections, so only another
    server could take them.

    A port handed out recently by this process is not handed out again: a caller usually asks
    for two or three ports before it starts the server that binds them (a proxy's listen and
    admin port), and both would otherwise pass the bind check.
    """
    low, _ = _ephemeral_range()
    start = max(1024, low - 20000)
    for _ in range(200):
        port = random.randrange(start, low)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.append(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # very crowded machine
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], *, timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> None:
    """Poll ``condition`` until it is true; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or condition}")
        time.sleep(interval)


class Process:
    """One child process in its own session, with its output captured to a log file."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log_dir: str | Path | None = None,
        inherit_output: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        self.env = dict(os.environ if env is None else env)
        self.cwd = str(cwd) if cwd is not None else None
        self.inherit_output = inherit_output
        # a chosen folder gets readable names (``var/logs/monolith.log``); the default temp
        # folder is shared, so names there are made unique
        if log_dir is not None:
            log_root = Path(log_dir)
            file_name = f"{name}.log"
        else:
            log_root = Path(os.environ.get("TMPDIR", "/tmp"))
            file_name = f"{name}-{os.getpid()}-{id(self):x}.log"
        log_root.mkdir(parents=True, exist_ok=True)
        self.log_path = log_root / file_name
        self.popen: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Process:
        out = None if self.inherit_output else self.log_path.open("wb")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                start_new_session=True,
            )
        finally:
            if out is not None:
                out.close()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self, tail: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-tail:].decode("utf-8", "replace")

    def stop(self, timeout: float = 10.0) -> int | None:
        """TERM the process group, wait, then KILL what is left. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        # workers that outlived their parent still belong to the group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode

    def __enter__(self) -> Process:
        if self.popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- readiness ---------------------------------------------------------------------------
    def _check_alive(self) -> None:
        if not self.alive():
            code = self.popen.returncode if self.popen is not None else None
            raise ProcessFailed(f"{self.name} exited with {code}:\n{self.output()}")

    def wait_port(self, host: str, port: int, timeout: float = 30.0) -> None:
        def accepting() -> bool:
            self._check_alive()
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                return sock.connect_ex((host, port)) == 0

        self._wait(accepting, timeout, f"{self.name} to accept on {host}:{port}")

    def wait_http(self, url: str, timeout: float = 30.0, *, status: int | None = None) -> None:
        """Wait until ``url`` answers (any status, or exactly ``status`` when given)."""

        def answers() -> bool:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    code = int(resp.status)
            except urllib.error.HTTPError as err:
                code = err.code
            except (urllib.error.URLError, OSError):
                return False
            return status is None or code == status

        self._wait(answers, timeout, f"{self.name} to answer {url}")

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_until(condition, timeout=timeout, interval=0.05, what=what)
        except TimeoutError as err:
            raise ProcessFailed(f"{err}\n--- {self.name} output ---\n{self.output()}") from err
