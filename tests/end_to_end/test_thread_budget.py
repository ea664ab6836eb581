"""Waiting jobs hold no thread: 500 jobs waiting on the service cost a fixed few threads."""

from __future__ import annotations

from pathlib import Path

from support.daemon import Daemon, drop_all, fault_server_settings, wav_bytes
from support.fault_server import FaultServer

KEY = "thread-budget-key-123456"
JOBS = 500
TRANSFERS = 2
# The budget: at most workers.transfers + 10 threads while jobs wait.
BUDGET = TRANSFERS + 10


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def test_daemon_500_jobs_waiting_on_the_service_use_bounded_threads(tmp_path: Path) -> None:
    # The service never finishes a job here, so every job ends up waiting in "submitted".
    with FaultServer(token=KEY, polls_before_success=10**9) as srv:
        settings = fault_server_settings(
            srv,
            workers={"transfers": TRANSFERS},
            poll={"initial_seconds": 0.5, "max_seconds": 1.0},
        )
        daemon = Daemon(tmp_path / "d", settings, api_key=KEY)
        try:
            daemon.start_and_wait()
            files = {f"rec-{i:04d}.wav": wav_bytes(f"rec-{i}") for i in range(JOBS)}
            drop_all(tmp_path / "staging", daemon.inbox, files)
            peak = 0

            def all_submitted() -> bool:
                nonlocal peak
                peak = max(peak, threads_of(daemon.pid))
                jobs = daemon.jobs()
                return len(jobs) == JOBS and all(j["state"] == "submitted" for j in jobs)

            daemon.wait_for(all_submitted, timeout=120, what=f"{JOBS} submitted jobs")
            for _ in range(20):  # keep watching while all of them are being polled
                peak = max(peak, threads_of(daemon.pid))
                daemon.wait_for(lambda: True, timeout=1)
            assert srv.submissions_total() == JOBS
            assert peak <= BUDGET, f"{peak} threads for {JOBS} waiting jobs"
        finally:
            daemon.close()
