"""The tally of the progress bar: only the jobs of this run count, and the last one shown
includes every job."""

from __future__ import annotations

from types import SimpleNamespace

from dropscribe.app.daemon import Flags, Service
from dropscribe.cli.progress import Tally, postfix, tally
from dropscribe.core.progress import AudioTally


def test_tally_jobs_finished_before_the_run_are_left_out() -> None:
    before = {"claimed": 0, "published": 5, "failed": 2}
    now = {"claimed": 1, "published": 6, "failed": 3}
    assert tally(now, before) == Tally(total=3, finished=2, failed=1)


def test_tally_unfinished_jobs_from_before_count_in_this_run() -> None:
    before = {"submitted": 2, "published": 1, "failed": 0}
    now = {"submitted": 0, "published": 3, "failed": 0}
    assert tally(now, before) == Tally(total=2, finished=2, failed=0)


class JobFinishingAfterCounts:
    """A state store whose last job finishes just after its counts are read."""

    def __init__(self) -> None:
        self.published = 1

    def counts(self) -> dict[str, int]:
        counts = {"published": self.published, "uploaded": 2 - self.published}
        self.published = 2
        return counts

    def unfinished(self) -> list[str]:
        return ["b.wav"] if self.published < 2 else []


def test_wait_until_idle_last_counts_shown_include_every_job() -> None:
    waiting = SimpleNamespace(flags=Flags(), parts=SimpleNamespace(store=JobFinishingAfterCounts()))
    shown: list[dict[str, int]] = []
    Service.wait_until_idle(waiting, shown.append)  # type: ignore[arg-type]  # only these parts
    assert shown[-1] == {"published": 2, "uploaded": 0}


def test_postfix_counts_the_audio_minutes_of_the_run() -> None:
    jobs = Tally(total=2, finished=1, failed=0)
    audio = AudioTally(done_seconds=186.0, total_seconds=720.0)
    assert postfix(jobs, audio) == "0 failed, 3.1/12.0 audio min"


def test_postfix_without_audio_reported_counts_the_jobs_only() -> None:
    jobs = Tally(total=2, finished=1, failed=1)
    assert postfix(jobs, AudioTally(0.0, 0.0)) == "1 failed"
    assert postfix(jobs, None) == "1 failed"
