"""Where the speech is in a recording, asked of a helper process
(``python -m dropscribe.engine.speech_helper``, see helper_process), which reads a recording
path per line and answers one JSON line."""

from __future__ import annotations

from pathlib import Path

from dropscribe.intake.helper_process import HelperProcess, ProbeError

__all__ = ["ANSWER_TIMEOUT_SECONDS", "ProbeError", "SpeechProbe"]

#: Seconds one answer may take: decoding and detecting speech in an hour of audio on a slow
#: core takes about a minute.
ANSWER_TIMEOUT_SECONDS = 300.0

Span = tuple[float, float]


class SpeechProbe:
    """The speech helper, started on first use; one question at a time."""

    def __init__(self, timeout_seconds: float = ANSWER_TIMEOUT_SECONDS) -> None:
        self._helper = HelperProcess("dropscribe.engine.speech_helper", timeout_seconds)

    def speech(self, recording: Path) -> list[Span]:
        """Return the speech spans of a recording, in seconds. Raise ProbeError."""
        answer = self._helper.ask(str(recording))
        return [(float(a), float(b)) for a, b in answer["spans"]]

    def close(self) -> None:
        """End the helper process, if one was started."""
        self._helper.close()
