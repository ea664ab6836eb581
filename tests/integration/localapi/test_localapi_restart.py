"""A server killed with SIGKILL mid-job finishes that job after a restart on the same data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from support import tiyaro_flow as flow
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "speech"
OSR = "OSR_us_000_0034_8k.wav"
TOKEN = "restart-token-0123456789"

#: Seconds a fresh server process may take to import its libraries and listen.
START_TIMEOUT_SECONDS = 60.0

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ServerProcess:
    """``python -m dropscribe.localapi`` on a fixed port and data folder."""

    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self._command = [
            sys.executable, "-m", "dropscribe.localapi", "--port", str(port),
            "--data-dir", str(data_dir), "--token", TOKEN,
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


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill(signal.SIGKILL)


def wait_for_status(poll_url: str, wanted: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while requests.get(poll_url, headers=flow.headers(TOKEN), timeout=5).json()["status"] != wanted:
        assert time.monotonic() < deadline, f"job never reached {wanted}"
        time.sleep(0.02)


def test_server_sigkilled_while_processing_completes_job_after_restart(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    first = ServerProcess(data_dir, port, tmp_path / "server.log")
    servers.append(first)
    first.start()
    poll_url = flow.submit(first.base_url, TOKEN, _uploaded(first.base_url))["urls"]["GET"]
    wait_for_status(poll_url, "processing")
    assert first.kill(signal.SIGKILL) == -signal.SIGKILL

    second = ServerProcess(data_dir, port, tmp_path / "server.log")
    servers.append(second)
    second.start()
    body = flow.wait_until_final(poll_url, TOKEN)
    assert body["status"] == "success", body
    reference = json.loads((SPEECH / "references.json").read_text())[OSR]["reference"]
    assert word_error_rate(reference, body["result"]["text"]) <= 0.10
    assert requests.get(f"{second.base_url}/healthz", timeout=5).json()["engine_runs"] == 2


def test_server_sigterm_exits_zero(tmp_path: Path, servers: list[ServerProcess]) -> None:
    server = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    servers.append(server)
    server.start()
    assert server.kill(signal.SIGTERM) == 0


def _uploaded(base_url: str) -> str:
    url = flow.get_upload_url(base_url, TOKEN, "wav")
    flow.upload(url, SPEECH / OSR)
    return url


def test_cli_without_token_exits_78(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DROPSCRIBE_SERVE_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "dropscribe.localapi", "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78
    assert "token is required" in done.stderr
