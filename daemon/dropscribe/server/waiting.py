"""Waiting for a job to finish without holding a thread: one asyncio.Event per waiting poll.

Engine workers run in threads; they announce a finished job with ``announce``, which hands the
wake-up to the event loop. A long poll then costs a coroutine, not one of the server's threads,
so 45 polls waiting 30 s no longer starve /healthz.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class JobWaits:
    """Coroutines wait for a job here; any thread may announce that it finished."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[str, list[asyncio.Event]] = {}

    def announce(self, job_id: str) -> None:
        """Wake every coroutine watching ``job_id``; safe to call from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, job_id)

    def _wake(self, job_id: str) -> None:
        for event in self._events.pop(job_id, []):
            event.set()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Event]:
        """Yield an event set once ``job_id`` is announced; call from the event loop."""
        self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        self._events.setdefault(job_id, []).append(event)
        try:
            yield event
        finally:
            waiting = self._events.get(job_id, [])
            if event in waiting:
                waiting.remove(event)
            if not waiting:
                self._events.pop(job_id, None)
