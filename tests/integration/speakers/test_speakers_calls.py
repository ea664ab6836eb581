"""A call recording labelled by channel through the real engine: the dialogue of two recorded
voices laid out one party per stereo channel, transcribed per channel with word timings, comes
out as turns that follow each other in time, and speaking time that adds up to the call's
speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dropscribe.engine.whisper import WhisperEngine
from dropscribe.speakers import ChannelLabeller
from support.dialogue import SAMPLING_RATE, TURNS, WOMAN, laid_turns
from support.long_audio import call_recording

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], float]:
    """A 29.5 s call of five turns (woman, man, woman, man, woman), one voice per channel;
    return its path, whose turns they are (Agent: the woman) and its length in seconds."""
    samples, cuts = laid_turns(TURNS)
    channels = [np.zeros_like(samples), np.zeros_like(samples)]
    for cut in cuts:
        at = slice(int(cut.start * SAMPLING_RATE), int(cut.end * SAMPLING_RATE))
        channels[0 if cut.voice == WOMAN else 1][at] = samples[at]
    path = call_recording(channels[0], channels[1], tmp_path_factory.mktemp("call") / "call.flac")
    turns = ["Agent" if cut.voice == WOMAN else "Caller" for cut in cuts]
    return path, turns, len(samples) / SAMPLING_RATE


def test_channel_labeller_real_call_turns_follow_each_other_speech_counted_once(
    call: tuple[Path, list[str], float],
) -> None:
    path, turns, seconds = call
    args = {"language": "en", "split_channels": True, "word_timestamps": True}
    transcript = WhisperEngine().transcribe("bundled", path, args, lambda: False)
    result = ChannelLabeller(["Agent", "Caller"]).label(transcript, path)
    # Whisper may time a word at a turn's edge a little inside the other party's turn, and
    # that word is a turn of its own: the turns of more than one word are the call's.
    speakers = [s["speaker"] for s in result["segments"] if len(s.get("words") or []) > 1]
    paragraphs = [who for n, who in enumerate(speakers) if n == 0 or speakers[n - 1] != who]
    assert paragraphs == turns
    assert [s["start"] for s in result["segments"]] == sorted(
        s["start"] for s in result["segments"]
    )
    assert sum(s["seconds"] for s in result["speakers"]) <= seconds
    assert {s["speaker"] for s in result["speakers"]} == {"Agent", "Caller"}
