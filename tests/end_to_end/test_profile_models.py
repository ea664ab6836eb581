"""A folder profile with its own embedded model, end to end: the daemon's embedded server
serves the profile's model (Whisper base, see support.multilingual_model) on the profile's
model path beside the top level's bundled tiny.en; a recording under the profile's folder is
transcribed by base, one outside it by tiny.en."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from support.daemon import DATA_PATHS, Daemon, drop_all
from support.multilingual_model import assembled
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
REFERENCE = json.loads((SPEECH / "references.json").read_text())["jfk.flac"]["reference"]
#: Seconds the daemon may take to load both models and transcribe 11 s of speech with each on
#: 2 busy cores.
TIMEOUT = 240.0
#: Both models transcribe the passage nearly word for word (tiny.en: 0.05 measured at most).
MAX_WER = 0.15

pytestmark = pytest.mark.slow


def _provenance(daemon: Daemon, stem: str) -> dict[str, Any]:
    return dict(json.loads((daemon.outbox / f"{stem}.json").read_text(encoding="utf-8")))


def _server_jobs(daemon: Daemon) -> list[tuple[str, str]]:
    db = daemon.root / "data" / "state" / "embedded" / "server.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT route, model FROM jobs ORDER BY route").fetchall()
    conn.close()
    return [(str(route), str(model)) for route, model in rows]


def test_profile_own_model_transcribes_its_folder_and_top_level_keeps_its_model(
    tmp_path: Path,
) -> None:
    (tmp_path / "whisper-base").mkdir()
    base = str(assembled(tmp_path / "whisper-base"))
    profile = {"name": "multi", "folder": "multi", "embedded": {"model": base}}
    settings = {
        "paths": dict(DATA_PATHS),
        "watch": {"settle_seconds": 0.5},
        "poll": {"initial_seconds": 0.5, "max_seconds": 1},
        "output": {"formats": ["txt", "json"]},
        "profiles": [profile],
    }
    daemon = Daemon(tmp_path / "daemon", settings)
    try:
        daemon.start_and_wait(TIMEOUT)
        (daemon.inbox / "multi").mkdir(parents=True)
        (daemon.root / "staging" / "multi").mkdir(parents=True)
        audio = (SPEECH / "jfk.flac").read_bytes()
        drop_all(
            daemon.root / "staging", daemon.inbox, {"multi/jfk.flac": audio, "jfk.flac": audio}
        )
        daemon.wait_for_published(2, TIMEOUT)
        assert daemon.stop() == 0
    finally:
        daemon.close()

    own, top = _provenance(daemon, "multi/jfk"), _provenance(daemon, "jfk")
    assert (own["profile"], own["model"]) == ("multi", base)
    assert top["profile"] is None
    assert top["model"] not in (base, "")
    assert "tiny" in top["model"]
    assert _server_jobs(daemon) == [("profile-multi", base), ("whisper-tiny", top["model"])]
    for stem in ("multi/jfk", "jfk"):
        text = (daemon.outbox / f"{stem}.txt").read_text(encoding="utf-8")
        assert word_error_rate(REFERENCE, text) <= MAX_WER
