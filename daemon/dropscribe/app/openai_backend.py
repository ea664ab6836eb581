"""The OpenAI-compatible backend as the pipeline's Transcriber: a recording within the
server's upload limit is sent as it is; a larger one is cut at pauses into pieces under the
limit (intake.piece_cutter: the streaming engine's cutter), each piece sent on its own, and
their transcripts joined with each piece's start as its offset (core.transcript_join).

Every piece of a recording is sent again when the recording is (a failed piece fails the
request; the retry starts from the first piece): at least once, like a whole recording.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dropscribe.api_client import OpenAIClient
from dropscribe.core.errors import InputRejected
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.core.transcript_join import join_pieces
from dropscribe.intake.helper_process import ProbeError
from dropscribe.intake.piece_cutter import PieceCutter


class OpenAIBackend:
    """Sends a recording, in pieces when it is over ``max_upload_bytes``."""

    def __init__(self, client: OpenAIClient, cutter: PieceCutter, max_upload_bytes: int) -> None:
        self._client = client
        self._cutter = cutter
        self._limit = max_upload_bytes
        self.model = client.model

    def transcribe(self, recording: Path, params: Mapping[str, Any]) -> RemoteTranscript:
        """Return the recording's transcript. Raise the ApiError a request met, or
        InputRejected for a recording over the limit that cannot be cut."""
        if recording.stat().st_size <= self._limit:
            return self._client.transcribe(recording, params)
        with tempfile.TemporaryDirectory(prefix="dropscribe-pieces-") as folder:
            try:
                pieces = self._cutter.cut(recording, Path(folder), self._limit)
            except ProbeError as exc:
                raise InputRejected(
                    f"the recording is larger than the server's upload limit "
                    f"({self._limit} bytes) and could not be cut into pieces: {exc}"
                ) from exc
            return join_pieces([(self._client.transcribe(p, params), s) for p, s in pieces])
