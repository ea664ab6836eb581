"""Shared file-system steps: numbered names that fit NAME_MAX, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dropscribe.fsio import NAME_MAX_BYTES, TEMP_PREFIX, numbered, numbered_name, write_atomic


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
