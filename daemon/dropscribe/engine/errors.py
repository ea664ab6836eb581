"""The engine's two ways to end a transcription early: it cannot succeed, or it was stopped."""

from __future__ import annotations


class EngineError(Exception):
    """A job that cannot succeed; the message is shown to the client as the job's error."""


class Interrupted(Exception):
    """The transcription was abandoned because its job was cancelled or the server is stopping."""
