"""The commands beside ``run``: check-config, once, status and retry, as a user types them.

Each runs the installed ``dropscribe`` to its end and checks its exit code, its output and
what it did to the folders, against the fault server.
"""

from __future__ import annotations

import json
from dataclasses import replace

from dropscribe.core.jobs import Job, JobState
from dropscribe.state import StateStore
from support.daemon import (
    Daemon,
    MakeDaemon,
    expect_outputs,
    files_under,
    sha256_of,
    wav_bytes,
)
from support.fault_server import Fault, FaultServer
from support.terminal import once_on_a_terminal

EXIT_JOBS_FAILED = 1
EXIT_NOT_FOUND = 66
EXIT_CONFIG = 78
#: Seconds a `once` run over a few small recordings may take, start-up included.
ONCE_TIMEOUT = 60.0
#: Seconds a running daemon may take to adopt a job requeued by `retry` (it looks every 5 s).
ADOPT_TIMEOUT = 15.0

#: A configuration with one problem in each of three sections.
BAD_SECTIONS = {
    "watch": {"settle_seconds": -1, "rescan_secnds": 5},
    "poll": {"initial_seconds": "soon"},
    "output": {"formats": ["txt", "json", "pdf"]},
}
BAD_KEYS = (
    "watch.settle_seconds",
    "watch.rescan_secnds",
    "poll.initial_seconds",
    "output.formats.2",
)


