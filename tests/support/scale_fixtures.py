"""Fixtures of the scale-out tests: one real redis-server and one SeaweedFS S3 store for the
session; ``scale_out`` gives a test an empty Redis and a bucket prefix of its own.

Imported by the conftests of the folders that hold scale-out tests, so the rest of the suite
never imports redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from support.scale import RedisServer, ScaleOut, SeaweedS3

#: The bucket every scale-out test writes in, each under a prefix of its own; made once per
#: session, as an operator makes it (front ends create a bucket only with --create-bucket).
TEST_BUCKET = "scale-tests"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Yield one real redis-server (AOF on) on a loopback port for the session."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """Yield one real SeaweedFS S3 store on loopback ports for the session."""
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as store:
        store.client().create_bucket(Bucket=TEST_BUCKET)
        yield store


@pytest.fixture
def scale_out(
    redis_server: RedisServer, seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> ScaleOut:
    """Return an empty Redis and a bucket prefix of this test's own, with the AWS_* variables
    set."""
    redis.Redis.from_url(redis_server.url()).flushall()
    for name, value in seaweed_s3.aws_env().items():
        monkeypatch.setenv(name, value)
    # One bucket for the session and a prefix per test: each SeaweedFS bucket costs volumes.
    prefix = f"t-{uuid.uuid4().hex[:16]}"
    return ScaleOut(redis_server.url(), f"s3://{TEST_BUCKET}/{prefix}", seaweed_s3)
