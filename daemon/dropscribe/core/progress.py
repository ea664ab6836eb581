"""A long job's progress as the service reports it (seconds of audio done and in all), and the
pure arithmetic of its percent, its rate and the time it has left.

A job keeps its latest reading and its first: the rate is the audio done between them over the
wall-clock time between them, so it is measured over the whole job and stays right after the
daemon restarts (the times are epoch seconds, stored with the job). A reading below the one
before means the service started the recording over (it lost its pieces): the first reading is
taken anew, or the rate would count work that was thrown away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AudioProgress:
    """Seconds of audio done (and in all, None when the service does not say) at the latest
    reading, seen at ``at``, and the first reading's seconds done and time (epoch seconds)."""

    done_seconds: float
    total_seconds: float | None
    at: float
    first_done_seconds: float
    first_at: float


@dataclass(frozen=True)
class AudioTally:
    """Seconds of audio done and in all, summed over the jobs whose total is known."""

    done_seconds: float
    total_seconds: float


def observed(
    previous: AudioProgress | None, done: float, total: float | None, now: float
) -> AudioProgress:
    """Given a job's progress so far (None: none seen yet), a new reading (seconds done and in
    all) and the time it was seen, return the job's progress."""
    if previous is None or done < previous.done_seconds:
        return AudioProgress(done, total, now, done, now)
    return AudioProgress(done, total, now, previous.first_done_seconds, previous.first_at)


def percent(progress: AudioProgress) -> float | None:
    """Return the share of the audio done, 0 to 100, or None if the total is unknown."""
    total = progress.total_seconds
    if not total:
        return None
    return 100.0 * min(progress.done_seconds, total) / total


def rate(progress: AudioProgress) -> float | None:
    """Return audio seconds done per wall-clock second between the first reading and the
    latest, or None until two readings exist with audio done between them."""
    elapsed = progress.at - progress.first_at
    gained = progress.done_seconds - progress.first_done_seconds
    if elapsed <= 0 or gained <= 0:
        return None
    return gained / elapsed


def seconds_left(progress: AudioProgress, now: float) -> float | None:
    """Return the wall-clock seconds the job needs still at ``now``, at its rate so far (never
    negative), or None when there is no estimate: total unknown or fewer than two readings."""
    speed = rate(progress)
    if speed is None or progress.total_seconds is None:
        return None
    remaining = max(0.0, progress.total_seconds - progress.done_seconds) / speed
    return max(0.0, remaining - max(0.0, now - progress.at))


def tally(jobs: Iterable[tuple[AudioProgress, bool]]) -> AudioTally:
    """Given each job's progress and whether it has its result (all of its audio is then
    done), return the seconds done and in all of those whose total is known."""
    done = total = 0.0
    for progress, finished in jobs:
        if progress.total_seconds is None:
            continue
        whole = progress.total_seconds
        total += whole
        done += whole if finished else min(progress.done_seconds, whole)
    return AudioTally(done, total)
