"""Fixtures for the embedded server's integration tests: a fast fake engine and a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.localapi.server import EmbeddedServer, ServerOptions
from support.localapi_doubles import (
    MAX_UPLOAD_BYTES,
    PRESIGN_SECRET,
    TOKEN,
    FakeClock,
    FakeEngine,
)


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
