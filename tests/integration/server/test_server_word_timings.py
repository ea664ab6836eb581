"""Word timings from the real engine, by each strategy and through a batch of recordings:
every word lies inside its segment, and the words of a recording follow each other."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.core.transcript import Transcript, Word
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.strategies import Strategy
from dropscribe.engine.whisper import WhisperEngine

SPEECH = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "speech"
ARGS: TranscribeArgs = {"language": "en", "word_timestamps": True}
#: Slack between one word's end and the next one's start, in seconds: times are rounded to
#: the millisecond.
ROUNDING = 0.0015

pytestmark = pytest.mark.slow


def never() -> bool:
    return False


@pytest.fixture(scope="module", params=[Strategy.BATCHED, Strategy.SEQUENTIAL])
def engine(request: pytest.FixtureRequest) -> Iterator[WhisperEngine]:
    engine = WhisperEngine(first=request.param)
    yield engine
    engine.close()


def words_of(transcript: Transcript) -> list[Word]:
    return [word for segment in transcript["segments"] for word in segment["words"]]


def assert_words_inside_segments(transcript: Transcript) -> None:
    for segment in transcript["segments"]:
        assert segment["words"], segment
        for word in segment["words"]:
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"], word


def assert_words_increase(transcript: Transcript) -> None:
    words = words_of(transcript)
    for before, after in itertools.pairwise(words):
        assert after["start"] >= before["end"] - ROUNDING, (before, after)


def test_engine_word_timestamps_words_lie_inside_their_segment(engine: WhisperEngine) -> None:
    transcript = engine.transcribe("bundled", SPEECH / "OSR_us_000_0034_8k.wav", ARGS, never)
    assert_words_inside_segments(transcript)
    assert_words_increase(transcript)
    assert "".join(w["word"] for w in words_of(transcript)).strip() == transcript["text"]


def test_engine_word_timestamps_batch_of_recordings_words_in_own_time(
    engine: WhisperEngine,
) -> None:
    names = ["jfk.flac", "OSR_us_000_0034_8k.wav"]
    results = engine.transcribe_many("bundled", [SPEECH / n for n in names], ARGS, never)
    for transcript in results:
        assert isinstance(transcript, dict)
        assert_words_inside_segments(transcript)
        assert_words_increase(transcript)
    # The OSR recording lies after jfk when batched: back in its own time, it starts near 0.
    osr = results[1]
    assert isinstance(osr, dict)
    assert words_of(osr)[0]["start"] < 2.0


def test_engine_without_word_timestamps_segments_have_no_words(engine: WhisperEngine) -> None:
    transcript = engine.transcribe("bundled", SPEECH / "jfk.flac", {"language": "en"}, never)
    assert all("words" not in segment for segment in transcript["segments"])
