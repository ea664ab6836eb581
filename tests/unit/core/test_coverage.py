"""Coverage arithmetic: speech spans against a transcript's segments; decoding windows."""

from __future__ import annotations

import random

from dropscribe.core.coverage import (
    DEFAULT_MAX_GAP_SECONDS,
    Span,
    measure,
    minus,
    overlap,
    report_is_complete,
    union,
)
from dropscribe.core.transcript import CoverageReport, RemoteSegment
from dropscribe.engine.loading import engine_threads
from dropscribe.engine.vad import windows

SPEECH = [(0.0, 10.0), (12.0, 20.0), (22.0, 30.0)]


def segment(
    start: float, end: float, text: str = "word " * 30, logprob: float = -0.2
) -> RemoteSegment:
    return {"start": start, "end": end, "text": text, "avg_logprob": logprob}


def test_measure_segments_over_all_speech_full_coverage() -> None:
    coverage = measure(SPEECH, [segment(0.2, 9.8), segment(12.1, 19.9), segment(22.0, 29.7)])
    assert coverage.ratio == 1.0
    assert coverage.uncovered == ()


def test_measure_missing_last_sentence_lists_the_stretch() -> None:
    coverage = measure(SPEECH, [segment(0.2, 9.8), segment(12.1, 19.9)])
    assert coverage.speech_seconds == 26.0
    assert round(coverage.ratio, 3) == round(18 / 26, 3)
    assert coverage.uncovered == ((22.0, 30.0),)


def test_measure_empty_segment_text_covers_nothing() -> None:
    coverage = measure(SPEECH, [segment(0.0, 30.0, text="  ")])
    assert coverage.covered_seconds == 0


def test_measure_low_logprob_segment_counts_as_doubtful_not_covered() -> None:
    coverage = measure(SPEECH, [segment(0.0, 20.0), segment(22.0, 30.0, logprob=-1.05)])
    assert coverage.doubtful == ((22.0, 30.0),)
    assert coverage.uncovered == ((22.0, 30.0),)


def test_measure_hard_english_at_low_confidence_counts_as_covered() -> None:
    # An espeak-ng British voice decoded sequentially: words mostly right, unsure of a few.
    hard: RemoteSegment = {**segment(0.0, 30.0, logprob=-0.75), "compression_ratio": 0.97}
    assert measure(SPEECH, [hard]).ratio == 1.0


def test_measure_unsure_segment_that_repeats_itself_counts_as_doubtful() -> None:
    # Portuguese through tiny.en: "I'm not sure if I'm going to do it." over and over.
    looping: RemoteSegment = {**segment(0.0, 30.0, logprob=-0.88), "compression_ratio": 2.33}
    assert measure(SPEECH, [looping]).covered_seconds == 0


def test_measure_repetitive_segment_at_middling_confidence_counts_as_doubtful() -> None:
    repeated: RemoteSegment = {**segment(0.0, 30.0, logprob=-0.44), "compression_ratio": 3.1}
    assert measure(SPEECH, [repeated]).covered_seconds == 0


def test_measure_unsure_segment_spelled_out_as_sounds_counts_as_doubtful() -> None:
    # German through tiny.en, decoded as the sounds it heard: 17 tokens for 6 words.
    sounds: RemoteSegment = {
        **segment(0.0, 30.0, text=" suzamens ufirgun, sufraffinplishin, sufataiin, on tatsulit",
                  logprob=-0.85),
        "compression_ratio": 1.77,
        "tokens": list(range(100, 117)),
    }  # fmt: skip
    text = " Permission is hereby granted free of charge to any person obtaining a copy"
    english: RemoteSegment = {**sounds, "text": text, "tokens": list(range(100, 114))}
    assert measure(SPEECH, [sounds]).covered_seconds == 0
    assert measure(SPEECH, [english]).doubtful == ()


def test_measure_confidently_repeated_phrasing_counts_as_covered() -> None:
    repeated: RemoteSegment = {**segment(0.0, 30.0, logprob=-0.06), "compression_ratio": 3.5}
    assert measure(SPEECH, [repeated]).ratio == 1.0


def test_measure_confident_decoding_loop_counts_as_doubtful() -> None:
    looping: RemoteSegment = {**segment(0.0, 30.0, logprob=-0.17), "compression_ratio": 12.6}
    assert measure(SPEECH, [looping]).covered_seconds == 0


def test_measure_loop_without_logprob_counts_as_doubtful() -> None:
    looping: RemoteSegment = {
        "start": 0.0,
        "end": 30.0,
        "text": "thank you " * 40,
        "compression_ratio": 16.8,
    }
    plain: RemoteSegment = {
        "start": 0.0,
        "end": 30.0,
        "text": "word " * 30,
        "compression_ratio": 1.2,
    }
    assert measure(SPEECH, [looping]).covered_seconds == 0
    assert measure(SPEECH, [plain]).ratio == 1.0


def test_measure_no_speech_reports_no_speech_and_full_ratio() -> None:
    coverage = measure([], [])
    assert coverage.no_speech
    assert coverage.ratio == 1.0
    assert coverage.as_dict()["speech_seconds"] == 0


