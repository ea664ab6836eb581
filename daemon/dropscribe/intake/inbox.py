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

A settled file shorter than its container declares (:mod:`dropscribe.intake.containers`: a
writer that closed it, paused and will reopen it) is not offered either, until it has grown
to its length or stayed unchanged for ``unfinished_wait_seconds``; then it is offered with
its ``truncated`` reason, for the caller to refuse.

Which entries are candidates is decided in :mod:`dropscribe.intake.recordings`, when one is
finished in :mod:`dropscribe.intake.settle`. Entries are never opened here, only lstat'ed without
following links; the caller checks each offered entry with
:func:`dropscribe.intake.recordings.inspect_entry`.

Folders nested deeper than ``max_depth`` below the inbox are refused: never entered, named
once through ``on_refused``. watchdog's observers walk the whole tree, recursively, so while a
scan finds such a folder no observer runs: the watcher polls the inbox itself, every
OWN_POLL_SECONDS, with its own bounded scan. It does the same whenever an observer cannot
start or dies, for whatever reason, and tries a new one every OBSERVER_RETRY_SECONDS.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dropscribe.core.folder_tree import DEFAULT_MAX_DEPTH, depth_of, walk_tree
from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.containers import file_shortfall
from dropscribe.intake.declared_length import Shortfall
from dropscribe.intake.observers import JOIN_SECONDS, ObserverKeeper, quiet_stopped_emitter
from dropscribe.intake.recordings import (
    EntryChanged,
    ignored_reason,
    is_candidate,
    is_candidate_rel,
    is_ignored,
    lstat_inside,
    too_deep_reason,
)
from dropscribe.intake.settle import SettleTracker
from dropscribe.intake.writers import open_for_writing

STALL_SECONDS = 60.0  # a settle thread silent this long (seconds) counts as hung
# How often the watcher scans the whole inbox itself while no observer runs (seconds): the
# same work as a polling observer's snapshot, bounded by the depth cap.
OWN_POLL_SECONDS = 1.0
# The event that says a writer wrote in place (IN_MODIFY; a file moved in, even from outside
# the inbox, brings none), and the one that says a writer closed the file (IN_CLOSE_WRITE).
_WRITE_EVENTS = frozenset({"modified"})
_CLOSE_EVENT = "closed"
# How often a settled file that some process still holds open for writing is checked again
# in /proc (seconds): the scan reads every process's open files.
WRITER_CHECK_SECONDS = 1.0
# How often a settled file shorter than its container declares is read again (seconds): a
# few header reads, and its growth restarts settling anyway.
UNFINISHED_CHECK_SECONDS = 1.0
DEFAULT_UNFINISHED_WAIT_SECONDS = 600.0  # the schema's default (seconds)


@dataclass(frozen=True)
class Entry:
    """A settled candidate: its path, and ``rel``, the posix path relative to the inbox;
    ``truncated``: why it is refused, when it stayed shorter than its container declares."""

    path: Path
    rel: str
    truncated: str = ""


