"""How ``status`` shows the incomplete transcripts still to be seen to."""

from __future__ import annotations

from pathlib import Path

from dropscribe.app.commands.status import StatusReport, format_status


def report(listed: int, count: int) -> StatusReport:
    incomplete: list[dict[str, object]] = [
        {"job_id": f"{n:032x}", "source": f"talk-{n}.wav", "outputs": [], "at": 1.0}
        for n in range(listed)
    ]
    return StatusReport(
        {"published": count}, [], [], None, incomplete, Path("s.db"), incomplete_count=count
    )


def test_format_status_lists_each_open_incomplete_transcript_and_how_to_close_it() -> None:
    text = format_status(report(2, 2))
    assert "published incomplete: 2" in text and "dropscribe acknowledge" in text
    assert "talk-0.wav" in text and "talk-1.wav" in text


def test_format_status_counts_those_beyond_the_listed() -> None:
    assert "... and 3 more" in format_status(report(2, 5))


def test_format_status_nothing_incomplete_says_nothing_of_it() -> None:
    assert "incomplete" not in format_status(report(0, 0))


def test_status_json_carries_the_open_incomplete_and_their_count() -> None:
    data = report(1, 4).as_json()
    assert data["incomplete_count"] == 4
    assert [j["source"] for j in data["incomplete"]] == ["talk-0.wav"]  # type: ignore[attr-defined]
