"""Folder walking without following links, and atomic writes below a root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dropscribe.fsio import FollowRefused, ensure_folder, open_folder, write_atomic_at

PREFIX = ".tmp-"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


def test_write_atomic_at_creates_folders_and_writes(root: Path) -> None:
    path = write_atomic_at(root, "a/b/c.txt", b"hello", PREFIX)
    assert path == root / "a" / "b" / "c.txt"
    assert path.read_bytes() == b"hello"
    assert sorted(p.name for p in (root / "a" / "b").iterdir()) == ["c.txt"]


def test_write_atomic_at_link_below_root_is_refused(root: Path, elsewhere: Path) -> None:
    (root / "sub").symlink_to(elsewhere)
    with pytest.raises(FollowRefused, match=r"'sub'.*link or not a folder"):
        write_atomic_at(root, "sub/c.txt", b"hello", PREFIX)
    assert list(elsewhere.iterdir()) == []


def test_write_atomic_at_deeper_link_is_refused(root: Path, elsewhere: Path) -> None:
    (root / "a").mkdir()
    (root / "a" / "b").symlink_to(elsewhere)
    with pytest.raises(FollowRefused):
        write_atomic_at(root, "a/b/x/c.txt", b"hello", PREFIX)
    assert list(elsewhere.iterdir()) == []


def test_write_atomic_at_link_as_final_name_is_replaced_not_followed(
    root: Path, elsewhere: Path
) -> None:
    (root / "c.txt").symlink_to(elsewhere / "target.txt")
    write_atomic_at(root, "c.txt", b"hello", PREFIX)
    assert not (root / "c.txt").is_symlink()
    assert list(elsewhere.iterdir()) == []


def test_ensure_folder_link_is_refused_and_file_in_the_way_too(root: Path, elsewhere: Path) -> None:
    (root / "sub").symlink_to(elsewhere)
    (root / "file").write_text("x")
    with pytest.raises(FollowRefused):
        ensure_folder(root, "sub/deeper")
    with pytest.raises(FollowRefused):
        ensure_folder(root, "file/deeper")
    assert list(elsewhere.iterdir()) == []


def test_ensure_folder_real_folders_are_made_and_returned(root: Path) -> None:
    assert ensure_folder(root, "x/y") == root / "x" / "y"
    assert (root / "x" / "y").is_dir()
    assert ensure_folder(root, ".") == root


@pytest.mark.parametrize("rel", ["../out", "/etc", "a/../../b"])
def test_open_folder_path_leaving_the_root_raises(root: Path, rel: str) -> None:
    with (
        pytest.raises(ValueError, match="not a folder path inside its root"),
        open_folder(root, rel, create=True),
    ):
        pass


def test_open_folder_missing_without_create_raises(root: Path) -> None:
    with pytest.raises(FileNotFoundError), open_folder(root, "nope", create=False):
        pass


def test_open_folder_closes_every_descriptor(root: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        with open_folder(root, "a/b/c", create=True):
            pass
    assert len(os.listdir("/proc/self/fd")) == before
