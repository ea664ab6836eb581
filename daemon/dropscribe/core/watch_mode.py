"""How the inbox is watched, as the configuration names it and the watcher uses it."""

from __future__ import annotations

from enum import StrEnum


class WatchMode(StrEnum):
    """How the inbox is watched: ``auto`` picks polling on network filesystems."""

    AUTO = "auto"
    NATIVE = "native"
    POLLING = "polling"
