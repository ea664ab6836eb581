"""`dropscribe transcribe FILE...`: the four steps in the foreground with the embedded engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support.daemon import DROPSCRIBE
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "speech"


def transcribe(
    *args: str, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # TMPDIR inside tmp_path: the scratch state folder must be gone afterwards.
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin", **(extra_env or {})}
    return subprocess.run(
        [DROPSCRIBE, "transcribe", *args],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        check=False,
    )


@pytest.mark.slow
def test_cli_transcribe_prints_the_text_and_leaves_no_scratch_state(tmp_path: Path) -> None:
    done = transcribe(str(SPEECH / "jfk.flac"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    reference = json.loads((SPEECH / "references.json").read_text())["jfk.flac"]["reference"]
    assert word_error_rate(reference, done.stdout) <= 0.10
    assert done.stdout.endswith("country.\n")
    assert list(tmp_path.iterdir()) == []


def test_cli_transcribe_missing_file_exits_66(tmp_path: Path) -> None:
    done = transcribe(str(tmp_path / "absent.wav"), tmp_path=tmp_path)
    assert done.returncode == 66
    assert "no such file" in done.stderr


@pytest.mark.slow
def test_cli_transcribe_undecodable_file_exits_1_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "inputs" / "bad.wav"
    bad.parent.mkdir()
    # A WAV signature passes inspection; what follows it does not decode.
    bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"not audio at all" * 4)
    done = transcribe(str(bad), tmp_path=tmp_path)
    assert done.returncode == 1
    assert "could not be decoded as audio" in done.stderr
    assert "Traceback" not in done.stderr


def text_as_mp3(tmp_path: Path) -> Path:
    """Return a text file named like a recording."""
    fake = tmp_path / "inputs" / "notes.mp3"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("minutes of the meeting, typed, not recorded\n")
    return fake


def test_cli_transcribe_text_renamed_mp3_gets_the_inspection_refusal(tmp_path: Path) -> None:
    done = transcribe(str(text_as_mp3(tmp_path)), tmp_path=tmp_path)
    assert done.returncode == 1
    assert "notes.mp3: does not contain mp3 audio (unknown file signature)" in done.stderr
    assert "could not be decoded" not in done.stderr


def test_cli_transcribe_minimal_config_needs_no_folders(tmp_path: Path) -> None:
    config = tmp_path / "inputs" / "config.yaml"
    config.parent.mkdir()
    config.write_text("whisper:\n  language: en\n")
    done = transcribe("-c", str(config), str(text_as_mp3(tmp_path)), tmp_path=tmp_path)
    assert "paths." not in done.stderr
    assert done.returncode == 1
    assert "does not contain mp3 audio" in done.stderr


def test_cli_transcribe_language_name_exits_64(tmp_path: Path) -> None:
    done = transcribe("--language", "english", str(text_as_mp3(tmp_path)), tmp_path=tmp_path)
    assert done.returncode == 64
    assert "'english' is not a language code" in done.stderr


def test_cli_transcribe_other_language_with_the_english_only_model_exits_64(
    tmp_path: Path,
) -> None:
    done = transcribe("--language", "de", str(text_as_mp3(tmp_path)), tmp_path=tmp_path)
    assert done.returncode == 64
    assert "'bundled' knows English only" in done.stderr


@pytest.mark.slow
def test_cli_transcribe_missing_file_among_several_does_the_rest_and_exits_1(
    tmp_path: Path,
) -> None:
    absent = tmp_path / "absent.wav"
    done = transcribe(str(absent), str(SPEECH / "jfk.flac"), tmp_path=tmp_path)
    assert done.returncode == 1
    assert f"{absent}: no such file" in done.stderr
    assert "country." in done.stdout


@pytest.mark.slow
def test_cli_transcribe_format_srt_prints_subtitles(tmp_path: Path) -> None:
    done = transcribe("--format", "srt", str(SPEECH / "jfk.flac"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1\n00:00:0")
    assert " --> " in done.stdout
    assert "country." in done.stdout


def test_cli_transcribe_model_option_reaches_the_engine(tmp_path: Path) -> None:
    # Offline, so the engine refuses a model it does not hold instead of fetching it.
    offline = {"HF_HUB_OFFLINE": "1"}
    done = transcribe(
        "--model", "small.en", str(SPEECH / "jfk.flac"), tmp_path=tmp_path, extra_env=offline
    )
    assert done.returncode == 1
    assert "jfk.flac: could not load model 'small.en'" in done.stderr
