"""What the scale-out worker and front end trust: poisoned Redis records and queue messages,
uploads over the limit, replaced after submit or submitted twice. On a real redis-server and
a real SeaweedFS S3 store, with the fake engine."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from dropscribe.scaleout.book import RedisJobBook, connect, upload_key
from dropscribe.scaleout.frontend import assemble_front_end
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.tasks import job_message, task_broker
from dropscribe.scaleout.worker import WorkerNode
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from dropscribe.server.job_status import JobStatus
from dropscribe.server.locations import storage_location
from dropscribe.server.records import JobRecord, UploadRecord
from support import tiyaro_flow as flow
from support.scale import ScaleOut
from support.serve import wait_until
from support.server_doubles import TOKEN, FakeEngine

TINY = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"


@pytest.fixture
def front(tmp_path: Path, scale_out: ScaleOut) -> Iterator[EmbeddedServer]:
    """A started front end with no workers of its own and a 100-byte upload limit."""
    options = ServerOptions(
        tmp_path / "unused", token=TOKEN, broker=scale_out.broker, storage=scale_out.storage,
        workers=0, max_upload_bytes=100,
    )  # fmt: skip
    server = EmbeddedServer(options, engine=FakeEngine(), scale_out=assemble_front_end)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def worker_parts(scale_out: ScaleOut) -> tuple[redis.Redis, RedisJobBook, ObjectStore]:
    client = connect(scale_out.broker)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    return client, RedisJobBook(client, 3600), objects


def node_of(
    parts: tuple[redis.Redis, RedisJobBook, ObjectStore], engine: FakeEngine, **extra: Any
) -> WorkerNode:
    client, book, objects = parts
    return WorkerNode(task_broker(client), book, objects, engine, ["bundled"], 1, **extra)


def upload_url(front: EmbeddedServer, content: bytes) -> str:
    url = flow.get_upload_url(front.base_url, TOKEN, "wav")
    assert requests.put(url, data=content, timeout=10).status_code == 200
    return url


def submit(front: EmbeddedServer, url: str, key: str | None = None) -> requests.Response:
    headers = flow.headers(TOKEN) | ({"Idempotency-Key": key} if key else {})
    body = {"input": {"language": "en"}, "URL": url}
    return requests.post(front.base_url + TINY, json=body, headers=headers, timeout=10)


def submitted(front: EmbeddedServer, url: str) -> str:
    resp = submit(front, url)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["response"]["id"]
    return job_id


def upload_id_of(url: str) -> str:
    return url.split("/uploads/")[1].split(".")[0]


def ended(book: RedisJobBook, job_id: str) -> Callable[[], bool]:
    def check() -> bool:
        job = book.get(job_id)
        return job is not None and job.status.is_terminal

    return check


def final(book: RedisJobBook, job_id: str) -> JobRecord:
    wait_until(ended(book, job_id), 30)
    job = book.get(job_id)
    assert job is not None
    return job


def run_node(node: WorkerNode, until: Callable[[], bool]) -> None:
    node.start()
    try:
        wait_until(until, 30)
    finally:
        node.stop(10)


def test_scale_worker_drops_a_message_whose_job_id_leaves_its_scratch_folder(
    tmp_path: Path,
    front: EmbeddedServer,
    worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The worker's scratch folder is made in tmp_path, so "../victim" names tmp_path/victim.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"precious")
    client, book, _ = worker_parts
    url = upload_url(front, b"overwrite")
    upload = UploadRecord(upload_id_of(url), "wav", 9, time.time())
    job = JobRecord(
        "../victim", "whisper-tiny", "m", upload.upload_id, "{}", JobStatus.PENDING,
        time.time(), None, None, None, None,
    )  # fmt: skip
    book.admit(job, None, "f", upload)
    task_broker(client).enqueue(job_message("../victim", "bundled"))
    engine = FakeEngine()
    with caplog.at_level(logging.WARNING, "dropscribe.scaleout"):
        run_node(node_of(worker_parts, engine), lambda: "dropped" in caplog.text)
    assert "job id '../victim' is not one this service makes" in caplog.text
    assert victim.read_bytes() == b"precious"
    assert engine.calls == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["victim.wav"]


def test_scale_worker_fails_a_job_whose_upload_extension_is_poisoned(
    front: EmbeddedServer,
    worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, book, _ = worker_parts
    url = upload_url(front, b"hello")
    job_id = submitted(front, url)
    client.hset(upload_key(upload_id_of(url)), "extension", "wav/../../x")
    engine = FakeEngine()
    with caplog.at_level(logging.WARNING, "dropscribe.scaleout"):
        run_node(node_of(worker_parts, engine), ended(book, job_id))
    job = final(book, job_id)
    assert (job.status, job.error) == (
        JobStatus.FAILED, "the job's upload record is not valid; submit the file again",
    )  # fmt: skip
    assert "upload extension 'wav/../../x' is not an allowed one" in caplog.text
    assert engine.calls == []


def test_scale_worker_fails_a_job_whose_message_names_a_model_it_lacks(
    front: EmbeddedServer,
    worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, book, _ = worker_parts
    url = upload_url(front, b"hello")
    upload = UploadRecord(upload_id_of(url), "wav", 5, time.time())
    job_id = str(uuid.uuid4())
    job = JobRecord(
        job_id, "whisper-tiny", "m", upload.upload_id, "{}", JobStatus.PENDING, time.time(),
        None, None, None, None,
    )  # fmt: skip
    book.admit(job, None, "f", upload)
    honest_queue = job_message(job_id, "bundled").queue_name
    poisoned = job_message(job_id, "evil/model").copy(queue_name=honest_queue)
    task_broker(client).enqueue(poisoned)
    engine = FakeEngine()
    with caplog.at_level(logging.WARNING, "dropscribe.scaleout"):
        run_node(node_of(worker_parts, engine), ended(book, job_id))
    failed = final(book, job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "the job's queue message names a model this worker lacks"
    assert "model spec 'evil/model' is not one this worker was started with" in caplog.text
    assert engine.calls == []


def test_scale_submit_of_an_upload_over_the_limit_is_refused_and_deleted(
    front: EmbeddedServer, worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore]
) -> None:
    # The bucket takes it: a presigned PUT binds no length unless it signs an exact one.
    url = upload_url(front, b"x" * 101)
    resp = submit(front, url)
    assert resp.status_code == 413, resp.text
    assert "larger than the limit of 100 bytes" in resp.text
    _, _, objects = worker_parts
    key = objects.location.key("uploads", f"{upload_id_of(url)}.wav")
    assert objects.head(key) is None
    assert submit(front, upload_url(front, b"x" * 100)).status_code == 202


def test_scale_upload_replaced_after_submit_is_not_transcribed(
    front: EmbeddedServer, worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore]
) -> None:
    _, book, _ = worker_parts
    url = upload_url(front, b"what was submitted")
    job_id = submitted(front, url)
    # The same length: only the ETag tells them apart.
    assert requests.put(url, data=b"swapped in, later!", timeout=10).status_code == 200
    engine = FakeEngine()
    run_node(node_of(worker_parts, engine), ended(book, job_id))
    job = final(book, job_id)
    assert job.status is JobStatus.FAILED
    assert job.error == (
        "the uploaded file was replaced after it was submitted; upload it again with a new URL"
    )
    assert engine.calls == []


def test_scale_second_submit_of_one_upload_is_409_but_a_replay_is_not(
    front: EmbeddedServer,
) -> None:
    url = upload_url(front, b"once")
    first = submit(front, url, key="k1")
    assert first.status_code == 202, first.text
    replay = submit(front, url, key="k1")
    assert replay.status_code == 202, replay.text
    assert replay.json()["response"]["id"] == first.json()["response"]["id"]
    for key in ("k2", None):
        again = submit(front, url, key=key)
        assert again.status_code == 409, again.text
        assert "already submitted" in again.text
    assert requests.get(front.base_url + "/healthz", timeout=10).json()["submissions"] == 1


def test_scale_worker_downloads_no_upload_over_its_limit(
    front: EmbeddedServer, worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore]
) -> None:
    _, book, _ = worker_parts
    job_id = submitted(front, upload_url(front, b"fifty bytes " * 4))
    engine = FakeEngine()
    node = node_of(worker_parts, engine, max_download_bytes=10)
    run_node(node, ended(book, job_id))
    job = final(book, job_id)
    assert (job.status, job.error) == (
        JobStatus.FAILED, "the upload is larger than this worker's limit of 10 bytes",
    )  # fmt: skip
    assert engine.calls == []


def test_scale_worker_transcribes_the_pinned_upload(
    front: EmbeddedServer, worker_parts: tuple[redis.Redis, RedisJobBook, ObjectStore]
) -> None:
    _, book, _ = worker_parts
    job_id = submitted(front, upload_url(front, b"as submitted"))
    engine = FakeEngine()
    run_node(node_of(worker_parts, engine), ended(book, job_id))
    job = final(book, job_id)
    assert job.status is JobStatus.SUCCESS, job.error
    assert job.result is not None and job.result["text"] == "as submitted"
