"""The daemon's completeness verdict on a result, from its own coverage or the recording's."""

from __future__ import annotations

from pathlib import Path

from dropscribe.core.transcript import CoverageReport, RemoteTranscript
from dropscribe.pipeline.quality import (
    QualityPolicy,
    assessed,
    checked,
    describe_shortfall,
    is_incomplete,
)

POLICY = QualityPolicy(min_coverage=0.95)
SPEECH = [(0.0, 5.0), (6.0, 11.0)]
WORDS = "and so my fellow americans ask not what your country can do for you"


def remote_result(*spans: tuple[float, float]) -> RemoteTranscript:
    return {"text": "", "segments": [{"start": a, "end": b, "text": WORDS} for a, b in spans]}


def test_assessed_remote_result_missing_second_half_is_incomplete() -> None:
    result = assessed(remote_result((0.0, 5.0)), POLICY, SPEECH)
    assert is_incomplete(result)
    assert result["coverage"]["uncovered"] == [[6.0, 11.0]]
    assert result["no_speech"] is False


def test_assessed_remote_result_covering_all_speech_is_complete() -> None:
    result = assessed(remote_result((0.0, 5.0), (6.0, 11.0)), POLICY, SPEECH)
    assert result["complete"] is True


def test_assessed_engine_coverage_judged_by_the_daemons_threshold() -> None:
    coverage: CoverageReport = {
        "speech_seconds": 10.0,
        "covered_seconds": 9.0,
        "ratio": 0.9,
        "uncovered": [],
        "doubtful": [],
    }
    engine: RemoteTranscript = {"text": "x", "segments": [], "coverage": coverage}
    assert is_incomplete(assessed(engine, POLICY, None))
    assert not is_incomplete(assessed(engine, QualityPolicy(min_coverage=0.8), None))


def test_assessed_no_speech_and_no_segments_is_complete_with_no_speech() -> None:
    result = assessed(remote_result(), POLICY, [])
    assert result["no_speech"] is True
    assert result["complete"] is True


def test_checked_speech_unknown_gives_no_verdict_and_the_reason(tmp_path: Path) -> None:
    def broken(path: Path) -> list[tuple[float, float]]:
        raise OSError("helper ended")

    result, problem = checked(remote_result((0.0, 1.0)), POLICY, broken, tmp_path / "a.wav")
    assert "complete" not in result
    assert problem == "helper ended"


def test_describe_shortfall_names_share_and_stretches() -> None:
    text = describe_shortfall(assessed(remote_result((0.0, 5.0)), POLICY, SPEECH))
    assert "50%" in text and "1 stretch" in text


#: Ten minutes of speech in spans of 9 s with 1 s pauses.
TEN_MINUTES = [(float(t), t + 9.0) for t in range(0, 600, 10)]


def test_assessed_remote_result_with_a_long_gap_is_incomplete_whatever_the_ratio() -> None:
    heard = remote_result(*[span for span in TEN_MINUTES if span[0] != 300.0])
    result = assessed(heard, POLICY, TEN_MINUTES)
    assert result["coverage"]["ratio"] > 0.98
    assert is_incomplete(result)
    assert result["coverage"]["gaps"] == [[300.0, 309.0]]


def test_assessed_gap_within_the_daemons_limit_is_complete() -> None:
    heard = remote_result(*[span for span in TEN_MINUTES if span[0] != 300.0])
    lenient = QualityPolicy(min_coverage=0.95, max_gap_seconds=10.0)
    assert not is_incomplete(assessed(heard, lenient, TEN_MINUTES))


def test_assessed_engine_coverage_with_a_long_gap_judged_by_the_daemons_limit() -> None:
    coverage: CoverageReport = {
        "speech_seconds": 3600.0,
        "covered_seconds": 3574.0,
        "ratio": 0.9928,
        "uncovered": [[1183.0, 1223.0]],
        "doubtful": [],
        "gaps": [[1183.0, 1223.0]],
        "longest_gap_seconds": 26.0,
        "max_gap_seconds": 4.0,
    }
    engine: RemoteTranscript = {"text": "x", "segments": [], "coverage": coverage}
    assert is_incomplete(assessed(engine, POLICY, None))
    assert not is_incomplete(assessed(engine, QualityPolicy(max_gap_seconds=30.0), None))


def test_describe_shortfall_names_where_speech_went_unheard() -> None:
    heard = remote_result(*[span for span in TEN_MINUTES if span[0] not in (300.0, 3.0)])
    text = describe_shortfall(assessed(heard, POLICY, TEN_MINUTES))
    assert "speech unheard at 5:00-5:09" in text
