"""How ``status`` shows a long job's progress: its figures for ``--json`` and its words for a
terminal ("42 % of 2 h 24 min, about 31 min left")."""

from __future__ import annotations

from dropscribe.core.jobs import iso_utc
from dropscribe.core.progress import AudioProgress, percent, seconds_left

JsonObject = dict[str, object]


def progress_json(progress: AudioProgress | None, now: float) -> JsonObject | None:
    """Given a job's progress (None: its service reported none) and the time, return its
    figures: seconds of audio done and in all, percent, the estimate of the seconds left
    (None until two readings exist, or without a total) and when the latest reading was
    seen; or None without progress."""
    if progress is None:
        return None
    share = percent(progress)
    left = seconds_left(progress, now)
    return {
        "audio_seconds_done": round(progress.done_seconds, 1),
        "audio_seconds_total": progress.total_seconds,
        "percent": None if share is None else round(share, 1),
        "seconds_left": None if left is None else round(left),
        "at": iso_utc(progress.at),
    }


def progress_text(figures: JsonObject | None) -> str:
    """Return the words for :func:`progress_json`'s figures, "" without progress."""
    if figures is None:
        return ""
    share, total = figures["percent"], figures["audio_seconds_total"]
    if not isinstance(share, float) or not isinstance(total, float):
        done = figures["audio_seconds_done"]
        return f"{spoken(float(str(done)))} of audio done"
    text = f"{share:.0f} % of {spoken(total)}"
    left = figures["seconds_left"]
    return text if not isinstance(left, int) else f"{text}, about {spoken(left)} left"


def spoken(seconds: float) -> str:
    """Return a duration to the minute as a person says it: ``2 h 24 min``, ``31 min``;
    under a minute in seconds: ``40 s``."""
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
