"""No recording of a batch comes back empty: one whose share of the batched decoding is
empty, doubtful or short of its speech is decoded again alone before it is published.

The clips are espeak-ng sentences at 150 words a minute. Laid end to end with 1.5 s of
silence and decoded in one window, "The cat sat on the mat." and "Our sales grew by twelve
percent in the third quarter." come out as one segment holding both sentences, which cannot
be given to either recording; so do "Thank you for coming." and "Turn off the lights.". The
cat sentence alone decodes confidently batched (-0.30) and doubtfully sequentially (-0.52),
so a guard that only tried the sequential loop published it empty.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from dropscribe.core.coverage import measure
from dropscribe.core.transcript import Transcript
from dropscribe.engine.batching import Clip
from dropscribe.engine.completeness import CoverageGuard
from dropscribe.engine.errors import EngineError
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.strategies import Decoding, Strategy, decode_together
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from support import tiyaro_flow as flow
from support.clips import whole_clip
from support.wer import word_error_rate

#: The daemon's default decoding, as the server gets it.
ARGS: TranscribeArgs = {
    "language": "en",
    "task": "transcribe",
    "beam_size": 5,
    "best_of": 5,
    "patience": 1.0,
    "condition_on_previous_text": True,
    "no_speech_threshold": 0.6,
    "compression_ratio_threshold": 2.4,
    "log_prob_threshold": -1.0,
    "suppress_tokens": [-1],
    "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
}

SENTENCES = {
    "cat": "The cat sat on the mat.",
    "sales": "Our sales grew by twelve percent in the third quarter.",
    "thanks": "Thank you for coming.",
    "lights": "Turn off the lights.",
}
TOKEN = "batch-members-token"
#: The word error rate a recording's own text may have: one word in six misheard. tiny.en's
#: int8 decoding of these borderline clips is not bit-stable under CPU contention ("The cat
#: sounds on the mat." in one run of five at -n 3), while what is tested, text lost to the
#: batch or carried into a neighbour, costs most of a sentence (a WER of 0.8 and more).
MISHEARD = 1 / 6
TIMEOUT = 120.0

pytestmark = pytest.mark.slow


def never() -> bool:
    return False


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for name, sentence in SENTENCES.items():
        raw, out = folder / f"{name}.raw.wav", folder / f"{name}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), sentence], check=True
        )
        subprocess.run(
            ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], check=True
        )
        made[name] = out
    return made


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine()


def clip_of(path: Path) -> Clip:
    clip = whole_clip(path)
    assert isinstance(clip, Clip)
    return clip


def texts(results: Sequence[Transcript | EngineError]) -> list[str]:
    assert not any(isinstance(r, EngineError) for r in results)
    return [r["text"] for r in results if not isinstance(r, EngineError)]


def test_engine_recording_the_batch_left_empty_decoded_alone_with_its_text(
    engine: WhisperEngine, clips: dict[str, Path]
) -> None:
    pair = [clips["cat"], clips["sales"]]
    shares = decode_together(engine.model("bundled"), [clip_of(p) for p in pair], ARGS, never)
    assert shares[0].segments == []  # the batch loses the cat sentence

    cat, sales = engine.transcribe_many("bundled", pair, ARGS, never)

    assert not isinstance(cat, EngineError) and not isinstance(sales, EngineError)
    assert word_error_rate(SENTENCES["cat"], cat["text"]) <= MISHEARD
    assert cat["complete"] is True
    assert cat["strategies_tried"] == ["batched", "batched"]
    assert "third quarter" in sales["text"] and "cat" not in sales["text"]


def test_engine_words_of_two_recordings_in_one_segment_go_back_to_each(
    engine: WhisperEngine, clips: dict[str, Path]
) -> None:
    pair = [clips["thanks"], clips["lights"]]
    thanks, lights = texts(engine.transcribe_many("bundled", pair, ARGS, never))
    assert word_error_rate(SENTENCES["thanks"], thanks) <= MISHEARD
    assert word_error_rate(SENTENCES["lights"], lights) <= MISHEARD


def test_guard_empty_share_of_a_clear_recording_decoded_alone(
    engine: WhisperEngine, clips: dict[str, Path]
) -> None:
    clip = clip_of(clips["cat"])
    empty = Decoding(Strategy.BATCHED, [], "en", measure(clip.speech, []))
    guard = CoverageGuard(Strategy.BATCHED, min_coverage=0.95)

    result = guard.settled(engine.model("bundled"), clip, empty, ARGS, never)

    assert word_error_rate(SENTENCES["cat"], result["text"]) <= MISHEARD
    assert result["complete"] is True


class HeldEngine(WhisperEngine):
    """The real engine, whose first model load waits for ``loaded``: jobs submitted while it
    waits are queued, and join the first batch in the order they came."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = threading.Event()
        self.loaded = threading.Event()

    def model(self, spec: str) -> object:
        self.loading.set()
        assert self.loaded.wait(TIMEOUT)
        return super().model(spec)


def submitted(base: str, audio: Path) -> str:
    url = flow.get_upload_url(base, TOKEN, "wav")
    flow.upload(url, audio)
    poll_url: str = flow.submit(base, TOKEN, url)["urls"]["GET"]
    return poll_url


def test_server_batch_member_left_empty_is_published_with_its_text(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    engine = HeldEngine()
    with EmbeddedServer(ServerOptions(tmp_path / "data", token=TOKEN), engine=engine) as server:
        polls = [submitted(server.base_url, clips["cat"])]
        assert engine.loading.wait(TIMEOUT)
        polls.append(submitted(server.base_url, clips["sales"]))
        engine.loaded.set()
        cat, sales = (flow.wait_until_final(url, TOKEN, TIMEOUT) for url in polls)
    assert cat["status"] == sales["status"] == "success"
    assert word_error_rate(SENTENCES["cat"], cat["result"]["text"]) <= MISHEARD
    assert cat["result"]["strategies_tried"][:2] == ["batched", "batched"]
    assert "third quarter" in sales["result"]["text"]
