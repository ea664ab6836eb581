"""The daemon with ``api.protocol: openai`` against real OpenAI-compatible servers on
loopback, started by the tests: ``dropscribe serve`` itself, open-asr-server and
faster-whisper-server (support.openai_peers). The speech fixtures come out as with the
embedded engine; a recording over the upload limit goes in pieces; what a server refuses
leaves the recording in failed/ with a reason a person can act on."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from support import subrip
from support.daemon import DATA_PATHS, Daemon
from support.long_audio import RATE, encoded, fixture_samples
from support.openai_peers import PeerServer, openai_section
from support.serve import ServeProcess
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
REFERENCES = json.loads((SPEECH / "references.json").read_text())
FIXTURES = ("jfk.flac", "OSR_us_000_0034_8k.wav")
KEY = "openai-test-key-0123456789"
MAX_FIXTURE_WER = 0.10
JOB_TIMEOUT = 240.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def openai_settings(base_url: str, **openai: object) -> dict[str, Any]:
    return {
        "paths": dict(DATA_PATHS),
        "api": {"base_url": base_url, "protocol": "openai", "openai": openai},
        "output": {"formats": ["json", "txt", "srt", "vtt"]},
        "retry": {"base_seconds": 0.5, "cap_seconds": 2.0, "max_attempts": 3},
    }


def transcribed_fixtures(daemon: Daemon) -> dict[str, dict[str, Any]]:
    daemon.start_and_wait()
    for name in FIXTURES:
        shutil.copy(SPEECH / name, daemon.inbox / name)
    daemon.wait_for_published(len(FIXTURES), JOB_TIMEOUT)
    return daemon.output_sets()


def assert_fixtures_right(daemon: Daemon) -> None:
    sets = transcribed_fixtures(daemon)
    for name in FIXTURES:
        stem = Path(name).stem
        document = next(doc["result"] for rel, doc in sets.items() if Path(rel).stem == stem)
        wer = word_error_rate(REFERENCES[name]["reference"], document["text"])
        assert wer <= MAX_FIXTURE_WER, (name, wer, document["text"])
        srt = (daemon.outbox / f"{stem}.srt").read_text()
        assert subrip.parse(srt), srt
        assert (daemon.outbox / f"{stem}.vtt").read_text().startswith("WEBVTT")
    assert daemon.stop() == 0


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("serve"), token=KEY) as server:
        yield server


def test_openai_backend_on_serve_speech_fixtures_right(tmp_path: Path, serve: ServeProcess) -> None:
    daemon = Daemon(tmp_path, openai_settings(serve.base_url), api_key=KEY)
    try:
        assert_fixtures_right(daemon)
    finally:
        daemon.close()


@pytest.mark.parametrize("kind", ["open-asr-server", "faster-whisper-server"])
def test_openai_backend_on_a_peer_server_speech_fixtures_right(tmp_path: Path, kind: str) -> None:
    with PeerServer(kind) as peer:
        daemon = Daemon(tmp_path, openai_settings(peer.base_url, **openai_section(kind)),
                        api_key=KEY)  # fmt: skip
        try:
            assert_fixtures_right(daemon)
        finally:
            daemon.close()


def test_openai_backend_over_the_upload_limit_sends_pieces_joined_in_order(
    tmp_path: Path, serve: ServeProcess
) -> None:
    jfk, osr = fixture_samples("jfk.flac"), fixture_samples("OSR_us_000_0034_8k.wav")
    pause = np.zeros(2 * RATE, np.float32)
    long = encoded(
        np.concatenate([jfk, pause, osr, pause, jfk]), tmp_path / "long.flac", "-c:a", "flac"
    )
    daemon = Daemon(tmp_path / "d", openai_settings(serve.base_url, max_upload_bytes=700_000),
                    api_key=KEY)  # fmt: skip
    before = requests.get(serve.base_url + "/healthz", timeout=10).json()["submissions"]
    try:
        daemon.start_and_wait()
        shutil.copy(long, daemon.inbox / "long.flac")
        daemon.wait_for_published(1, JOB_TIMEOUT)
        (document,) = (doc["result"] for doc in daemon.output_sets().values())
    finally:
        daemon.close()
    sent = requests.get(serve.base_url + "/healthz", timeout=10).json()["submissions"] - before
    assert sent >= 3  # 61 s in pieces of at most 21 s
    starts = [segment["start"] for segment in document["segments"]]
    assert starts == sorted(starts) and document["segments"][-1]["end"] > 55.0
    jfk_text, osr_text = (REFERENCES[n]["reference"] for n in FIXTURES)
    reference = f"{jfk_text} {osr_text} {jfk_text}"
    assert word_error_rate(reference, document["text"]) <= 0.15, document["text"]


class _Refusing(BaseHTTPRequestHandler):
    status = 200
    body = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
    content_type = "text/html"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


class _TooLarge(_Refusing):
    status = 413
    body = b'{"error": {"message": "Maximum content size limit exceeded"}}'
    content_type = "application/json"


@pytest.mark.parametrize(("handler", "words"), [(_Refusing, "HTML page"), (_TooLarge, "HTTP 413")])
def test_openai_backend_refusing_server_keeps_the_recording_with_the_reason(
    tmp_path: Path, handler: type[_Refusing], words: str
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    daemon = Daemon(tmp_path, openai_settings(url), api_key=KEY)
    try:
        daemon.start_and_wait()
        shutil.copy(SPEECH / "jfk.flac", daemon.inbox / "jfk.flac")
        (failed,) = daemon.wait_for_event("job.failed", JOB_TIMEOUT)
        assert words in failed["error"], failed
        assert (daemon.failed / "jfk.flac").read_bytes() == (SPEECH / "jfk.flac").read_bytes()
    finally:
        daemon.close()
        server.shutdown()
        server.server_close()
