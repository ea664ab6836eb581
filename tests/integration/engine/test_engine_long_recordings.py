"""Long recordings through the real engine, a piece at a time: memory that does not grow with
the length, pieces joined without a word lost or doubled, times on the recording's clock, a
resumed recording that goes on where it stopped, and the decompression bombs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropscribe.engine.batching import Clip
from dropscribe.engine.clips import recording_pieces
from dropscribe.engine.completeness import DEFAULT_MIN_COVERAGE, CoverageGuard
from dropscribe.engine.errors import EngineError, Interrupted
from dropscribe.engine.params import TranscribeArgs
from dropscribe.engine.pieces import Sizes
from dropscribe.engine.strategies import Strategy
from dropscribe.engine.stream import PieceResult
from dropscribe.engine.vad import speech_spans
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS, WhisperEngine
from support.bombs import understating_mp3
from support.dialogue import tight_speech
from support.long_audio import (
    claiming,
    encoded,
    fixture_samples,
    laid_in,
    silent_flac,
    tone_and_silence,
)
from support.wer import normalized_words, word_error_rate

pytestmark = pytest.mark.slow

ARGS: TranscribeArgs = {"language": "en"}

#: Small pieces, so that a recording of a minute or two is cut several times.
SMALL = Sizes(piece=20.0, search=8.0, lookahead=4.0)

#: Resident memory a recording seven and a half times longer may add, in MB. Decoded whole,
#: as the engine did before, 4 and 20 minutes peaked at 364 and 572 MB (40 minutes: 822 MB),
#: so 30 minutes would add about 330 MB (measured: 380 and 829 MB with the whole recording as
#: one piece). Streamed: 392 and 355 MB.
MAX_GROWTH_MB = 120.0

#: Word error rate allowed between a recording cut in pieces and the same decoded whole: the
#: decoder sees a little less context at each cut, and tiny.en may word a sentence otherwise.
MAX_PIECED_DISAGREEMENT = 0.06

#: How far a word may lie from where the same word lies when its speech is decoded alone.
WORD_SLACK_SECONDS = 0.3

#: Most bytes of numpy arrays alive at once while a recording is cut in pieces of the
#: default size: the buffer, the piece handed out and the VAD's padded copies (50 MB measured).
MAX_PIECE_BYTES = 80e6

#: What a child process prints: its peak resident memory and the transcript. The peak is the
#: process's own (VmHWM of its address space), not getrusage's ru_maxrss, which Linux carries
#: over an exec from the process that forked it: a pytest worker grown large by earlier tests
#: (or by the 30 minutes of samples this test builds) showed through as the child's peak.
PEAK_OF_TRANSCRIBE = """
import json, sys
from pathlib import Path
from dropscribe.engine.whisper import WhisperEngine
transcript = WhisperEngine().transcribe("bundled", Path(sys.argv[1]), {"language": "en"},
                                        lambda: False)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"peak_kib": peak, "text": transcript["text"],
                  "starts": [s["start"] for s in transcript["segments"]]}))
"""


def never() -> bool:
    return False


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def reading() -> Any:
    """Return 80 s of continuous reading: the Harvard sentences, Kennedy, the sentences."""
    osr, jfk = fixture_samples("OSR_us_000_0034_8k.wav"), fixture_samples("jfk.flac")
    return np.concatenate([osr, jfk, osr[: 36 * 16000]])


def transcribed_in_child(path: Path) -> dict[str, Any]:
    """Transcribe the recording with a fresh engine in a child process; return its figures."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_TRANSCRIBE, str(path)],
        capture_output=True, text=True, check=True, timeout=170,
    )  # fmt: skip
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_engine_long_recording_memory_does_not_grow_with_its_length(tmp_path: Path) -> None:
    # Kennedy speaks near the end of each; the rest is tone and silence (cheap to decode).
    jfk = fixture_samples("jfk.flac")
    found = {}
    for minutes in (4, 30):
        seconds = minutes * 60.0
        audio = laid_in(tone_and_silence(seconds), [(seconds - 30.0, jfk)])
        found[minutes] = transcribed_in_child(encoded(audio, tmp_path / f"{minutes}.opus"))
    peaks = {minutes: run["peak_kib"] * 1024 / 1e6 for minutes, run in found.items()}
    assert peaks[30] - peaks[4] < MAX_GROWTH_MB, peaks
    for minutes, run in found.items():
        assert "what you can do for your country" in run["text"].lower()
        assert max(run["starts"]) == pytest.approx(minutes * 60.0 - 30.0, abs=2.0)  # Kennedy's


