"""Hostile input against a real ``dropscribe serve``: each attack, then a legitimate client
served promptly, memory bounded and every engine worker alive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from support import tiyaro_flow as flow
from support.bombs import one_hertz_bomb, silent_wav
from support.serve import ServeProcess

SPEECH = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "speech" / "jfk.flac"
SUBMIT_TINY = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
TIMEOUT = 10.0

#: Growth of the server's peak RSS an attack may cause: far below the gigabytes of the bomb.
MEMORY_SLACK_BYTES = 100 << 20

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One real server for the attacks that must leave it serving."""
    with ServeProcess(tmp_path_factory.mktemp("serve")) as server:
        yield server


def healthz(serve: ServeProcess) -> dict[str, Any]:
    resp = requests.get(serve.base_url + "/healthz", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def assert_legitimate_client_served(serve: ServeProcess) -> None:
    """A normal transcription succeeds and every worker is alive."""
    final = flow.transcribe(serve.base_url, serve.token, SPEECH)
    assert final["status"] == "success", final
    assert "country" in final["result"]["text"].lower()
    workers = healthz(serve)["workers"]
    assert workers["alive"] == workers["configured"] == 1


def submit_raw(serve: ServeProcess, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        serve.base_url + SUBMIT_TINY, json=body, headers=flow.headers(serve.token), timeout=TIMEOUT
    )


def uploaded(serve: ServeProcess, audio: Path = SPEECH) -> str:
    url = flow.get_upload_url(serve.base_url, serve.token, audio.suffix.lstrip("."))
    flow.upload(url, audio)
    return url


@pytest.mark.parametrize("increment", [2e-8, 5e-324])
def test_serve_tiny_fallback_increment_is_refused_and_worker_lives(
    serve: ServeProcess, increment: float
) -> None:
    body = {
        "input": {"temperature": 0.0, "temperature_increment_on_fallback": increment},
        "URL": uploaded(serve),
    }
    resp = submit_raw(serve, body)
    assert resp.status_code == 422, resp.text
    assert "temperature_increment_on_fallback" in resp.json()["error"]
    assert_legitimate_client_served(serve)


def test_serve_metrics_report_workers_alive(serve: ServeProcess) -> None:
    resp = requests.get(serve.base_url + "/metrics", timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    lines = set(resp.text.splitlines())
    assert "dropscribe_serve_workers_alive 1" in lines
    assert "dropscribe_serve_workers_configured 1" in lines
    assert "dropscribe_serve_worker_restarts_total 0" in lines


def transcribe_file(serve: ServeProcess, audio: Path) -> dict[str, Any]:
    response = flow.submit(serve.base_url, serve.token, uploaded(serve, audio))
    return flow.wait_until_final(response["urls"]["GET"], serve.token, timeout=60)


def test_serve_one_hertz_bomb_is_refused_with_memory_bounded(
    serve: ServeProcess, tmp_path: Path
) -> None:
    assert_legitimate_client_served(serve)  # the model is loaded: memory is at its plateau
    before = serve.peak_rss_bytes()
    final = transcribe_file(serve, one_hertz_bomb(tmp_path / "bomb.wav"))
    assert final["status"] == "failed"
    assert "sample rate of 1 Hz is too low for speech" in final["error"]
    assert serve.peak_rss_bytes() - before < MEMORY_SLACK_BYTES
    assert_legitimate_client_served(serve)


def test_serve_recording_over_max_audio_hours_is_refused(tmp_path: Path) -> None:
    long_wav = silent_wav(tmp_path / "minute.wav", 8000, 8000 * 60)
    with ServeProcess(tmp_path / "data", ["--max-audio-hours", "0.01"]) as serve:
        final = transcribe_file(serve, long_wav)
        assert final["status"] == "failed"
        assert final["error"] == (
            "the audio is 1 min 0 s long; this server accepts at most 36 s (max_audio_hours)"
        )
        assert_legitimate_client_served(serve)
