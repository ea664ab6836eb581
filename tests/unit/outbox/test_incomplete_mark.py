"""An incomplete transcript says so where people read it: the .txt's first line, the first cue
of the .srt and of the .vtt; a complete one is unmarked."""

from __future__ import annotations

import pytest

from dropscribe.core.transcript import CoverageReport, RemoteSegment, RemoteTranscript
from dropscribe.outbox.formats import Rendering, render_all
from support import subrip, webvtt

SEGMENTS: list[RemoteSegment] = [
    {"start": 0.5, "end": 2.0, "text": " Hello there."},
    {"start": 10.0, "end": 12.0, "text": " An hour in."},
]
COVERAGE: CoverageReport = {
    "speech_seconds": 60.0,
    "covered_seconds": 33.6,
    "ratio": 0.56,
    "uncovered": [[20.0, 46.4]],
    "doubtful": [],
}
INCOMPLETE: RemoteTranscript = {"segments": SEGMENTS, "complete": False, "coverage": COVERAGE}
MARK = "[dropscribe: incomplete transcript, 26 s of speech missing, see the .json]"


def rendered(result: RemoteTranscript) -> dict[str, str]:
    return render_all("job-1", result, {}, Rendering(), json_name="monday (2).json")


def test_incomplete_txt_first_line_says_how_much_and_names_the_json() -> None:
    lines = rendered(INCOMPLETE)["txt"].split("\n")
    assert lines[0] == (
        "[dropscribe: this transcript is incomplete: 26 s of speech not transcribed, "
        "see monday (2).json]"
    )
    assert lines[1:] == ["", "Hello there.", "", "An hour in.", ""]


def test_incomplete_srt_first_cue_is_the_mark_then_the_transcript() -> None:
    cues = subrip.parse(rendered(INCOMPLETE)["srt"])
    assert (cues[0].start, cues[0].end, cues[0].text) == (0.0, 3.0, MARK)
    assert all(len(line) <= 42 for line in cues[0].lines)
    assert [cue.text for cue in cues[1:]] == ["Hello there.", "An hour in."]


def test_incomplete_vtt_first_cue_is_the_mark_then_the_transcript() -> None:
    cues = webvtt.parse(rendered(INCOMPLETE)["vtt"])
    assert (cues[0].start, cues[0].end, cues[0].text.replace("\n", " ")) == (0.0, 3.0, MARK)
    assert [cue.text for cue in cues[1:]] == ["Hello there.", "An hour in."]


def test_incomplete_without_coverage_marked_without_a_figure() -> None:
    files = rendered({"segments": SEGMENTS, "complete": False})
    assert files["txt"].startswith("[dropscribe: this transcript is incomplete: some speech")
    assert "some speech missing" in subrip.parse(files["srt"])[0].text


def test_incomplete_short_shortfall_given_to_a_tenth_of_a_second() -> None:
    coverage: CoverageReport = {**COVERAGE, "speech_seconds": 10.0, "covered_seconds": 9.25}
    txt = rendered({**INCOMPLETE, "coverage": coverage})["txt"]
    assert "incomplete: 0.8 s of speech not transcribed" in txt.split("\n")[0]


def test_incomplete_empty_transcript_txt_is_the_mark_alone() -> None:
    txt = rendered({"text": "", "segments": [], "complete": False, "coverage": COVERAGE})["txt"]
    assert txt.count("\n") == 1 and txt.startswith("[dropscribe: this transcript is incomplete")


@pytest.mark.parametrize("verdict", [{"complete": True}, {}])
def test_complete_or_unjudged_transcript_unmarked_in_every_format(
    verdict: RemoteTranscript,
) -> None:
    files = rendered({"segments": SEGMENTS, "coverage": COVERAGE, **verdict})
    assert files["txt"] == "Hello there.\n\nAn hour in.\n"
    assert [cue.text for cue in subrip.parse(files["srt"])] == ["Hello there.", "An hour in."]
    assert [cue.text for cue in webvtt.parse(files["vtt"])] == ["Hello there.", "An hour in."]
    assert "dropscribe" not in files["srt"] + files["vtt"]
