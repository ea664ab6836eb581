"""Settling: deciding when a file is finished, from observations alone.

A writer may take seconds or hours; nothing tells the daemon when it is done. A file counts as
finished once consecutive observations of its size, mtime and inode agree for long enough. The
decision is pure (no I/O, no clock): the inbox watcher stats the files and passes the time in.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A file marked as being written whose close the watcher never saw (an event lost to a queue
#: overflow, a writer that died) is taken anyway after this long unchanged (seconds).
WRITING_GRACE_SECONDS = 60.0


@dataclass
class _Seen:
    signature: tuple[int, int, int]
    since: float
    observations: int = 1
    taken: bool = False


class SettleTracker:
    """Decides when files are finished, from observations alone (no I/O, no clock).

    A file is ready once at least two consecutive observations saw the same (size, mtime_ns,
    inode) and the first of them is ``settle_seconds`` old. Any change restarts the timer, so
    a slow but steady writer is never taken early. A taken file is not ready again until it
    changes or is forgotten.

    A file first seen with its status-change time (ctime) already ``settle_seconds`` in the
    past (given as ``age``) has been still that long: it is ready at its first observation.
    That is every file that was waiting in the inbox when the daemon started. ctime, unlike
    mtime, cannot be set back by a writer: every write, rename, chmod or utime moves it to
    the present, so a file being written, or just moved in, is never taken this way.

    Where the watcher sees writes and closes (inotify's IN_MODIFY and IN_CLOSE_WRITE), a file
    written since its last close (:meth:`note_write`, :meth:`note_closed`) is not ready
    however long it stays still, unless it stays still for WRITING_GRACE_SECONDS.
    """

    def __init__(self, settle_seconds: float) -> None:
        if settle_seconds < 0:
            raise ValueError("settle_seconds must not be negative")
        self._settle = settle_seconds
        self._seen: dict[str, _Seen] = {}
        self._writing: set[str] = set()

    def observe(
        self, rel: str, size: int, mtime_ns: int, now: float, *, inode: int = 0, age: float = 0.0
    ) -> None:
        """Record what ``rel`` looked like at time ``now``; ``age``: how many seconds before
        ``now`` its status last changed (ctime), by the wall clock (0 when unknown)."""
        signature = (size, mtime_ns, inode)
        seen = self._seen.get(rel)
        if seen is None or seen.signature != signature:
            # Still long enough by its ctime: as good as a second observation settle_seconds on.
            if self._settle > 0 and age >= self._settle:
                self._seen[rel] = _Seen(signature, since=now - age, observations=2)
            else:
                self._seen[rel] = _Seen(signature, since=now)
        else:
            seen.observations += 1

    def forget(self, rel: str) -> None:
        """Stop tracking ``rel`` (it is gone); if it comes back it starts afresh."""
        self._seen.pop(rel, None)
        self._writing.discard(rel)

    def note_write(self, rel: str) -> None:
        """A writer wrote to ``rel``: it is not finished before that writer closes it."""
        self._writing.add(rel)

    def note_closed(self, rel: str) -> None:
        """The last writer of ``rel`` closed it."""
        self._writing.discard(rel)

    def writing(self, rel: str) -> bool:
        """Return True if ``rel`` was written since its last close."""
        return rel in self._writing

    def still_for(self, rel: str, now: float) -> float:
        """Return how long (seconds) ``rel`` has been unchanged by ``now`` (0 if untracked)."""
        seen = self._seen.get(rel)
        return 0.0 if seen is None else now - seen.since

    def mark_taken(self, rel: str) -> None:
        """Note that ``rel`` was handed over; it is not ready again until it changes."""
        if rel in self._seen:
            self._seen[rel].taken = True

    def ready(self, now: float) -> list[str]:
        """Return the untaken rels that have settled by ``now``, longest settled first."""
        self._writing &= self._seen.keys()  # marks of folders and of files gone
        done = [
            (seen.since, rel)
            for rel, seen in self._seen.items()
            if not seen.taken and seen.observations >= 2 and now - seen.since >= self._wait(rel)
        ]
        return [rel for _, rel in sorted(done)]

    def _wait(self, rel: str) -> float:
        if rel in self._writing:
            return max(self._settle, WRITING_GRACE_SECONDS)
        return self._settle

    def pending(self) -> list[str]:
        """Return the rels tracked and not yet taken, settled or not."""
        return sorted(rel for rel, seen in self._seen.items() if not seen.taken)

    def tracked(self) -> list[str]:
        """Return every rel tracked, taken ones included (they are re-checked until gone)."""
        return list(self._seen)
