"""Shared file-system steps: numbered names that fit NAME_MAX, atomic writes, and folder
walking without following links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dropscribe.core.fsio import (
    NAME_MAX_BYTES,
    TEMP_PREFIX,
    FollowRefused,
    ensure_folder,
    numbered,
    numbered_name,
    open_folder,
    write_atomic,
    write_atomic_at,
)


def test_numbered_name_first_is_the_name_itself() -> None:
    assert numbered_name("talk.wav", 1) == "talk.wav"


def test_numbered_name_adds_number_before_extension() -> None:
    assert numbered_name("talk.wav", 2) == "talk (2).wav"
    assert numbered_name("archive.tar.gz", 3) == "archive.tar (3).gz"
    assert numbered_name("README", 2) == "README (2)"


def test_numbered_name_long_name_cut_to_fit_keeping_extension() -> None:
    name = "x" * 251 + ".wav"
    result = numbered_name(name, 12)
    assert len(os.fsencode(result)) <= NAME_MAX_BYTES
    assert result.endswith(" (12).wav")


def test_numbered_name_first_cuts_on_character_boundary() -> None:
    name = "é" * 130 + ".wav"  # 264 bytes in UTF-8
    result = numbered_name(name, 1, 244)
    assert len(os.fsencode(result)) <= 244
    assert result.endswith(".wav")
    result.encode("utf-8")  # no half character left behind
    assert set(result[:-4]) == {"é"}


def test_numbered_name_first_absurd_extension_is_cut_as_part_of_the_name() -> None:
    name = "a." + "b" * 300
    assert len(os.fsencode(numbered_name(name, 1))) <= NAME_MAX_BYTES


def test_numbered_stem_first_is_the_stem_itself_then_numbered() -> None:
    assert [numbered("talk", n) for n in (1, 2, 10)] == ["talk", "talk (2)", "talk (10)"]


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    write_atomic(target, b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_write_atomic_failed_write_removes_its_temporary(tmp_path: Path) -> None:
    (tmp_path / "a.txt").mkdir()  # os.replace of a file over a folder fails
    with pytest.raises(OSError):
        write_atomic(tmp_path / "a.txt", b"data")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


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
