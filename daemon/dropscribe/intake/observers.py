"""watchdog's observers for the inbox watcher: one kept running, or none; events are hints.

Starting an observer can fail for reasons of the tree it is given, not of the daemon:
inotify's watch or instance limits (OSError), or a folder nested so deep that watchdog's own
walk of the tree, recursive in ``os.walk``, overflows Python's stack (RecursionError). Every
such failure becomes :class:`ObserverUnavailable`, after whatever was started is stopped, so
the watcher can fall back to polling the inbox itself. :class:`ObserverKeeper` keeps one
observer running, replaces one that died, and waits OBSERVER_RETRY_SECONDS between tries.

This is the only module that imports watchdog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.mounts import choose_observer_kind, filesystem_type

# How often the polling observer snapshots the tree, in seconds: a file is first seen at most
# this late, and the settle timer starts then, so it counts against detection latency.
POLLING_SECONDS = 0.25
# How long after an observer failed to start, or died, a new one is tried (seconds): each try
# may walk the whole tree and take inotify watches, so not every tick.
OBSERVER_RETRY_SECONDS = 60.0
JOIN_SECONDS = 5.0  # longest wait (seconds) for a replaced observer's threads to end
_SKIPPED_EVENTS = frozenset({"opened", "closed_no_write"})  # our own reads cause these
# watchdog's inotify emitter says this, as an error, when it is stopped while it waits for
# events; that is every clean stop that races with its read, not a fault.
_INACTIVE_EMITTER = "called when the thread is inactive"


class ObserverUnavailable(Exception):
    """No observer of this kind could be started; the message says why."""


class _StoppedEmitterFilter(logging.Filter):
    """Drops the inotify emitter's "called when the thread is inactive" line (see above)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _INACTIVE_EMITTER not in record.getMessage()


_STOPPED_EMITTER_FILTER = _StoppedEmitterFilter()


def quiet_stopped_emitter() -> None:
    """Keep watchdog's error line about a stopped inotify emitter out of the log (idempotent)."""
    emitter_log = logging.getLogger("watchdog.observers.inotify")
    if _STOPPED_EMITTER_FILTER not in emitter_log.filters:
        emitter_log.addFilter(_STOPPED_EMITTER_FILTER)


class _EventHints(FileSystemEventHandler):
    """Forwards the paths named by watchdog events; it decides nothing."""

    def __init__(self, note: Callable[[str, str], None]) -> None:
        self._note = note

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.event_type in _SKIPPED_EVENTS:
            return
        for path in (event.src_path, event.dest_path):
            if path:
                self._note(os.fsdecode(path), event.event_type)


def observer_alive(observer: BaseObserver) -> bool:
    """Return True while ``observer`` and every one of its emitters run."""
    # An emitter stops on its own when the watched folder is deleted, or dies of an error in
    # its thread (a folder tree too deep for watchdog's walk); the observer runs on.
    emitters = observer.emitters
    alive = observer.is_alive() and bool(emitters) and all(e.is_alive() for e in emitters)
    # watchdog 7's inotify observer reads and dispatches events in a thread of its own, no
    # emitter: when a callback fails there (its walk of a folder moved in recursed too deep),
    # that thread ends and the emitters wait on for events that never come.
    reader = getattr(observer, "_inotify_fd", None)
    return alive and (not isinstance(reader, threading.Thread) or reader.is_alive())


def launch_observer(
    kind: WatchMode, inbox: Path, *, recursive: bool, note: Callable[[str, str], None]
) -> BaseObserver:
    """Start an observer of ``kind`` (NATIVE or POLLING) on ``inbox`` that passes the path
    and type of each event to ``note``, and return it. Raise ObserverUnavailable, with the
    reason, if it cannot start, whatever the cause; nothing of it is left running then."""
    observer: BaseObserver
    observer = PollingObserver(timeout=POLLING_SECONDS) if kind is WatchMode.POLLING else Observer()
    observer.daemon = True
    try:
        observer.schedule(_EventHints(note), str(inbox), recursive=recursive)
        observer.start()
    except RecursionError as exc:
        stop_observer(observer, 0.0)
        raise ObserverUnavailable("a folder in it is nested too deep to watch") from exc
    except Exception as exc:  # any failure of the library, translated at the boundary
        stop_observer(observer, 0.0)
        raise ObserverUnavailable(str(exc) or type(exc).__name__) from exc
    return observer


