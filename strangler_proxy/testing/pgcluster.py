"""A private PostgreSQL cluster for tests that stop and restart a database server.

The shared server on 127.0.0.1:5432 is used by every test in parallel and must never be
stopped; a test about "the monolith's database goes away" runs its own cluster instead::

    with PrivatePostgres() as pg:             # initdb in a temp folder, started on a free port
        url = pg.create_database("shop")      # postgresql://postgres@127.0.0.1:<port>/shop
        ...
        pg.stop()                             # fast shutdown: clients are disconnected
        ...
        pg.start()                            # same data, same port
    # stopped and removed on exit

The server binaries (``initdb``, ``postgres``) are looked up in ``$STRANGLER_PG_BINDIR``, then
``/usr/lib/postgresql/<newest>/bin``, then ``PATH``; :class:`PostgresBinariesMissing` says so
when there are none. PostgreSQL refuses to run as root: when this process is root, the cluster
runs as the ``postgres`` user (the temp folder is handed to it), as ``runuser -u postgres``
would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from .._procs import free_port

__all__ = ["PostgresBinariesMissing", "PrivatePostgres", "find_bindir", "private_postgres_for_test"]


class PostgresBinariesMissing(RuntimeError):
    """``initdb``/``postgres`` were not found; the message says where they were looked for."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres`` (newest major version first)."""
    looked: list[str] = []
    candidates: list[Path] = []
    env = os.environ.get("STRANGLER_PG_BINDIR", "").strip()
    if env:
        candidates.append(Path(env))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        looked.append(str(folder))
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    raise PostgresBinariesMissing(
        "PostgreSQL server binaries (initdb, postgres) not found; looked in "
        f"{', '.join(looked) or '$STRANGLER_PG_BINDIR, /usr/lib/postgresql/*/bin, PATH'}. "
        "Install the Debian package postgresql (or set STRANGLER_PG_BINDIR)."
    )


class _PortTaken(Exception):
    """postgres exited because its port was in use."""


class PrivatePostgres:
    """One throw-away cluster: ``initdb`` on first :meth:`start`, removed by :meth:`close`.

    ``url`` is the ``postgres`` database (superuser ``postgres``, trust auth, TCP on
    127.0.0.1); :meth:`create_database` makes others. :meth:`stop` and :meth:`start` may be
    called any number of times; the port stays the same, so clients can reconnect.

    ``base_dir`` defaults to a new folder under the system temp folder (removed on
    :meth:`close`). A given one is kept; as root it is handed to ``postgres``, and every folder
    above it must let that user through (pytest's ``tmp_path`` does not: it is 0700 root).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        bindir: Path | None = None,
        base_dir: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.bindir = bindir or find_bindir()
        self.port = port or free_port()
        # a port chosen here may be taken by another server before postgres binds it: the
        # first start then retries on another one (never later: clients know the port)
        self._may_move = port is None
        self.start_timeout = start_timeout
        self._popen: subprocess.Popen[bytes] | None = None
        # as root: run as the ``postgres`` user, which must own the folder
        self._uid: int | None = None
        self._gid: int | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresBinariesMissing(
                    "running as root, and PostgreSQL refuses to: no 'postgres' user to run it as"
                ) from None
            self._uid, self._gid = entry.pw_uid, entry.pw_gid
        self._own_dir = base_dir is None
        self.base_dir = (
            Path(tempfile.mkdtemp(prefix="strangler-pg-")) if base_dir is None else base_dir
        )
        if self._uid is not None and self._gid is not None:
            os.chown(self.base_dir, self._uid, self._gid)
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_path = self.base_dir / "postgres.log"

    # -- addresses ---------------------------------------------------------------------------
    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The maintenance database's URL (``.../postgres``)."""
        return self.url_for("postgres")

    # -- lifecycle ---------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(LC_ALL="C", LANG="C")
        if self._uid is not None:
            env["HOME"] = str(self.base_dir)
            env["USER"] = env["LOGNAME"] = "postgres"
        return env

    def _initdb(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        if self._uid is not None and self._gid is not None:
            os.chown(self.socket_dir, self._uid, self._gid)
        argv = [
            str(self.bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "--auth=trust",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        ]  # fmt: skip
        done = subprocess.run(
            argv,
            cwd=self.base_dir,
            env=self._env(),
            capture_output=True,
            check=False,
            timeout=120,
            user=self._uid,
            group=self._gid,
            extra_groups=None if self._uid is None else [],
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode("utf-8", "replace")
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{output[-4000:]}")

    def start(self) -> PrivatePostgres:
        """Start the server (``initdb`` first if needed); return once it accepts connections."""
        if self.running():
            return self
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        for attempt in range(3):
            try:
                self._launch()
                break
            except _PortTaken:
                if not self._may_move or attempt == 2:
                    raise RuntimeError(
                        f"postgres could not bind 127.0.0.1:{self.port}:\n{self.log_tail()}"
                    ) from None
                self.port = free_port()
        self._may_move = False
        return self

    def _launch(self) -> None:
        argv = [
            str(self.bindir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-k", str(self.socket_dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=60",
            "-c", "shared_buffers=16MB",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log_start = log.tell()
            self._popen = subprocess.Popen(
                argv,
                cwd=self.base_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self._uid,
                group=self._gid,
                extra_groups=None if self._uid is None else [],
            )
        self._wait_ready(log_start)

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def accepts(self) -> bool:
        """Whether a connection to the server succeeds now."""
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _wait_ready(self, log_start: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        # "running" first: a connection to another server on the port must not count
        while not (self.running() and self.accepts()):
            if not self.running():
                code = self._popen.returncode if self._popen is not None else None
                self._popen = None
                output = self.log_path.read_bytes()[log_start:].decode("utf-8", "replace")
                if "could not bind" in output or "already in use" in output:
                    raise _PortTaken(self.port)
                raise RuntimeError(f"postgres exited with {code}:\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                self.stop()
                raise TimeoutError(
                    f"postgres on port {self.port} did not accept connections within "
                    f"{self.start_timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT: clients are disconnected, open transactions rolled back);
        escalate to an immediate shutdown (SIGQUIT), then SIGKILL of the whole group."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        for signum, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0)):
            if popen.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(wait)
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(5.0)
        # backends that outlived the postmaster still belong to its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop the server and remove its folder (when this object made it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; return its URL."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""


def private_postgres_for_test() -> PrivatePostgres:
    """A :class:`PrivatePostgres` for a pytest test. Without the server binaries the test fails
    on CI (``CI=true``: it must run there) and is skipped elsewhere, with the reason."""
    import pytest  # only tests call this

    try:
        return PrivatePostgres()
    except PostgresBinariesMissing as err:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI must run this test: {err}", pytrace=False)
        pytest.skip(str(err))
