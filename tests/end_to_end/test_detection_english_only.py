"""Language detection asked of the English-only bundled model (``whisper.language: null``):
``check-config`` and the start warn that it cannot detect, and the result records English as
assumed (``language_probability: null``), not as detected with certainty."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.daemon import DATA_PATHS, Daemon

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
#: Seconds `once` may take: loading tiny.en and transcribing jfk.flac on 2 busy cores.
ONCE_TIMEOUT = 120.0
WARNING = "whisper.language null asks to detect the language, but embedded.model 'bundled'"

DETECTING = {
    "paths": dict(DATA_PATHS),
    "watch": {"settle_seconds": 0.5},
    "poll": {"initial_seconds": 0.5, "max_seconds": 1},
    "whisper": {"language": None},
}


def test_check_config_detection_with_the_english_only_model_warns_and_passes(
    tmp_path: Path,
) -> None:
    done = Daemon(tmp_path, DETECTING).run("check-config")

    assert done.returncode == 0, done.stderr
    assert f"dropscribe: warning: {WARNING}" in done.stderr
    assert done.stdout.strip().endswith(": ok")


@pytest.mark.slow
def test_once_detection_with_the_english_only_model_records_english_as_not_detected(
    tmp_path: Path,
) -> None:
    daemon = Daemon(tmp_path, DETECTING)
    daemon.inbox.mkdir(parents=True)
    shutil.copyfile(SPEECH / "jfk.flac", daemon.inbox / "jfk.flac")

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == 0, done.stderr[-3000:]
    (warning,) = daemon.events("config.warning")
    assert warning["warning"].startswith(WARNING)
    result = json.loads((daemon.outbox / "jfk.json").read_text(encoding="utf-8"))["result"]
    assert (result["language"], result["language_probability"]) == ("en", None)
