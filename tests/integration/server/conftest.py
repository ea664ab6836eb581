"""Fixtures for the embedded server's integration tests: a fast fake engine and a fake clock,
and ``embedded_server``: one real EmbeddedServer (bundled tiny.en model, real faster-whisper
engine) for the whole test session, on an ephemeral loopback port. Its bearer token is
``embedded_server.options.token``. Its /healthz counters are lifetime totals for the session, so
compare before/after values rather than absolute ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from support.server_doubles import (
    MAX_UPLOAD_BYTES,
    PRESIGN_SECRET,
    TOKEN,
    FakeClock,
    FakeEngine,
)

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


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_server(
    tmp_path: Path, fake_engine: FakeEngine, fake_clock: FakeClock
) -> Iterator[EmbeddedServer]:
    options = ServerOptions(
        tmp_path / "data",
        token=TOKEN,
        presign_secret=PRESIGN_SECRET,
        max_upload_bytes=MAX_UPLOAD_BYTES,
    )
    with EmbeddedServer(options, engine=fake_engine, clock=fake_clock) as server:
        yield server


@pytest.fixture
def speech_file(tmp_path: Path) -> Path:
    """A small upload; the fake engine 'transcribes' it to its own text."""
    path = tmp_path / "hello.wav"
    path.write_bytes(b"hello world")
    return path