def test_windows_short_spans_merge_up_to_the_limit() -> None:
    spans = [(0.0, 5.0), (6.0, 12.0), (13.0, 19.0), (21.0, 25.0)]
    assert windows(spans, limit=20.0) == [(0.0, 19.0), (21.0, 25.0)]


def test_windows_span_longer_than_limit_stays_alone() -> None:
    assert windows([(0.0, 1.0), (2.0, 40.0)], limit=20.0) == [(0.0, 1.0), (2.0, 40.0)]


def test_engine_threads_workers_times_threads_within_cores() -> None:
    for cores in (1, 2, 3, 8, 16):
        for workers in (1, 2, 3, 4):
            threads = engine_threads(workers, cores)
            assert threads >= 1
            assert workers * threads <= max(cores, workers)
    assert engine_threads(1, 8) == 8


def test_measure_long_segment_with_few_words_credited_for_its_words_only() -> None:
    coverage = measure([(0.0, 20.0)], [segment(0.0, 20.0, text="four words cut short")])
    assert coverage.covered_seconds < 7.0
    assert coverage.uncovered and coverage.uncovered[0][1] == 20.0


def random_spans(rng: random.Random, count: int) -> list[Span]:
    starts = sorted(rng.uniform(0, 1000) for _ in range(count))
    return union((start, start + rng.uniform(0.1, 30)) for start in starts)


def pairwise_overlap(a: list[Span], b: list[Span]) -> list[Span]:
    return union((max(s, t), min(e, f)) for s, e in a for t, f in b if max(s, t) < min(e, f))


def pairwise_minus(a: list[Span], b: list[Span]) -> list[Span]:
    left = []
    for start, end in a:
        cursor = start
        for b_start, b_end in b:
            if b_end <= cursor or b_start >= end:
                continue
            if b_start > cursor:
                left.append((cursor, b_start))
            cursor = max(cursor, b_end)
        if cursor < end:
            left.append((cursor, end))
    return left


def test_overlap_and_minus_in_one_pass_match_every_pair_compared() -> None:
    rng = random.Random(29)
    for _ in range(200):
        a, b = random_spans(rng, rng.randint(0, 40)), random_spans(rng, rng.randint(0, 40))
        assert overlap(a, b) == pairwise_overlap(a, b)
        assert minus(a, b) == pairwise_minus(a, b)


#: An hour of speech in spans of 9 s with 1 s pauses: one span missed from it leaves a share
#: of 0.997, which passes any usual ratio.
HOUR = [(float(t), t + 9.0) for t in range(0, 3600, 10)]


def test_measure_runs_of_missed_speech_across_pauses_join_into_one_stretch() -> None:
    # Speech 12-20 and 22-30 missed, with nothing covered in the pause between them.
    coverage = measure(SPEECH, [segment(0.2, 9.8)])
    assert coverage.stretches == ((12.0, 30.0, 16.0),)
    assert coverage.longest_gap == 16.0


def test_measure_missed_spans_with_covered_speech_between_stay_apart() -> None:
    coverage = measure(SPEECH, [segment(12.0, 20.0)])
    assert [(a, b) for a, b, _ in coverage.stretches] == [(0.0, 10.0), (22.0, 30.0)]


def test_coverage_gap_in_an_hour_makes_it_incomplete_whatever_the_ratio() -> None:
    segments = [segment(a, b) for a, b in HOUR if not 1800 <= a < 1810]
    coverage = measure(HOUR, segments)
    assert coverage.ratio > 0.99
    assert not coverage.is_complete(min_coverage=0.95, max_gap=DEFAULT_MAX_GAP_SECONDS)
    assert coverage.as_dict()["gaps"] == [[1800.0, 1809.0]]


def test_coverage_gap_no_longer_than_the_limit_leaves_it_complete() -> None:
    segments = [segment(a, b) for a, b in HOUR if not 1800 <= a < 1810]
    coverage = measure(HOUR, segments)
    assert coverage.is_complete(min_coverage=0.95, max_gap=9.0)
    assert coverage.as_dict(max_gap=9.0)["gaps"] == []


def test_coverage_report_carries_the_longest_gap_and_the_limit() -> None:
    report = measure(SPEECH, [segment(0.2, 9.8), segment(12.1, 19.9)]).as_dict(max_gap=5.0)
    assert report["longest_gap_seconds"] == 8.0
    assert report["max_gap_seconds"] == 5.0
    assert report["gaps"] == [[22.0, 30.0]]


def test_report_is_complete_judges_gap_and_ratio() -> None:
    report = measure(HOUR, [segment(a, b) for a, b in HOUR if a != 1800]).as_dict()
    assert not report_is_complete(report, min_coverage=0.95, max_gap=4.0)
    assert report_is_complete(report, min_coverage=0.95, max_gap=10.0)
    assert not report_is_complete(report, min_coverage=0.999, max_gap=10.0)


def test_report_is_complete_older_report_without_gap_figures_judged_by_its_ratio() -> None:
    older: CoverageReport = {
        "speech_seconds": 10.0,
        "covered_seconds": 9.8,
        "ratio": 0.98,
        "uncovered": [],
        "doubtful": [],
    }
    assert report_is_complete(older, min_coverage=0.95, max_gap=4.0)
