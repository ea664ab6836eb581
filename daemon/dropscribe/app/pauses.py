"""The daemon-wide pauses other than the refused key, told to other processes.

A gate that holds all work (the service unavailable, the disk full) writes its pause's start
and next probe to a small file in the state folder while it lasts; ``status`` and the
``STATUS=`` line sent to systemd read them back and say why nothing moves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dropscribe.app.keys import read_pause

#: Where the outage pause (service.unavailable) is told.
SERVICE_PAUSE_FILE = "service-pause.json"
#: Where the full-disk pause (storage.full) is told, when the disk lets it be written.
STORAGE_PAUSE_FILE = "storage-pause.json"

#: Each pause: (its file in the state folder, what it means to the reader).
PAUSES: dict[str, tuple[str, str]] = {
    "service": (SERVICE_PAUSE_FILE, "the service is unavailable"),
    "storage": (STORAGE_PAUSE_FILE, "the disk is full or state.db cannot be written"),
}


def read_pauses(state_dir: Path) -> dict[str, tuple[float, float]]:
    """Return {kind: (since, next_probe)} of every pause a daemon recorded (epoch seconds)."""
    found = {kind: read_pause(state_dir, name) for kind, (name, _) in PAUSES.items()}
    return {kind: times for kind, times in found.items() if times is not None}


def describe(kind: str, since: float, next_probe: float) -> str:
    """Return one line saying that all work pauses for ``kind``, since when, and the next
    probe (UTC, to the second)."""
    meaning = PAUSES[kind][1]
    return f"paused: {meaning} since {_iso(since)}; next probe at {_iso(next_probe)}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