@pytest.mark.parametrize("first", [Strategy.BATCHED, Strategy.SEQUENTIAL])
def test_engine_pieces_joined_lose_and_double_no_word(
    tmp_path: Path, reading: Any, first: Strategy
) -> None:
    path = encoded(reading, tmp_path / "reading.flac", "-c:a", "flac")
    engine = WhisperEngine(first=first, sizes=SMALL)
    results: list[PieceResult] = []
    pieced = engine.transcribe_from("bundled", path, ARGS, never, (), results.append)
    whole = CoverageGuard(first, DEFAULT_MIN_COVERAGE).transcript(
        engine.model("bundled"), Clip(reading, speech_spans(reading)), ARGS, never
    )
    assert len(results) >= 4
    # Every cut lies where nobody speaks, so no word is split between two pieces.
    speech = tight_speech(reading)
    for result in results[:-1]:
        assert not any(a < result.end < b for a, b in speech), (result.end, speech)
    assert word_error_rate(whole["text"], pieced["text"]) <= MAX_PIECED_DISAGREEMENT
    assert abs(words(pieced["text"]) - words(whole["text"])) <= 2
    assert pieced["complete"]


def test_engine_pieces_segment_and_word_times_on_the_recordings_clock(tmp_path: Path) -> None:
    jfk = fixture_samples("jfk.flac")
    audio = laid_in(tone_and_silence(200.0), [(130.0, jfk)])
    path = encoded(audio, tmp_path / "late.opus")
    engine = WhisperEngine(sizes=SMALL)
    args: TranscribeArgs = {**ARGS, "word_timestamps": True}
    results: list[PieceResult] = []
    late = engine.transcribe_from("bundled", path, args, never, (), results.append)
    alone = engine.transcribe("bundled", encoded(jfk, tmp_path / "jfk.opus"), args, never)
    # The tone's onsets may pass for speech and come out as a segment of dots; Kennedy's own
    # segments are those that name the country.
    spoken = [s for s in late["segments"] if "country" in s["text"]]
    holding = [r for r in results if any("country" in s["text"] for s in r.segments)]
    assert len(holding) == 1 and holding[0].start > 100.0  # a piece well into the recording
    late_words = [w for s in spoken for w in s["words"]]
    alone_words = [w for s in alone["segments"] for w in s["words"]]
    assert [normalized_words(w["word"]) for w in late_words] == [
        normalized_words(w["word"]) for w in alone_words
    ]
    for ours, theirs in zip(late_words, alone_words, strict=True):
        assert ours["start"] == pytest.approx(theirs["start"] + 130.0, abs=WORD_SLACK_SECONDS)
        assert ours["end"] == pytest.approx(theirs["end"] + 130.0, abs=WORD_SLACK_SECONDS)
    assert spoken[0]["start"] == pytest.approx(alone["segments"][0]["start"] + 130.0, abs=0.5)


def test_engine_resumed_after_finished_pieces_decodes_only_the_rest(
    tmp_path: Path, reading: Any
) -> None:
    path = encoded(reading, tmp_path / "reading.flac", "-c:a", "flac")
    engine = WhisperEngine(sizes=SMALL)
    results: list[PieceResult] = []
    uninterrupted = engine.transcribe_from("bundled", path, ARGS, never, (), results.append)
    decoded_again: list[PieceResult] = []
    resumed = engine.transcribe_from(
        "bundled", path, ARGS, never, results[:2], decoded_again.append
    )
    assert [r.index for r in decoded_again] == [r.index for r in results[2:]]
    assert [r.start_sample for r in decoded_again] == [r.start_sample for r in results[2:]]
    assert resumed["text"] == uninterrupted["text"]
    assert resumed["segments"] == uninterrupted["segments"]


def test_recording_pieces_header_that_claims_a_month_refused_before_decoding(
    tmp_path: Path,
) -> None:
    bomb = claiming(silent_flac(tmp_path / "month.flac", 1.0), 30 * 86400)
    assert bomb.stat().st_size < 10_000
    with pytest.raises(EngineError, match="720 h 0 min long; this server accepts at most"):
        next(recording_pieces(bomb, DEFAULT_MAX_AUDIO_HOURS * 3600, never))


def test_recording_pieces_small_file_holding_hours_stopped_by_time_in_bounded_memory(
    tmp_path: Path,
) -> None:
    # 2 MB that hold 3 hours, under the limit: 691 MB of samples decoded whole.
    bomb = silent_flac(tmp_path / "hours.flac", 3 * 3600.0)
    assert bomb.stat().st_size < 3_000_000
    deadline = time.monotonic() + 3.0

    def late() -> bool:
        return time.monotonic() > deadline

    tracemalloc.start()
    try:
        with pytest.raises(Interrupted):
            for _ in recording_pieces(bomb, DEFAULT_MAX_AUDIO_HOURS * 3600, late):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - deadline < 10.0  # at most one piece's speech search late
    # A piece, what is held past it and the speech search's copies of it (50 MB), never
    # the recording.
    assert peak < MAX_PIECE_BYTES


def test_recording_pieces_header_that_understates_refused_at_the_limit(tmp_path: Path) -> None:
    # The header claims 8 s, under the 30 s limit; the file holds 71 s.
    with pytest.raises(EngineError, match="long; this server accepts at most 30 s"):
        list(recording_pieces(understating_mp3(tmp_path), 30.0, never))
