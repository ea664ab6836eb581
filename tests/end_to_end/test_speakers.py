"""Speaker labels through the installed daemon: a stereo call recording with the embedded
engine and ``diarize.method: channels`` comes out with each party's words under its name in
every format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support import webvtt
from support.daemon import DATA_PATHS, Daemon
from support.wer import word_error_rate

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
REFERENCE = json.loads((SPEECH / "references.json").read_text())["stereo_diarization.wav"]
#: Seconds `once` may take: loading tiny.en and transcribing two 5 s channels on busy cores.
ONCE_TIMEOUT = 120.0
MAX_WER = 0.10

CHANNEL_SETTINGS = {
    "paths": dict(DATA_PATHS),
    "watch": {"settle_seconds": 0.5},
    "poll": {"initial_seconds": 0.5, "max_seconds": 1},
    "diarize": {"enabled": True, "method": "channels", "channel_names": ["Agent", "Caller"]},
}


@pytest.fixture(scope="module")
def call_outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    daemon = Daemon(tmp_path_factory.mktemp("call"), CHANNEL_SETTINGS)
    daemon.inbox.mkdir(parents=True)
    shutil.copyfile(SPEECH / "stereo_diarization.wav", daemon.inbox / "call.wav")
    done = daemon.run("once", timeout=ONCE_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return daemon.outbox


@pytest.mark.slow
def test_once_channels_json_names_each_party_with_its_own_words(call_outbox: Path) -> None:
    result = json.loads((call_outbox / "call.json").read_text())["result"]
    assert [s["speaker"] for s in result["speakers"]] == ["Agent", "Caller"]
    assert result["diarization"] == {"method": "channels"}
    for name, side in (("Agent", "left"), ("Caller", "right")):
        said = "".join(s["text"] for s in result["segments"] if s["speaker"] == name)
        assert word_error_rate(REFERENCE["reference_channels"][side], said) <= MAX_WER, said


@pytest.mark.slow
def test_once_channels_txt_paragraph_per_turn_named(call_outbox: Path) -> None:
    paragraphs = (call_outbox / "call.txt").read_text().strip().split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == ["Agent", "Caller"]


@pytest.mark.slow
def test_once_channels_vtt_voice_spans_valid(call_outbox: Path) -> None:
    cues = webvtt.parse((call_outbox / "call.vtt").read_text())
    assert {cue.voice for cue in cues} == {"Agent", "Caller"}


@pytest.mark.slow
def test_once_channels_srt_cues_prefixed_with_the_party(call_outbox: Path) -> None:
    srt = (call_outbox / "call.srt").read_text()
    assert "\n[Agent] " in srt and "\n[Caller] " in srt
