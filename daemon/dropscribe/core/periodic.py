"""A task run periodically in its own thread until it is stopped.

The thread waits on a stop Event between runs, so :meth:`Periodic.stop` wakes it at once
instead of after the rest of an interval. What a run does, and what it makes of its own
errors, is the caller's ``tick``: an exception that escapes it ends the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """A daemon thread that calls ``tick()`` every ``interval_seconds`` until stopped; the
    first call comes one interval after :meth:`start`."""

    def __init__(self, name: str, interval_seconds: float, tick: Callable[[], None]) -> None:
        """``name`` names the thread (as ``ps`` and tracebacks show it)."""
        self._interval_seconds = interval_seconds
        self._tick = tick
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for a run in progress."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval_seconds):
            self._tick()
