"""The due-time scheduler, with real threads and short, bounded waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from dropscribe.scheduler import Scheduler

# Longest any test waits for something that should happen (seconds).
PATIENCE = 1.5


def wait_until(predicate: Callable[[], bool], timeout: float = PATIENCE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Recorder:
    """A handler that records (job id, monotonic time) and can block on a gate."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.running: dict[str, int] = {}
        self.max_running: dict[str, int] = {}
        self.active = 0
        self.max_active = 0

    def __call__(self, job_id: str) -> None:
        with self.lock:
            self.calls.append((job_id, time.monotonic()))
            self.running[job_id] = self.running.get(job_id, 0) + 1
            self.max_running[job_id] = max(self.max_running.get(job_id, 0), self.running[job_id])
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.gate.wait(PATIENCE)
        with self.lock:
            self.running[job_id] -= 1
            self.active -= 1

    def ids(self) -> list[str]:
        with self.lock:
            return [job_id for job_id, _ in self.calls]

    def count(self, job_id: str) -> int:
        return self.ids().count(job_id)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_scheduler(recorder: Recorder) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(transfer: int = 1, poll: int = 1) -> Scheduler:
        scheduler = Scheduler(
            {"transfer": transfer, "poll": poll}, {"transfer": recorder, "poll": recorder}
        )
        made.append(scheduler)
        return scheduler

    yield make
    recorder.gate.set()
    for scheduler in made:
        scheduler.stop()
        scheduler.join(time.monotonic() + 2.0)