def stop_observer(observer: BaseObserver, timeout: float) -> None:
    """Stop ``observer`` and wait at most ``timeout`` seconds for its threads to end."""
    # A stop can fail on an observer that never started; there is nothing left to end then.
    with contextlib.suppress(Exception):
        observer.stop()
    with contextlib.suppress(RuntimeError):  # joined before it was started
        observer.join(timeout=timeout)


class ObserverKeeper:
    """Keeps one observer on ``folder`` while it is allowed to, or none.

    ``note(path, event_type)`` gets every event; ``problem(message)`` is told, in a sentence
    naming the folder, each time an observer cannot start or is found stopped. While none
    runs, the caller watches the folder by other means (``fallback`` names them, as the end
    of those sentences).
    """

    def __init__(
        self,
        folder: Path,
        *,
        mode: WatchMode,
        recursive: bool,
        note: Callable[[str, str], None],
        problem: Callable[[str], None],
        fallback: str,
    ) -> None:
        self._folder = folder
        self._mode = mode
        self._recursive = recursive
        self._note = note
        self._problem = problem
        self._fallback = fallback
        self._observer: BaseObserver | None = None
        self._retry_at = 0.0  # no new observer is tried before this (monotonic seconds)
        self.kind = choose_observer_kind(mode, "")

    @property
    def observing(self) -> bool:
        """True while an observer runs."""
        observer = self._observer
        return observer is not None and observer_alive(observer)

    def keep(self, now: float, *, allowed: bool, why_not: str = "") -> bool:
        """Keep an observer running at time ``now`` (monotonic) if ``allowed``, else drop it
        (saying ``why_not``); return True if a new one started (events may have been missed
        while none ran)."""
        observer = self._observer
        if observer is not None and not observer_alive(observer):
            # Its folder was replaced, or an error ended its thread: a new one is tried now.
            self.drop(JOIN_SECONDS)
            self._problem(f"the observer of {self._folder} stopped; restarting it")
            self._retry_at = now
        if not allowed:
            if self._observer is not None or self.kind is not WatchMode.POLLING:
                self._give_up(now, f"{self._folder} {why_not}")
            return False
        if self._observer is not None or now < self._retry_at:
            return False
        kind = choose_observer_kind(self._mode, filesystem_type(self._folder))
        if self._start(kind):
            return True
        self._retry_at = now + OBSERVER_RETRY_SECONDS
        return False

    def reset(self, timeout: float) -> None:
        """Drop the observer of a folder that was replaced; the next :meth:`keep` starts one."""
        self.drop(timeout)
        self._retry_at = 0.0

    def drop(self, timeout: float) -> None:
        """Stop the observer, if one runs, waiting at most ``timeout`` seconds."""
        observer, self._observer = self._observer, None
        if observer is not None:
            stop_observer(observer, timeout)

    def _give_up(self, now: float, why: str) -> None:
        self.drop(JOIN_SECONDS)
        self.kind = WatchMode.POLLING
        self._retry_at = now + OBSERVER_RETRY_SECONDS
        self._problem(f"{why}; {self._fallback}")

    def _start(self, kind: WatchMode) -> bool:
        try:
            observer = launch_observer(
                kind, self._folder, recursive=self._recursive, note=self._note
            )
        except ObserverUnavailable as exc:
            if self._mode is WatchMode.AUTO and kind is WatchMode.NATIVE:
                self._problem(f"cannot watch {self._folder} natively ({exc}); trying a poller")
                return self._start(WatchMode.POLLING)
            self.kind = WatchMode.POLLING
            self._problem(f"cannot watch {self._folder} ({exc}); {self._fallback}")
            return False
        self._observer, self.kind = observer, kind
        return True
