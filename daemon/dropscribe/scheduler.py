"""Due-time scheduling of job steps onto small, fixed pools of threads.

A job waiting for the remote service holds no thread: it is a ``(due, job id)`` entry in a heap.
One dispatcher thread sleeps until the earliest entry is due and hands the job id to the pool
for its kind of work: ``transfer`` (uploads and submissions, at most ``workers.transfers`` at
a time) or ``poll`` (status checks and publishing). Thousands of waiting jobs cost a heap entry
each and a handful of threads in all.

A job id is scheduled at most once at a time: scheduling it again moves its due time, and a job
that is running is not dispatched again until its step returns.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Upper bound on any blocking wait, so every loop re-checks its stop flag (seconds).
WAIT_SLICE_SECONDS = 0.5
# Queued by stop() to wake idle pool threads; never a job id (those are hex).
_WAKE = "<wake>"

_log = logging.getLogger(__name__)


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    job_id: str = field(compare=False)
    pool: str = field(compare=False)


class WorkerPool:
    """A fixed number of daemon threads calling ``handler(job_id)`` for queued ids."""

    def __init__(
        self, name: str, size: int, handler: Callable[[str], None], on_done: Callable[[str], None]
    ) -> None:
        self._name = name
        self._queue: queue.Queue[str] = queue.Queue()
        self._handler = handler
        self._on_done = on_done
        self._stop = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(size)
        ]

    def start(self) -> None:
        """Start the threads."""
        for thread in self._threads:
            thread.start()

    def put(self, job_id: str) -> None:
        """Queue one job id for the next free thread."""
        self._queue.put(job_id)

    def busy(self) -> int:
        """Return the number of ids queued or being handled."""
        with self._lock:
            return self._busy + self._queue.qsize()

    def stop(self) -> None:
        """Ask the threads to finish their current id and take no more."""
        self._stop.set()
        for _ in self._threads:
            self._queue.put(_WAKE)  # so an idle thread sees the stop now, not a slice later

    def join(self, deadline: float) -> bool:
        """Wait until every thread has ended or ``deadline`` (monotonic) passed; True if ended."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def alive(self) -> bool:
        """Return True while every thread runs."""
        return all(t.is_alive() for t in self._threads)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._queue.get(timeout=WAIT_SLICE_SECONDS)
            except queue.Empty:
                continue
            if job_id == _WAKE:
                continue
            with self._lock:
                self._busy += 1
            try:
                self._handler(job_id)
            except Exception:  # the thread must live on; the handler's bug is still told
                _log.exception("worker %s: handler failed for job %s", self._name, job_id)
            finally:
                with self._lock:
                    self._busy -= 1
                self._on_done(job_id)


class Scheduler:
    """Runs ``handlers[pool](job_id)`` when each job falls due; see the module docstring."""

    def __init__(
        self,
        pools: dict[str, int],
        handlers: dict[str, Callable[[str], None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._heap: list[_Entry] = []
        self._entries: dict[str, _Entry] = {}
        self._running: set[str] = set()
        self._deferred: dict[str, _Entry] = {}
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._held_until = 0.0  # on self._clock: nothing is dispatched before then
        self._pools = {
            name: WorkerPool(name, size, handlers[name], self._finished)
            for name, size in pools.items()
        }
        self._thread = threading.Thread(target=self._dispatch, name="scheduler", daemon=True)

    def start(self) -> None:
        """Start the dispatcher and the pools."""
        for pool in self._pools.values():
            pool.start()
        self._thread.start()

    def schedule(self, job_id: str, pool: str, delay: float = 0.0) -> None:
        """Run ``job_id`` in ``pool`` after ``delay`` seconds (replacing an earlier time)."""
        entry = _Entry(self._clock() + max(0.0, delay), next(self._seq), job_id, pool)
        with self._cond:
            if job_id in self._running:
                # Its step is running now; it is dispatched again once that step returns.
                self._deferred[job_id] = entry
                return
            self._entries[job_id] = entry
            heapq.heappush(self._heap, entry)
            self._cond.notify()

    def knows(self, job_id: str) -> bool:
        """Return True if the job is scheduled or running."""
        with self._cond:
            return job_id in self._entries or job_id in self._running

    def hold(self, seconds: float) -> None:
        """Dispatch nothing for ``seconds`` (or until a later hold ends); due jobs wait in the
        heap meanwhile. Safe to call from a pool thread."""
        with self._cond:
            self._held_until = max(self._held_until, self._clock() + seconds)
            self._cond.notify()

    def alive(self) -> bool:
        """Return True while the dispatcher and every pool thread run."""
        return self._thread.is_alive() and all(p.alive() for p in self._pools.values())

    def stop(self) -> None:
        """Stop dispatching and tell the pools to take no more work."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for pool in self._pools.values():
            pool.stop()

    def join(self, deadline: float) -> bool:
        """Wait for the steps in flight to return, until ``deadline`` (monotonic)."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return all(pool.join(deadline) for pool in self._pools.values())

    def _finished(self, job_id: str) -> None:
        with self._cond:
            self._running.discard(job_id)
            entry = self._deferred.pop(job_id, None)
            if entry is not None:
                self._entries[job_id] = entry
                heapq.heappush(self._heap, entry)
                self._cond.notify()

    def dispatch_due(self) -> int:
        """Hand every job due now (and not held) to its pool; return how many. The dispatcher
        thread's one step, callable directly with a fake clock."""
        count = 0
        while True:
            with self._cond:
                entry = self._next_due()
                if entry is None:
                    return count
                self._running.add(entry.job_id)
            self._pools[entry.pool].put(entry.job_id)
            count += 1

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            if self.dispatch_due():
                continue
            with self._cond:
                if not self._stop.is_set():
                    self._cond.wait(self._wait_time())

    def _next_due(self) -> _Entry | None:
        now = self._clock()
        if now < self._held_until:
            return None
        while self._heap and self._heap[0].due <= now:
            entry = heapq.heappop(self._heap)
            if self._entries.get(entry.job_id) is not entry:
                continue  # superseded by a later schedule() of the same job
            del self._entries[entry.job_id]
            return entry
        return None

    def _wait_time(self) -> float:
        if not self._heap:
            return WAIT_SLICE_SECONDS
        due = max(self._heap[0].due, self._held_until)
        return min(WAIT_SLICE_SECONDS, max(0.0, due - self._clock()))
