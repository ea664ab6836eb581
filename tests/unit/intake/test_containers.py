"""Declared length against bytes present, on real files: WAV, FLAC, MP3 and M4A files made by
sox and ffmpeg, then cut short with truncate(2), as a writer that paused between pieces
leaves them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dropscribe.intake.containers import file_shortfall, shortfall
from dropscribe.intake.declared_length import Shortfall

SECONDS = 3  # of each test recording
UNKNOWN = (0, 0xFFFFFFFF)  # what streaming writers leave in a 32-bit RIFF size


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Return one recording per container, made by sox (WAV) and ffmpeg (the rest)."""
    folder = tmp_path_factory.mktemp("containers")
    wav = folder / "tone.wav"
    synth = ["synth", str(SECONDS), "pinknoise"]
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(wav), *synth], check=True)
    files = {"wav": wav}
    encodes = {
        "flac": [],
        "mp3": [],
        "m4a": [],
        "faststart.m4a": ["-movflags", "+faststart"],
    }
    for name, options in encodes.items():
        target = folder / f"tone.{name}"
        ffmpeg = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), *options, str(target)]
        subprocess.run(ffmpeg, check=True)
        files[name] = target
    return files


def cut(source: Path, folder: Path, size: int) -> Path:
    """Return a copy of ``source`` cut to ``size`` bytes with truncate(2)."""
    target = folder / f"cut-{size}-{source.name}"
    shutil.copyfile(source, target)
    os.truncate(target, size)
    return target


def test_file_shortfall_whole_recordings_are_not_short(made: dict[str, Path]) -> None:
    assert {name: file_shortfall(path) for name, path in made.items()} == dict.fromkeys(made)


@pytest.mark.parametrize("name", ["wav", "mp3", "m4a", "faststart.m4a"])
def test_file_shortfall_cut_in_half_declares_its_bytes(
    made: dict[str, Path], tmp_path: Path, name: str
) -> None:
    whole = made[name].stat().st_size
    short = file_shortfall(cut(made[name], tmp_path, whole // 2))
    assert short is not None and whole // 2 < short.declared <= whole
    assert f"declares {short.declared} bytes, {whole // 2} are present" in short.reason


def test_file_shortfall_wav_declares_exactly_its_size(
    made: dict[str, Path], tmp_path: Path
) -> None:
    whole = made["wav"].stat().st_size
    assert file_shortfall(cut(made["wav"], tmp_path, whole - 1)) == Shortfall(
        "WAV", whole, whole - 1
    )


def test_file_shortfall_flac_cut_in_half_declares_its_samples(
    made: dict[str, Path], tmp_path: Path
) -> None:
    whole = made["flac"].stat().st_size
    short = file_shortfall(cut(made["flac"], tmp_path, whole // 2))
    assert short is not None and short.unit == "samples"
    assert short.declared == 16000 * SECONDS and 0 < short.present < short.declared
    assert f"declares {16000 * SECONDS} samples" in short.reason


@pytest.mark.parametrize("name", ["wav", "flac", "mp3", "m4a", "faststart.m4a"])
def test_shortfall_every_cut_is_short(made: dict[str, Path], name: str) -> None:
    # The last bytes (inside the last frame or box) and cuts all through the file.
    data = made[name].read_bytes()
    cuts = [len(data) - k for k in (1, 2, 7, 100, 333)] + list(range(64, len(data), 997))
    misses = [size for size in cuts if shortfall(lambda o, n: data[o : o + n], size) is None]
    assert misses == []


@pytest.mark.parametrize("unknown", UNKNOWN)
def test_shortfall_streaming_wav_header_cannot_tell(made: dict[str, Path], unknown: int) -> None:
    data = bytearray(made["wav"].read_bytes())
    data[4:8] = unknown.to_bytes(4, "little")  # the RIFF size a pipe writer leaves
    half = bytes(data[: len(data) // 2])
    assert shortfall(lambda o, n: half[o : o + n], len(half)) is None


def test_shortfall_wav_written_to_a_pipe_cannot_tell(made: dict[str, Path], tmp_path: Path) -> None:
    # ffmpeg writing to a pipe cannot seek back: it leaves 0xFFFFFFFF in the sizes.
    piped = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(made["wav"]), "-f", "wav", "pipe:1"],
        check=True,
        capture_output=True,
    ).stdout
    assert int.from_bytes(piped[4:8], "little") in UNKNOWN
    half = piped[: len(piped) // 2]
    assert shortfall(lambda o, n: half[o : o + n], len(half)) is None


@pytest.mark.parametrize("unknown", UNKNOWN)
def test_shortfall_wav_data_chunk_of_unknown_size_cannot_tell(
    made: dict[str, Path], unknown: int
) -> None:
    data = bytearray(made["wav"].read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = unknown.to_bytes(4, "little")
    half = bytes(data[: len(data) // 2])
    assert shortfall(lambda o, n: half[o : o + n], len(half)) is None


def test_shortfall_flac_with_unknown_total_cannot_tell(made: dict[str, Path]) -> None:
    data = bytearray(made["flac"].read_bytes())
    data[18 + 3] &= 0xF0  # STREAMINFO's 36-bit total samples to 0, as a streaming encoder
    data[22:26] = bytes(4)
    half = bytes(data[: len(data) // 2])
    assert shortfall(lambda o, n: half[o : o + n], len(half)) is None


def test_shortfall_mp4_without_its_index_is_short(made: dict[str, Path]) -> None:
    # moov at the end, not written yet: every box is whole, but nothing can be decoded.
    data = made["m4a"].read_bytes()
    at = data.rindex(b"moov") - 4
    head = data[:at]
    short = shortfall(lambda o, n: head[o : o + n], len(head))
    assert short == Shortfall("MP4", 0, len(head))
    assert "moov" in short.reason


def test_shortfall_containers_that_cannot_tell_are_never_short(tmp_path: Path) -> None:
    ogg = tmp_path / "tone.ogg"
    subprocess.run(["sox", "-n", "-r", "16000", str(ogg), "synth", "1", "sine", "440"], check=True)
    data = ogg.read_bytes()
    half = data[: len(data) // 2]
    assert shortfall(lambda o, n: half[o : o + n], len(half)) is None


def test_shortfall_reads_only_headers(made: dict[str, Path]) -> None:
    for path in made.values():
        data = path.read_bytes()
        reads: list[int] = []

        def read_at(offset: int, count: int, data: bytes = data, reads: list[int] = reads
                    ) -> bytes:  # fmt: skip
            reads.append(count)
            return data[offset : offset + count]

        shortfall(read_at, len(data))
        assert len(reads) < 20 and max(reads) <= 1 << 17, path.name
