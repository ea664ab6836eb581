"""SettleTracker: when a file counts as finished, decided from observations and a fake clock."""

from __future__ import annotations

from dropscribe.intake.settle import WRITING_GRACE_SECONDS, SettleTracker


def test_settle_tracker_single_observation_is_never_ready() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe("a.wav", 10, 1, now=0.0)
    assert tracker.ready(now=100.0) == []


def test_settle_tracker_unchanged_for_settle_seconds_is_ready() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe("a.wav", 10, 1, now=0.0)
    tracker.observe("a.wav", 10, 1, now=1.0)
    assert tracker.ready(now=1.9) == []
    tracker.observe("a.wav", 10, 1, now=2.0)
    assert tracker.ready(now=2.0) == ["a.wav"]


def test_settle_tracker_still_longer_than_settle_by_its_ctime_ready_at_first_sight() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe("old.wav", 10, 1, now=100.0, age=2.5)
    tracker.observe("young.wav", 10, 1, now=100.0, age=1.5)
    assert tracker.ready(now=100.0) == ["old.wav"]


def test_settle_tracker_change_after_an_old_first_sight_restarts_timer() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe("a.wav", 10, 1, now=100.0, age=50.0)
    tracker.observe("a.wav", 20, 2, now=100.5, age=0.0)
    tracker.observe("a.wav", 20, 2, now=101.0, age=0.5)
    assert tracker.ready(now=101.0) == []
    assert tracker.ready(now=102.5) == ["a.wav"]


def test_settle_tracker_size_change_restarts_timer() -> None:
    tracker = SettleTracker(2.0)
    tracker.observe("a.wav", 10, 1, now=0.0)
    tracker.observe("a.wav", 20, 1, now=1.5)
    tracker.observe("a.wav", 20, 1, now=2.5)
    assert tracker.ready(now=2.5) == []
    assert tracker.ready(now=3.5) == ["a.wav"]


def test_settle_tracker_mtime_change_restarts_timer() -> None:
    tracker = SettleTracker(1.0)
    tracker.observe("a.wav", 10, 1, now=0.0)
    tracker.observe("a.wav", 10, 2, now=5.0)
    assert tracker.ready(now=5.5) == []


def test_settle_tracker_inode_change_restarts_timer() -> None:
    tracker = SettleTracker(1.0)
    tracker.observe("a.wav", 10, 1, now=0.0, inode=7)
    tracker.observe("a.wav", 10, 1, now=5.0, inode=8)
    assert tracker.ready(now=5.5) == []


def test_settle_tracker_steady_slow_writer_is_never_ready() -> None:
    tracker = SettleTracker(2.0)
    # 1 KiB/s for ten minutes, observed every quarter second.
    for tick in range(2400):
        now = tick * 0.25
        tracker.observe("slow.wav", int(now * 1024), tick, now=now)
        assert tracker.ready(now) == []


def test_settle_tracker_taken_file_is_not_ready_again_until_it_changes() -> None:
    tracker = SettleTracker(1.0)
    tracker.observe("a.wav", 10, 1, now=0.0)
    tracker.observe("a.wav", 10, 1, now=1.0)
    tracker.mark_taken("a.wav")
    tracker.observe("a.wav", 10, 1, now=5.0)
    assert tracker.ready(now=5.0) == []
    tracker.observe("a.wav", 11, 2, now=6.0)
    tracker.observe("a.wav", 11, 2, now=7.0)
    assert tracker.ready(now=7.0) == ["a.wav"]


def test_settle_tracker_forget_starts_afresh() -> None:
    tracker = SettleTracker(1.0)
    tracker.observe("a.wav", 10, 1, now=0.0)
    tracker.observe("a.wav", 10, 1, now=1.0)
    tracker.forget("a.wav")
    tracker.observe("a.wav", 10, 1, now=2.0)
    assert tracker.ready(now=2.5) == []
    assert tracker.pending() == ["a.wav"]


def test_settle_tracker_ready_lists_longest_settled_first() -> None:
    tracker = SettleTracker(1.0)
    tracker.observe("late.wav", 1, 1, now=1.0)
    tracker.observe("early.wav", 1, 1, now=0.0)
    tracker.observe("late.wav", 1, 1, now=3.0)
    tracker.observe("early.wav", 1, 1, now=3.0)
    assert tracker.ready(now=3.0) == ["early.wav", "late.wav"]


def test_settle_tracker_pending_excludes_taken() -> None:
    tracker = SettleTracker(0.0)
    tracker.observe("a.wav", 1, 1, now=0.0)
    tracker.observe("b.wav", 1, 1, now=0.0)
    tracker.mark_taken("a.wav")
    assert tracker.pending() == ["b.wav"]
    assert sorted(tracker.tracked()) == ["a.wav", "b.wav"]


def test_settle_tracker_written_file_not_closed_is_not_ready() -> None:
    tracker = SettleTracker(1.0)
    tracker.note_write("a.wav")
    tracker.observe("a.wav", 10, 1, 0.0)
    tracker.observe("a.wav", 10, 1, 5.0)
    assert tracker.ready(5.0) == []


def test_settle_tracker_written_then_closed_is_ready_after_settling() -> None:
    tracker = SettleTracker(1.0)
    tracker.note_write("a.wav")
    tracker.observe("a.wav", 10, 1, 0.0)
    tracker.note_closed("a.wav")
    tracker.observe("a.wav", 10, 1, 1.0)
    assert tracker.ready(1.0) == ["a.wav"]


def test_settle_tracker_written_file_whose_close_was_lost_is_ready_after_the_grace() -> None:
    tracker = SettleTracker(1.0)
    tracker.note_write("a.wav")
    tracker.observe("a.wav", 10, 1, 0.0)
    tracker.observe("a.wav", 10, 1, WRITING_GRACE_SECONDS)
    assert tracker.ready(WRITING_GRACE_SECONDS) == ["a.wav"]


def test_settle_tracker_forget_drops_the_write_mark() -> None:
    tracker = SettleTracker(1.0)
    tracker.note_write("a.wav")
    tracker.forget("a.wav")
    assert not tracker.writing("a.wav")
