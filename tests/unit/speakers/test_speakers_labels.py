"""Speaker labels put on a transcript: by overlap with the turns, split at the word where the
speaker changes, named in order of first speech, with each one's speaking time."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropscribe.config.schema.diarization import Diarize
from dropscribe.core.transcript import RemoteSegment, RemoteTranscript, RemoteWord
from dropscribe.speakers import ChannelLabeller
from dropscribe.speakers.labels import (
    Turn,
    by_channel,
    interleaved,
    labelled,
    renamed,
    speaker_of,
    speaking_times,
)
from dropscribe.speakers.voices import (
    MAX_HOURS,
    TooMuchSpeech,
    ordered,
    refuse_long,
    speech_of_words,
    windows,
)

TURNS = [Turn(0.0, 2.0, "Speaker 1"), Turn(2.0, 5.0, "Speaker 2")]


def word(start: float, end: float, text: str) -> RemoteWord:
    return {"start": start, "end": end, "word": text, "probability": 0.9}


def test_speaker_of_span_goes_to_the_speaker_covering_most() -> None:
    assert speaker_of(1.5, 3.0, TURNS) == "Speaker 2"


def test_speaker_of_span_between_turns_goes_to_the_nearest() -> None:
    turns = [Turn(0.0, 1.0, "A"), Turn(5.0, 6.0, "B")]
    assert speaker_of(4.0, 4.5, turns) == "B"


def test_labelled_segment_spanning_a_turn_split_at_the_word_boundary() -> None:
    words = [word(0.2, 0.8, " Hello"), word(0.9, 1.8, " there."), word(2.3, 2.9, " Hi!")]
    segment: RemoteSegment = {
        "id": 7,
        "start": 0.0,
        "end": 3.0,
        "text": " Hello there. Hi!",
        "words": words,
    }
    first, second = labelled([segment], TURNS)
    assert (first["speaker"], first["text"], first["start"], first["end"]) == (
        "Speaker 1", " Hello there.", 0.0, 1.8,
    )  # fmt: skip
    assert (second["speaker"], second["text"], second["start"], second["end"]) == (
        "Speaker 2", " Hi!", 2.3, 3.0,
    )  # fmt: skip
    assert [first["id"], second["id"]] == [1, 2]
    assert second["words"] == [words[2]]


def test_labelled_segment_without_words_labelled_whole_by_overlap() -> None:
    segment: RemoteSegment = {"id": 1, "start": 1.0, "end": 4.0, "text": "one block"}
    (only,) = labelled([segment], TURNS)
    assert only["speaker"] == "Speaker 2"
    assert only["text"] == "one block"


def test_labelled_without_turns_leaves_segments_unlabelled() -> None:
    (only,) = labelled([{"id": 1, "start": 0.0, "end": 1.0, "text": "x"}], [])
    assert "speaker" not in only


def test_renamed_speakers_numbered_in_order_of_first_speech() -> None:
    turns = [Turn(3.0, 4.0, "SPEAKER_01"), Turn(0.0, 1.0, "SPEAKER_02")]
    assert [(t.start, t.speaker) for t in renamed(turns)] == [
        (0.0, "Speaker 1"),
        (3.0, "Speaker 2"),
    ]


def test_by_channel_configured_names_else_channel_numbers() -> None:
    segments: list[RemoteSegment] = [{"start": 0, "end": 1, "text": "a", "channel": 1},
                                     {"start": 0, "end": 1, "text": "b", "channel": 2}]  # fmt: skip
    assert [s["speaker"] for s in by_channel(segments, ["Agent"])] == ["Agent", "Channel 2"]


def test_channel_labeller_speaking_time_per_speaker_from_words() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 3.0, "text": "a b", "channel": 1,
         "words": [word(0.0, 1.0, " a"), word(2.0, 2.5, " b")]},
        {"start": 1.0, "end": 2.0, "text": "c", "channel": 2},
    ]  # fmt: skip
    # The channels were transcribed apart already: the recording itself is not read.
    result = ChannelLabeller([]).label({"text": "", "segments": segments}, Path("unread.wav"))
    assert result["speakers"] == [
        {"speaker": "Channel 1", "seconds": 1.5},
        {"speaker": "Channel 2", "seconds": 1.0},
    ]
    assert result["diarization"] == {"method": "channels"}


def call_segments() -> list[RemoteSegment]:
    """A call as the engine gives it, one long segment per channel: the agent speaks at 0-2 s
    and 6-8 s, the caller at 3-5 s and 7.5-9 s (over the agent's last word)."""
    return [
        {"id": 1, "start": 0.0, "end": 8.0, "text": " hello there thanks bye", "channel": 1,
         "words": [word(0.0, 1.0, " hello"), word(1.0, 2.0, " there"),
                   word(6.0, 7.0, " thanks"), word(7.0, 8.0, " bye")]},
        {"id": 2, "start": 0.0, "end": 9.0, "text": " hi yes bye", "channel": 2,
         "words": [word(3.0, 4.0, " hi"), word(4.0, 5.0, " yes"), word(7.5, 9.0, " bye")]},
    ]  # fmt: skip


def test_channel_labeller_call_turns_interleaved_by_time_at_the_words() -> None:
    result = ChannelLabeller(["Agent", "Caller"]).label(
        {"text": "", "segments": call_segments()}, Path("unread.wav")
    )
    turns = [(s["id"], s["start"], s["end"], s["speaker"], s["text"]) for s in result["segments"]]
    assert turns == [
        (1, 0.0, 2.0, "Agent", " hello there"),
        (2, 3.0, 5.0, "Caller", " hi yes"),
        (3, 6.0, 8.0, "Agent", " thanks bye"),
        (4, 7.5, 9.0, "Caller", " bye"),
    ]


def test_channel_labeller_call_speaking_time_counted_once() -> None:
    result = ChannelLabeller([]).label(
        {"text": "", "segments": call_segments()}, Path("unread.wav")
    )
    # 0-2, 3-5, 6-9 s of speech: 7 s; the half second both speak (7.5-8 s) counts once,
    # shared between them.
    assert result["speakers"] == [
        {"speaker": "Channel 1", "seconds": 3.75},
        {"speaker": "Channel 2", "seconds": 3.25},
    ]


def test_interleaved_segments_without_words_kept_whole_in_time_order() -> None:
    segments: list[RemoteSegment] = [
        {"id": 1, "start": 4.0, "end": 6.0, "text": "b", "speaker": "A"},
        {"id": 2, "start": 1.0, "end": 5.0, "text": "a", "speaker": "B"},
    ]
    assert [(s["id"], s["text"]) for s in interleaved(segments)] == [(1, "a"), (2, "b")]


def test_speaking_times_overlapping_spans_without_words_shared_counted_once() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 85.0, "text": "a", "speaker": "Agent"},
        {"start": 2.0, "end": 78.0, "text": "b", "speaker": "Caller"},
        {"start": 90.0, "end": 94.0, "text": "c", "speaker": "Caller"},
    ]
    # 89 s of speech in all (0-85 s, 90-94 s), not 85 + 80: the 76 s both spans hold are
    # shared between the two.
    assert speaking_times(segments) == [
        {"speaker": "Agent", "seconds": 47.0},
        {"speaker": "Caller", "seconds": 42.0},
    ]


