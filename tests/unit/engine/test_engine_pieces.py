"""Cutting a recording into pieces as it is decoded: the pieces laid end to end are the
recording, each cut lies in a pause, and a cutter started at a finished piece goes on with the
same pieces. Speech is found here by loudness (the Cutter takes any finder); the real Silero
VAD cuts real speech in ``tests/integration/engine``."""

from __future__ import annotations

import numpy as np

from dropscribe.core.coverage import Span
from dropscribe.engine.audio import Samples
from dropscribe.engine.pieces import Cutter, Piece, Sizes, cut_planes, cut_sample, pauses

RATE = 16000

#: Small pieces, so that a minute of samples makes several.
SIZES = Sizes(piece=10.0, search=4.0, lookahead=2.0)


def loud_spans(samples: Samples) -> list[Span]:
    """Return the stretches whose samples are not silent, as spans in seconds."""
    loud = np.abs(samples) > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    return [(a / RATE, b / RATE) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def speech_with_pauses(seconds: float, seed: int = 7) -> Samples:
    """Return noise ('words') of 0.3-3 s separated by silences of 0.15-1.5 s."""
    rng = np.random.default_rng(seed)
    parts, length = [], 0
    while length < seconds * RATE:
        word = rng.uniform(0.3, 3.0)
        pause = rng.uniform(0.15, 1.5)
        parts.append(rng.uniform(0.1, 0.5, int(word * RATE)).astype(np.float32))
        parts.append(np.zeros(int(pause * RATE), np.float32))
        length += int(word * RATE) + int(pause * RATE)
    return np.concatenate(parts)[: int(seconds * RATE)]


def cut(samples: Samples, chunk: int = 4321, cutter: Cutter | None = None) -> list[Piece]:
    """Feed the samples in chunks of ``chunk`` to the cutter; return every piece."""
    cutter = cutter or Cutter(0, SIZES, find_speech=loud_spans)
    frames = (samples[None, i : i + chunk] for i in range(0, len(samples), chunk))
    return list(cut_planes(frames, [cutter]))


def test_cutter_pieces_laid_end_to_end_are_the_recording_sample_for_sample() -> None:
    samples = speech_with_pauses(61.0)
    pieces = cut(samples)
    assert len(pieces) >= 5
    assert np.array_equal(np.concatenate([p.samples for p in pieces]), samples)
    assert [p.index for p in pieces] == list(range(len(pieces)))
    starts = [p.start_sample for p in pieces]
    assert starts == [0, *np.cumsum([len(p.samples) for p in pieces])[:-1].tolist()]


def test_cutter_every_cut_lies_in_a_pause_inside_the_search_window() -> None:
    samples = speech_with_pauses(61.0)
    pieces = cut(samples)
    for piece in pieces[:-1]:
        length = len(piece.samples) / RATE
        assert SIZES.piece - SIZES.search <= length <= SIZES.piece
        assert samples[piece.start_sample + len(piece.samples)] == 0.0  # silence at the cut


def test_cutter_piece_no_longer_than_piece_and_lookahead() -> None:
    pieces = cut(speech_with_pauses(61.0))
    assert max(len(p.samples) for p in pieces) <= (SIZES.piece + SIZES.lookahead) * RATE


def test_cutter_speech_of_each_piece_in_its_own_time_and_inside_it() -> None:
    samples = speech_with_pauses(61.0)
    for piece in cut(samples):
        assert piece.speech == loud_spans(piece.samples)


def test_cutter_chunk_size_does_not_change_the_pieces() -> None:
    samples = speech_with_pauses(41.0)
    by_frames = [(p.start_sample, len(p.samples)) for p in cut(samples, chunk=320)]
    at_once = [(p.start_sample, len(p.samples)) for p in cut(samples, chunk=len(samples))]
    assert by_frames == at_once


def test_cutter_started_at_a_finished_piece_goes_on_with_the_same_pieces() -> None:
    samples = speech_with_pauses(61.0)
    whole = cut(samples)
    third = whole[2]
    resumed = cut(
        samples,
        cutter=Cutter(0, SIZES, third.index + 1, third.start_sample + len(third.samples),
                      find_speech=loud_spans),
    )  # fmt: skip
    assert [(p.index, p.start_sample) for p in resumed] == [
        (p.index, p.start_sample) for p in whole[3:]
    ]
    assert all(
        np.array_equal(a.samples, b.samples) for a, b in zip(resumed, whole[3:], strict=True)
    )


def test_cutter_short_recording_is_one_piece() -> None:
    samples = speech_with_pauses(11.5)  # under piece + lookahead
    (piece,) = cut(samples)
    assert np.array_equal(piece.samples, samples)


def test_cutter_nothing_fed_gives_no_piece() -> None:
    assert cut(np.zeros(0, np.float32)) == []


def test_cut_sample_widest_pause_in_the_window_wins() -> None:
    samples = np.ones(12 * RATE, np.float32)
    spans = [(0.0, 6.5), (6.8, 8.0), (9.0, 9.5), (9.7, 12.0)]  # pauses: 0.3 s, 1.0 s, 0.2 s
    assert cut_sample(spans, samples, SIZES) == int(8.5 * RATE)


def test_cut_sample_without_a_clear_pause_takes_the_quietest_touching_point() -> None:
    samples = np.ones(12 * RATE, np.float32)
    samples[int(7.0 * RATE) - 800 : int(7.0 * RATE) + 800] = 0.01
    spans = [(0.0, 6.0), (6.0, 7.0), (7.0, 8.0), (8.0, 12.0)]  # the VAD split short pauses
    assert cut_sample(spans, samples, SIZES) == int(7.0 * RATE)


def test_cut_sample_speech_without_any_pause_cut_where_it_is_softest() -> None:
    samples = np.ones(12 * RATE, np.float32)
    samples[int(8.2 * RATE) : int(8.3 * RATE)] = 0.0
    cut_at = cut_sample([(0.0, 12.0)], samples, SIZES)
    assert 8.1 * RATE <= cut_at <= 8.4 * RATE


def test_cut_sample_silence_over_the_whole_window_cut_inside_it() -> None:
    samples = np.zeros(12 * RATE, np.float32)
    assert SIZES.piece - SIZES.search <= cut_sample([], samples, SIZES) / RATE <= SIZES.piece


def test_pauses_between_before_and_after_the_spans() -> None:
    assert pauses([(1.0, 2.0), (2.0, 3.0), (4.0, 5.0)], 6.0) == [
        (0.0, 1.0), (2.0, 2.0), (3.0, 4.0), (5.0, 6.0),
    ]  # fmt: skip


def test_cut_planes_each_channel_cut_on_its_own() -> None:
    left, right = speech_with_pauses(31.0, seed=1), speech_with_pauses(31.0, seed=2)
    stereo = np.stack([left, right])
    frames = (stereo[:, i : i + 999] for i in range(0, stereo.shape[1], 999))
    cutters = [Cutter(n, SIZES, find_speech=loud_spans) for n in (1, 2)]
    pieces = list(cut_planes(frames, cutters))
    for channel, samples in ((1, left), (2, right)):
        own = [p.samples for p in pieces if p.channel == channel]
        assert np.array_equal(np.concatenate(own), samples)
