"""Scale-out front ends and workers, in this process, on a real redis-server and a real
SeaweedFS S3 store (both on loopback, started once per session), with the fake engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import openai
import pytest
import redis
import requests

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError
from dropscribe.engine.protocol import StopCheck
from dropscribe.scaleout.book import Claim, RedisJobBook, connect
from dropscribe.scaleout.expiry import sweep_bucket
from dropscribe.scaleout.frontend import assemble_front_end
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.tasks import task_broker
from dropscribe.scaleout.worker import WorkerNode
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from dropscribe.server.job_status import JobStatus
from dropscribe.server.locations import storage_location
from dropscribe.server.records import JobRecord
from support import tiyaro_flow as flow
from support.scale import ScaleOut, free_port
from support.serve import wait_until
from support.server_doubles import TOKEN, FakeEngine

TINY = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
LARGE = "/v1/async/ent/tiyarofs/1/openai/whisper-large"


def front_end(
    tmp_path: Path, scale: ScaleOut, engine: FakeEngine, workers: int = 0, **extra: Any
) -> EmbeddedServer:
    """Return a started scale-out front end (a fresh data folder it must not use)."""
    options = ServerOptions(
        tmp_path / f"unused-{time.monotonic_ns()}", token=TOKEN, broker=scale.broker,
        storage=scale.storage, workers=workers, **extra,
    )  # fmt: skip
    server = EmbeddedServer(options, engine=engine, scale_out=assemble_front_end)
    server.start()
    return server


@pytest.fixture
def servers() -> Iterator[list[EmbeddedServer]]:
    """Front ends a test starts; all stopped at its end."""
    started: list[EmbeddedServer] = []
    yield started
    for server in started:
        server.stop()


def uploaded(base_url: str, content: bytes, tmp_path: Path) -> str:
    """Upload ``content`` through a front end's upload URL; return the URL."""
    audio = tmp_path / f"{time.monotonic_ns()}.wav"
    audio.write_bytes(content)
    url = flow.get_upload_url(base_url, TOKEN, "wav")
    flow.upload(url, audio)
    return url


def submitted(base_url: str, upload_url: str, key: str | None = None, path: str = TINY) -> str:
    """Submit an upload through a front end; return the job id."""
    headers = flow.headers(TOKEN) | ({"Idempotency-Key": key} if key else {})
    body = {"input": {"language": "en"}, "URL": upload_url}
    resp = requests.post(base_url + path, json=body, headers=headers, timeout=10)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["response"]["id"]
    return job_id


def polled(base_url: str, job_id: str) -> dict[str, Any]:
    resp = requests.get(f"{base_url}/v1/async/requests/{job_id}", headers=flow.headers(TOKEN))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def final(base_url: str, job_id: str, timeout: float = 30) -> dict[str, Any]:
    wait_until(lambda: polled(base_url, job_id)["status"] in flow.FINAL_STATUSES, timeout)
    return polled(base_url, job_id)


def health(base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(base_url + "/healthz", timeout=10).json()
    return body


def objects_of(scale: ScaleOut) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    page = s3.list_objects_v2(Bucket=scale.bucket, Prefix=scale.prefix + "/")
    keys = [item["Key"] for item in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=scale.bucket, Key=key)["Body"].read() for key in keys}


