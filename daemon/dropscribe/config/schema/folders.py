"""The folders a recording passes through, and how the inbox is watched for new ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from dropscribe.config.schema.section import FilePath, PositiveSeconds, Section
from dropscribe.core.watch_mode import WatchMode


class Paths(Section):
    """Folders; inbox, processing, done and failed must share one filesystem."""

    inbox: FilePath = Path("data/inbox")
    processing: FilePath = Path("data/processing")
    done: FilePath = Path("data/done")
    failed: FilePath = Path("data/failed")
    outbox: FilePath = Path("data/outbox")
    state_dir: FilePath | None = None
    log_dir: FilePath | None = None


class Watch(Section):
    """How finished recordings are noticed in the inbox."""

    mode: WatchMode = WatchMode.AUTO
    recursive: bool = True
    # Folders below the inbox (and so below processing/ and the outbox): a tree nested deeper
    # is refused, never walked; 32 is far beyond any real layout (year/month/day/device: 4).
    max_folder_depth: Annotated[int, Field(ge=1, le=255)] = 32
    settle_seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 2.0
    # A settled file shorter than its container declares (a writer that paused between
    # pieces) stays in the inbox this long unchanged (seconds), then goes to failed/ as
    # truncated; any growth starts the wait again.
    unfinished_wait_seconds: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)] = 600.0
    rescan_seconds: PositiveSeconds = 60.0
    extensions: tuple[str, ...] = ("mp3", "wav", "flac", "ogg", "opus", "m4a", "aac", "webm", "mp4")
    # ".*" covers dotfiles, rsync's temporary ".name.XXXXXX" and Syncthing's ".syncthing.*"
    # names; the rest are what browsers, sync tools and office programs use while a file is
    # incomplete.
    ignore: tuple[str, ...] = (
        ".*",
        ".syncthing.*",
        "*.part",
        "*.partial",
        "*.tmp",
        "*.crdownload",
        "*.download",
        "*.!sync",
        "~$*",
    )
    max_file_mb: Annotated[int, Field(gt=0, le=1024 * 1024)] = 2048

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(ext.lower().lstrip(".") for ext in value)
        if not cleaned or any(not ext.isalnum() for ext in cleaned):
            raise ValueError("must be a non-empty list of extensions such as [mp3, wav]")
        return cleaned
