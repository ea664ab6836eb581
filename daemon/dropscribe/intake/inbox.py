"""The inbox: noticing recordings and offering each once it is finished.

Events from watchdog are hints, not truth. An event only marks a path to be looked at; a full
scan at start and every ``rescan_seconds`` catches whatever the events missed (files that
arrived while the daemon was stopped, events lost to a queue overflow, a restarted observer).
A settle thread re-stats every candidate each ``check_interval`` and offers it to ``on_ready``
once its size, mtime and inode have not changed for ``settle_seconds`` across consecutive checks.

Where the watch is native (inotify), a file written in place is not finished before its writer
closes it (IN_CLOSE_WRITE, which watchdog reports as "closed"), however long the writer stalls;
a file moved in (rsync, Syncthing: a temporary name, then a rename) needs no close. The
polling observer used on network filesystems sees no writes or closes: there it is the settle
time alone. Either way, a settled file that some process still holds open for writing
(:mod:`dropscribe.intake.writers`, from /proc) is not offered until it is closed.

Which entries are candidates is decided in :mod:`dropscribe.intake.recordings`, when one is
finished in :mod:`dropscribe.intake.settle`. Entries are never opened here, only lstat'ed without
following links; the caller checks each offered entry with
:func:`dropscribe.intake.recordings.inspect_entry`.

This is the only module that imports watchdog.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.mounts import choose_observer_kind, filesystem_type
from dropscribe.intake.recordings import ignored_reason, is_candidate, is_candidate_rel, is_ignored
from dropscribe.intake.settle import SettleTracker
from dropscribe.intake.writers import open_for_writing

# How often the polling observer snapshots the tree, in seconds: a file is first seen at most
# this late, and the settle timer starts then, so it counts against detection latency.
POLLING_SECONDS = 0.25
STALL_SECONDS = 60.0  # a settle thread silent this long (seconds) counts as hung
JOIN_SECONDS = 5.0  # longest wait (seconds) for a replaced observer's threads to end
_SKIPPED_EVENTS = frozenset({"opened", "closed_no_write"})  # our own reads cause these
# The event that says a writer wrote in place (IN_MODIFY; a file moved in, even from outside
# the inbox, brings none), and the one that says a writer closed the file (IN_CLOSE_WRITE).
_WRITE_EVENTS = frozenset({"modified"})
_CLOSE_EVENT = "closed"
# How often a settled file that some process still holds open for writing is checked again
# in /proc (seconds): the scan reads every process's open files.
WRITER_CHECK_SECONDS = 1.0
# watchdog's inotify emitter says this, as an error, when it is stopped while it waits for
# events; that is every clean stop that races with its read, not a fault.
_INACTIVE_EMITTER = "called when the thread is inactive"


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


@dataclass(frozen=True)
class Entry:
    """A settled candidate: its path, and ``rel``, the posix path relative to the inbox."""

    path: Path
    rel: str


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


def _observer_alive(observer: BaseObserver) -> bool:
    # An emitter stops on its own when the watched folder is deleted; the observer does not.
    emitters = observer.emitters
    return observer.is_alive() and bool(emitters) and all(e.is_alive() for e in emitters)


def _lstat_inside(inbox: Path, rel: str) -> os.stat_result:
    # Every parent must be a real folder: a folder swapped for a link must not lead outside.
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        if not stat.S_ISDIR(os.lstat(inbox.joinpath(*parts[:depth])).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", rel)
    return os.lstat(inbox / rel)


class InboxWatcher:
    """Watches an inbox and calls ``on_ready(entry)`` once per settled candidate.

    ``on_ready`` runs in the settle thread, one call at a time. Returning means the entry was
    taken (usually moved away by the caller); it is offered again only if it changes or
    disappears and comes back. Raising means "not now": the entry is offered again on the next
    tick. Problems the watcher works around (a missing inbox, a restarted observer) are
    reported through ``on_problem``, each once until it changes.
    """

    def __init__(
        self,
        inbox: Path,
        *,
        on_ready: Callable[[Entry], None],
        mode: WatchMode,
        recursive: bool,
        settle_seconds: float,
        rescan_seconds: float,
        extensions: Sequence[str],
        ignore: Sequence[str],
        check_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_problem: Callable[[str], None] | None = None,
        on_ignored: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_ignored(rel, reason)`` is called once per file left in the inbox because of
        its extension (again only if another file takes its name). ``clock`` (monotonic)
        times settling, rescans and the heartbeat; ``wall_clock`` is what files' ctimes are
        compared with; tests pass their own of both."""
        self._inbox = inbox
        self._on_ignored = on_ignored
        self._ignored: dict[str, int] = {}  # rel -> inode of the files already reported
        self._on_ready = on_ready
        self._on_problem = on_problem
        self._mode = mode
        self._recursive = recursive
        self._rescan_seconds = rescan_seconds
        self._extensions = tuple(extensions)
        self._ignore = tuple(ignore)
        self._check_interval = check_interval
        self._clock = clock
        self._wall_clock = wall_clock
        self._tracker = SettleTracker(settle_seconds)
        self._hints: set[str] = set()
        self._writes: list[tuple[str, str]] = []  # (rel, event type) of writes and closes
        self._held: dict[str, float] = {}  # rel -> when to look in /proc for its writers again
        self._hints_lock = threading.Lock()
        self._rescan = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self._kind = choose_observer_kind(mode, "")
        self._identity: tuple[int, int] | None = None
        self._inbox_missing = False
        self._next_scan = 0.0
        self._heartbeat = clock()
        self._last_problem = ""

    @property
    def observer_kind(self) -> WatchMode:
        """The kind of observer running (or last started): NATIVE or POLLING."""
        return self._kind

    def start(self) -> None:
        """Start the observer, scan the inbox once, then start the settle thread.

        The observer starts before the scan so that no file arrives unseen in between.
        """
        if self._thread is not None:
            raise RuntimeError("the inbox watcher was already started")
        quiet_stopped_emitter()
        self._rescan.set()
        self.tick()
        self._thread = threading.Thread(target=self._run, name="inbox-settle", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the settle thread, then the observer, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        # The settle thread goes first: it restarts any observer it finds stopped.
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._drop_observer(max(0.0, deadline - time.monotonic()))

    def pending_count(self) -> int:
        """Return how many candidates are waiting to settle or to be taken."""
        return len(self._tracker.pending())

    def rescan_now(self) -> None:
        """Ask for a full scan on the next tick; safe from any thread or signal handler."""
        self._rescan.set()

    def is_alive(self) -> bool:
        """Return True while the settle thread ticks and the observer runs (or the watcher is
        deliberately waiting for a missing inbox to come back)."""
        thread, observer = self._thread, self._observer
        if thread is None or not thread.is_alive():
            return False
        if self._clock() - self._heartbeat > max(STALL_SECONDS, 10 * self._check_interval):
            return False
        return self._inbox_missing or (observer is not None and _observer_alive(observer))

    def _run(self) -> None:
        while not self._stop.wait(self._check_interval):
            self.tick()

    def tick(self) -> None:
        """Look at the inbox once: drain the event hints, re-stat what is tracked (and scan
        when a rescan is due), and offer what has settled. The settle thread's one step,
        callable directly with a fake clock while no settle thread ticks (one that is not
        started, or waits a long ``check_interval``)."""
        now = self._clock()
        self._heartbeat = now
        if not self._keep_watching():
            return
        rels = self._drain_hints() | set(self._tracker.tracked())
        if self._rescan.is_set() or now >= self._next_scan:
            self._rescan.clear()
            self._next_scan = now + self._rescan_seconds
            scanned = set(self._scan(""))
            # Forget reported files that are gone, so the memory follows the inbox.
            self._ignored = {r: i for r, i in self._ignored.items() if r in scanned}
            self._held = {r: t for r, t in self._held.items() if r in scanned}
            rels.update(scanned)
        for rel in sorted(rels):
            self._observe(rel, now)
        ready = [rel for rel in self._tracker.ready(now) if now >= self._held.get(rel, 0.0)]
        busy = open_for_writing(self._inbox) if ready else set()
        for rel in ready:
            if os.path.realpath(self._inbox / rel) in busy:
                # Still open for writing: settled is not finished; looked at again shortly.
                self._held[rel] = now + WRITER_CHECK_SECONDS
            else:
                self._held.pop(rel, None)
                self._offer(rel)

    def _offer(self, rel: str) -> None:
        try:
            self._on_ready(Entry(self._inbox / rel, rel))
        except Exception:  # the caller's "not now": offered again next tick
            return
        finally:
            self._heartbeat = self._clock()
        self._tracker.mark_taken(rel)

    def _note_event(self, path: str, kind: str = "") -> None:
        rel = os.path.relpath(path, self._inbox)
        if rel != "." and rel != ".." and not rel.startswith("../"):
            with self._hints_lock:
                self._hints.add(rel)
                if kind in _WRITE_EVENTS or kind == _CLOSE_EVENT:
                    self._writes.append((rel, kind))

    def _drain_hints(self) -> set[str]:
        with self._hints_lock:
            hints, self._hints = self._hints, set()
            writes, self._writes = self._writes, []
        # Only inotify reports closes: under polling, a write mark would never be lifted.
        if self._kind is WatchMode.NATIVE:
            for rel, kind in writes:
                if kind == _CLOSE_EVENT:
                    self._tracker.note_closed(rel)
                else:
                    self._tracker.note_write(rel)
        return hints

    def _observe(self, rel: str, now: float) -> None:
        if not is_candidate_rel(rel, self._ignore, recursive=self._recursive):
            self._tracker.forget(rel)
            return
        try:
            st = _lstat_inside(self._inbox, rel)
        except OSError:
            self._tracker.forget(rel)
            return
        if stat.S_ISDIR(st.st_mode):
            # A folder moved in brings files no event named one by one.
            for sub in self._scan(rel) if self._recursive else ():
                self._observe(sub, now)
        elif is_candidate(rel.rpartition("/")[2], st.st_mode, self._extensions):
            age = self._wall_clock() - st.st_ctime  # ctime is wall-clock time
            self._tracker.observe(rel, st.st_size, st.st_mtime_ns, now, inode=st.st_ino, age=age)
        else:
            self._tracker.forget(rel)
            self._report_ignored(rel, st.st_ino)

    def _report_ignored(self, rel: str, inode: int) -> None:
        if self._ignored.get(rel) == inode:
            return
        self._ignored[rel] = inode
        if self._on_ignored is not None:
            self._on_ignored(rel, ignored_reason(rel.rpartition("/")[2], self._extensions))

    def _scan(self, under: str) -> Iterator[str]:
        """Yield the candidate rels under the inbox-relative folder ``under``, never entering
        folder links; unreadable folders are skipped until the next scan."""
        folders = [under]
        while folders:
            folder = folders.pop()
            try:
                with os.scandir(self._inbox / folder) as entries:
                    found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
            except OSError:
                continue
            for name, is_dir in found:
                rel = f"{folder}/{name}" if folder else name
                if is_ignored(name, self._ignore):
                    continue
                if is_dir:
                    if self._recursive:
                        folders.append(rel)
                else:
                    yield rel

    def _keep_watching(self) -> bool:
        """Make sure an observer watches the inbox as it is now; return False if it is gone."""
        try:
            st = os.stat(self._inbox)
        except OSError as exc:
            self._inbox_missing = True
            self._drop_observer(JOIN_SECONDS)
            self._problem(f"the inbox {self._inbox} cannot be read ({exc.strerror}); waiting")
            return False
        self._inbox_missing = False
        identity = (st.st_dev, st.st_ino)
        observer = self._observer
        if observer is not None and identity == self._identity and _observer_alive(observer):
            return True
        if observer is not None:
            self._problem(f"the observer of {self._inbox} stopped; restarting it")
        self._drop_observer(JOIN_SECONDS)
        moved, self._identity = identity != self._identity, identity
        kind = choose_observer_kind(self._mode, filesystem_type(self._inbox))
        if self._start_observer(kind) or moved:
            self._rescan.set()  # whatever arrived while nothing watched
        return True

    def _start_observer(self, kind: WatchMode) -> bool:
        """Start an observer of ``kind``; return False (and report why) if none could start."""
        try:
            self._observer, self._kind = self._launch(kind), kind
        except OSError as exc:
            if self._mode is not WatchMode.AUTO or kind is WatchMode.POLLING:
                self._problem(f"cannot watch {self._inbox} ({exc}); relying on rescans")
                return False
            self._problem(f"cannot watch {self._inbox} natively ({exc}); polling instead")
            return self._start_observer(WatchMode.POLLING)
        self._last_problem = ""
        return True

    def _launch(self, kind: WatchMode) -> BaseObserver:
        observer: BaseObserver
        if kind is WatchMode.POLLING:
            observer = PollingObserver(timeout=POLLING_SECONDS)
        else:
            observer = Observer()
        observer.daemon = True
        observer.schedule(
            _EventHints(self._note_event), str(self._inbox), recursive=self._recursive
        )
        observer.start()
        return observer

    def _drop_observer(self, timeout: float) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=timeout)

    def _problem(self, message: str) -> None:
        if message != self._last_problem:
            self._last_problem = message
            if self._on_problem is not None:
                self._on_problem(message)
