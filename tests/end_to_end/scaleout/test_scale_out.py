"""The scale-out mode end to end: two `dropscribe serve --broker` front ends, two `dropscribe
worker`s and two daemons (one per front end), on a real redis-server and a real SeaweedFS S3
store; one worker is SIGKILLed in the middle of a job."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import redis
import requests

from support.daemon import Daemon, fault_server_settings
from support.scale import ScaleOut, WorkerProcess
from support.serve import SERVE_TOKEN, ServeProcess, wait_until
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3] / "../shared/fixtures/speech"
TINY_PATH = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"

#: The recordings each daemon gets: a 36 s one (long enough to be killed in) and an 11 s one.
RECORDINGS = ("OSR_us_000_0034_8k.wav", "jfk.flac")

#: Word error rate a transcript must stay within (tiny.en on these recordings: 0 to 6 %).
MAX_WER = 0.10

#: Seconds the whole run may take: model loads, five engine runs on 2 busy cores, and the
#: 30 s heartbeat timeout before the killed worker's job is delivered again.
RUN_TIMEOUT = 150.0


@pytest.fixture
def cluster(tmp_path: Path, scale_out: ScaleOut) -> Iterator[SimpleNamespace]:
    """Start two front ends and two workers; stop them all at the end."""
    args = ["--broker", scale_out.broker, "--storage", scale_out.storage, "--workers", "0"]
    fronts = [ServeProcess(tmp_path / f"front-{n}", args) for n in range(2)]
    workers = [
        WorkerProcess(scale_out.broker, scale_out.storage, scale_out.s3.aws_env()) for _ in range(2)
    ]
    try:
        for front in fronts:
            front.start()
        for worker in workers:
            worker.start()
        yield SimpleNamespace(fronts=fronts, workers=workers)
    finally:
        for worker in workers:
            worker.stop()
        for front in fronts:
            front.stop()


def daemon_for(root: Path, front: ServeProcess) -> Daemon:
    server = SimpleNamespace(base_url=front.base_url, async_path=TINY_PATH)
    settings = fault_server_settings(server, poll={"initial_seconds": 0.5, "max_seconds": 1})
    return Daemon(root, settings, api_key=SERVE_TOKEN)


def processing_owner(client: redis.Redis) -> tuple[str, str] | None:
    """Return (job id, owner) of a job of the long recording being processed now, or None."""
    for key in client.scan_iter("dropscribe:job:*"):
        job = {_text(k): _text(v) for k, v in client.hgetall(key).items()}
        if job.get("status") == "processing" and "owner" in job:
            return _text(key).rsplit(":", 1)[1], job["owner"]
    return None


@pytest.mark.slow
def test_scale_out_two_front_ends_two_workers_one_killed_every_recording_once(
    tmp_path: Path, scale_out: ScaleOut, cluster: SimpleNamespace
) -> None:
    client = redis.Redis.from_url(scale_out.broker)
    daemons = [
        daemon_for(tmp_path / f"daemon-{n}", front) for n, front in enumerate(cluster.fronts)
    ]
    try:
        for daemon in daemons:
            daemon.start_and_wait()
        for daemon in daemons:
            daemon.inbox.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SPEECH / RECORDINGS[0], daemon.inbox / RECORDINGS[0])

        wait_until(lambda: processing_owner(client) is not None, 60, step=0.02)
        held = processing_owner(client)
        assert held is not None
        killed_job, owner = held
        victim = next(w for w in cluster.workers if _health(w)["owner"] == owner)
        victim.kill()
        killed_at = time.monotonic()
        for daemon in daemons:
            shutil.copyfile(SPEECH / RECORDINGS[1], daemon.inbox / RECORDINGS[1])

        wait_until(lambda: _status(client, killed_job) == "success", RUN_TIMEOUT, step=0.2)
        assert time.monotonic() - killed_at < 120  # the promise: run again within 2 minutes
        for daemon in daemons:
            daemon.wait_for_published(len(RECORDINGS), timeout=RUN_TIMEOUT)
    finally:
        for daemon in daemons:
            daemon.close()

    references = json.loads((SPEECH / "references.json").read_text(encoding="utf-8"))
    for daemon in daemons:
        for name in RECORDINGS:
            text = (daemon.outbox / f"{Path(name).stem}.txt").read_text(encoding="utf-8")
            wer = word_error_rate(references[name]["reference"], text)
            assert wer <= MAX_WER, f"{name}: WER {wer:.1%}: {text!r}"
    health = requests.get(cluster.fronts[0].base_url + "/healthz", timeout=10).json()
    runs = len(daemons) * len(RECORDINGS)
    # Each recording is one job; the killed job's first run is the only extra engine run.
    assert (health["submissions"], health["engine_runs"]) == (runs, runs + 1)
    assert client.hget(f"dropscribe:job:{killed_job}", "crashes") == b"1"
    survivor = next(w for w in cluster.workers if w is not victim)
    assert _health(survivor)["jobs_done"] >= 1
    assert sorted(_bucket_digests(scale_out)) == sorted(
        _digest(SPEECH / name) for name in RECORDINGS for _ in daemons
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _health(worker: WorkerProcess) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(worker.health_url + "/healthz", timeout=10).json()
    return body


def _status(client: redis.Redis, job_id: str) -> str | None:
    value = client.hget(f"dropscribe:job:{job_id}", "status")
    return value.decode() if isinstance(value, bytes) else None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bucket_digests(scale: ScaleOut) -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    page = s3.list_objects_v2(Bucket=scale.bucket, Prefix=scale.prefix + "/uploads/")
    keys = [item["Key"] for item in page.get("Contents", [])]
    bodies = (s3.get_object(Bucket=scale.bucket, Key=key)["Body"].read() for key in keys)
    return [hashlib.sha256(body).hexdigest() for body in bodies]
