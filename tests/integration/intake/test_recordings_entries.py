"""inspect_entry on real hostile and ordinary entries: it never follows links and never
blocks on a FIFO, socket or device."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from dropscribe.config import Watch
from dropscribe.intake.recordings import Verdict, inspect_entry

DEFAULT_EXTENSIONS = Watch().extensions

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48
LIMIT = 1024  # bytes


def inspect(path: Path) -> Verdict:
    return inspect_entry(path, max_bytes=LIMIT, extensions=DEFAULT_EXTENSIONS)


def test_inspect_entry_audio_file_accepted(tmp_path: Path) -> None:
    path = tmp_path / "talk.wav"
    path.write_bytes(AUDIO)
    assert inspect(path).ok


def test_inspect_entry_symlink_to_audio_rejected(tmp_path: Path) -> None:
    (tmp_path / "real.wav").write_bytes(AUDIO)
    (tmp_path / "link.wav").symlink_to(tmp_path / "real.wav")
    verdict = inspect(tmp_path / "link.wav")
    assert not verdict.ok
    assert "symbolic link" in verdict.reason


def test_inspect_entry_dangling_symlink_rejected(tmp_path: Path) -> None:
    (tmp_path / "gone.wav").symlink_to(tmp_path / "nowhere")
    assert "symbolic link" in inspect(tmp_path / "gone.wav").reason


def test_inspect_entry_fifo_rejected_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    verdict = inspect(tmp_path / "pipe.wav")  # a blocking open would hang until the timeout
    assert "FIFO" in verdict.reason


def test_inspect_entry_socket_rejected(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.wav"))
        assert "socket" in inspect(tmp_path / "sock.wav").reason


@pytest.mark.parametrize(
    ("kind", "words"), [(stat.S_IFCHR, "character device"), (stat.S_IFBLK, "block device")]
)
def test_inspect_entry_device_rejected(tmp_path: Path, kind: int, words: str) -> None:
    assert os.geteuid() == 0, "making device nodes needs root; run this test as root"
    path = tmp_path / "dev.wav"
    os.mknod(path, kind | 0o600, os.makedev(1, 3))  # the same numbers as /dev/null
    assert words in inspect(path).reason


def test_inspect_entry_hard_link_rejected(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.wav").write_bytes(AUDIO)
    os.link(tmp_path / "elsewhere.wav", tmp_path / "linked.wav")
    assert "hard link" in inspect(tmp_path / "linked.wav").reason


def test_inspect_entry_zero_bytes_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").touch()
    assert "empty" in inspect(tmp_path / "empty.wav").reason


def test_inspect_entry_too_big_rejected(tmp_path: Path) -> None:
    (tmp_path / "big.wav").write_bytes(AUDIO + b"\x00" * LIMIT)
    verdict = inspect(tmp_path / "big.wav")
    assert "larger" in verdict.reason
    assert "max_file_mb" in verdict.hint


def test_inspect_entry_non_audio_under_wav_rejected(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_bytes(b"%PDF-1.7\nnot a recording")
    verdict = inspect(tmp_path / "notes.wav")
    assert "does not contain wav audio" in verdict.reason


def test_inspect_entry_folder_rejected(tmp_path: Path) -> None:
    (tmp_path / "album.wav").mkdir()
    assert "folder" in inspect(tmp_path / "album.wav").reason


def test_inspect_entry_missing_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        inspect(tmp_path / "gone.wav")
