"""Checkpoints in the scale-out job book: a worker keeps each finished piece of a long
recording in Redis, the front end's poll answer shows the progress, and the worker that runs
the job next (here after the first one stopped mid-recording) goes on after those pieces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import requests

from dropscribe.engine.pieces import Sizes
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.scaleout.book import RedisJobBook, connect, pieces_key
from dropscribe.scaleout.frontend import assemble_front_end
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.tasks import task_broker
from dropscribe.scaleout.worker import WorkerNode
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from dropscribe.server.locations import storage_location
from support import tiyaro_flow as flow
from support.long_audio import encoded, fixture_samples
from support.scale import ScaleOut
from support.serve import wait_until
from support.server_doubles import TOKEN, FakeEngine

pytestmark = pytest.mark.slow

TINY = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"

#: Written at the head of a kept piece's first segment while no worker runs the job.
MARKER = " Checkpointed:"


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(sizes=Sizes.of_piece(20.0))


@pytest.fixture
def front(tmp_path: Path, scale_out: ScaleOut) -> Iterator[EmbeddedServer]:
    options = ServerOptions(
        tmp_path / "unused", token=TOKEN, broker=scale_out.broker, storage=scale_out.storage,
        workers=0,
    )  # fmt: skip
    server = EmbeddedServer(options, engine=FakeEngine(), scale_out=assemble_front_end)
    server.start()
    yield server
    server.stop()


def submitted(front: EmbeddedServer, tmp_path: Path) -> str:
    osr, jfk = fixture_samples("OSR_us_000_0034_8k.wav"), fixture_samples("jfk.flac")
    audio = encoded(np.concatenate([osr, jfk, osr, jfk]), tmp_path / "reading.flac", "-c:a", "flac")
    url = flow.get_upload_url(front.base_url, TOKEN, "flac")
    flow.upload(url, audio)
    return str(flow.submit(front.base_url, TOKEN, url, TINY)["id"])


def polled(front: EmbeddedServer, job_id: str) -> dict[str, Any]:
    url = f"{front.base_url}/v1/async/requests/{job_id}"
    answer = requests.get(url, headers=flow.headers(TOKEN), timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def worker(scale_out: ScaleOut, engine: WhisperEngine) -> WorkerNode:
    client = connect(scale_out.broker)
    objects = ObjectStore(s3_client(), storage_location(scale_out.storage))
    return WorkerNode(task_broker(client), RedisJobBook(client, 3600), objects, engine,
                      ["bundled"], 1)  # fmt: skip


def mark_first_piece(client: redis.Redis, job_id: str) -> int:
    """Mark the first kept piece's first segment; return how many pieces are kept."""
    kept = client.hgetall(pieces_key(job_id))
    piece = json.loads(kept[b"0:0"])
    piece["segments"][0]["text"] = MARKER + piece["segments"][0]["text"]
    client.hset(pieces_key(job_id), "0:0", json.dumps(piece))
    return len(kept)


def test_scale_worker_stopped_mid_recording_next_run_goes_on_after_kept_pieces(
    tmp_path: Path, scale_out: ScaleOut, front: EmbeddedServer, engine: WhisperEngine
) -> None:
    job_id = submitted(front, tmp_path)
    first = worker(scale_out, engine)
    first.start()
    try:
        wait_until(lambda: "progress" in polled(front, job_id), 120, step=0.05)
        seen = polled(front, job_id)["progress"]
        assert seen["audioSecondsTotal"] == pytest.approx(93.1, abs=0.5)
        wait_until(lambda: redis.Redis.from_url(scale_out.broker).hlen(pieces_key(job_id)) >= 2,
                   120, step=0.05)  # fmt: skip
    finally:
        first.stop(30)
    client = redis.Redis.from_url(scale_out.broker)
    assert polled(front, job_id)["status"] == "pending"
    kept = mark_first_piece(client, job_id)
    assert kept >= 2

    second = worker(scale_out, engine)
    second.start()
    try:
        wait_until(lambda: polled(front, job_id)["status"] in flow.FINAL_STATUSES, 180, step=0.2)
    finally:
        second.stop(30)
    body = polled(front, job_id)
    assert body["status"] == "success", body
    result = body["result"]
    assert result["text"].startswith(MARKER.strip())  # read back, not decoded again
    # Kennedy twice: nothing lost or doubled where the second run went on.
    assert result["text"].lower().count("what your country can do for you") == 2
    assert result["complete"] is True
    assert client.exists(pieces_key(job_id)) == 0  # gone once the job ended
    assert "progress" not in body
