"""A helper process of the engine's, asked one JSON line at a time.

What needs the engine's decoder and voice activity detection (numpy, PyAV, ONNX Runtime,
about 95 MB resident) runs in a helper (``python -m dropscribe.engine.<module>``), started on
the first question and kept for the next, so a daemon talking to a remote service stays
light. One question at a time; a helper that fails or is silent too long is ended, and the
next question starts a new one.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
from typing import IO, Any

#: Seconds the helper gets to exit after its input is closed.
CLOSE_TIMEOUT_SECONDS = 5.0


class ProbeError(OSError):
    """The helper could not answer."""


class HelperProcess:
    """The helper running ``python -m <module>``, started on first use."""

    def __init__(self, module: str, timeout_seconds: float) -> None:
        self._module = module
        self._timeout = timeout_seconds
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def ask(self, question: Any) -> dict[str, Any]:
        """Send ``question`` as one JSON line and return the JSON object answered. Raise
        ProbeError if the helper fails, is silent past the timeout, or answers an error."""
        with self._lock:
            proc = self._started()
            stdin, stdout = proc.stdin, proc.stdout
            if stdin is None or stdout is None:
                raise ProbeError("the helper process has no pipes")
            try:
                stdin.write(json.dumps(question) + "\n")
                stdin.flush()
                line = self._answer(stdout)
            except (OSError, ProbeError) as exc:
                self._stop()
                raise ProbeError(f"the helper failed: {exc}") from exc
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise ProbeError(str(answer["error"]))
        return answer

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
                [sys.executable, "-m", self._module],
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
