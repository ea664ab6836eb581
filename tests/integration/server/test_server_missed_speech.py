"""The real engine puts back the speech a decoding missed: a run of speech unheard for longer
than the guard allows makes a transcript incomplete whatever its share, and the run, decoded
again alone with the other strategy, is merged in once, in time order.

The recording is jfk.flac said four times; its sequential decoding has one segment a
sentence half, so leaving out two of them is a decoding that lost 7 s of speech.
"""

from __future__ import annotations

import subprocess

import pytest

from dropscribe.core.coverage import measure
from dropscribe.engine.batching import Clip
from dropscribe.engine.completeness import CoverageGuard
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.strategies import Decoding, Strategy, decode
from dropscribe.engine.stretches import redecoded
from dropscribe.engine.whisper import WhisperEngine
from support.clips import whole_clip
from support.server_process import SPEECH
from support.wer import word_error_rate

ARGS: TranscribeArgs = {"language": "en", "beam_size": 5, "temperature": (0.0, 0.2, 0.4)}
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
TIMES = 4

#: The second saying's first half, 11-19 s, as the sequential decoding cuts it.
LOST = (11.0, 19.0)

#: A guard whose share is low enough that the lost half passes it: only the gap can tell.
LENIENT = CoverageGuard(Strategy.SEQUENTIAL, min_coverage=0.5)

pytestmark = pytest.mark.slow


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    said = tmp_path_factory.mktemp("jfk") / f"jfk-{TIMES}.wav"
    subprocess.run(
        ["sox", *[str(SPEECH / "jfk.flac")] * TIMES, "-r", "16000", str(said)], check=True
    )
    decoded = whole_clip(said)
    assert isinstance(decoded, Clip)
    return decoded


@pytest.fixture(scope="module")
def gapped(engine: WhisperEngine, clip: Clip) -> Decoding:
    """The sequential decoding of the recording without its segments inside LOST."""
    whole = decode(
        Strategy.SEQUENTIAL, engine.model("bundled"), clip.samples, clip.speech, ARGS, never
    )
    kept = [s for s in whole.segments if not LOST[0] <= s["start"] < LOST[1]]
    assert len(kept) < len(whole.segments)
    return Decoding(Strategy.SEQUENTIAL, kept, "en", measure(clip.speech, kept))


def test_guard_run_of_lost_speech_is_incomplete_though_the_share_passes(gapped: Decoding) -> None:
    assert gapped.coverage.ratio >= LENIENT.min_coverage
    transcript = LENIENT.transcript_of(gapped, [Strategy.SEQUENTIAL])
    assert transcript["complete"] is False
    ((start, end),) = transcript["coverage"]["gaps"]
    assert LOST[0] <= start < end <= LOST[1]


def test_redecoded_lost_speech_put_back_once_in_time_order(
    engine: WhisperEngine, clip: Clip, gapped: Decoding
) -> None:
    mended = redecoded(engine.model("bundled"), clip, gapped, Strategy.BATCHED, ARGS, never)
    text = "".join(s["text"] for s in mended.segments)
    assert LENIENT.is_met(mended)
    assert text.lower().count("ask not") == TIMES
    assert word_error_rate(" ".join([JFK] * TIMES), text) <= 0.10
    starts = [s["start"] for s in mended.segments]
    assert starts == sorted(starts)
    assert [s["id"] for s in mended.segments] == list(range(1, len(starts) + 1))
