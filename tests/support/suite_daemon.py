"""What the fault, crash-recovery and secrets suites share: their settings and the secrets check.

The daemons themselves are :class:`support.daemon.Daemon`, the one harness. :func:`suite_settings`
points one at a FaultServer with short timings; the suites run it with the canary API key.

:func:`assert_no_secrets` is the one check of the secrets suite: after any run, neither the
canary key nor the canary presign secret appears in stdout, stderr, the audit log, the state
file (raw bytes, WAL included), the outbox or failed/, and no presigned URL signature appears
outside the state file (which is documented to keep signed URLs so it can resume).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from support.daemon import DATA_PATHS, Daemon, merged
from support.fault_server import FaultServer

#: The API key every suite runs with; it must never be written anywhere but the environment.
CANARY_KEY = "canary-KEY-7f3a9c1e"
#: The fault server's presign secret; it never leaves the server, so it must appear nowhere.
CANARY_PRESIGN_SECRET = "canary-PRESIGN-4b8d2e6a"
#: A presigned URL's signature as the fault server writes it: 64 hex digits.
_SIGNATURE_RE = re.compile(rb"signature=([0-9a-f]{64})")


def wav_bytes(rng: random.Random, size: int) -> bytes:
    """Return ``size`` seeded random bytes behind a RIFF/WAVE header (passes the inbox's
    signature check; the fault server never decodes audio)."""
    header = b"RIFF" + (size - 8).to_bytes(4, "little") + b"WAVEfmt "
    return header + rng.randbytes(max(0, size - len(header)))


def suite_settings(srv: FaultServer, **sections: dict[str, Any]) -> dict[str, Any]:
    """Return settings for a daemon in ``data/`` talking to ``srv`` with short timings; each
    keyword replaces keys of that section."""
    settings: dict[str, Any] = {
        "paths": dict(DATA_PATHS),
        "api": {
            "base_url": srv.base_url,
            "async_path": srv.async_path,
            "connect_timeout_seconds": 1,
            "read_timeout_seconds": 2,
            "call_deadline_seconds": 3,
        },
        "watch": {"settle_seconds": 0.3, "rescan_seconds": 5},
        "poll": {"initial_seconds": 0.2, "max_seconds": 1},
        "retry": {"base_seconds": 0.2, "cap_seconds": 1, "max_attempts": 8},
    }
    return merged(settings, sections)


def suite_daemon(root: Path, srv: FaultServer, **sections: dict[str, Any]) -> Daemon:
    """Return a Daemon in ``root`` talking to ``srv`` (see :func:`suite_settings`), with the
    canary API key."""
    return Daemon(root, suite_settings(srv, **sections), api_key=CANARY_KEY)


def signatures_issued(srv: FaultServer) -> set[bytes]:
    """Return the signatures of every presigned URL the daemon used (seen on PUT requests)."""
    found = set()
    for record in srv.requests("put"):
        for value in parse_qs(record.query).get("signature", []):
            found.add(value.encode())
    return found


def assert_no_secrets(daemon: Daemon, srv: FaultServer) -> None:
    """Fail if a secret leaked from the daemon's runs (see :func:`assert_no_secrets_in`)."""
    assert_no_secrets_in(daemon.root / "data", daemon.process_outputs(), signatures_issued(srv))


def assert_no_secrets_in(
    data: Path,
    outputs: Sequence[bytes],
    signatures: Iterable[bytes] = (),
    secrets: Sequence[str] = (CANARY_KEY, CANARY_PRESIGN_SECRET),
) -> None:
    """Fail if a secret leaked: a value of ``secrets`` in the processes' ``outputs`` (stdout,
    stderr), in ``data``'s log/, state/ (raw bytes, WAL included), outbox/ or failed/; or a
    presigned URL signature (those of ``signatures``, or any unmasked ``signature=`` value)
    in the outputs, log/, outbox/ or failed/. The state file may keep signed URLs."""
    logs = [*outputs, *_contents(data / "log")]
    published = [*_contents(data / "outbox"), *_contents(data / "failed")]
    state = _contents(data / "state")
    assert logs and state, "nothing was written: the secrets check would prove nothing"
    for blob in logs + published + state:
        for secret in secrets:
            assert secret.encode() not in blob, f"secret {secret!r} leaked"
    for blob in logs + published:
        for signature in signatures:
            assert signature not in blob, "a presigned URL signature leaked"
        assert _SIGNATURE_RE.search(blob) is None, "an unredacted signature= leaked"


def _contents(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
