"""The waits of a shutdown, each cut short by a second signal.

A first signal drains: the shutdown waits for the transfers, the deliveries and the embedded
server, each up to its own timeout. A second signal must stop at once, whatever is being waited
for then, including the embedded engine in the middle of a long decode, which only looks at its
stop flag between segments. So every wait of the shutdown goes through :func:`waited`, which
looks at the hard-stop flag between short slices of waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: The longest slice of a shutdown wait (seconds): how late a second signal may be noticed.
STOP_CHECK_SECONDS = 0.1

#: Waits up to the seconds given for something to end; returns True once it has.
Join = Callable[[float], bool]


def waited(join: Join, seconds: float, hard_stop: threading.Event) -> bool:
    """Call ``join`` with slices of at most STOP_CHECK_SECONDS until it returns True; return
    True then, or False once ``seconds`` have passed or ``hard_stop`` is set."""
    deadline = time.monotonic() + seconds
    while not hard_stop.is_set():
        left = deadline - time.monotonic()
        if join(max(0.0, min(STOP_CHECK_SECONDS, left))):
            return True
        if left <= 0:
            return False
    return False


def in_background(work: Callable[[], object], name: str) -> Join:
    """Start ``work`` in a thread of its own and return the wait for its end.

    A daemon thread, so that a second signal can end the process while it still runs: what it
    leaves unfinished is what a crash leaves, which the state files are built for.
    """
    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()

    def join(seconds: float) -> bool:
        thread.join(seconds)
        return not thread.is_alive()

    return join