def test_scheduler_job_due_now_runs(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler()
    scheduler.start()
    scheduler.schedule("a", "transfer")
    assert wait_until(lambda: recorder.ids() == ["a"])


def test_scheduler_job_with_delay_not_run_before_due(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler()
    scheduler.start()
    scheduled_at = time.monotonic()
    scheduler.schedule("a", "poll", delay=0.3)
    assert wait_until(lambda: recorder.count("a") == 1)
    assert recorder.calls[0][1] - scheduled_at >= 0.3


def test_scheduler_several_jobs_run_in_due_order(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler()
    scheduler.schedule("c", "transfer", delay=0.15)
    scheduler.schedule("a", "transfer", delay=0.05)
    scheduler.schedule("b", "transfer", delay=0.1)
    scheduler.start()
    assert wait_until(lambda: len(recorder.ids()) == 3)
    assert recorder.ids() == ["a", "b", "c"]


def test_scheduler_rescheduled_later_runs_once_at_new_time(recorder: Recorder) -> None:
    now = [100.0]
    scheduler = Scheduler({"transfer": 1}, {"transfer": recorder}, lambda: now[0])
    scheduler.schedule("a", "transfer", delay=0.05)
    scheduler.schedule("a", "transfer", delay=0.3)
    now[0] += 0.1
    assert scheduler.dispatch_due() == 0
    now[0] += 0.25
    assert scheduler.dispatch_due() == 1
    assert scheduler.dispatch_due() == 0  # the superseded entry is never dispatched


def test_scheduler_rescheduled_earlier_runs_once_soon(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler()
    scheduler.start()
    scheduler.schedule("a", "transfer", delay=3600)
    scheduler.schedule("a", "transfer", delay=0.0)
    assert wait_until(lambda: recorder.count("a") == 1)
    assert wait_until(lambda: not scheduler.knows("a"))  # the superseded entry is gone


def test_scheduler_scheduled_while_running_runs_again_after_return(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler(transfer=2)
    scheduler.start()
    recorder.gate.clear()
    scheduler.schedule("a", "transfer")
    assert wait_until(lambda: recorder.count("a") == 1)
    scheduler.schedule("a", "transfer")
    recorder.gate.set()
    assert wait_until(lambda: recorder.count("a") == 2)
    assert recorder.max_running["a"] == 1


def test_scheduler_job_scheduled_while_running_is_not_dispatched_twice(
    recorder: Recorder,
) -> None:
    now = [100.0]
    scheduler = Scheduler({"transfer": 2}, {"transfer": recorder}, lambda: now[0])
    scheduler.schedule("a", "transfer")
    assert scheduler.dispatch_due() == 1  # handed to the pool: running until it returns
    scheduler.schedule("a", "transfer")
    assert scheduler.dispatch_due() == 0  # a free thread is there, yet the job waits for itself
    assert scheduler.knows("a")


def test_scheduler_running_job_is_known(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler()
    scheduler.start()
    recorder.gate.clear()
    scheduler.schedule("a", "transfer")
    assert wait_until(lambda: recorder.count("a") == 1)
    assert scheduler.knows("a")
    recorder.gate.set()
    assert wait_until(lambda: not scheduler.knows("a"))


def test_scheduler_hold_keeps_due_jobs_of_every_pool_until_it_ends(
    recorder: Recorder,
) -> None:
    now = [100.0]
    scheduler = Scheduler(
        {"transfer": 1, "poll": 1}, {"transfer": recorder, "poll": recorder}, lambda: now[0]
    )
    scheduler.hold(30.0)
    scheduler.schedule("a", "transfer")
    scheduler.schedule("b", "poll")
    now[0] += 29.9
    assert scheduler.dispatch_due() == 0
    now[0] += 0.2
    assert scheduler.dispatch_due() == 2


def test_scheduler_shorter_hold_does_not_cut_a_longer_one(recorder: Recorder) -> None:
    now = [100.0]
    scheduler = Scheduler({"transfer": 1}, {"transfer": recorder}, lambda: now[0])
    scheduler.hold(30.0)
    scheduler.hold(5.0)
    scheduler.schedule("a", "transfer")
    now[0] += 10.0
    assert scheduler.dispatch_due() == 0
    now[0] += 21.0
    assert scheduler.dispatch_due() == 1


def test_scheduler_dispatch_due_leaves_future_jobs(recorder: Recorder) -> None:
    now = [100.0]
    scheduler = Scheduler({"transfer": 1}, {"transfer": recorder}, lambda: now[0])
    scheduler.schedule("a", "transfer", delay=5.0)
    scheduler.schedule("b", "transfer", delay=1.0)
    assert scheduler.dispatch_due() == 0
    now[0] += 1.0
    assert scheduler.dispatch_due() == 1
    assert scheduler.knows("a")


def test_scheduler_many_future_jobs_create_no_extra_threads(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    before = threading.active_count()
    scheduler = make_scheduler(transfer=2, poll=3)
    scheduler.start()
    for n in range(500):
        scheduler.schedule(f"job{n}", "poll", delay=3600 + n)
    assert all(scheduler.knows(f"job{n}") for n in range(500))
    assert threading.active_count() - before <= 2 + 3 + 1
    assert recorder.ids() == []


def test_scheduler_stop_then_join_returns_within_deadline(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler(transfer=2, poll=2)
    scheduler.start()
    scheduler.schedule("a", "transfer")
    scheduler.schedule("b", "poll", delay=3600)
    assert wait_until(lambda: recorder.count("a") == 1)
    started = time.monotonic()
    scheduler.stop()
    assert scheduler.join(started + PATIENCE)
    assert time.monotonic() - started < PATIENCE
    assert not scheduler.alive()


def test_scheduler_stopped_runs_no_more_jobs(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler()
    scheduler.start()
    scheduler.stop()
    assert scheduler.join(time.monotonic() + PATIENCE)
    scheduler.schedule("a", "transfer")
    assert not scheduler.alive()  # no thread is left that could run it
    assert recorder.ids() == []


def test_scheduler_transfer_pool_size_bounds_concurrency(
    make_scheduler: Callable[..., Scheduler], recorder: Recorder
) -> None:
    scheduler = make_scheduler(transfer=2)
    scheduler.start()
    recorder.gate.clear()
    for job_id in ("a", "b", "c"):
        scheduler.schedule(job_id, "transfer")
    assert wait_until(lambda: len(recorder.ids()) == 2)
    assert all(scheduler.knows(job_id) for job_id in ("a", "b", "c"))
    recorder.gate.set()
    assert wait_until(lambda: len(recorder.ids()) == 3)
    assert recorder.max_active == 2


def test_scheduler_handler_exception_is_logged_and_the_thread_lives_on(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(job_id: str) -> None:
        if job_id == "bad":
            raise KeyError("boom")
        recorder(job_id)

    scheduler = Scheduler({"transfer": 1}, {"transfer": broken})
    scheduler.start()
    try:
        scheduler.schedule("bad", "transfer")
        scheduler.schedule("good", "transfer", delay=0.01)
        assert wait_until(lambda: recorder.ids() == ["good"])
    finally:
        scheduler.stop()
        scheduler.join(time.monotonic() + PATIENCE)
    (record,) = [r for r in caplog.records if r.name == "dropscribe.scheduler"]
    assert "handler failed for job bad" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)
