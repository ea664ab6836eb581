"""Crash recovery: ``dropscribe run`` SIGKILLed at seeded random moments, restarted each time.

Thirty distinct recordings go through a fault server slowed by a fixed latency per request, so
that the kills land while jobs are being claimed, uploaded, submitted, polled and published.
After the last round one ``dropscribe once`` finishes the work. Nothing may be lost or done
twice: every recording ends in done/ with exactly one set of outputs that belong to it, the
server created exactly one job per recording, no temporary file is left in the outbox, the
state file is intact and no job is left unfinished.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import subprocess
from collections import Counter
from pathlib import Path

from support.fault_server import FaultServer, transcript_for
from support.suite_daemon import (
    CANARY_KEY,
    CANARY_PRESIGN_SECRET,
    assert_no_secrets,
    suite_daemon,
    wav_bytes,
)

SEED = 6_2024
FILES = 30
ROUNDS = 24
#: Seconds between a start and its SIGKILL; start-up alone takes about 1.3 s on a busy
#: 2-core machine, so some kills land during start-up and recovery.
KILL_AFTER_SECONDS = (0.8, 2.4)
#: Seconds every request waits at the server: spreads the work of 30 files over the rounds.
LATENCY_SECONDS = 0.15
EXTENSIONS = ("json", "srt", "txt", "vtt")
UNFINISHED = {"claimed", "uploading", "uploaded", "submitting", "submitted", "succeeded"}


def test_crash_recovery_sigkill_at_random_moments_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    files = {f"rec{i:02d}.wav": wav_bytes(rng, rng.randrange(4_000, 64_000)) for i in range(FILES)}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    with (
        FaultServer(
            token=CANARY_KEY,
            presign_secret=CANARY_PRESIGN_SECRET,
            polls_before_success=3,
            latency_seconds=LATENCY_SECONDS,
        ) as srv,
        contextlib.closing(
            suite_daemon(tmp_path, srv, workers={"transfers": 1}, retry={"max_attempts": 50})
        ) as ws,
    ):
        ws.drop(files)
        seen_at_kills: list[Counter[str]] = []
        for _ in range(ROUNDS):
            ws.start("run", "--log-format", "json")
            assert ws.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):  # still running, as it should
                ws.proc.wait(rng.uniform(*KILL_AFTER_SECONDS))
            assert ws.running(), f"the daemon exited by itself: {ws.stderr_text()}"
            ws.kill()
            if ws.state_db.exists():
                seen_at_kills.append(Counter(job["state"] for job in ws.jobs()))

        exit_code = ws.run("once", "--log-format", "json", timeout=120).returncode

        assert exit_code == 0, ws.stderr_text()
        interrupted = set().union(*seen_at_kills) & UNFINISHED
        # The kills must really have hit work in flight, in several steps, or this proves little.
        assert len(interrupted) >= 3, f"kills landed only in {interrupted}: {seen_at_kills}"
        assert sum(1 for c in seen_at_kills if set(c) & UNFINISHED) >= ROUNDS // 2
        assert ws.files("done") == sorted(Path(name) for name in files)
        for name, data in files.items():
            assert (ws.path("done") / name).read_bytes() == data
        assert ws.files("inbox") == [] and ws.files("processing") == [] == ws.files("failed")
        expected = sorted(Path(f"{Path(n).stem}.{ext}") for n in files for ext in EXTENSIONS)
        assert ws.files("outbox") == expected  # so no duplicate, suffix or temporary file
        for name, sha in digests.items():
            text = (ws.path("outbox") / f"{Path(name).stem}.txt").read_text()
            assert text.strip() == transcript_for(sha)["text"]
        assert srv.submissions_by_sha256() == {sha: 1 for sha in digests.values()}
        assert ws.integrity() == "ok"
        jobs = ws.jobs()
        unpublished = [(j["source"], j["error"]) for j in jobs if j["state"] != "published"]
        assert unpublished == []
        assert sorted(job["source"] for job in jobs) == sorted(files)
        assert_no_secrets(ws, srv)
