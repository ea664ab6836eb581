"""Jobs queued together run as one batch, each keeping its own life: cancel, stop, restart.

The engine here is a fake BatchEngine that can be held open, so a test knows a batch is
running; the SIGKILL test uses the real server process and the real engine.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from dropscribe.core.transcript import Segment, Transcript
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.protocol import StopCheck
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from dropscribe.server.job_status import JobStatus
from dropscribe.server.store import JobStore
from support import tiyaro_flow as flow
from support.server_doubles import TOKEN, FakeEngine
from support.server_process import SPEECH, ServerProcess, free_port, wait_for_status
from support.server_process import TOKEN as SERVER_TOKEN
from support.wer import word_error_rate

TIMEOUT = 10.0


class FakeBatchEngine(FakeEngine):
    """The fake engine, plus batches: each batch's files are recorded, and the batch waits
    for ``batch_release`` while checking whether to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.prefetched: list[str] = []
        self.batch_started = threading.Event()
        self.batch_release = threading.Event()
        self.batch_interrupted = threading.Event()

    def transcribe_many(
        self, spec: str, audios: Sequence[Path], args: dict[str, object], should_stop: StopCheck
    ) -> list[Transcript | EngineError]:
        self.batches.append([audio.read_text() for audio in audios])
        self.batch_started.set()
        while not self.batch_release.wait(0.01):
            if should_stop():
                self.batch_interrupted.set()
                raise Interrupted()
        return [self._fake(audio) for audio in audios]

    def shares_batches(self, audio: Path) -> bool:
        """A recording whose text starts with "long" is too long to share a batch."""
        return not audio.read_text().startswith("long")

    def prefetch(self, audio: Path) -> None:
        self.prefetched.append(audio.read_text())

    def close(self) -> None:
        pass

    def _fake(self, audio: Path) -> Transcript:
        text = audio.read_text().strip()
        segment: Segment = {"id": 1, "start": 0, "end": 1, "text": text}
        return {"text": text, "segments": [segment], "language": "en"}


def submitted(base: str, tmp_path: Path, text: str) -> str:
    audio = tmp_path / f"{text}.wav"
    audio.write_text(text)
    url = flow.get_upload_url(base, TOKEN, "wav")
    flow.upload(url, audio)
    poll_url: str = flow.submit(base, TOKEN, url)["urls"]["GET"]
    return poll_url


def status(poll_url: str) -> str:
    body = requests.get(poll_url, headers=flow.headers(TOKEN), timeout=TIMEOUT).json()
    return str(body["status"])


def wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def batch_running(
    server: EmbeddedServer, engine: FakeBatchEngine, tmp_path: Path, names: Sequence[str]
) -> dict[str, str]:
    """Hold a first job in the engine, queue ``names`` behind it, let the first finish, and
    return the poll URLs once the queued jobs are running as one batch."""
    engine.release.clear()
    first = submitted(server.base_url, tmp_path, "first")
    assert engine.started.wait(TIMEOUT)
    polls = {name: submitted(server.base_url, tmp_path, name) for name in names}
    engine.release.set()
    assert engine.batch_started.wait(TIMEOUT)
    assert flow.wait_until_final(first, TOKEN)["status"] == "success"
    return polls