def test_scale_front_end_upload_url_is_a_presigned_bucket_put(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    url = uploaded(a.base_url, b"straight to the bucket", tmp_path)
    assert url.startswith(f"{scale_out.s3.endpoint}/{scale_out.storage[5:]}/uploads/")
    assert "X-Amz-Signature=" in url
    assert list(objects_of(scale_out).values()) == [b"straight to the bucket"]


def test_scale_tampered_upload_url_is_refused_by_the_bucket(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    url = flow.get_upload_url(a.base_url, TOKEN, "wav")
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert requests.put(tampered, data=b"x", timeout=10).status_code == 403
    assert objects_of(scale_out) == {}


def test_scale_job_runs_on_an_in_process_worker_once(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    engine = FakeEngine()
    servers.append(a := front_end(tmp_path, scale_out, engine, workers=1))
    job_id = submitted(a.base_url, uploaded(a.base_url, b"hello scale", tmp_path))
    body = final(a.base_url, job_id)
    assert body["status"] == "success", body
    assert body["result"]["text"] == "hello scale"
    assert len(engine.calls) == 1
    counts = health(a.base_url)
    assert (counts["submissions"], counts["engine_runs"], counts["queued"]) == (1, 1, 0)


def test_scale_openai_request_to_a_front_end_runs_on_another_nodes_worker(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    engine = FakeEngine()
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    servers.append(front_end(tmp_path, scale_out, engine, workers=1))
    recording = tmp_path / "hello.wav"
    recording.write_bytes(b"hello openai")
    client = openai.OpenAI(base_url=a.base_url + "/v1", api_key=TOKEN, max_retries=0)
    answer = client.audio.transcriptions.create(model="whisper-1", file=recording)
    assert answer.text == "hello openai"
    assert len(engine.calls) == 1


def test_scale_same_key_to_two_front_ends_one_job_one_engine_run(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    engine = FakeEngine()
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    servers.append(b := front_end(tmp_path, scale_out, engine, workers=1))
    url = uploaded(a.base_url, b"only once", tmp_path)
    first = submitted(a.base_url, url, key="same-key-17")
    second = submitted(b.base_url, url, key="same-key-17")
    assert first == second
    assert final(b.base_url, first)["result"]["text"] == "only once"
    time.sleep(1.0)  # a second run, if the job had been queued twice, would have started
    assert len(engine.calls) == 1
    assert health(a.base_url)["engine_runs"] == 1
    assert health(a.base_url)["submissions"] == 1


def test_scale_cancel_through_another_front_end_stops_the_worker(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    engine = FakeEngine()
    engine.release.clear()
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    servers.append(b := front_end(tmp_path, scale_out, engine, workers=1))
    job_id = submitted(a.base_url, uploaded(a.base_url, b"cancel me", tmp_path))
    assert engine.started.wait(15)
    resp = requests.delete(f"{a.base_url}/v1/async/requests/{job_id}", headers=flow.headers(TOKEN))
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert engine.interrupted.wait(10)
    assert polled(b.base_url, job_id)["status"] == "cancelled"


def test_scale_front_end_with_broker_down_answers_503_with_retry_after(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    dead = ScaleOut(f"redis://127.0.0.1:{free_port()}/0", scale_out.storage, scale_out.s3)
    servers.append(a := front_end(tmp_path, dead, FakeEngine()))
    resp = requests.post(
        f"{a.base_url}/v1/input/upload-url?extension=wav", headers=flow.headers(TOKEN), timeout=10
    )
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert "job store is unreachable" in resp.json()["error"]
    assert requests.get(a.base_url + "/healthz", timeout=10).status_code == 503


def test_scale_worker_takes_only_the_models_it_serves(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    servers.append(
        a := front_end(tmp_path, scale_out, FakeEngine(), model_map={"whisper-large": "big"})
    )
    client = connect(scale_out.broker)
    book = RedisJobBook(client, 3600)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    tiny_engine, big_engine = FakeEngine(), FakeEngine()
    tiny = WorkerNode(task_broker(client), book, objects, tiny_engine, ["bundled"], 1)
    tiny.start()
    try:
        large_job = submitted(a.base_url, uploaded(a.base_url, b"large", tmp_path), path=LARGE)
        tiny_job = submitted(a.base_url, uploaded(a.base_url, b"tiny", tmp_path))
        assert final(a.base_url, tiny_job)["result"]["text"] == "tiny"
        time.sleep(1.0)
        assert polled(a.base_url, large_job)["status"] == "pending"
        big = WorkerNode(task_broker(client), book, objects, big_engine, ["big"], 1)
        big.start()
        try:
            body = final(a.base_url, large_job)
        finally:
            big.stop(10)
    finally:
        tiny.stop(10)
    assert (body["result"]["text"], body["model"]) == ("large", "fake-big")
    assert [call[0].name.split(".")[0] for call in big_engine.calls] == [large_job]
    assert len(tiny_engine.calls) == 1


def test_scale_worker_with_storage_down_reports_it_and_gives_the_job_back(
    tmp_path: Path,
    scale_out: ScaleOut,
    servers: list[EmbeddedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    job_id = submitted(a.base_url, uploaded(a.base_url, b"unreachable", tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    client = connect(scale_out.broker)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    engine = FakeEngine()
    node = WorkerNode(
        task_broker(client), RedisJobBook(client, 3600), objects, engine, ["bundled"], 1
    )
    node.start()
    try:
        wait_until(lambda: node.health()["dependencies"]["storage"]["failures"] >= 3, 30)
        report = node.health()
        assert report["status"] == "degraded"
        assert report["dependencies"]["storage"]["reachable"] is False
        assert report["dependencies"]["broker"]["reachable"] is True
        assert "dropscribe_worker_storage_up 0\n" in node.metrics()
        assert polled(a.base_url, job_id)["status"] == "processing"
    finally:
        node.stop(10)
    assert engine.calls == []
    assert polled(a.base_url, job_id)["status"] == "pending"


def job_record(job_id: str, upload_id: str) -> JobRecord:
    return JobRecord(
        job_id, "whisper-tiny", "m", upload_id, "{}", JobStatus.ACCEPTED, time.time(), None,
        None, None, None,
    )  # fmt: skip


def test_scale_claim_takes_over_only_from_a_dead_owner_and_fails_at_the_limit(
    scale_out: ScaleOut,
) -> None:
    book = RedisJobBook(connect(scale_out.broker), 3600)
    book.admit(job_record("j1", "u" * 32), None, "f")
    book.keep_alive("alive-owner")
    assert book.claim("j1", "m", time.time(), "alive-owner") is Claim.CLAIMED
    assert book.claim("j1", "m", time.time(), "other") is Claim.HELD
    redis.Redis.from_url(scale_out.broker).delete("dropscribe:alive:alive-owner")
    assert book.claim("j1", "m", time.time(), "other") is Claim.CLAIMED
    assert book.claim("j1", "m", time.time(), "third") is Claim.FAILED
    job = book.get("j1")
    assert job is not None and job.status is JobStatus.FAILED
    assert "died 2 times" in (job.error or "")
    assert book.counters().engine_runs == 2


def test_scale_finished_job_expires_after_the_retention(scale_out: ScaleOut) -> None:
    book = RedisJobBook(connect(scale_out.broker), 3600)
    book.admit(job_record("j2", "v" * 32), "key-2", "f")
    book.claim("j2", "m", time.time(), "me")
    result: Transcript = {"text": "t", "segments": [], "language": "en"}
    assert book.finish("j2", "me", result, None, time.time())
    plain = redis.Redis.from_url(scale_out.broker)
    assert 3590 < plain.ttl("dropscribe:job:j2") <= 3600
    assert 3590 < plain.ttl("dropscribe:idempotency:key-2") <= 3600


def test_scale_bucket_sweep_keeps_uploads_of_unfinished_jobs_only(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    waiting = submitted(a.base_url, uploaded(a.base_url, b"still waiting", tmp_path))
    cancelled = submitted(a.base_url, uploaded(a.base_url, b"cancelled", tmp_path))
    requests.delete(f"{a.base_url}/v1/async/requests/{cancelled}", headers=flow.headers(TOKEN))
    uploaded(a.base_url, b"never submitted", tmp_path)
    book = RedisJobBook(connect(scale_out.broker), 3600)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    assert sweep_bucket(book, objects, time.time() - 3600) == 0  # nothing is old yet
    assert sweep_bucket(book, objects, time.time() + 60) == 2
    assert list(objects_of(scale_out).values()) == [b"still waiting"]
    assert polled(a.base_url, waiting)["status"] == "pending"


def test_scale_worker_with_broker_down_reports_it_in_health_and_metrics(
    scale_out: ScaleOut,
) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    book = RedisJobBook(client, 3600)
    node = WorkerNode(task_broker(client), book, objects, FakeEngine(), ["bundled"], 1)
    node.start()
    try:
        report = node.health()
        assert report["status"] == "degraded"
        assert report["dependencies"]["broker"]["reachable"] is False
        assert report["dependencies"]["storage"]["reachable"] is True
        assert "dropscribe_worker_broker_up 0\n" in node.metrics()
    finally:
        node.stop(10)


def test_scale_long_poll_on_another_front_end_answers_soon_after_the_end(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    engine = FakeEngine()
    engine.release.clear()
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    servers.append(front_end(tmp_path, scale_out, engine, workers=1))
    job_id = submitted(a.base_url, uploaded(a.base_url, b"long poll", tmp_path))
    assert engine.started.wait(15)
    threading.Timer(1.0, engine.release.set).start()
    start = time.monotonic()
    resp = requests.get(
        f"{a.base_url}/v1/async/requests/{job_id}",
        params={"wait": 30},
        headers=flow.headers(TOKEN),
        timeout=40,
    )
    assert resp.json()["status"] == "success"
    # The job ends in the other front end's worker about 1 s in; without rereading its job
    # the poll would hold all 30 s.
    assert time.monotonic() - start < 10


def test_scale_stopping_worker_hands_its_job_to_another(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    client = connect(scale_out.broker)
    book = RedisJobBook(client, 3600)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    held = FakeEngine()
    held.release.clear()
    first = WorkerNode(task_broker(client), book, objects, held, ["bundled"], 1)
    first.start()
    job_id = submitted(a.base_url, uploaded(a.base_url, b"handed over", tmp_path))
    try:
        assert held.started.wait(15)
    finally:
        first.stop(10)
    assert held.interrupted.is_set()
    assert polled(a.base_url, job_id)["status"] == "pending"
    second = WorkerNode(task_broker(client), book, objects, FakeEngine(), ["bundled"], 1)
    second.start()
    try:
        body = final(a.base_url, job_id)
    finally:
        second.stop(10)
    assert body["result"]["text"] == "handed over"
    assert health(a.base_url)["engine_runs"] == 2


class BatchCountingEngine(FakeEngine):
    """The fake engine plus ``transcribe_many``, recording the texts of each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def transcribe_many(
        self, spec: str, audios: Sequence[Path], args: dict[str, object], should_stop: StopCheck
    ) -> list[Transcript | EngineError]:
        self.batches.append(sorted(audio.read_text() for audio in audios))
        return [{"text": audio.read_text(), "segments": [], "language": "en"} for audio in audios]

    def shares_batches(self, audio: Path) -> bool:
        """A recording whose text starts with "long" is too long to share a batch."""
        return not audio.read_text().startswith("long")

    def prefetch(self, audio: Path) -> None:
        """Nothing to decode ahead."""

    def close(self) -> None:
        """Nothing to stop."""


def through_batching_worker(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer], texts: Sequence[str]
) -> tuple[dict[str, str], BatchCountingEngine]:
    """Submit one fake recording per text to a front end, run them on a worker with three
    threads and a BatchCountingEngine; return each text's result text and the engine."""
    servers.append(a := front_end(tmp_path, scale_out, FakeEngine()))
    jobs = {
        text: submitted(a.base_url, uploaded(a.base_url, text.encode(), tmp_path)) for text in texts
    }
    client = connect(scale_out.broker)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    engine = BatchCountingEngine()
    node = WorkerNode(
        task_broker(client), RedisJobBook(client, 3600), objects, engine, ["bundled"], 3
    )
    node.start()
    try:
        results = {text: final(a.base_url, job)["result"]["text"] for text, job in jobs.items()}
    finally:
        node.stop(10)
    return results, engine


def test_scale_worker_threads_run_concurrent_small_jobs_as_one_batch(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    texts = ("one", "two", "three")
    results, engine = through_batching_worker(tmp_path, scale_out, servers, texts)
    assert results == {text: text for text in texts}
    assert sorted(text for batch in engine.batches for text in batch) == sorted(texts)
    assert max(len(batch) for batch in engine.batches) >= 2, engine.batches
    assert engine.calls == []


def test_scale_worker_recording_too_long_to_share_runs_alone(
    tmp_path: Path, scale_out: ScaleOut, servers: list[EmbeddedServer]
) -> None:
    texts = ("one", "long-two", "three")
    results, engine = through_batching_worker(tmp_path, scale_out, servers, texts)
    assert results == {text: text for text in texts}
    assert sorted(text for batch in engine.batches for text in batch) == ["one", "three"]
    assert len(engine.calls) == 1  # long-two, through the engine's own transcribe
