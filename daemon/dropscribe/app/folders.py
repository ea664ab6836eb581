"""The folders a run uses, as the settings name them: custody's folders, the state folder, and
the check that their layout is safe before anything is built on them."""

from __future__ import annotations

from pathlib import Path

from dropscribe.config import Settings
from dropscribe.core.errors import ConfigError
from dropscribe.intake.custody import Folders, check_layout, ensure_layout

#: The state file's name in the state folder.
STATE_FILE = "state.db"


def folders_of(settings: Settings) -> Folders:
    """Return the custody folders named in the settings."""
    p = settings.paths
    return Folders(inbox=p.inbox, processing=p.processing, done=p.done, failed=p.failed)


def state_dir(settings: Settings) -> Path:
    """Return the state folder (load_config guarantees it is set)."""
    assert settings.paths.state_dir is not None
    return settings.paths.state_dir


def check_folders(settings: Settings) -> None:
    """Create the folders and raise ConfigError if their layout is unsafe."""
    folders = folders_of(settings)
    ensure_layout(folders, settings.paths.outbox)
    problems = check_layout(folders, settings.paths.outbox)
    if problems:
        source = settings.source or Path("config")
        raise ConfigError([f"{source}: paths: {problem}" for problem in problems])
