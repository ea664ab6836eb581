"""A ``python -m dropscribe serve`` server run as a process of its own, on a fixed port
and data folder, so that tests can kill and restart it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from support import tiyaro_flow as flow

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
TOKEN = "restart-token-0123456789"

#: Seconds a fresh server process may take to import its libraries and listen.
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ServerProcess:
    """``python -m dropscribe serve`` on a fixed port and data folder."""

    def __init__(self, data_dir: Path, port: int, log: Path, *options: str) -> None:
        """``options`` are more of serve's command-line options."""
        self.base_url = f"http://127.0.0.1:{port}"
        self._command = [
            sys.executable, "-m", "dropscribe", "serve", "--port", str(port),
            "--data-dir", str(data_dir), "--token", TOKEN, *options,
        ]  # fmt: skip
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(self._command, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._healthy():
            assert self.process.poll() is None, self._log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    def kill(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def wait_for_status(poll_url: str, wanted: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while requests.get(poll_url, headers=flow.headers(TOKEN), timeout=5).json()["status"] != wanted:
        assert time.monotonic() < deadline, f"job never reached {wanted}"
        time.sleep(0.02)
