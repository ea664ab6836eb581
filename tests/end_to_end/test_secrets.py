"""Secrets: the canary API key and presign secret never leave the environment and the server.

Every suite (crash recovery, faults) ends with :func:`support.suite_daemon.assert_no_secrets`;
here the check itself is shown to catch a leak in each place it looks, and a server that
echoes the key and signed URLs back in its errors is shown not to get them written anywhere.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from support.fault_server import Fault, FaultServer
from support.suite_daemon import (
    CANARY_KEY,
    CANARY_PRESIGN_SECRET,
    assert_no_secrets,
    assert_no_secrets_in,
    suite_daemon,
    wav_bytes,
)

SEED = 0x7F3A9
SIGNATURE = "ab" * 32
#: An error body a careless server might send: our own key and a signed URL, echoed back.
ECHO = (
    f'{{"error": "key {CANARY_KEY} refused (Authorization: Bearer {CANARY_KEY}) '
    f'for http://127.0.0.1:1/upload/x.wav?expires=1&signature={SIGNATURE}"}}'
)


@pytest.mark.parametrize(
    ("where", "content"),
    [
        ("stdout", CANARY_KEY),
        ("log/audit.jsonl", CANARY_KEY),
        ("state/state.db-wal", CANARY_PRESIGN_SECRET),
        ("outbox/a.json", CANARY_KEY),
        ("failed/a.wav.error.json", CANARY_PRESIGN_SECRET),
        ("outbox/a.txt", f"?signature={SIGNATURE}"),
        ("log/audit.jsonl", f"&signature={SIGNATURE}"),
    ],
)
def test_secrets_check_catches_a_leak_in_each_place(
    tmp_path: Path, where: str, content: str
) -> None:
    data = tmp_path / "data"
    for name in ("log/audit.jsonl", "state/state.db"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("clean\n")
    assert_no_secrets_in(data, [b"clean"], [SIGNATURE.encode()])  # clean: it passes
    outputs = [b"clean"]
    if where == "stdout":
        outputs.append(f"line {content}\n".encode())
    else:
        (data / where).parent.mkdir(parents=True, exist_ok=True)
        (data / where).write_text(f"before {content} after\n")
    with pytest.raises(AssertionError):
        assert_no_secrets_in(data, outputs, [SIGNATURE.encode()])


def test_secrets_echoed_by_the_server_are_written_nowhere(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    files = {f"echo{i}.wav": wav_bytes(rng, 4_000) for i in range(2)}
    with (
        FaultServer(token=CANARY_KEY, presign_secret=CANARY_PRESIGN_SECRET) as srv,
        contextlib.closing(suite_daemon(tmp_path, srv)) as ws,
    ):
        srv.plan("upload_url", [Fault.status(500, body=ECHO), Fault.status(400, body=ECHO)])
        srv.plan("submit", [Fault.status(503, body=ECHO)])
        srv.plan("poll", [Fault.job_failed(f"quota exceeded for key {CANARY_KEY}")])
        ws.drop(files)

        exit_code = ws.run("once", "--log-format", "json").returncode

        assert exit_code == 1  # the 400 and the remote failure each fail one file
        assert len(ws.files("failed")) == 4  # two recordings, two reports
        assert len(ws.events("job.failed")) == 2
        assert ws.events("job.retry")  # the echoing 5xx were logged, redacted
        assert_no_secrets(ws, srv)
