"""The pure decisions about recordings: ignored names, candidates, magic bytes, verdicts."""

from __future__ import annotations

import os
import stat

import pytest

from dropscribe.config import Watch
from dropscribe.intake.recordings import (
    has_allowed_extension,
    ignored_reason,
    is_candidate,
    is_candidate_rel,
    is_ignored,
    looks_like_audio,
    verdict_for_stat,
)

DEFAULT_EXTENSIONS = Watch().extensions
DEFAULT_IGNORE = Watch().ignore


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.wav",
        ".talk.wav.Xa81Qz",  # rsync's temporary name
        ".syncthing.talk.wav.tmp",
        "talk.wav.part",
        "talk.tmp",
        "talk.wav.crdownload",
        "~$talk.wav",
    ],
)
def test_is_ignored_default_patterns_match(name: str) -> None:
    assert is_ignored(name, DEFAULT_IGNORE)


@pytest.mark.parametrize("name", ["talk.wav", "-leading dash.mp3", "my talk.part.wav", "ü.ogg"])
def test_is_ignored_ordinary_names_pass(name: str) -> None:
    assert not is_ignored(name, DEFAULT_IGNORE)


def test_has_allowed_extension_ignores_case_and_needs_a_dot() -> None:
    assert has_allowed_extension("A.WAV", DEFAULT_EXTENSIONS)
    assert not has_allowed_extension("wav", DEFAULT_EXTENSIONS)
    assert not has_allowed_extension("notes.txt", DEFAULT_EXTENSIONS)


@pytest.mark.parametrize(
    ("name", "mode", "expected"),
    [
        ("a.wav", stat.S_IFREG, True),
        ("a.txt", stat.S_IFREG, False),
        ("a", stat.S_IFDIR, False),
        ("link", stat.S_IFLNK, True),
        ("pipe.txt", stat.S_IFIFO, True),
        ("sock", stat.S_IFSOCK, True),
        ("dev", stat.S_IFCHR, True),
    ],
)
def test_is_candidate_hostile_types_always_surface(name: str, mode: int, expected: bool) -> None:
    assert is_candidate(name, mode, DEFAULT_EXTENSIONS) is expected


def test_is_candidate_rel_ignored_folder_hides_its_files() -> None:
    assert not is_candidate_rel(".stversions/a.wav", DEFAULT_IGNORE, recursive=True)
    assert is_candidate_rel("sub/a.wav", DEFAULT_IGNORE, recursive=True)
    assert not is_candidate_rel("sub/a.wav", DEFAULT_IGNORE, recursive=False)


WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


@pytest.mark.parametrize(
    ("head", "ext"),
    [
        (WAV, ".wav"),
        (b"fLaC\x00\x00\x00\x22", ".flac"),
        (b"OggS\x00\x02", ".ogg"),
        (b"OggS\x00\x02", ".opus"),
        (b"ID3\x04\x00", ".mp3"),
        (b"\xff\xfb\x90\x64", ".mp3"),
        (b"\xff\xf1\x50\x80", ".aac"),
        (b"\x00\x00\x00\x20ftypM4A ", ".m4a"),
        (b"\x00\x00\x00\x18ftypmp42", ".mp4"),
        (b"\x1a\x45\xdf\xa3\x9f", ".webm"),
        (b"OggS\x00\x02", ".wav"),  # mislabelled but decodable
    ],
)
def test_looks_like_audio_known_signatures_pass(head: bytes, ext: str) -> None:
    assert looks_like_audio(head, ext)


@pytest.mark.parametrize(
    ("head", "ext"),
    [
        (b"%PDF-1.7\n", ".wav"),
        (b"PK\x03\x04", ".m4a"),
        (b"hello world", ".mp3"),
        (b"RIFF\x24\x00\x00\x00AVI ", ".wav"),
        (b"\xff\xfb\x90\x64", ".wav"),  # a bare frame sync is too weak outside .mp3
        (b"\xff\xff\xff\xff", ".mp3"),  # reserved version and layer bits
        (b"", ".wav"),
    ],
)
def test_looks_like_audio_other_content_fails(head: bytes, ext: str) -> None:
    assert not looks_like_audio(head, ext)


def _stat(mode: int, *, size: int = 100, nlink: int = 1) -> os.stat_result:
    return os.stat_result((mode, 1, 1, nlink, 0, 0, size, 0, 0, 0))


@pytest.mark.parametrize(
    ("st", "words"),
    [
        (_stat(stat.S_IFLNK | 0o777), "symbolic link"),
        (_stat(stat.S_IFIFO | 0o644), "FIFO"),
        (_stat(stat.S_IFSOCK | 0o644), "socket"),
        (_stat(stat.S_IFBLK | 0o644), "block device"),
        (_stat(stat.S_IFCHR | 0o644), "character device"),
        (_stat(stat.S_IFREG | 0o644, nlink=2), "hard link"),
        (_stat(stat.S_IFREG | 0o644, size=0), "empty"),
        (_stat(stat.S_IFREG | 0o644, size=101), "larger"),
    ],
)
def test_verdict_for_stat_hostile_entry_rejected_with_hint(st: os.stat_result, words: str) -> None:
    verdict = verdict_for_stat("a.wav", st, max_bytes=100, extensions=DEFAULT_EXTENSIONS)
    assert not verdict.ok
    assert words in verdict.reason
    assert verdict.hint


def test_verdict_for_stat_wrong_extension_rejected() -> None:
    st = _stat(stat.S_IFREG | 0o644)
    verdict = verdict_for_stat("a.txt", st, max_bytes=100, extensions=DEFAULT_EXTENSIONS)
    assert not verdict.ok
    assert "extension" in verdict.reason


def test_ignored_reason_names_the_extension_and_the_setting() -> None:
    reason = ignored_reason("call.MKV", ("mp3", "wav"))
    assert reason == "its extension .MKV is not in watch.extensions (mp3, wav)"


@pytest.mark.parametrize("name", ["README", ".profile"])
def test_ignored_reason_without_extension_says_so(name: str) -> None:
    assert ignored_reason(name, ("mp3",)).startswith("it has no extension")
