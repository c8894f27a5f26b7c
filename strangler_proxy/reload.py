"""Hot reload: watch ``routing.yaml`` and swap the table when a valid edit lands.

The file is polled (stat every 0.25 s: no extra dependency, works on every file system and with
editors that replace the file). A changed file is parsed and validated off the event loop; a
valid table is swapped in atomically (requests in flight keep the table they started with); an
invalid one is rejected, logged, recorded for the admin API, and the last good table keeps
serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from .config import load_table
from .errors import ConfigError
from .events import EventBus, ReloadFinished
from .model import RoutingTable
from .proxy import TableHolder

__all__ = ["Reloader"]

log = logging.getLogger("strangler.reload")


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Reloader:
    def __init__(
        self,
        path: str | os.PathLike[str],
        holder: TableHolder,
        *,
        interval: float = 0.25,
        finished: EventBus[ReloadFinished] | None = None,
    ) -> None:
        self.path = Path(path)
        self.holder = holder
        self.interval = interval
        self.finished: EventBus[ReloadFinished] = finished or EventBus()
        active = holder.active
        self.last = ReloadFinished(
            source=str(self.path),
            ok=True,
            generation=active.generation,
            sha256=active.table.sha256,
            problems=(),
            at=time.time(),
        )
        self._seen = _signature(self.path)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def reload(self) -> ReloadFinished:
        """Read the file now; swap the table if it is valid and changed."""
        async with self._lock:
            self._seen = _signature(self.path)
            try:
                table: RoutingTable = await asyncio.to_thread(load_table, self.path)
                if table.sha256 != self.holder.active.table.sha256:
                    active = self.holder.swap(table)  # may refuse it too (environment)
                    log.info(
                        "routing table generation %d loaded (%d routes, sha256 %s)",
                        active.generation,
                        len(table.routes),
                        table.sha256[:12],
                    )
            except ConfigError as err:
                problems = tuple(str(p) for p in err.problems)
                log.error(
                    "routing table rejected, still serving generation %d:\n%s",
                    self.holder.active.generation,
                    "\n".join(problems),
                )
                result = ReloadFinished(
                    str(self.path),
                    False,
                    self.holder.active.generation,
                    self.holder.active.table.sha256,
                    problems,
                    time.time(),
                )
            else:
                active = self.holder.active
                result = ReloadFinished(
                    str(self.path), True, active.generation, table.sha256, (), time.time()
                )
            self.last = result
            self.finished.emit(result)
            return result

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if _signature(self.path) != self._seen:
                try:
                    await self.reload()
                except Exception:  # the watcher must outlive any surprise
                    log.exception("reload failed unexpectedly")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
