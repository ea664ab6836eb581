"""A request the service loses after accepting it (404 to its poll): the daemon sends the
recording again from the upload, a bounded number of times counted in the state file across a
restart; then it fails, and ``dropscribe retry`` sends it again."""

from __future__ import annotations

from dropscribe.pipeline.outcomes import MAX_RESENDS
from support.daemon import MakeDaemon, wav_bytes
from support.fault_server import Fault, FaultServer


def test_lost_requests_resent_at_most_the_bound_across_a_restart_then_retry_publishes(
    server: FaultServer, make_daemon: MakeDaemon
) -> None:
    # Every request's first poll is answered 404 (lost), as many times as the bound allows
    # resends and once more; the request `retry` sends afterwards is kept.
    server.plan("poll", [Fault.status(404)] * (MAX_RESENDS + 1))
    daemon = make_daemon()
    daemon.inbox.mkdir(parents=True)
    daemon.start_and_wait()
    (daemon.inbox / "a.wav").write_bytes(wav_bytes("lost"))
    daemon.wait_for_event("job.resent")
    daemon.stop()
    daemon.start_and_wait()
    (failed,) = daemon.wait_for_event("job.failed")
    daemon.stop()

    assert len(daemon.events("job.lost")) == MAX_RESENDS + 1
    assert len(daemon.events("job.resent")) == MAX_RESENDS  # the bound held over the restart
    assert server.submissions_total() == MAX_RESENDS + 1
    assert (daemon.failed / "a.wav").exists()

    assert daemon.run("retry", failed["job_id"]).returncode == 0
    done = daemon.run("once", timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    (published,) = daemon.events("job.published")
    assert published["job_id"] == failed["job_id"]
    assert server.submissions_total() == MAX_RESENDS + 2
    assert not (daemon.failed / "a.wav.error.json").exists()