def test_check_config_bad_config_exits_78_listing_every_problem(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(**BAD_SECTIONS)

    done = daemon.run("check-config")

    assert done.returncode == EXIT_CONFIG
    assert f"{len(BAD_KEYS)} problem(s)" in done.stderr
    for key in BAD_KEYS:
        assert f"config.yaml: {key}: " in done.stderr, key


def test_check_config_missing_key_is_listed_with_other_problems(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(**BAD_SECTIONS)
    daemon.api_key = None

    done = daemon.run("check-config")

    assert done.returncode == EXIT_CONFIG
    assert f"{len(BAD_KEYS) + 1} problem(s)" in done.stderr
    assert "TIYARO_API_KEY" in done.stderr


def test_run_bad_config_exits_78_without_starting(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(**BAD_SECTIONS)

    done = daemon.run("run", timeout=30)

    assert done.returncode == EXIT_CONFIG
    assert "watch.settle_seconds" in done.stderr
    assert not daemon.state_db.exists()


def test_run_remote_base_url_without_key_exits_78(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    daemon.api_key = None

    done = daemon.run("run", timeout=30)

    assert done.returncode == EXIT_CONFIG
    assert "TIYARO_API_KEY" in done.stderr
    assert not daemon.state_db.exists()


def drop(daemon: Daemon, *names: str) -> dict[str, bytes]:
    """Put recordings into the inbox (before any daemon runs); return their contents."""
    daemon.inbox.mkdir(parents=True, exist_ok=True)
    files = {name: wav_bytes(name) for name in names}
    for name, data in files.items():
        (daemon.inbox / name).write_bytes(data)
    return files


def test_once_processes_the_inbox_and_exits_0(make_daemon: MakeDaemon, server: FaultServer) -> None:
    daemon = make_daemon()
    files = drop(daemon, "a.wav", "b.wav", "c.wav")

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == 0, done.stderr
    assert daemon.outputs() == expect_outputs(["a", "b", "c"])
    assert files_under(daemon.inbox) == []
    assert server.submissions_by_sha256() == {sha256_of(d): 1 for d in files.values()}


def test_once_with_a_failed_job_exits_1_and_reports_the_server_error(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.plan("poll", [Fault.job_failed("bad audio")])
    daemon = make_daemon()
    drop(daemon, "broken.wav")

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == EXIT_JOBS_FAILED
    report = json.loads((daemon.failed / "broken.wav.error.json").read_text(encoding="utf-8"))
    assert "bad audio" in report["error"]
    assert report["request_id"]
    assert daemon.outputs() == []


def test_status_json_shows_counts_and_recent_failures_with_reasons(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.plan("upload_url", [Fault.status(400, body='{"error": "extension not allowed"}')])
    daemon = make_daemon()
    drop(daemon, "fails.wav")
    assert daemon.run("once", timeout=ONCE_TIMEOUT).returncode == EXIT_JOBS_FAILED
    drop(daemon, "works.wav")
    assert daemon.run("once", timeout=ONCE_TIMEOUT).returncode == 0

    done = daemon.run("status", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"]["published"] == 1
    assert report["counts"]["failed"] == 1
    (failure,) = report["recent_failures"]
    assert failure["source"] == "fails.wav"
    assert "400" in failure["error"] or "extension not allowed" in failure["error"]


def fail_then_retry(daemon: Daemon) -> tuple[str, str]:
    """With the daemon running, wait for the one job to fail, then `dropscribe retry` it;
    return the job id and retry's stdout."""
    (failed,) = daemon.wait_for_event("job.failed")
    done = daemon.run("retry", failed["job_id"])
    assert done.returncode == 0, done.stderr
    return failed["job_id"], done.stdout


def test_retry_moves_the_failed_recording_back_and_it_is_processed(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.plan("upload_url", [Fault.status(400)])
    daemon = make_daemon()
    daemon.start_and_wait()
    (daemon.inbox / "again.wav").write_bytes(wav_bytes("again"))

    job_id, said = fail_then_retry(daemon)
    daemon.wait_for_published(1, timeout=ADOPT_TIMEOUT)

    assert job_id in said
    assert daemon.outputs() == expect_outputs(["again"])
    assert files_under(daemon.failed) == []
    assert files_under(daemon.done) == ["again.wav"]


def test_retry_of_a_job_failed_after_submission_polls_again_without_resubmitting(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    # A permanent error on a poll fails the job after its submission; the server's job itself
    # is fine, and answers success to the next poll.
    server.plan("poll", [Fault.status(400)])
    daemon = make_daemon()
    daemon.start_and_wait()
    data = wav_bytes("polled")
    (daemon.inbox / "polled.wav").write_bytes(data)

    fail_then_retry(daemon)
    daemon.wait_for_published(1, timeout=ADOPT_TIMEOUT)

    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    assert len(server.requests("submit")) == 1
    assert daemon.outputs() == expect_outputs(["polled"])


def test_run_unwritable_audit_folder_exits_78_without_a_traceback(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    (daemon.root / "data").mkdir(parents=True, exist_ok=True)
    (daemon.root / "data" / "log").write_text("a file where the audit folder should be")

    done = daemon.run("run", timeout=30)

    assert done.returncode == EXIT_CONFIG
    assert "cannot write the audit trail" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_internal_error_at_start_exits_70_with_a_logged_reason(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    (daemon.root / "data").mkdir(parents=True, exist_ok=True)
    (daemon.root / "data" / "state").write_text("a file where the state folder should be")

    done = daemon.run("run", timeout=30)

    assert done.returncode == 70
    assert "stopped by an internal error" in done.stderr
    assert "Traceback" not in done.stderr
    stopped = [json.loads(line) for line in done.stdout.splitlines() if "daemon.stopped" in line]
    assert stopped and "exception" in stopped[-1]


def test_once_on_a_terminal_shows_a_progress_bar(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    drop(daemon, "a.wav", "b.wav")

    shown = once_on_a_terminal(daemon, ONCE_TIMEOUT)

    assert b"2/2 jobs, 0 failed" in shown
    assert b"100%" in shown


def test_once_on_a_terminal_shows_warnings_but_no_info_lines(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.plan("poll", [Fault.unknown_status()])
    daemon = make_daemon()
    drop(daemon, "a.wav")

    shown = once_on_a_terminal(daemon, ONCE_TIMEOUT)

    assert b"poll.unknown_status" in shown
    assert b"job.published" not in shown
    assert b"poll.status" not in shown
    assert daemon.events("job.published")
    assert daemon.events("poll.unknown_status")


def test_once_off_a_terminal_shows_no_bar(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    drop(daemon, "a.wav")

    done = daemon.run("once", timeout=ONCE_TIMEOUT)

    assert done.returncode == 0, done.stderr
    assert "jobs," not in done.stderr
    assert "job.published" in done.stdout


def test_status_without_a_state_file_says_so_and_creates_none(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()

    done = daemon.run("status")

    assert done.returncode == 0, done.stderr
    assert "no state" in done.stdout
    assert not daemon.state_db.exists()


def test_status_json_without_a_state_file_has_a_null_state_file(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()

    done = daemon.run("status", "--json")

    assert json.loads(done.stdout)["state_file"] is None
    assert not daemon.state_db.exists()


def seed_failed_jobs(daemon: Daemon, *ids: str) -> None:
    """Write failed jobs with these ids into the daemon's state file."""
    daemon.state_db.parent.mkdir(parents=True, exist_ok=True)
    store = StateStore(daemon.state_db)
    try:
        for n, job_id in enumerate(ids):
            job = Job(id=job_id, source=f"seeded-{n}.wav", idempotency_key=job_id)
            store.save(replace(job, state=JobState.FAILED, error="seeded"))
    finally:
        store.close()


def test_retry_prefix_of_several_jobs_lists_the_candidates(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    first, second = "ab" + "1" * 30, "ab" + "2" * 30
    seed_failed_jobs(daemon, first, second, "cd" + "3" * 30)

    done = daemon.run("retry", "ab")

    assert done.returncode == EXIT_NOT_FOUND
    assert "'ab' is not unique" in done.stderr
    assert f"{first}  seeded-0.wav" in done.stderr
    assert f"{second}  seeded-1.wav" in done.stderr
    assert "seeded-2.wav" not in done.stderr


def test_retry_prefix_of_no_job_says_there_is_none(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    seed_failed_jobs(daemon, "ab" + "1" * 30)

    done = daemon.run("retry", "cd")

    assert done.returncode == EXIT_NOT_FOUND
    assert "no job 'cd'" in done.stderr
    assert "not unique" not in done.stderr


def test_retry_requeue_prints_a_summary_and_no_log_line(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.plan("upload_url", [Fault.status(400)])
    daemon = make_daemon()
    drop(daemon, "again.wav")
    assert daemon.run("once", timeout=ONCE_TIMEOUT).returncode == EXIT_JOBS_FAILED
    (job,) = daemon.jobs()

    done = daemon.run("retry", job["id"][:8])

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"requeued 1 job(s): {job['id']}\n"
    assert done.stderr == ""
    assert daemon.events("job.requeued", job_id=job["id"])
