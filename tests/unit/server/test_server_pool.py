"""The engine pool, without HTTP: failures become failed jobs and the worker survives."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dropscribe.core.transcript import Transcript
from dropscribe.engine.errors import EngineError
from dropscribe.engine.protocol import StopCheck
from dropscribe.server import pool as engine_pool
from dropscribe.server.job_status import JobStatus
from dropscribe.server.pool import EnginePool, PoolHealth
from dropscribe.server.records import JobRecord, UploadRecord
from dropscribe.server.store import JobStore


class WorkerKiller(BaseException):
    """Stands for what no except Exception catches: it ends the worker thread."""


class CrashingEngine:
    """Raises a bug-like error for 'crash', a decode error for 'bad', kills its worker thread
    for 'kill', else succeeds."""

    def label(self, spec: str) -> str:
        return spec

    def transcribe(
        self, spec: str, audio: Path, args: dict[str, object], should_stop: StopCheck
    ) -> Transcript:
        if audio.stem == "crash":
            raise ZeroDivisionError("bug")
        if audio.stem == "bad":
            raise EngineError("not audio")
        if audio.stem == "kill":
            raise WorkerKiller()
        return {"text": audio.stem, "segments": [], "language": "en"}


def run_jobs(
    tmp_path: Path,
    names: list[str],
    finished: list[str] | None = None,
    params: str = "{}",
    health: list[PoolHealth] | None = None,
) -> dict[str, JobRecord]:
    store = JobStore(tmp_path)
    pool = EnginePool(
        store, CrashingEngine(), {"whisper-tiny": "m"}, lambda i, e: tmp_path / f"{i}.{e}", 1,
        time.time, None if finished is None else finished.append,
    )  # fmt: skip
    pool.start()
    for name in names:
        store.record_upload(UploadRecord(name, "wav", 1, time.time()))
        job = JobRecord(
            name, "whisper-tiny", "m", name, params, JobStatus.ACCEPTED, time.time(), None, None,
            None, None,
        )  # fmt: skip
        store.admit(job, None, "fp")
        pool.enqueue(name)
    deadline = time.monotonic() + 10
    while store.counters().queued or any(_unfinished(store, n) for n in names):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    if health is not None:
        health.append(await_all_alive(pool))
    pool.stop(5)
    jobs = {name: store.get(name) for name in names}
    store.close()
    return {name: job for name, job in jobs.items() if job is not None}


def await_all_alive(pool: EnginePool) -> PoolHealth:
    deadline = time.monotonic() + 5
    while (health := pool.health()).alive < health.configured:
        assert time.monotonic() < deadline, health
        time.sleep(0.01)
    return health


def _unfinished(store: JobStore, job_id: str) -> bool:
    job = store.get(job_id)
    return job is None or not job.status.is_terminal


def test_engine_pool_crashing_job_fails_and_next_job_succeeds(tmp_path: Path) -> None:
    jobs = run_jobs(tmp_path, ["crash", "fine"])
    assert jobs["crash"].status is JobStatus.FAILED
    assert jobs["crash"].error == "the engine failed unexpectedly: ZeroDivisionError"
    expected: Transcript = {"text": "fine", "segments": [], "language": "en"}
    assert jobs["fine"].status is JobStatus.SUCCESS and jobs["fine"].result == expected


def test_engine_pool_engine_error_message_becomes_job_error(tmp_path: Path) -> None:
    assert run_jobs(tmp_path, ["bad"])["bad"].error == "not audio"


def test_engine_pool_reports_each_finished_job_to_the_host(tmp_path: Path) -> None:
    finished: list[str] = []
    run_jobs(tmp_path, ["fine", "bad", "crash"], finished)
    assert finished == ["fine", "bad", "crash"]


def test_engine_pool_parameters_that_overflowed_fail_the_job_and_keep_the_worker(
    tmp_path: Path,
) -> None:
    # Stored before the bounds existed: 5e-324 made int(1 / increment) raise OverflowError.
    params = '{"temperature": 0.0, "temperature_increment_on_fallback": 5e-324}'
    jobs = run_jobs(tmp_path, ["odd", "fine"], params=params)
    assert jobs["odd"].status is JobStatus.FAILED
    assert jobs["odd"].error == "the engine failed unexpectedly: ValidationError"
    assert jobs["fine"].status is JobStatus.FAILED  # same params; the worker ran it too


def test_engine_pool_dead_worker_is_restarted_and_job_failed_after_two_deaths(
    tmp_path: Path,
) -> None:
    health: list[PoolHealth] = []
    jobs = run_jobs(tmp_path, ["kill", "fine"], health=health)
    assert jobs["kill"].status is JobStatus.FAILED
    assert jobs["kill"].error == (
        "the engine crashed 2 times while running this job; it is not retried"
    )
    assert jobs["fine"].status is JobStatus.SUCCESS
    assert health == [PoolHealth(configured=1, alive=1, restarts=2, crashed_jobs=2)]


def test_engine_pool_stop_wakes_idle_workers_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Idle workers would look at the stop flag only every 60 s: the stop must wake them.
    monkeypatch.setattr(engine_pool, "IDLE_WAIT_SECONDS", 60.0)
    store = JobStore(tmp_path)
    pool = EnginePool(
        store, CrashingEngine(), {"whisper-tiny": "m"}, lambda i, e: tmp_path / f"{i}.{e}", 2,
        time.time,
    )  # fmt: skip
    pool.start()
    await_all_alive(pool)
    pool.stop(5)
    assert pool.health().alive == 0
    store.close()
