"""The /proc writer check against real processes holding a file open."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.intake.writers import is_write_mode, open_for_writing, writers_of

#: A process that opens argv[1] in mode argv[2], says "ready" and waits for stdin to close.
HOLDER = (
    "import sys; f = open(sys.argv[1], sys.argv[2]); print('ready', flush=True); sys.stdin.read()"
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    started: list[subprocess.Popen[str]] = []
    yield tmp_path / "x.wav", started
    for proc in started:
        proc.communicate(timeout=10)  # closes stdin (the holder ends) and stdout


def hold(path: Path, mode: str, started: list[subprocess.Popen[str]]) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc.pid


def test_writers_of_process_holding_the_file_open_for_writing_is_found(
    holder: tuple[Path, list[subprocess.Popen[str]]],
) -> None:
    path, started = holder
    pid = hold(path, "ab", started)
    assert writers_of(path) == [pid]


def test_writers_of_reader_is_no_writer(holder: tuple[Path, list[subprocess.Popen[str]]]) -> None:
    path, started = holder
    path.write_bytes(b"RIFF")
    hold(path, "rb", started)
    assert writers_of(path) == []


def test_writers_of_closed_file_has_no_writer(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    with path.open("wb") as handle:
        handle.write(b"RIFF")
        assert writers_of(path) == [os.getpid()]
    assert writers_of(path) == []


def test_writers_of_without_proc_finds_none(tmp_path: Path) -> None:
    assert writers_of(tmp_path / "x.wav", proc=tmp_path / "no-proc") == []


@pytest.mark.parametrize(
    ("flags", "writing"),
    [("0100000", False), ("0100001", True), ("02100002", True), ("garbage", False)],
)
def test_is_write_mode_reads_the_access_mode(flags: str, writing: bool) -> None:
    assert is_write_mode(flags) is writing


def test_open_for_writing_lists_the_written_files_under_the_folder_only(
    holder: tuple[Path, list[subprocess.Popen[str]]], tmp_path: Path
) -> None:
    path, started = holder
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    hold(inbox / "a.wav", "wb", started)
    hold(path, "wb", started)  # outside the folder
    (inbox / "b.wav").write_bytes(b"RIFF")
    hold(inbox / "b.wav", "rb", started)
    assert open_for_writing(inbox) == {str(inbox / "a.wav")}
