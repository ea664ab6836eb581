"""Pure parts of the outbox: timestamps, SRT / WebVTT / txt / json rendering, safe names."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from dropscribe.core.fsio import NAME_MAX_BYTES as NAME_MAX
from dropscribe.core.fsio import numbered as candidate_stem
from dropscribe.core.transcript import RemoteSegment
from dropscribe.outbox.cues import format_timestamp
from dropscribe.outbox.formats import Rendering, render_all
from dropscribe.outbox.publishing import Occupancy, safe_stem, stem_is_available
from dropscribe.outbox.srt import render_srt
from dropscribe.outbox.transcript_json import owner_in_json, render_json
from dropscribe.outbox.txt import render_txt
from dropscribe.outbox.vtt import render_vtt
from support import webvtt

SEGMENTS: list[RemoteSegment] = [
    {"start": 0.0, "end": 1.9996, "text": " Hello there."},
    {"start": 2.0, "end": 3.0, "text": "   "},
    {"start": 3661.5, "end": 3662.0004, "text": "An hour in."},
]


def test_format_timestamp_hours_minutes_seconds_exact() -> None:
    assert format_timestamp(3723.25, ",") == "01:02:03,250"


def test_format_timestamp_sub_millisecond_rounds_into_next_second() -> None:
    assert format_timestamp(1.9996, ".") == "00:00:02.000"


def test_format_timestamp_negative_clamped_to_zero() -> None:
    assert format_timestamp(-0.2, ",") == "00:00:00,000"


def test_format_timestamp_past_a_day_hours_not_wrapped() -> None:
    assert format_timestamp(100 * 3600.0, ",") == "100:00:00,000"


def test_render_srt_known_segments_exact_text() -> None:
    # The half-second cue is held on screen for 0.8 s: nothing follows it.
    assert render_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:02,000\nHello there.\n"
        "\n"
        "2\n01:01:01,500 --> 01:01:02,300\nAn hour in.\n"
    )


def test_render_srt_blank_line_inside_text_removed() -> None:
    text = render_srt([{"start": 0, "end": 1, "text": "one\n\n\ntwo"}])
    assert text == "1\n00:00:00,000 --> 00:00:01,000\none two\n"


def test_render_srt_no_segments_empty() -> None:
    assert render_srt([]) == ""


def test_render_vtt_known_segments_exact_text() -> None:
    assert render_vtt(SEGMENTS) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:02.000\nHello there.\n"
        "\n"
        "01:01:01.500 --> 01:01:02.300\nAn hour in.\n"
    )


def test_render_vtt_arrow_and_markup_in_text_escaped() -> None:
    text = render_vtt([{"start": 0, "end": 1, "text": "a --> b <i> & c"}])
    assert text.splitlines()[3] == "a --&gt; b &lt;i&gt; &amp; c"
    assert text.count("-->") == 1


def test_render_txt_text_field_stripped_with_one_newline() -> None:
    assert render_txt({"text": "  Hello world. \n", "segments": []}) == "Hello world.\n"


def test_render_txt_segments_without_times_joined_on_one_line() -> None:
    segments: list[RemoteSegment] = [{"text": " Hello there."}, {"text": "An hour in."}]
    assert render_txt({"segments": segments}) == "Hello there. An hour in.\n"


def test_render_txt_long_pause_starts_a_new_paragraph() -> None:
    segments: list[RemoteSegment] = [
        {"start": 0.0, "end": 2.0, "text": " One."},
        {"start": 3.9, "end": 5.0, "text": " Two."},  # 1.9 s pause: same paragraph
        {"start": 7.0, "end": 8.0, "text": " Three."},  # 2.0 s pause: a new one
        {"start": 8.1, "end": 9.0, "text": "\n Four. \n"},
    ]
    text = render_txt({"text": "One. Two. Three. Four.", "segments": segments})
    assert text == "One. Two.\n\nThree. Four.\n"


def test_render_txt_line_per_segment_one_line_each_blank_segments_skipped() -> None:
    text = render_txt({"text": "x", "segments": SEGMENTS}, line_per_segment=True)
    assert text == "Hello there.\nAn hour in.\n"


def test_render_txt_empty_result_empty_file() -> None:
    assert render_txt({"text": ""}) == ""


def test_render_json_provenance_cannot_forge_owner_or_result() -> None:
    doc = json.loads(
        render_json("job-1", {"text": "hi"}, {"job_id": "evil", "result": 1, "sha256": "ab"})
    )
    assert doc == {"dropscribe": 1, "job_id": "job-1", "sha256": "ab", "result": {"text": "hi"}}


def test_render_all_timed_formats_only_with_segments_and_configured() -> None:
    every = Rendering(("txt", "srt", "vtt"))
    assert list(render_all("j", {"text": "x"}, {}, every)) == ["json", "txt"]
    timed = render_all("j", {"segments": SEGMENTS}, {}, Rendering(("srt",)))
    assert list(timed) == ["json", "txt", "srt"]


def test_safe_stem_subfolders_kept() -> None:
    assert safe_stem("talks/2024/monday") == "talks/2024/monday"


def test_safe_stem_newline_and_control_chars_replaced() -> None:
    assert safe_stem("evil\nname\x1b[31m\u2028x") == "evil_name_[31m_x"


def test_safe_stem_leading_dash_and_dot_replaced() -> None:
    assert safe_stem("-rf/.hidden/ok") == "_rf/_hidden/ok"


def test_safe_stem_dotdot_and_absolute_removed() -> None:
    assert safe_stem("/../../etc/./passwd") == "etc/passwd"


def test_safe_stem_only_dots_becomes_placeholder() -> None:
    assert safe_stem("../..") == "_"


def test_safe_stem_lone_surrogate_replaced() -> None:
    # os.fsdecode turns an undecodable byte into a lone surrogate; it cannot be written as UTF-8.
    assert safe_stem("caf\udce9") == "caf_"


def test_safe_stem_long_unicode_name_cut_on_character_boundary_with_room_for_suffix() -> None:
    name = "é" * 150  # 300 bytes in UTF-8
    stem = safe_stem(f"dir/{name}")
    last = stem.split("/")[-1]
    assert set(last) == {"é"}
    assert len(f"{candidate_stem(last, 9999)}.json".encode()) <= NAME_MAX
    assert len(last.encode()) >= NAME_MAX - 13  # cut to fit, not far shorter


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_safe_stem_any_text_yields_safe_components(rel: str) -> None:
    for part in safe_stem(rel).split("/"):
        assert part not in ("", ".", "..")
        assert part[0] not in "-."
        assert not any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in part)
        assert len(f"{part} (9999).json".encode()) <= NAME_MAX


def test_candidate_stem_first_plain_then_numbered() -> None:
    assert [candidate_stem("a/b", n) for n in (1, 2, 3)] == ["a/b", "a/b (2)", "a/b (3)"]


def test_stem_is_available_free_or_own_only() -> None:
    assert stem_is_available(Occupancy(owner=None, occupied=False), "j1")
    assert stem_is_available(Occupancy(owner="j1", occupied=True), "j1")
    assert not stem_is_available(Occupancy(owner="j2", occupied=True), "j1")
    assert not stem_is_available(Occupancy(owner=None, occupied=True), "j1")


def test_owner_in_json_foreign_or_broken_json_has_no_owner() -> None:
    assert owner_in_json(render_json("j1", {}, {})) == "j1"
    assert owner_in_json('{"job_id": "j1"}') is None  # not one of ours
    assert owner_in_json("{truncated") is None
    assert owner_in_json("[1, 2]") is None


def test_render_vtt_hostile_text_still_valid_webvtt() -> None:
    segments: list[RemoteSegment] = [{"start": 0, "end": 1, "text": "a --> b <v x> & c"}]
    assert webvtt.parse(render_vtt(segments))[0].text == "a --> b <v x> & c"


# --- speaker labels ------------------------------------------------------------------------

LABELLED: list[RemoteSegment] = [
    {"start": 0.0, "end": 1.5, "text": " Hello there.", "speaker": "Speaker 1"},
    {"start": 1.6, "end": 2.5, "text": " How are you?", "speaker": "Speaker 1"},
    {"start": 2.6, "end": 3.5, "text": " Fine, thanks.", "speaker": "Speaker 2"},
    {"start": 3.6, "end": 4.0, "text": " Good.", "speaker": "Speaker 1"},
]


def test_render_txt_labelled_new_paragraph_at_each_turn() -> None:
    assert render_txt({"segments": LABELLED}) == (
        "Speaker 1: Hello there. How are you?\n\nSpeaker 2: Fine, thanks.\n\nSpeaker 1: Good.\n"
    )


def test_render_txt_labelled_line_per_segment_each_line_names_its_speaker() -> None:
    lines = render_txt({"segments": LABELLED}, line_per_segment=True).splitlines()
    assert lines[1] == "Speaker 1: How are you?"
    assert lines[2] == "Speaker 2: Fine, thanks."


def test_render_srt_labelled_text_prefixed_with_speaker() -> None:
    blocks = render_srt(LABELLED).split("\n\n")
    assert blocks[2] == "3\n00:00:02,600 --> 00:00:03,500\n[Speaker 2] Fine, thanks."


def test_render_vtt_labelled_cues_are_voice_spans() -> None:
    cues = webvtt.parse(render_vtt(LABELLED))
    assert [(cue.voice, cue.text) for cue in cues][2] == ("Speaker 2", "Fine, thanks.")
    assert [cue.voice for cue in cues] == ["Speaker 1", "Speaker 1", "Speaker 2", "Speaker 1"]


def test_render_vtt_hostile_speaker_name_still_valid_webvtt() -> None:
    segments: list[RemoteSegment] = [{"start": 0, "end": 1, "text": "x", "speaker": "A<b>&c"}]
    assert webvtt.parse(render_vtt(segments))[0].voice == "A_b__c"
