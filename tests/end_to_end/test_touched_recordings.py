"""A recording whose mtime moves while its job is in flight, its bytes the same (a backup tool,
an antivirus scanner, ``touch``), is uploaded and submitted once; one whose bytes change is
sent anew. Through ``dropscribe run`` and a real HTTP fault server."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time
from pathlib import Path

from support.fault_server import FaultServer
from support.suite_daemon import CANARY_KEY, CANARY_PRESIGN_SECRET, suite_daemon, wav_bytes

#: Polls the server answers "processing" before the result: about 3 s at 0.2-0.3 s polls.
POLLS = 12


def touch(path: Path, seconds: int) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def test_run_touched_three_times_in_flight_is_billed_once(tmp_path: Path) -> None:
    data = wav_bytes(random.Random(27), 48_000)
    with (
        FaultServer(
            token=CANARY_KEY, presign_secret=CANARY_PRESIGN_SECRET, polls_before_success=POLLS
        ) as srv,
        contextlib.closing(
            suite_daemon(tmp_path, srv, poll={"initial_seconds": 0.2, "max_seconds": 0.3})
        ) as ws,
    ):
        ws.start("run", "--log-format", "json")
        ws.drop({"a.wav": data})
        ws.wait_for_event("submit.accepted")
        claimed = ws.path("processing") / "a.wav"
        for seconds in (3, 5, 7):  # three touches while it is polled
            touch(claimed, seconds)
            time.sleep(0.4)
        ws.wait_for_event("job.published")
        assert ws.stop() == 0

        assert srv.submissions_by_sha256() == {hashlib.sha256(data).hexdigest(): 1}
        assert len(srv.requests("put")) == 1
        assert ws.events("job.restarted") == []
        assert len(ws.events("job.touched")) == 3
        assert (ws.path("done") / "a.wav").read_bytes() == data
