"""``run`` and ``once``: the daemon over the configured folders, until a signal or until the
inbox as it is now has been processed."""

from __future__ import annotations

import time
from collections.abc import Callable

from dropscribe.app.daemon import Flags, Service, install_signal_handlers
from dropscribe.app.parts import build
from dropscribe.config import Settings
from dropscribe.core.jobs import Job, JobState
from dropscribe.core.progress import AudioTally, tally
from dropscribe.core.redaction import Redactor
from dropscribe.pipeline.quality import is_incomplete
from dropscribe.state import StateStore

#: States in which a job has its whole result: all of its audio is done.
_HAVE_RESULT = frozenset({JobState.SUCCEEDED, JobState.PUBLISHED})


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


#: Shown the jobs per state and the audio of this run's jobs, while ``once`` waits.
Progress = Callable[[dict[str, int], AudioTally], None]


def once(settings: Settings, redactor: Redactor, progress: Progress | None = None) -> int:
    """Process what is in the inbox now and every unfinished job; return 1 if any failed.
    ``progress``, if given, is shown the jobs per state and the audio of this run's jobs
    (whose service reports it) while it waits."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(build(settings, redactor), watch=True, flags=flags)
    started = time.time()
    store = service.parts.store
    show = None if progress is None else (lambda c: progress(c, run_audio(store, started)))
    try:
        if show is not None:
            show(store.counts())  # the jobs finished before this run
        service.start()
        watcher = service.watcher
        while watcher is not None and not flags.stop.is_set() and watcher.pending_count() > 0:
            flags.stop.wait(0.2)
        if watcher is not None:
            watcher.stop()
        service.wait_until_idle(show)
        failed = _failed_since(service.parts.store, started)
        failed += _incomplete_since(service.parts.store, started)
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    return 1 if failed else 0


def run_audio(store: StateStore, started: float) -> AudioTally:
    """Return the audio done and in all of the jobs of a run that began at ``started`` (those
    unfinished or changed since), where their service reported it."""
    jobs = store.with_progress(started)
    return tally((j.progress, j.state in _HAVE_RESULT) for j in jobs if j.progress is not None)


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
