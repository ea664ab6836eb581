"""Where the speech is in a recording, asked of a helper process.

Voice activity detection needs numpy, PyAV and ONNX Runtime (about 95 MB resident). A daemon
talking to a remote service stays light: the detection runs in one helper process
(``python -m dropscribe.engine.speech_helper``), started on the first question and kept for
the next, which reads a recording path per line and answers one JSON line.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

#: Seconds one answer may take: decoding and detecting speech in an hour of audio on a slow
#: core takes about a minute.
ANSWER_TIMEOUT_SECONDS = 300.0

#: Seconds the helper gets to exit after its input is closed.
CLOSE_TIMEOUT_SECONDS = 5.0

Span = tuple[float, float]


class ProbeError(OSError):
    """The helper could not say where the speech is."""


class SpeechProbe:
    """The helper process, started on first use; one question at a time."""

    def __init__(self, timeout_seconds: float = ANSWER_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout_seconds
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def speech(self, recording: Path) -> list[Span]:
        """Return the speech spans of a recording, in seconds. Raise ProbeError."""
        with self._lock:
            proc = self._started()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(str(recording)) + "\n")
                proc.stdin.flush()
                line = self._answer(proc.stdout)
            except (OSError, ProbeError) as exc:
                self._stop()
                raise ProbeError(f"speech detection failed: {exc}") from exc
        answer = json.loads(line)
        if "error" in answer:
            raise ProbeError(answer["error"])
        return [(float(a), float(b)) for a, b in answer["spans"]]

    def _answer(self, stdout: IO[str]) -> str:
        ready, _, _ = select.select([stdout], [], [], self._timeout)
        if not ready:
            raise ProbeError(f"no answer within {self._timeout:.0f} s")
        line = stdout.readline()
        if not line:
            raise ProbeError("the helper process ended")
        return line

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "dropscribe.engine.speech_helper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        return self._proc

    def close(self) -> None:
        """End the helper process, if one was started."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(CLOSE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
