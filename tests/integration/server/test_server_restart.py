"""A server killed with SIGKILL mid-job finishes that job after a restart on the same data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from support import tiyaro_flow as flow
from support.server_process import SPEECH, TOKEN, ServerProcess, free_port, wait_for_status
from support.wer import word_error_rate

OSR = "OSR_us_000_0034_8k.wav"

pytestmark = pytest.mark.slow


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill(signal.SIGKILL)


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
        [sys.executable, "-m", "dropscribe", "serve", "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78
    assert "token is required" in done.stderr
