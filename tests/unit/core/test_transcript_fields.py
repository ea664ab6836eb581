"""A service's result checked into the daemon's RemoteTranscript: known keys by their types,
unknown keys kept, nothing filled in, a well-formed result unchanged byte for byte."""

from __future__ import annotations

import json

from dropscribe.core import transcript, transcript_fields
from dropscribe.core.transcript_fields import remote_segment, remote_transcript

ENGINE_LIKE = {
    "text": " hello there",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0,
            "end": 1.5,
            "text": " hello there",
            "tokens": [50364, 2425],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 1.1,
            "no_speech_prob": 0.01,
            "words": [{"start": 0.0, "end": 0.6, "word": " hello", "probability": 0.9}],
            "channel": 1,
            "vendor_extra": {"kept": True},
        }
    ],
    "language": "en",
    "language_probability": None,
    "coverage": {
        "speech_seconds": 1.5,
        "covered_seconds": 1.5,
        "ratio": 1.0,
        "uncovered": [],
        "doubtful": [[0.2, 0.4]],
    },
    "strategy": "batched",
    "strategies_tried": ["batched"],
    "channels": [{"channel": 1, "text": "hi", "language": "en", "strategy": "batched"}],
    "duration": 1.5,
}


def test_remote_transcript_well_formed_result_same_json_byte_for_byte() -> None:
    assert json.dumps(remote_transcript(ENGINE_LIKE)) == json.dumps(ENGINE_LIKE)


def test_remote_transcript_missing_keys_stay_missing() -> None:
    assert remote_transcript({"text": "hi"}) == {"text": "hi"}


def test_remote_transcript_mistyped_known_key_left_out_unknown_key_kept() -> None:
    checked = remote_transcript({"text": 42, "language": "en", "vendor": [1, "x"]})
    assert checked == {"language": "en", "vendor": [1, "x"]}


def test_remote_transcript_mistyped_segment_field_left_out_segment_kept() -> None:
    checked = remote_transcript({"segments": [{"start": "soon", "end": 1.0, "text": "a"}]})
    assert checked == {"segments": [{"end": 1.0, "text": "a"}]}


def test_remote_transcript_segments_not_all_objects_left_out() -> None:
    assert remote_transcript({"text": "a", "segments": [{"text": "a"}, "b"]}) == {"text": "a"}


def test_remote_transcript_record_without_a_required_key_left_out() -> None:
    partial = {"coverage": {"ratio": 0.5}, "diarization": {"error": "no method"}}
    assert remote_transcript(partial) == {}


def test_remote_segment_checked_as_a_results_segment() -> None:
    assert remote_segment({"id": 1, "speaker": 3, "text": "x"}) == {"id": 1, "text": "x"}


def test_field_tables_name_every_key_of_the_typed_dicts() -> None:
    pairs = [
        (transcript.RemoteTranscript, transcript_fields.TRANSCRIPT_FIELDS),
        (transcript.RemoteSegment, transcript_fields.SEGMENT_FIELDS),
        (transcript.RemoteWord, transcript_fields.WORD_FIELDS),
        (transcript.CoverageReport, transcript_fields.COVERAGE_FIELDS),
        (transcript.ChannelSummary, transcript_fields.CHANNEL_FIELDS),
        (transcript.SpeakingTime, transcript_fields.SPEAKING_TIME_FIELDS),
        (transcript.Diarization, transcript_fields.DIARIZATION_FIELDS),
    ]
    for typed, fields in pairs:
        assert list(fields) == list(typed.__annotations__), typed.__name__


def test_remote_typed_dicts_have_the_keys_of_the_engines() -> None:
    pairs = [
        (transcript.RemoteTranscript, transcript.Transcript),
        (transcript.RemoteSegment, transcript.Segment),
        (transcript.RemoteWord, transcript.Word),
    ]
    for remote, engine in pairs:
        assert list(remote.__annotations__) == list(engine.__annotations__), remote.__name__
