"""Read the next batch from the CRM while the current one is mapped and written.

    with Prefetcher(batches(rows, size=1000)) as pages:
        for batch in pages:
            ...  # map, upsert, commit: in this thread

A sync run used to fetch a page, then map and write it, serially: the CRM's answer (and its JSON decoding) and the
database's work never overlapped, and a second core idled. Here one daemon thread advances `source` one item ahead
(a queue of one, so at most one batch waits besides the one being written and the page being read: memory stays
flat) while the caller's thread does every database write. Django's connections are per thread, so the caller's
transactions, checkpoints and watermark are its own; the fetch thread only calls the provider (its CRM calls and
its mapping to CanonicalRecords), whose tokens and credits live in the cache. (With the embedded default's database
cache, or when a token refresh is recorded on the connection row, that thread opens its own autocommit connection,
closed when it ends.)

An error in the fetch thread is raised in the caller's thread at its next item, so a batch already written stays
written and nothing later is. Leaving the `with` block (the run's end, an error, a lost lock) stops the thread: it
finishes the call in flight, if any, and reads nothing more.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Generic, TypeVar

import structlog

from django.db import connections

logger = structlog.get_logger(__name__)

T = TypeVar("T")

_ITEM, _DONE, _ERROR = "item", "done", "error"
_POLL_SECONDS = 0.1  # how often a blocked put looks whether the reader stopped
_JOIN_SECONDS = 120.0  # the call in flight ends within the client's own timeouts and retries


class Prefetcher(Generic[T]):
    """Iterate `source` one item ahead in a background thread; a context manager that stops the thread on exit."""

    def __init__(self, source: Iterator[T], *, name: str = "sync-prefetch") -> None:
        self._source = source
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self._finished = True
        self._thread.join()
        if kind == _ERROR:
            raise value  # type: ignore[misc]
        raise StopIteration

    def close(self) -> None:
        """Stop reading: the thread ends after the call in flight; what it fetched is dropped, never written."""
        self._finished = True
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(_JOIN_SECONDS)
        if self._thread.is_alive():
            logger.warning("sync.prefetch.still_running", thread=self._thread.name)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put((_ITEM, item)) or self._stop.is_set():
                    return  # the reader stopped: no further call
            self._put((_DONE, None))
        except BaseException as exc:  # every error reaches the reader, which raises it
            self._put((_ERROR, exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    logger.exception("sync.prefetch.close_failed")
            connections.close_all()  # this thread's own connections only (Django's are per thread)

    def _put(self, message: tuple[str, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False
