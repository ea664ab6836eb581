"""Test doubles of the embedded server's tests: a fast fake engine, a fake clock, and the
constants of the fake-engine servers."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from dropscribe.core.transcript import Segment, Transcript
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.protocol import StopCheck

#: Bearer token of the fake-engine servers.
TOKEN = "integration-token"

#: Upload limit of the fake-engine servers, in bytes: small, so 413 needs no big body.
MAX_UPLOAD_BYTES = 4096

#: Presign secret of the fake-engine servers: a canary that must never appear in responses.
PRESIGN_SECRET = b"canary-presign-secret-do-not-leak"


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeEngine:
    """An engine that returns a fixed transcript, records its calls, and can be held open."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, dict[str, Any]]] = []
        self.started = threading.Event()
        self.interrupted = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def label(self, spec: str) -> str:
        return f"fake-{spec}"

    def transcribe(
        self, spec: str, audio: Path, args: dict[str, object], should_stop: StopCheck
    ) -> Transcript:
        self.calls.append((audio, dict(args)))
        self.started.set()
        while not self.release.wait(0.01):
            if should_stop():
                self.interrupted.set()
                raise Interrupted()
        content = audio.read_bytes()
        if content.startswith(b"BAD"):
            raise EngineError("the uploaded file could not be decoded as audio (fake)")
        text = content.decode(errors="replace").strip()
        segment: Segment = {"id": 1, "start": 0.0, "end": 1.0, "text": " " + text}
        return {"text": text, "segments": [segment], "language": "en"}