def finished_batch(
    server: EmbeddedServer, engine: FakeBatchEngine, tmp_path: Path, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Run ``names`` as a batch behind a first job, let the batch finish, and return each
    job's final poll body."""
    with server:
        polls = batch_running(server, engine, tmp_path, names)
        engine.batch_release.set()
        return {name: flow.wait_until_final(url, TOKEN) for name, url in polls.items()}


@pytest.fixture
def batch_engine() -> FakeBatchEngine:
    return FakeBatchEngine()


@pytest.fixture
def batch_server(tmp_path: Path, batch_engine: FakeBatchEngine) -> EmbeddedServer:
    return EmbeddedServer(ServerOptions(tmp_path / "data", token=TOKEN), engine=batch_engine)


def test_pool_queued_jobs_run_as_one_batch_each_with_its_result(
    batch_server: EmbeddedServer, batch_engine: FakeBatchEngine, tmp_path: Path
) -> None:
    bodies = finished_batch(batch_server, batch_engine, tmp_path, ["a", "b", "c"])
    assert batch_engine.batches == [["a", "b", "c"]]
    assert batch_engine.prefetched == ["first", "a", "b", "c"]
    assert {name: body["result"]["text"] for name, body in bodies.items()} == {
        "a": "a",
        "b": "b",
        "c": "c",
    }


def test_pool_folder_of_twenty_short_jobs_runs_as_one_batch(
    batch_server: EmbeddedServer, batch_engine: FakeBatchEngine, tmp_path: Path
) -> None:
    names = [f"clip-{n:02d}" for n in range(20)]
    bodies = finished_batch(batch_server, batch_engine, tmp_path, names)
    assert [body["status"] for body in bodies.values()] == ["success"] * 20
    assert batch_engine.batches == [names]


def test_pool_recording_too_long_to_share_runs_as_its_own_job(
    batch_server: EmbeddedServer, batch_engine: FakeBatchEngine, tmp_path: Path
) -> None:
    finals = finished_batch(batch_server, batch_engine, tmp_path, ["a", "long-b", "c"])
    assert batch_engine.batches == [["a", "c"]]
    assert [audio.read_text() for audio, _ in batch_engine.calls] == ["first", "long-b"]
    assert finals["long-b"]["result"]["text"] == "long-b"


def test_pool_cancel_one_job_of_a_batch_leaves_it_cancelled_others_succeed(
    batch_server: EmbeddedServer, batch_engine: FakeBatchEngine, tmp_path: Path
) -> None:
    with batch_server as server:
        polls = batch_running(server, batch_engine, tmp_path, ["a", "b", "c"])
        requests.delete(polls["b"], headers=flow.headers(TOKEN), timeout=TIMEOUT)
        batch_engine.batch_release.set()
        finals = {name: flow.wait_until_final(url, TOKEN) for name, url in polls.items()}
    assert {n: b["status"] for n, b in finals.items()} == {
        "a": "success",
        "b": "cancelled",
        "c": "success",
    }
    assert finals["b"]["result"] is None


def test_pool_cancel_every_job_of_a_batch_abandons_it(
    batch_server: EmbeddedServer, batch_engine: FakeBatchEngine, tmp_path: Path
) -> None:
    with batch_server as server:
        polls = batch_running(server, batch_engine, tmp_path, ["a", "b"])
        for url in polls.values():
            requests.delete(url, headers=flow.headers(TOKEN), timeout=TIMEOUT)
        assert batch_engine.batch_interrupted.wait(TIMEOUT)
        assert {status(url) for url in polls.values()} == {"cancelled"}


def test_pool_stop_during_a_batch_returns_its_jobs_to_pending_then_runs_them_once(
    tmp_path: Path, batch_engine: FakeBatchEngine
) -> None:
    options = ServerOptions(tmp_path / "data", token=TOKEN)
    server = EmbeddedServer(options, engine=batch_engine)
    server.start()
    polls = batch_running(server, batch_engine, tmp_path, ["a", "b"])
    server.stop()
    assert batch_engine.batch_interrupted.is_set()
    store = JobStore(tmp_path / "data")
    try:
        ids = [url.rsplit("/", 1)[1] for url in polls.values()]
        assert [job.status for job in map(store.get, ids) if job] == [JobStatus.PENDING] * 2
    finally:
        store.close()

    again = FakeBatchEngine()
    again.batch_release.set()
    with EmbeddedServer(options, engine=again) as restarted:
        base = restarted.base_url
        rebased = {n: base + url[url.index("/v1/") :] for n, url in polls.items()}
        finals = {n: flow.wait_until_final(url, TOKEN) for n, url in rebased.items()}
        health = requests.get(f"{base}/healthz", timeout=TIMEOUT).json()
    assert {n: b["result"]["text"] for n, b in finals.items()} == {"a": "a", "b": "b"}
    assert again.batches == [["a", "b"]]
    # first + a + b in the first run, a + b again after the restart
    assert health["engine_runs"] == 5


@pytest.mark.slow
def test_server_sigkilled_during_a_batch_finishes_each_job_once_after_restart(
    tmp_path: Path,
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    first = ServerProcess(data_dir, port, tmp_path / "server.log")
    first.start()
    try:
        base = first.base_url
        warm = flow.get_upload_url(base, SERVER_TOKEN, "wav")
        flow.upload(warm, SPEECH / "OSR_us_000_0034_8k.wav")
        warm_poll = flow.submit(base, SERVER_TOKEN, warm)["urls"]["GET"]
        wait_for_status(warm_poll, "processing")  # it runs alone; the next ones queue
        polls = []
        for _ in range(3):
            url = flow.get_upload_url(base, SERVER_TOKEN, "flac")
            flow.upload(url, SPEECH / "jfk.flac")
            polls.append(flow.submit(base, SERVER_TOKEN, url)["urls"]["GET"])
        for poll_url in polls:  # the three queued behind the first run together
            wait_for_status(poll_url, "processing")
    finally:
        assert first.kill(signal.SIGKILL) == -signal.SIGKILL

    second = ServerProcess(data_dir, port, tmp_path / "server.log")
    second.start()
    try:
        finals = [flow.wait_until_final(url, SERVER_TOKEN) for url in polls]
        health = requests.get(f"{second.base_url}/healthz", timeout=TIMEOUT).json()
    finally:
        second.kill(signal.SIGTERM)
    reference = json.loads((SPEECH / "references.json").read_text())["jfk.flac"]["reference"]
    for body in finals:
        assert body["status"] == "success", body
        assert word_error_rate(reference, body["result"]["text"]) <= 0.10
    # The OSR job ran once; each of the three ran in the killed batch and once more after.
    assert health["engine_runs"] == 1 + 3 + 3


class LoadingBatchEngine(FakeBatchEngine):
    """The fake batch engine with a model that takes until ``loaded`` is set to load."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = threading.Event()
        self.loaded = threading.Event()

    def model(self, spec: str) -> object:
        self.loading.set()
        assert self.loaded.wait(TIMEOUT)
        return spec


def test_pool_jobs_submitted_while_the_model_loads_join_the_first_batch(
    tmp_path: Path,
) -> None:
    engine = LoadingBatchEngine()
    engine.batch_release.set()
    options = ServerOptions(tmp_path / "data", token=TOKEN)
    with EmbeddedServer(options, engine=engine) as server:
        polls = [submitted(server.base_url, tmp_path, "first")]
        assert engine.loading.wait(TIMEOUT)
        polls += [submitted(server.base_url, tmp_path, name) for name in ("a", "b")]
        engine.loaded.set()
        finals = [flow.wait_until_final(url, TOKEN)["status"] for url in polls]
    assert finals == ["success"] * 3
    assert engine.batches == [["first", "a", "b"]]