def test_channel_labeller_mono_recording_says_so_plainly_and_publishes_unlabelled() -> None:
    segments: list[RemoteSegment] = [{"start": 0.0, "end": 1.0, "text": "a"}]
    problem = "the recording has 1 channel, not two"
    result: RemoteTranscript = {"segments": segments, "split_channels_problem": problem}
    labelled_result = ChannelLabeller([]).label(result, Path("unread.wav"))
    assert labelled_result["diarization"] == {
        "method": "channels",
        "error": "The recording has 1 channel, not two: diarize.method channels needs a call"
        " recording with one party on each of its two channels. It was transcribed as one and"
        " is published without speakers (diarize.method model tells voices apart).",
    }
    assert labelled_result["segments"] == segments
    assert "speakers" not in labelled_result


def test_speech_of_words_joins_words_closer_than_the_gap() -> None:
    segments: list[RemoteSegment] = [
        {"words": [word(0.5, 0.9, " a"), word(1.2, 1.6, " b")]},
        {"words": [word(3.0, 3.4, " c")]},
    ]
    assert speech_of_words(segments) == [(0.5, 1.6), (3.0, 3.4)]


def test_speech_of_words_without_word_timings_is_unknown() -> None:
    assert speech_of_words([{"start": 0.0, "end": 2.0, "text": " no words"}]) is None


def test_windows_step_through_each_stretch_and_end_with_it() -> None:
    assert windows([(0.0, 3.7), (10.0, 10.8)]) == [
        (0.0, 1.5),
        (1.0, 2.5),
        (2.0, 3.5),
        (2.2, 3.7),
        (10.0, 10.8),
    ]


def test_voice_model_max_hours_default_is_the_schemas() -> None:
    assert Diarize().max_hours == MAX_HOURS


def test_refuse_long_more_speech_than_max_hours_says_what_the_user_gets() -> None:
    with pytest.raises(TooMuchSpeech) as refused:
        refuse_long([(0.0, 3600.0), (4000.0, 4060.0 + 3 * 3600)], 4.0)
    assert "holds 4 h 01 min of speech, more than diarize.max_hours (4 h 00 min)" in str(
        refused.value
    )
    assert "published without speakers" in str(refused.value)


def test_refuse_long_speech_within_max_hours_passes() -> None:
    refuse_long([(0.0, 3600.0), (7200.0, 7200.0 + 3 * 3600)], 4.0)


def test_ordered_speech_sorted_overlaps_joined_touching_kept_empty_dropped() -> None:
    spans = [(5.0, 6.0), (1.0, 2.0), (1.5, 3.0), (3.0, 4.0), (7.0, 7.0)]
    assert ordered(spans) == [(1.0, 3.0), (3.0, 4.0), (5.0, 6.0)]
