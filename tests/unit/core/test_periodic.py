"""The periodic thread: it runs its task every interval and stops at once when told."""

from __future__ import annotations

import threading
import time

from dropscribe.core.periodic import Periodic

#: Long enough that no run of the task can come within a test (seconds).
NEVER_SECONDS = 3600.0
#: How long a test waits for the thread before it counts as stuck (seconds).
PATIENCE_SECONDS = 5.0


def test_periodic_runs_its_task_every_interval_until_stopped() -> None:
    runs: list[float] = []
    thrice = threading.Event()

    def tick() -> None:
        runs.append(time.monotonic())
        if len(runs) == 3:
            thrice.set()

    periodic = Periodic("test-periodic", 0.01, tick)
    periodic.start()
    try:
        assert thrice.wait(PATIENCE_SECONDS)
    finally:
        periodic.stop(PATIENCE_SECONDS)
    ran = len(runs)
    time.sleep(0.05)
    assert len(runs) == ran


def test_periodic_stop_wakes_the_wait_without_running_the_task() -> None:
    runs: list[str] = []
    periodic = Periodic("test-periodic", NEVER_SECONDS, lambda: runs.append("run"))
    periodic.start()
    started = time.monotonic()
    periodic.stop(PATIENCE_SECONDS)
    assert time.monotonic() - started < PATIENCE_SECONDS / 2
    assert runs == []
    assert "test-periodic" not in {t.name for t in threading.enumerate()}


def test_periodic_stop_before_start_raises_nothing() -> None:
    periodic = Periodic("test-periodic", NEVER_SECONDS, lambda: None)
    periodic.stop(PATIENCE_SECONDS)
