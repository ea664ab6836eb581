"""Decoding ahead: the next recordings are decoded and resampled while the engine is busy.

When a job is queued, its upload is handed to one background thread that decodes it to 16 kHz
samples and finds its speech; when the engine gets to the job, the work is done (or under way,
and waited for). Only short recordings (the engine's choice: at most a minute) are decoded
ahead, and only a few at a time, so memory stays bounded; anything not decoded ahead is decoded
when it is needed, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

#: Recordings decoded ahead and not yet taken, at most; the oldest is dropped past it.
MAX_AHEAD = 32

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """Runs ``work(path)`` ahead in one thread; ``take(path)`` returns its result."""

    def __init__(self, work: Callable[[Path], T], limit: int = MAX_AHEAD) -> None:
        self._work = work
        self._limit = limit
        self._ahead: OrderedDict[Path, Future[T]] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def ahead(self, path: Path) -> None:
        """Start working on ``path`` in the background, unless it already is."""
        with self._lock:
            if path in self._ahead:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="engine-decode")
            self._ahead[path] = self._executor.submit(self._work, path)
            while len(self._ahead) > self._limit:
                _, dropped = self._ahead.popitem(last=False)
                dropped.cancel()

    def take(self, path: Path) -> T:
        """Return the result for ``path``: the one worked out ahead, or worked out now."""
        with self._lock:
            future = self._ahead.pop(path, None)
        if future is None or future.cancelled():
            return self._work(path)
        return future.result()

    def close(self) -> None:
        """Drop everything not yet taken and end the background thread."""
        with self._lock:
            for future in self._ahead.values():
                future.cancel()
            self._ahead.clear()
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
