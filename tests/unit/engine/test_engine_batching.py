"""Laying several recordings end to end and giving each its segments back."""

from __future__ import annotations

import numpy as np

from dropscribe.core.transcript import Segment, Word
from dropscribe.engine.batching import Clip, laid_audio, laid_windows, offsets, split
from dropscribe.server.batch_jobs import groups


def clip(seconds: float, *speech: tuple[float, float]) -> Clip:
    return Clip(np.ones(int(seconds * 16000), dtype=np.float32), list(speech))


def test_offsets_recordings_separated_by_the_gap() -> None:
    assert offsets([5.0, 7.5, 3.0], gap=1.0) == [0.0, 6.0, 14.5]


def test_laid_audio_length_matches_offsets() -> None:
    clips = [clip(5.0), clip(7.5)]
    assert len(laid_audio(clips, gap=1.0)) == int(13.5 * 16000)


def test_laid_windows_short_recordings_share_a_window() -> None:
    clips = [clip(5.0, (0.5, 4.5)), clip(6.0, (0.2, 5.8))]
    assert laid_windows(clips, offsets([5.0, 6.0], gap=1.0)) == [(0.5, 11.8)]


def test_laid_windows_shifted_to_where_each_recording_lies() -> None:
    clips = [clip(15.0, (0.5, 14.5)), clip(16.0, (0.2, 15.8))]
    assert laid_windows(clips, offsets([15.0, 16.0], gap=1.0)) == [(0.5, 14.5), (16.2, 31.8)]


def test_split_segments_go_back_to_their_recording_in_its_own_time() -> None:
    segments: list[Segment] = [
        {"id": 1, "start": 0.5, "end": 4.5, "text": "a"},
        {"id": 2, "start": 6.2, "end": 9.0, "text": "b"},
        {"id": 3, "start": 9.0, "end": 11.8, "text": "c"},
    ]
    first, second = split(segments, [0.0, 6.0])
    assert [(s["start"], s["end"], s["id"]) for s in first] == [(0.5, 4.5, 1)]
    assert [(s["start"], s["end"], s["id"]) for s in second] == [(0.2, 3.0, 1), (3.0, 5.8, 2)]


def test_split_recording_without_segments_gets_none() -> None:
    assert split([{"id": 1, "start": 7.0, "end": 8.0, "text": "b"}], [0.0, 6.0])[0] == []


def test_groups_jobs_with_other_parameters_run_apart() -> None:
    from pathlib import Path

    from dropscribe.server.batch_jobs import Claimed
    from dropscribe.server.job_status import JobStatus
    from dropscribe.server.records import JobRecord

    def claimed(job_id: str, params: str) -> Claimed:
        job = JobRecord(job_id, "r", "m", "u", params, JobStatus.PROCESSING, 0.0,
                        None, None, None, None)  # fmt: skip
        return Claimed(job, "bundled", Path(f"{job_id}.wav"), {})

    found = groups([claimed("a", "{}"), claimed("b", '{"beam_size":1}'), claimed("c", "{}")])
    assert [[c.job.job_id for c in g] for g in found] == [["a", "c"], ["b"]]


def test_split_segment_starting_a_hair_before_its_recording_goes_to_it() -> None:
    # Segment times are rounded to the millisecond; the recording starts at 6.4603 s.
    segments: list[Segment] = [{"id": 1, "start": 6.46, "end": 11.0, "text": "b"}]
    first, second = split(segments, [0.0, 6.4603])
    assert first == [] and [s["text"] for s in second] == ["b"]


def test_split_words_shifted_with_their_segment() -> None:
    words: list[Word] = [{"start": 6.3, "end": 6.9, "word": " b", "probability": 0.9}]
    segments: list[Segment] = [{"id": 1, "start": 6.2, "end": 7.0, "text": " b", "words": words}]
    (moved,) = split(segments, [0.0, 6.0])[1]
    assert [(w["start"], w["end"]) for w in moved["words"]] == [(0.3, 0.9)]


def test_split_segment_running_into_the_next_recording_goes_to_neither() -> None:
    # "Thank you for coming. Turn off the lights.": two recordings decoded into one segment.
    segments: list[Segment] = [{"id": 1, "start": 0.0, "end": 4.8, "text": "a b"}]
    assert split(segments, [0.0, 3.13]) == [[], []]


def test_split_segment_starting_in_the_recording_before_goes_to_neither() -> None:
    segments: list[Segment] = [{"id": 1, "start": 0.0, "end": 7.0, "text": "a b"}]
    assert split(segments, [0.0, 3.4]) == [[], []]


def test_split_segment_drifting_a_little_into_the_next_recording_stays_its_own() -> None:
    # Timestamps drift in a shared window: a 1.2 s recording's own words ended at 2.78 s,
    # 0.08 s into the next recording laid at 2.7 s.
    segments: list[Segment] = [{"id": 1, "start": 0.0, "end": 2.783, "text": "a"}]
    first, second = split(segments, [0.0, 2.7])
    assert [s["text"] for s in first] == ["a"] and second == []
