"""Fixtures shared by the whole suite.

``embedded_server``: one real EmbeddedServer (bundled tiny.en model, real faster-whisper engine)
for the whole test session, on an ephemeral loopback port. Its bearer token is
``embedded_server.options.token``. Its /healthz counters are lifetime totals for the session, so
compare before/after values rather than absolute ones.

``restore_logging``: gives back the stdlib and structlog state that ``audit.configure()``
changes, pytest's own handlers first.

``redis_server`` and ``seaweed_s3``: one real redis-server and one SeaweedFS S3 store for the
session (scale-out tests); ``scale_out`` gives a test an empty Redis and a bucket of its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import redis
import structlog

from dropscribe import audit
from dropscribe.localapi.server import EmbeddedServer, ServerOptions
from support.scale import RedisServer, ScaleOut, SeaweedS3


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Give back the stdlib and structlog state configure() changes, pytest's handlers first."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in audit.NOISY_LOGGERS}
    yield
    audit.shutdown()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)
    structlog.reset_defaults()


#: Bearer token of the session's embedded server.
EMBEDDED_SERVER_TOKEN = "test-session-token"


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """Yield a started EmbeddedServer with the real model, shared by the test session."""
    options = ServerOptions(tmp_path_factory.mktemp("embedded-server"), token=EMBEDDED_SERVER_TOKEN)
    server = EmbeddedServer(options)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Yield one real redis-server (AOF on) on a loopback port for the session."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """Yield one real SeaweedFS S3 store on loopback ports for the session."""
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as store:
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
    return ScaleOut(redis_server.url(), f"s3://scale-tests/t-{uuid.uuid4().hex[:16]}", seaweed_s3)
