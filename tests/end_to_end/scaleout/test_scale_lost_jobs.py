"""A job the scale-out mode loses is not lost for good: a daemon, one `dropscribe serve
--broker --workers 1` and a real redis-server without persistence and SeaweedFS; Redis is
flushed while the worker runs the job."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from support.daemon import Daemon, fault_server_settings
from support.scale import RedisServer, SeaweedS3
from support.serve import SERVE_TOKEN, ServeProcess, wait_until

SPEECH = Path(__file__).resolve().parents[3] / "../shared/fixtures/speech"
TINY_PATH = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
RECORDING = "jfk.flac"

#: Seconds the run may take: the model load, two engine runs on 2 busy cores.
RUN_TIMEOUT = 150.0


@pytest.fixture
def memory_only_front(
    tmp_path: Path, seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SimpleNamespace]:
    """A front end with one worker thread on a Redis that keeps nothing across a restart."""
    for name, value in seaweed_s3.aws_env().items():
        monkeypatch.setenv(name, value)
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        args = [
            "--broker", server.url(), "--storage", "s3://scale-tests/lost-jobs",
            "--workers", "1",
        ]  # fmt: skip
        with ServeProcess(tmp_path / "front", args) as front:
            yield SimpleNamespace(front=front, redis=redis.Redis.from_url(server.url()))


def processing(client: redis.Redis) -> bool:
    """Return True while a worker runs a job."""
    return any(
        client.hget(key, "status") == b"processing" for key in client.scan_iter("dropscribe:job:*")
    )


@pytest.mark.slow
def test_scale_job_lost_in_a_redis_flush_is_sent_again_and_published_once(
    tmp_path: Path, memory_only_front: SimpleNamespace
) -> None:
    front, client = memory_only_front.front, memory_only_front.redis
    assert any("in memory only" in line for line in front.lines)  # warned at start
    server = SimpleNamespace(base_url=front.base_url, async_path=TINY_PATH)
    settings = fault_server_settings(server, poll={"initial_seconds": 0.5, "max_seconds": 1})
    daemon = Daemon(tmp_path / "daemon", settings, api_key=SERVE_TOKEN)
    try:
        daemon.start_and_wait()
        daemon.inbox.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SPEECH / RECORDING, daemon.inbox / RECORDING)
        wait_until(lambda: processing(client), 60, step=0.02)
        client.flushall()
        daemon.wait_for_published(1, timeout=RUN_TIMEOUT)
    finally:
        daemon.close()
    (lost,) = daemon.events("job.lost")
    (resent,) = daemon.events("job.resent")
    assert resent["superseded_request_id"] == lost["request_id"]
    assert len(daemon.events("job.published")) == 1
    assert list(daemon.output_sets()) == ["jfk"]
    assert daemon.events("job.failed") == []
    wait_until(lambda: any("result was discarded" in line for line in front.lines), 30)
