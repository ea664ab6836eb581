"""Upload naming and streaming a body to disk."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dropscribe.server.problems import ApiProblem
from dropscribe.server.uploads import (
    parse_stored_name,
    private_folder,
    remove_drafts,
    store_body,
)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def accept(target: Path) -> None:
    """A commit check that lets every body in."""


def refuse(target: Path) -> None:
    raise ApiProblem(409, "already submitted")


@pytest.mark.parametrize(
    "name", ["../x.wav", "ab" * 16 + ".exe", "AB" * 16 + ".wav", "ab" * 16, "ab" * 16 + ".wav/x"]
)
def test_parse_stored_name_foreign_name_returns_none(name: str) -> None:
    assert parse_stored_name(name) is None


def test_parse_stored_name_own_name_returns_id_and_extension() -> None:
    assert parse_stored_name("ab" * 16 + ".m4a") == ("ab" * 16, "m4a")


def test_store_body_complete_body_writes_target(tmp_path: Path) -> None:
    target = tmp_path / "t.wav"
    size = asyncio.run(store_body(chunks(b"abc", b"def"), target, 6, accept))
    assert size == 6 and target.read_bytes() == b"abcdef"
    assert [p.name for p in tmp_path.iterdir()] == ["t.wav"]


def test_store_body_over_limit_raises_413_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ApiProblem) as caught:
        asyncio.run(store_body(chunks(b"abc", b"defg"), tmp_path / "t.wav", 6, accept))
    assert caught.value.status == 413
    assert list(tmp_path.iterdir()) == []


def test_remove_drafts_keeps_completed_uploads(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "b.wav.1234.part").write_bytes(b"x")
    remove_drafts(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_store_body_refused_at_commit_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "t.wav"
    target.write_bytes(b"submitted")
    with pytest.raises(ApiProblem) as caught:
        asyncio.run(store_body(chunks(b"replacement"), target, 100, refuse))
    assert caught.value.status == 409
    assert [p.name for p in tmp_path.iterdir()] == ["t.wav"]
    assert target.read_bytes() == b"submitted"


def test_store_body_and_folders_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        folder = private_folder(tmp_path / "data" / "uploads")
        asyncio.run(store_body(chunks(b"abc"), folder / "t.wav", 6, accept))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((folder / "t.wav").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
