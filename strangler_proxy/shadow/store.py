"""The results store: ``record()`` on the request path, a writer thread off it.

``ShadowStore.record(result)`` returns at once. A result that needs no example (a match, noise
only, a likely race, an error) is added to the running counts in memory: a few additions, and
nothing of it is kept. A mismatch, whose example must be redacted and stored, and a noise
sample go to a bounded queue; when it is full they are dropped and counted (``dropped``, per
route in ``dropped_by_route``, and ``ShadowMetrics.dropped`` when metrics are given). A
background thread wakes every ``flush_interval`` seconds (not per result: waking it for each
one would cost the event loop's thread a switch of the GIL per request), takes the counts and
what is queued in batches of up to ``batch_size``, redacts, and applies each batch in one
transaction (expired examples of the other fields go once a minute, in one of their own that
skips rows another writer holds). A failed batch is logged and counted (``write_errors``),
never raised::

    store = open_store(None, Path("var/shadow.sqlite3"))   # or "postgresql://…"
    store.start()
    store.record(result)            # never blocks
    store.record_noise(sample)      # from NoiseLearner.observe
    store.close()                   # flushes what is queued, stops the thread
    read = store.snapshot("product-detail")   # for report.build_report
    store.mismatch_examples("product-detail", limit=50)   # the stored samples, one per request

Examples: at most ``examples_per_field`` per (route, field), chosen by reservoir sampling;
examples older than ``example_ttl`` seconds (by the injected ``clock``) are deleted and never
reported.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import _sql
from ._batch import Batch
from ._snapshot import ExampleRow, Snapshot, read_noise_counts, read_snapshot
from ._types import NoiseSample, ShadowResult, Verdict
from ._write import ExamplePolicy, apply_batch, expire_examples, reset_route
from .metrics import ShadowMetrics

__all__ = ["RouteNotStored", "ShadowStore", "StoreMissing", "open_store"]

log = logging.getLogger("strangler.shadow.store")
EXPIRY_EVERY = 60.0  # seconds between two sweeps of the expired examples of every field
Item = ShadowResult | NoiseSample


class RouteNotStored(LookupError):
    """``reset``: nothing is stored for that route."""


class StoreMissing(FileNotFoundError):
    """``reset``: there is no SQLite store at that path."""


class ShadowStore:
    def __init__(
        self,
        url: str | None,
        path_default: Path,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        examples_per_field: int = 5,
        example_ttl: float = 7 * 86400.0,
        max_body: int = 16 * 1024,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        metrics: ShadowMetrics | None = None,
        noise_refresh: float = 5.0,
    ) -> None:
        self.url, self.path_default = url, path_default
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.examples_per_field, self.example_ttl = examples_per_field, example_ttl
        self.max_body = max_body
        self._clock = clock
        self._rng = rng or random.Random()
        self._metrics = metrics
        self._examples = ExamplePolicy(examples_per_field, example_ttl, self._rng)
        self.queue_size = queue_size
        # appended on the event loop's thread, taken by the writer: deque's append and
        # popleft are atomic, so neither side locks or wakes the other
        self._queue: collections.deque[Item] = collections.deque()
        self._lock = threading.Lock()  # one batch at a time on the one connection
        # results without an example, counted as they come (the writer swaps it for a new one)
        self._counted = Batch()
        self._counted_lock = threading.Lock()
        self._db: _sql.Driver | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.dropped_by_route: dict[str, int] = {}
        self.written = 0
        self.write_errors = 0
        self._expired_at = float("-inf")  # (the store's clock)
        # the writer hands the stored noise counts to this every noise_refresh seconds
        self.on_noise: Callable[[dict[str, dict[str, int]]], None] | None = None
        self.noise_refresh = noise_refresh

    # -- the request path ------------------------------------------------------------------
    def record(self, result: ShadowResult) -> bool:
        """Count ``result``, or queue it when it is a mismatch (its example is stored);
        ``False`` (dropped, counted) when the queue is full."""
        if result.comparison.verdict is Verdict.MISMATCH:
            return self._put(result)
        with self._counted_lock:
            self._counted.add(result, self.max_body)
        return True

    def record_noise(self, sample: NoiseSample) -> bool:
        return self._put(sample)

    def record_dropped(self, route: str, n: int = 1) -> None:
        """``n`` copies of ``route`` were dropped before they were compared (a full lane, a body
        over the cap): stored with the counts, so the report can say how many are missing."""
        with self._counted_lock:
            self._counted.drop(route, n)

    def _put(self, item: Item) -> bool:
        if len(self._queue) < self.queue_size:
            self._queue.append(item)
        else:
            self.dropped += 1
            self.dropped_by_route[item.route] = self.dropped_by_route.get(item.route, 0) + 1
            if isinstance(item, ShadowResult):
                self.record_dropped(item.route)
            if self._metrics is not None:
                self._metrics.dropped(item.route)
            return False
        return True

    @property
    def queued(self) -> int:
        """Results and samples not written yet."""
        with self._counted_lock:
            return len(self._queue) + self._counted.results()

    # -- lifecycle -------------------------------------------------------------------------
    def _connect(self) -> _sql.Driver:
        if self._db is None:
            db = _sql.connect(self.url, self.path_default)
            db.create_schema()
            self._db = db
        return self._db

    def start(self) -> None:
        """Connect, create the tables if needed, start the writer thread."""
        with self._lock:
            self._connect()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="shadow-store-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the writer, write everything still queued, close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _run(self) -> None:
        refreshed = time.monotonic()
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
                if self.on_noise is not None and time.monotonic() - refreshed >= self.noise_refresh:
                    refreshed = time.monotonic()
                    self._refresh_noise(self.on_noise)
            except Exception:  # flush counts and logs its own failures; the writer lives on
                log.exception("shadow store: the writer failed")

    def _take(self) -> list[Item]:
        items: list[Item] = []
        take = self._queue.popleft
        try:
            while len(items) < self.batch_size:
                items.append(take())
        except IndexError:
            pass
        return items

    def flush(self) -> int:
        """Write everything recorded so far, in the caller's thread; returns the items written
        (a batch that fails is logged, counted in ``write_errors`` and lost)."""
        with self._counted_lock:
            batch, self._counted = self._counted, Batch()
        counted = batch.results()
        items = self._take()
        written = self._write(batch, counted, items) if batch or items else 0
        while items := self._take():
            written += self._write(Batch(), 0, items)
        return written

    # -- the writer ------------------------------------------------------------------------
    def _write(self, batch: Batch, counted: int, items: list[Item]) -> int:
        """Apply ``batch`` (``counted`` results already in it) plus ``items``; how many."""
        total = counted + len(items)
        try:
            batch.add_all(items, self.max_body)  # redaction happens here: inside the guard
            with self._lock:
                db = self._connect()
                now = self._clock()
                with db.transaction():
                    apply_batch(db, batch, now, self._examples)
        except Exception:
            self.write_errors += 1
            log.exception("shadow store: a batch of %d results was lost", total)
            return 0
        self.written += total
        self._expire(now)
        return total

    def _expire(self, now: float) -> None:
        """Delete the expired examples of every field, once a minute at most, in a transaction
        of its own (a batch deletes those of the fields it writes itself). Reads never show an
        expired example, so a failure here loses nothing: the next sweep takes them."""
        if now - self._expired_at < EXPIRY_EVERY:
            return
        self._expired_at = now
        try:
            with self._lock:
                db = self._connect()
                with db.transaction():
                    expire_examples(db, now - self.example_ttl)
        except Exception:
            log.exception("shadow store: deleting expired examples failed (tried again later)")

    def _no_store_yet(self) -> bool:
        """A SQLite store whose file does not exist: reads find nothing, and create nothing."""
        return (
            _sql.is_sqlite(self.url) and not _sql.sqlite_path(self.url, self.path_default).exists()
        )

    def snapshot(self, route: str | None = None) -> Snapshot:
        """Everything stored (for ``route``, or all routes); empty if there is no store yet."""
        if self._no_store_yet():
            return Snapshot()
        with self._lock:
            return read_snapshot(self._connect(), route, self._clock(), self.example_ttl)

    def _refresh_noise(self, on_noise: Callable[[dict[str, dict[str, int]]], None]) -> None:
        """Hand the stored noise counts, plus the samples still waiting to be written, to
        ``on_noise``; nothing when the store cannot be read (the learner keeps what it has)."""
        if self._no_store_yet():
            return
        with self._lock:
            counts = read_noise_counts(self._connect())
        for item in self._queue.copy():  # (one C call: the loop's thread appends meanwhile)
            if isinstance(item, NoiseSample):
                fields = counts.setdefault(item.route, {})
                for name in item.fields:
                    fields[name] = fields.get(name, 0) + 1
        on_noise(counts)

    def reset(self, route: str, *, noise: bool = False) -> int:
        """Forget ``route``'s evidence (counts, differing fields, latency, examples, drops), and
        with ``noise`` the noise learned for it; returns how many comparisons it had. Copies a
        proxy had queued or in flight when it ran (a lane's worth per replica) are counted
        after it: reset once the fixed service is deployed. :class:`RouteNotStored` when nothing
        is stored for ``route`` (a mistyped name), :class:`StoreMissing` when the SQLite store
        does not exist (a mistyped path; nothing is created)."""
        if self._no_store_yet():
            raise StoreMissing(f"no store at {_sql.sqlite_path(self.url, self.path_default)}")
        with self._lock:
            db = self._connect()
            with db.transaction():
                found = reset_route(db, route, noise=noise)
            if found is None:
                rows = db.execute("SELECT route FROM shadow_routes ORDER BY route")
                known = ", ".join(str(r[0]) for r in rows) or "none"
                raise RouteNotStored(
                    f"nothing is stored for route {route!r} (routes stored: {known})"
                )
        return found

    def noise_counts(self) -> dict[str, dict[str, int]]:
        """Per route, how many primary-vs-primary comparisons each field differed in (every
        replica's and every earlier run's): what a fresh :class:`.NoiseLearner` starts from."""
        if self._no_store_yet():
            return {}
        with self._lock:
            return read_noise_counts(self._connect())

    def mismatch_examples(self, route: str, limit: int | None = None) -> list[ExampleRow]:
        """The live stored mismatch samples of ``route``, newest first, one per mismatch.

        A sample is stored once per differing field it shows, so rows are deduplicated by
        request id (by the stored text when there is none). ``payload`` holds what
        :func:`._batch.example_payload` wrote: method, target, request headers, both sides'
        status, headers and body (redacted, cut at ``max_body``) and the differences.
        """
        if self._no_store_yet():
            return []
        with self._lock:
            rows = self._connect().execute(
                "SELECT route, field, stored_at, request_id, payload FROM shadow_examples "
                "WHERE route = ? AND stored_at >= ? ORDER BY stored_at DESC, field",
                (route, self._clock() - self.example_ttl),
            )
        seen: set[str] = set()
        out: list[ExampleRow] = []
        for r in rows:
            request_id, text = str(r[3]), str(r[4])
            key = request_id or text
            if key in seen:
                continue
            seen.add(key)
            payload = json.loads(text)
            stored_at = float(r[2]) if isinstance(r[2], int | float | str) else 0.0
            out.append(ExampleRow(str(r[0]), str(r[1]), stored_at, request_id, payload))
            if limit is not None and len(out) >= limit:
                break
        return out


def open_store(url: str | None, path_default: Path, **options: object) -> ShadowStore:
    """A store for ``url`` (``postgresql://…``, ``sqlite:///path``) or the SQLite file
    ``path_default`` when ``url`` is None. Options are :class:`ShadowStore`'s keywords.
    Nothing is connected until :meth:`ShadowStore.start` (or the first flush/snapshot)."""
    if url is not None and not url.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise ValueError(f"store: expected postgresql://… or sqlite:///path, got {url!r}")
    return ShadowStore(url, path_default, **options)  # type: ignore[arg-type]
