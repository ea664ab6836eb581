"""``run`` and ``once``: the daemon over the configured folders, until a signal or until the
inbox as it is now has been processed."""

from __future__ import annotations

import time
from collections.abc import Callable

from dropscribe.app.daemon import Flags, Service, install_signal_handlers
from dropscribe.app.parts import build
from dropscribe.config import Settings
from dropscribe.core.jobs import Job, JobState
from dropscribe.core.redaction import Redactor
from dropscribe.pipeline.quality import is_incomplete
from dropscribe.state import StateStore


class HardStop(Exception):
    """A second signal asked to stop at once."""


def run(settings: Settings, redactor: Redactor) -> int:
    """Run the daemon until a signal; return 0 after a clean drain."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(build(settings, redactor), watch=True, flags=flags)
    try:
        service.start()
        service.run_until_stopped()
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    return 0


def once(
    settings: Settings, redactor: Redactor, progress: Callable[[dict[str, int]], None] | None = None
) -> int:
    """Process what is in the inbox now and every unfinished job; return 1 if any failed.
    ``progress``, if given, is shown the jobs per state while it waits."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(build(settings, redactor), watch=True, flags=flags)
    started = time.time()
    try:
        if progress is not None:
            progress(service.parts.store.counts())  # the jobs finished before this run
        service.start()
        watcher = service.watcher
        while watcher is not None and not flags.stop.is_set() and watcher.pending_count() > 0:
            flags.stop.wait(0.2)
        if watcher is not None:
            watcher.stop()
        service.wait_until_idle(progress)
        failed = _failed_since(service.parts.store, started)
        failed += _incomplete_since(service.parts.store, started)
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    return 1 if failed else 0


def _failed_since(store: StateStore, since: float) -> list[Job]:
    return [
        j for j in store.recent(JobState.FAILED, 100_000) if j.steps.get("failed", 0.0) >= since
    ]


def _incomplete_since(store: StateStore, since: float) -> list[Job]:
    return [
        j
        for j in store.recent(JobState.PUBLISHED, 100_000)
        if j.steps.get("published", 0.0) >= since and is_incomplete(store.result(j.id) or {})
    ]
