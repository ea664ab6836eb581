"""The tally of the progress bar: only the jobs of this run count."""

from __future__ import annotations

from dropscribe.progress import Tally, tally


def test_tally_jobs_finished_before_the_run_are_left_out() -> None:
    before = {"claimed": 0, "published": 5, "failed": 2}
    now = {"claimed": 1, "published": 6, "failed": 3}
    assert tally(now, before) == Tally(total=3, finished=2, failed=1)


def test_tally_unfinished_jobs_from_before_count_in_this_run() -> None:
    before = {"submitted": 2, "published": 1, "failed": 0}
    now = {"submitted": 0, "published": 3, "failed": 0}
    assert tally(now, before) == Tally(total=2, finished=2, failed=0)
