"""A recording cut at pauses into pieces under an upload limit, by a helper process
(``python -m dropscribe.engine.piece_helper``, see helper_process): the streaming engine's
own cutter, so the pieces meet in silence and no word is split between two."""

from __future__ import annotations

from pathlib import Path

from dropscribe.intake.helper_process import HelperProcess

#: Seconds cutting one recording may take: decoding an hour of audio, finding its speech and
#: writing it again takes about a minute on a slow core.
CUT_TIMEOUT_SECONDS = 900.0


class PieceCutter:
    """The piece helper, started on first use; one recording at a time."""

    def __init__(self, timeout_seconds: float = CUT_TIMEOUT_SECONDS) -> None:
        self._helper = HelperProcess("dropscribe.engine.piece_helper", timeout_seconds)

    def cut(self, recording: Path, folder: Path, max_bytes: int) -> list[tuple[Path, float]]:
        """Write the pieces of ``recording`` into ``folder`` as WAV files of at most
        ``max_bytes``; return each one's path and where it starts, in seconds. Raise
        ProbeError if the recording cannot be cut."""
        question = {"recording": str(recording), "folder": str(folder), "max_bytes": max_bytes}
        answer = self._helper.ask(question)
        return [(Path(path), float(start)) for path, start in answer["pieces"]]

    def close(self) -> None:
        """End the helper process, if one was started."""
        self._helper.close()