class InboxWatcher:
    """Watches an inbox and calls ``on_ready(entry)`` once per settled candidate.

    ``on_ready`` runs in the settle thread, one call at a time. Returning means the entry was
    taken (usually moved away by the caller); it is offered again only if it changes or
    disappears and comes back. Raising EntryChanged means it was not what settled: it settles
    again from the start. Raising anything else means "not now": the entry is offered again
    on the next tick. Problems the watcher works around (a missing inbox, an observer that
    cannot run) are reported through ``on_problem``, each once until it changes.
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
        max_depth: int = DEFAULT_MAX_DEPTH,
        unfinished_wait_seconds: float = DEFAULT_UNFINISHED_WAIT_SECONDS,
        check_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_problem: Callable[[str], None] | None = None,
        on_ignored: Callable[[str, str], None] | None = None,
        on_refused: Callable[[str, str], None] | None = None,
        on_unfinished: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_ignored(rel, reason)`` is called once per file left in the inbox because of
        its extension (again only if another file takes its name); ``on_refused(rel,
        reason)`` once per folder nested deeper than ``max_depth`` (again only if it goes and
        comes back); ``on_unfinished(rel, reason)`` once per shortfall of a settled file
        shorter than its container declares, when its wait begins. ``clock`` (monotonic)
        times settling, rescans and the heartbeat; ``wall_clock`` is what files' ctimes are
        compared with; tests pass their own of both."""
        self._inbox = inbox
        self._on_ignored = on_ignored
        self._on_refused = on_refused
        self._on_unfinished = on_unfinished
        self._unfinished_wait = unfinished_wait_seconds
        self._unfinished: dict[str, Shortfall] = {}  # rel -> the shortfall reported
        self._ignored: dict[str, int] = {}  # rel -> inode of the files already reported
        self._too_deep: set[str] = set()  # rels of the refused folders seen since the last scan
        self._refused: set[str] = set()  # those already reported; kept while they stay
        self._on_ready = on_ready
        self._on_problem = on_problem
        self._mode = mode
        self._recursive = recursive
        self._max_depth = max_depth
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
        self._keeper = ObserverKeeper(
            inbox,
            mode=mode,
            recursive=recursive,
            note=self._note_event,
            problem=self._problem,
            fallback=f"polling it every {OWN_POLL_SECONDS:g} s instead",
        )
        self._identity: tuple[int, int] | None = None
        self._inbox_missing = False
        self._next_scan = 0.0
        self._heartbeat = clock()
        self._last_problem = ""

    @property
    def observer_kind(self) -> WatchMode:
        """How the inbox is watched now: NATIVE, or POLLING (an observer's or its own)."""
        return self._keeper.kind

    def start(self) -> None:
        """Scan the inbox, start an observer (or poll) and scan again, then start the settle
        thread.

        The first scan says whether the tree may be observed (no folder nested too deep); the
        second finds what arrived before the observer watched.
        """
        if self._thread is not None:
            raise RuntimeError("the inbox watcher was already started")
        quiet_stopped_emitter()
        self._rescan.set()
        self.tick()
        if self._rescan.is_set():
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
        self._keeper.drop(max(0.0, deadline - time.monotonic()))

    def pending_count(self) -> int:
        """Return how many candidates are waiting to settle or to be taken."""
        return len(self._tracker.pending())

    def rescan_now(self) -> None:
        """Ask for a full scan on the next tick; safe from any thread or signal handler."""
        self._rescan.set()

    def is_alive(self) -> bool:
        """Return True while the settle thread ticks: it watches the inbox through an observer,
        polls it itself, or waits for a missing inbox to come back."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return False
        return self._clock() - self._heartbeat <= max(STALL_SECONDS, 10 * self._check_interval)

    def _run(self) -> None:
        while not self._stop.wait(self._check_interval):
            self.tick()

    def tick(self) -> None:
        """Look at the inbox once: drain the event hints, re-stat what is tracked (and scan
        when a rescan is due), start or drop the observer, and offer what has settled. The
        settle thread's one step, callable directly with a fake clock while no settle thread
        ticks (one that is not started, or waits a long ``check_interval``)."""
        now = self._clock()
        self._heartbeat = now
        if not self._inbox_present():
            return
        rels = self._drain_hints() | set(self._tracker.tracked())
        if self._rescan.is_set() or now >= self._next_scan:
            self._rescan.clear()
            rels.update(self._full_scan())
            self._next_scan = now + self._rescan_seconds
        for rel in sorted(rels):
            self._observe(rel, now)
        # watchdog walks every folder below the inbox, the refused ones too: none observes
        # a tree that holds them.
        allowed = not self._too_deep
        if self._keeper.keep(now, allowed=allowed, why_not="holds folders nested too deep"):
            self._rescan.set()  # whatever arrived while nothing watched
            self._last_problem = ""
        if not self._keeper.observing:
            self._next_scan = min(self._next_scan, now + OWN_POLL_SECONDS)
        self._offer_ready(now)

    def _full_scan(self) -> set[str]:
        self._too_deep = set()  # what this scan finds
        scanned = set(self._scan(""))
        # Forget reported files and folders that are gone, so the memory follows the inbox.
        self._refused &= self._too_deep
        self._ignored = {r: i for r, i in self._ignored.items() if r in scanned}
        self._held = {r: t for r, t in self._held.items() if r in scanned}
        self._unfinished = {r: n for r, n in self._unfinished.items() if r in scanned}
        return scanned

    def _offer_ready(self, now: float) -> None:
        ready = [rel for rel in self._tracker.ready(now) if now >= self._held.get(rel, 0.0)]
        busy = open_for_writing(self._inbox) if ready else set()
        for rel in ready:
            if os.path.realpath(self._inbox / rel) in busy:
                # Still open for writing: settled is not finished; looked at again shortly.
                self._held[rel] = now + WRITER_CHECK_SECONDS
            elif (short := file_shortfall(self._inbox / rel)) is None:
                self._held.pop(rel, None)
                self._offer(rel)
            elif self._tracker.still_for(rel, now) < self._unfinished_wait:
                # Shorter than it says: its writer may come back (a resumed upload).
                self._held[rel] = now + UNFINISHED_CHECK_SECONDS
                self._report_unfinished(rel, short)
            else:
                self._held.pop(rel, None)
                self._offer(rel, short.reason)

    def _report_unfinished(self, rel: str, short: Shortfall) -> None:
        if self._unfinished.get(rel) == short:
            return
        self._unfinished[rel] = short
        if self._on_unfinished is not None:
            self._on_unfinished(rel, short.reason)

    def _offer(self, rel: str, truncated: str = "") -> None:
        try:
            self._on_ready(Entry(self._inbox / rel, rel, truncated))
        except EntryChanged:  # not the file that settled: it settles again from the start
            self._tracker.forget(rel)
            self._rescan.set()  # it may be back under another name
            return
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
        if self._keeper.kind is WatchMode.NATIVE:
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
        if depth_of(rel) > self._max_depth:  # inside a refused folder: its name says so
            self._tracker.forget(rel)
            self._refuse(rel)
            return
        try:
            st = lstat_inside(self._inbox, rel)
        except OSError:
            self._tracker.forget(rel)
            return
        if stat.S_ISDIR(st.st_mode) and depth_of(rel) >= self._max_depth:
            self._refuse(rel)
        elif stat.S_ISDIR(st.st_mode):
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

    def _refuse(self, rel: str) -> None:
        """Note that the folder at (or above) ``rel`` is nested too deep: report the
        shallowest such folder once, while it stays."""
        folder = "/".join(rel.split("/")[: self._max_depth + 1])
        self._too_deep.add(folder)
        if folder in self._refused:
            return
        self._refused.add(folder)
        if self._on_refused is not None:
            self._on_refused(folder, too_deep_reason(self._max_depth))

    def _scan(self, under: str) -> Iterator[str]:
        """Yield the candidate rels under the inbox-relative folder ``under``, never entering
        folder links nor folders nested deeper than ``max_depth`` (refused instead);
        unreadable folders are skipped until the next scan."""

        def enter(name: str) -> bool:
            return self._recursive and not is_ignored(name, self._ignore)

        for listing in walk_tree(self._inbox, max_depth=self._max_depth, under=under, enter=enter):
            for name in listing.too_deep:
                self._refuse(listing.child(name))
            for name in listing.files:
                if not is_ignored(name, self._ignore):
                    yield listing.child(name)

    def _inbox_present(self) -> bool:
        """Return True if the inbox can be read; else drop the observer and say so."""
        try:
            st = os.stat(self._inbox)
        except OSError as exc:
            self._inbox_missing = True
            self._keeper.drop(JOIN_SECONDS)
            self._problem(f"the inbox {self._inbox} cannot be read ({exc.strerror}); waiting")
            return False
        if self._inbox_missing:
            self._last_problem = ""
        self._inbox_missing = False
        identity = (st.st_dev, st.st_ino)
        if identity != self._identity:
            # Another folder now: whatever it holds was never scanned, nor is it watched.
            self._identity = identity
            self._keeper.reset(JOIN_SECONDS)
            self._rescan.set()
        return True

    def _problem(self, message: str) -> None:
        if message != self._last_problem:
            self._last_problem = message
            if self._on_problem is not None:
                self._on_problem(message)
