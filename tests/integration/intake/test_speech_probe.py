"""The speech-detection helper a daemon with a remote backend asks where a recording's
speech is (``dropscribe.intake.speech_probe``, ``python -m dropscribe.engine.speech_helper``): real
process, real Silero VAD, the recorded fixtures."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.engine.pieces import Sizes
from dropscribe.engine.speech_helper import streamed_spans
from dropscribe.intake.speech_probe import ProbeError, SpeechProbe
from support.dialogue import SPEECH

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def probe() -> Iterator[SpeechProbe]:
    helper = SpeechProbe(timeout_seconds=120)
    yield helper
    helper.close()


def seconds(spans: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in spans)


def test_speech_probe_finds_the_speech_of_a_recording(probe: SpeechProbe) -> None:
    spans = probe.speech(SPEECH / "jfk.flac")
    assert spans
    assert spans[0][0] >= 0.0 and spans[-1][1] <= 11.1
    assert 6.0 < seconds(spans) <= 11.0


def test_speech_probe_undecodable_file_refused_and_the_helper_answers_on(
    probe: SpeechProbe, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt not audio at all")
    with pytest.raises(ProbeError, match="could not decode"):
        probe.speech(broken)
    assert probe.speech(SPEECH / "jfk.flac")


def test_speech_probe_rate_too_low_for_speech_refused(probe: SpeechProbe, tmp_path: Path) -> None:
    # 10 kB that would decode to 40 minutes at 16 kHz: refused before decoding.
    path = tmp_path / "one-hertz.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(1)
        out.writeframes(b"\x00\x01" * 5000)
    with pytest.raises(ProbeError, match="too low for speech"):
        probe.speech(path)


def test_streamed_spans_pieces_cut_in_pauses_find_the_same_speech() -> None:
    recording = SPEECH / "OSR_us_000_0034_8k.wav"
    whole = streamed_spans(recording)  # 35 s: one piece
    pieced = streamed_spans(recording, Sizes(piece=10.0, search=4.0, lookahead=2.0))
    # Cut in pauses, no span is split at a piece's edge; each lies where it lay, within the
    # few windows of 32 ms by which the detector's context differs.
    assert len(pieced) == len(whole)
    for (a, b), (c, d) in zip(pieced, whole, strict=True):
        assert a == pytest.approx(c, abs=0.1) and b == pytest.approx(d, abs=0.1)
