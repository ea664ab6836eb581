"""What ``serve --broker`` and ``worker`` say when the ``scale`` extra is not installed."""

from __future__ import annotations

#: The libraries of the ``scale`` extra (pyproject.toml); a missing one means the extra is.
SCALE_MODULES = frozenset({"redis", "dramatiq", "boto3", "botocore"})

#: The command that installs it, into the environment dropscribe runs from.
INSTALL_COMMAND = "pip install 'dropscribe[scale]'"


def missing_extra(exc: ModuleNotFoundError) -> str:
    """Given the error of a failed scale-out import, return the one line a person reads.
    Raise ``exc`` again if the missing module is not one of the extra's (a broken install)."""
    top = (exc.name or "").partition(".")[0]
    if top not in SCALE_MODULES:
        raise exc
    return (
        f"scale-out needs the `scale` extra, which is not installed (no module {top!r}): "
        f"{INSTALL_COMMAND}, with the pip of the environment dropscribe runs from"
    )
