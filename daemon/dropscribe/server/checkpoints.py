"""A running job's checkpoints and progress, kept in the job book as its pieces finish.

The engine transcribes a long recording a few minutes at a time (``engine.stream``); each
finished piece is kept with the job, with how far the job is, in one transaction. When the
server dies under the job (a SIGKILL, a reboot) or stops, the next run of the job reads the
pieces kept and goes on after the last of each channel, so only the piece that was running is
decoded again; the result is the one an uninterrupted run gives, since a piece's cut depends
only on the samples from the cut before it. Pieces that cannot be read, or that do not follow
one another, are dropped and the job starts over: a checkpoint may save time, never change
a transcript. The pieces go when the job ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from dropscribe.engine.audio import AudioProblem, probe
from dropscribe.engine.stream import PieceResult, from_json, in_order
from dropscribe.server.records import Progress

log = logging.getLogger(__name__)


class PieceBook(Protocol):
    """Where a job's pieces are kept: the SQLite store (the Redis book may follow)."""

    def keep_piece(
        self, job_id: str, channel: int, index: int, result: str, progress: Progress
    ) -> bool: ...

    def pieces(self, job_id: str) -> list[str]: ...

    def forget_pieces(self, job_id: str) -> None: ...


class Checkpoints:
    """One job's finished pieces: read once when it starts, added to as pieces finish."""

    def __init__(self, book: PieceBook, job_id: str, total_seconds: float | None) -> None:
        self._book = book
        self._job_id = job_id
        self._total = total_seconds
        self._ends: dict[int, float] = {}

    def done(self) -> list[PieceResult]:
        """Return the pieces an earlier run finished, in order; none when they are unusable
        (then forgotten, so the job starts over)."""
        kept = self._book.pieces(self._job_id)
        try:
            results = [from_json(text) for text in kept]
        except (ValueError, KeyError, TypeError):
            results = []
        if kept and (not results or not in_order(results)):
            log.warning("job %s: its kept pieces are unusable; it starts over", self._job_id)
            self._book.forget_pieces(self._job_id)
            return []
        for result in results:
            self._ends[result.channel] = result.end
        if results:
            log.info("job %s: going on after %d finished pieces", self._job_id, len(results))
        return results

    def keep(self, result: PieceResult) -> None:
        """Keep a piece just finished and the job's progress."""
        self._ends[result.channel] = result.end
        self._book.keep_piece(
            self._job_id, result.channel, result.index, result.as_json(), self.progress()
        )

    def progress(self) -> Progress:
        """Return how far the job is: the seconds its channels have reached, on average (a
        call recording's two channels advance together), within the total when known."""
        channels = 2 if any(channel > 0 for channel in self._ends) else 1
        done = sum(self._ends.values()) / channels
        if self._total is not None:
            done = min(done, self._total)
        return Progress(round(done, 3), self._total)


def declared_seconds(audio: Path) -> float | None:
    """Return how long the recording's header says it is; None where it does not say."""
    try:
        return probe(audio).duration_seconds
    except (AudioProblem, OSError):
        return None
