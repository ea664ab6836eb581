"""The progress bar `once` shows on a terminal, drawn by tqdm, with log lines kept above it.

Only this module imports tqdm. The bar counts the jobs of this run: those already finished
when it first looks are left out, so a state file with a long history still shows ``2/2``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

from dropscribe.core.progress import AudioTally

#: The bar's layout: " 50%|#####     | 1/2 jobs, 0 failed, 3.1/12.0 audio min [00:03]" (tqdm
#: puts the comma in front of the postfix; the audio only where the service reports it).
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} jobs{postfix} [{elapsed}]"


@dataclass(frozen=True)
class Tally:
    """Jobs of this run: how many there are, how many finished, how many of those failed."""

    total: int
    finished: int
    failed: int


def finished_count(counts: Mapping[str, int]) -> int:
    """Return how many jobs in ``counts`` (jobs per state) are published or failed."""
    return counts.get("published", 0) + counts.get("failed", 0)


def tally(counts: Mapping[str, int], before: Mapping[str, int]) -> Tally:
    """Given the jobs per state now and when the run began, return this run's tally."""
    done_before = finished_count(before)
    return Tally(
        total=sum(counts.values()) - done_before,
        finished=finished_count(counts) - done_before,
        failed=counts.get("failed", 0) - before.get("failed", 0),
    )


def postfix(jobs: Tally, audio: AudioTally | None) -> str:
    """Return the words after the jobs count: the failed, and the audio minutes done of all
    where the service reported any ("0 failed, 3.1/12.0 audio min")."""
    failed = f"{jobs.failed} failed"
    if audio is None or audio.total_seconds <= 0:
        return failed
    return f"{failed}, {audio.done_seconds / 60:.1f}/{audio.total_seconds / 60:.1f} audio min"


class ProgressBar:
    """A bar on ``stream`` (a terminal), opened at the first :meth:`show`, whose counts are
    the baseline: show it the counts before the run starts."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: tqdm | None = None
        self._before: Mapping[str, int] = {}

    def show(self, counts: Mapping[str, int], audio: AudioTally | None = None) -> None:
        """Redraw the bar for ``counts``, the jobs per state in the state file, and ``audio``,
        the audio of this run's jobs."""
        if self._bar is None:
            self._before = dict(counts)
            self._bar = tqdm(file=self._stream, total=0, bar_format=BAR_FORMAT, **_screen())
        now = tally(counts, self._before)
        self._bar.total = now.total
        self._bar.n = now.finished
        self._bar.set_postfix_str(postfix(now, audio), refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Leave the bar as it last was, on a line of its own."""
        if self._bar is not None:
            self._bar.close()

    def lines_above(self) -> LinesAbove:
        """Return a stream whose lines are written above the bar."""
        return LinesAbove(self._stream)


def _screen() -> dict[str, int]:
    """Return the terminal's size for tqdm. tqdm asks the terminal itself, and draws nothing
    on one that reports 0x0 (a fresh pty, some serial consoles); get_terminal_size falls back
    to $COLUMNS/$LINES, then 80x24."""
    size = shutil.get_terminal_size()
    return {"ncols": size.columns, "nrows": size.lines}


class LinesAbove:
    """A text stream for a log handler: each write clears the bars on the terminal, writes,
    and draws them again below (tqdm.write)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` above the bar; return its length."""
        tqdm.write(text, file=self._stream, end="")
        return len(text)

    def flush(self) -> None:
        """Flush the terminal stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Return whether the stream is a terminal (it picks the log renderer)."""
        return self._stream.isatty()
