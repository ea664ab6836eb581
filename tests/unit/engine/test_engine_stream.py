"""The pieces' results on the recording's clock and joined into one transcript; where a
resumed recording goes on; the language the first piece with speech found, kept after it."""

from __future__ import annotations

import numpy as np

from dropscribe.core.coverage import Coverage
from dropscribe.core.transcript import Segment, Word
from dropscribe.engine.completeness import CoverageGuard
from dropscribe.engine.pieces import Piece
from dropscribe.engine.strategies import Decoding, Strategy
from dropscribe.engine.stream import (
    PieceResult,
    joined,
    moved,
    piece_args,
    piece_result,
    resume_points,
)

RATE = 16000
NO_COVERAGE = Coverage(0.0, 0.0, (), ())

GUARD = CoverageGuard(Strategy.BATCHED, 0.95)


def segment(start: float, end: float, text: str = " a few words here") -> Segment:
    return {"id": 1, "seek": 0, "start": start, "end": end, "text": text, "avg_logprob": -0.1}


def result(
    index: int,
    start: float,
    end: float,
    *segments: Segment,
    channel: int = 0,
    strategy: Strategy = Strategy.BATCHED,
    language: str = "en",
    speech: list[tuple[float, float]] | None = None,
) -> PieceResult:
    spans = [(s["start"], s["end"]) for s in segments] if speech is None else speech
    return PieceResult(
        channel, index, int(start * RATE), int(end * RATE), list(segments), spans,
        strategy, [strategy], language, 0.9,
    )  # fmt: skip


def test_moved_segment_words_and_seek_on_the_recording_clock() -> None:
    words: list[Word] = [{"start": 0.5, "end": 0.9, "word": " hi", "probability": 0.9}]
    shifted = moved({**segment(0.4, 1.2), "seek": 30, "words": words}, 150.25)
    assert (shifted["start"], shifted["end"], shifted["seek"]) == (150.65, 151.45, 30 + 15025)
    assert (shifted["words"][0]["start"], shifted["words"][0]["end"]) == (150.75, 151.15)


def test_piece_result_segments_and_speech_moved_to_where_the_piece_lies() -> None:
    piece = Piece(0, 3, 160 * RATE, np.zeros(20 * RATE, np.float32), [(1.0, 4.0)])
    decoding = Decoding(Strategy.BATCHED, [segment(1.1, 3.9)], "en", NO_COVERAGE, 1.0)
    done = piece_result(piece, decoding, [Strategy.BATCHED])
    assert (done.start, done.end) == (160.0, 180.0)
    assert (done.segments[0]["start"], done.segments[0]["end"]) == (161.1, 163.9)
    assert done.speech == [(161.0, 164.0)]


def test_resume_points_each_channel_after_its_last_piece() -> None:
    done = [result(0, 0, 170, channel=1), result(0, 0, 160, channel=2),
            result(1, 170, 340, channel=1)]  # fmt: skip
    assert resume_points(done) == {1: (2, 340 * RATE), 2: (1, 160 * RATE)}


def test_piece_args_language_of_the_first_piece_with_speech_kept_after_it() -> None:
    done = [result(0, 0, 170, speech=[], language="en"), result(1, 170, 300, segment(180, 190),
                                                                 language="de")]  # fmt: skip
    assert piece_args({"beam_size": 5}, done, 0) == {"beam_size": 5, "language": "de"}
    assert piece_args({"language": "fr"}, done, 0) == {"language": "fr"}
    assert piece_args({}, done[:1], 0) == {}  # no speech yet: the next piece detects


def test_joined_segments_in_order_renumbered_from_one() -> None:
    done = [
        result(0, 0, 170, segment(1, 9), segment(10, 20)),
        result(1, 170, 300, segment(171, 180)),
    ]
    transcript = joined(done, GUARD)
    assert [s["id"] for s in transcript["segments"]] == [1, 2, 3]
    assert [s["start"] for s in transcript["segments"]] == [1, 10, 171]
    assert transcript["text"] == "a few words here a few words here a few words here"
    assert done[1].segments[0]["id"] == 1  # the results (a checkpoint's) stay as they were


def test_joined_coverage_over_every_piece_lists_the_gap_of_one() -> None:
    words = " word" * 20
    done = [
        result(0, 0, 170, segment(1, 9, words)),
        result(1, 170, 300, segment(171, 180, words), speech=[(171.0, 180.0), (200.0, 230.0)]),
    ]
    transcript = joined(done, GUARD)
    assert transcript["coverage"]["uncovered"] == [[200.0, 230.0]]
    assert transcript["complete"] is False


def test_joined_strategy_most_pieces_kept_and_every_one_tried() -> None:
    sequential = PieceResult(0, 1, 0, 1, [], [], Strategy.SEQUENTIAL,
                             [Strategy.BATCHED, Strategy.SEQUENTIAL], "en", None)  # fmt: skip
    done = [result(0, 0, 1), sequential, result(2, 2, 3)]
    transcript = joined(done, GUARD)
    assert transcript["strategy"] == "batched"
    assert transcript["strategies_tried"] == ["batched", "sequential"]


def test_joined_language_of_the_first_piece_with_speech() -> None:
    done = [result(0, 0, 170, speech=[], language="en"),
            result(1, 170, 300, segment(180, 190), language="de")]  # fmt: skip
    assert joined(done, GUARD)["language"] == "de"
