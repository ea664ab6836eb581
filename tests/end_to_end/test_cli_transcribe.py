"""`dropscribe transcribe FILE...`: the four steps in the foreground with the embedded engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support.daemon import DROPSCRIBE
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "speech"


def transcribe(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # TMPDIR inside tmp_path: the scratch state folder must be gone afterwards.
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
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
    bad.write_text("not audio at all")
    done = transcribe(str(bad), tmp_path=tmp_path)
    assert done.returncode == 1
    assert "could not be decoded as audio" in done.stderr
    assert "Traceback" not in done.stderr
