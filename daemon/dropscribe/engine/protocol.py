"""What the server asks of an engine, as small Protocols.

The workers depend only on the Engine protocol, so unit tests hand them a fake; the real one is
``dropscribe.engine.whisper.WhisperEngine``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from dropscribe.core.transcript import Transcript
from dropscribe.engine.params import TranscribeArgs

#: Asked between steps of a transcription: True when its job is cancelled or the server stops.
StopCheck = Callable[[], bool]


class Engine(Protocol):
    """Anything that turns an audio file into a Whisper-shaped transcript."""

    def label(self, spec: str) -> str:
        """Return the model name that responses report for this spec."""
        ...

    def transcribe(
        self, spec: str, audio: Path, args: TranscribeArgs, should_stop: StopCheck
    ) -> Transcript:
        """Return ``{"text", "segments", "language"}`` for the audio, or raise EngineError.

        Raise Interrupted when ``should_stop`` turns True before the end.
        """
        ...


@runtime_checkable
class ModelLoader(Protocol):
    """An engine that can load a model ahead of the first job (the real WhisperEngine can)."""

    def model(self, spec: str) -> object:
        """Return the loaded model for a spec. Raise EngineError if it cannot be loaded."""
        ...
