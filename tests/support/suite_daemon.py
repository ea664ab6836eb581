"""Drive the installed ``dropscribe`` as a subprocess against a FaultServer, for the suites.

A :class:`Workspace` is one daemon's folder tree under a temporary folder, with a config file
pointing at the fault server and short timings. :meth:`Workspace.start` runs ``dropscribe run``
and :meth:`Workspace.once` runs ``dropscribe once``, both with the canary API key in the
environment and stdout/stderr kept in files (a pipe nobody reads could block the daemon).
Every process started is killed in :meth:`Workspace.close`, which the fixture calls.
The console script, the ``data/`` layout and :func:`~support.daemon.wait_for` come from
:mod:`support.daemon`. The Workspace is not folded into its Daemon: the two differ in the
environment (Daemon strips TIYARO_ and DROPSCRIBE_ variables), in log file names and in how
state.db is opened, and the suites here are written against this behaviour.

:func:`assert_no_secrets` is the one check of the secrets suite: after any run, neither the
canary key nor the canary presign secret appears in stdout, stderr, the audit log, the state
file (raw bytes, WAL included), the outbox or failed/, and no presigned URL signature appears
outside the state file (which is documented to keep signed URLs so it can resume).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from support.daemon import DATA_PATHS, DROPSCRIBE
from support.fault_server import FaultServer

#: The API key every suite runs with; it must never be written anywhere but the environment.
CANARY_KEY = "canary-KEY-7f3a9c1e"
#: The fault server's presign secret; it never leaves the server, so it must appear nowhere.
CANARY_PRESIGN_SECRET = "canary-PRESIGN-4b8d2e6a"
#: Seconds a daemon gets to exit after SIGTERM before it is killed.
STOP_SECONDS = 15.0
#: A presigned URL's signature as the fault server writes it: 64 hex digits.
_SIGNATURE_RE = re.compile(rb"signature=([0-9a-f]{64})")


def wav_bytes(rng: random.Random, size: int) -> bytes:
    """Return ``size`` seeded random bytes behind a RIFF/WAVE header (passes the inbox's
    signature check; the fault server never decodes audio)."""
    header = b"RIFF" + (size - 8).to_bytes(4, "little") + b"WAVEfmt "
    return header + rng.randbytes(max(0, size - len(header)))


def config_text(srv: FaultServer, **sections: dict[str, Any]) -> str:
    """Return a config for a daemon in ``data/`` talking to ``srv`` with short timings; each
    keyword replaces keys of that section."""
    config: dict[str, dict[str, Any]] = {
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
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return json.dumps(config, indent=2)  # JSON is YAML


@dataclass
class Workspace:
    """One daemon's folders and config under ``root``, and the processes run on them."""

    root: Path
    srv: FaultServer
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    runs: int = 0

    def configure(self, **sections: dict[str, Any]) -> Path:
        """Write the config (see :func:`config_text`) and return its path."""
        path = self.root / "config.yaml"
        path.write_text(config_text(self.srv, **sections))
        return path

    def path(self, name: str) -> Path:
        """Return the folder ``data/<name>`` (inbox, processing, done, failed, outbox, ...)."""
        return self.root / "data" / name

    def drop(self, files: dict[str, bytes]) -> None:
        """Write recordings into the inbox under temporary names, then rename them into place,
        so the daemon never sees a half-written one."""
        inbox = self.path("inbox")
        inbox.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            draft = inbox / f".{name}.part"
            draft.write_bytes(data)
            draft.rename(inbox / name)

    def _popen(self, command: str, *extra: str) -> subprocess.Popen[bytes]:
        self.runs += 1
        env = {**os.environ, "TIYARO_API_KEY": CANARY_KEY, "PYTHONUNBUFFERED": "1"}
        env.pop("CREDENTIALS_DIRECTORY", None)
        out = (self.root / f"run{self.runs}.stdout").open("wb")
        err = (self.root / f"run{self.runs}.stderr").open("wb")
        with out, err:
            proc = subprocess.Popen(
                [str(DROPSCRIBE), command, "-c", str(self.root / "config.yaml"), *extra],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        self.procs.append(proc)
        return proc

    def start(self) -> subprocess.Popen[bytes]:
        """Start ``dropscribe run`` and return the process."""
        return self._popen("run", "--log-format", "json")

    def once(self, timeout: float = 60.0) -> int:
        """Run ``dropscribe once`` to the end and return its exit code."""
        proc = self._popen("once", "--log-format", "json")
        try:
            return proc.wait(timeout)
        finally:
            self.kill(proc)

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        """Send SIGTERM and return the exit code (killing the process if it hangs)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(STOP_SECONDS)
        finally:
            self.kill(proc)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process if it still runs, and reap it."""
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def close(self) -> None:
        """Kill every process this workspace started."""
        for proc in self.procs:
            self.kill(proc)

    def outputs(self) -> list[bytes]:
        """Return the stdout and stderr of every run so far."""
        return [p.read_bytes() for p in sorted(self.root.glob("run*.std*"))]

    def stderr_text(self) -> str:
        """Return the stderr of every run so far, concatenated."""
        return "".join(p.read_text() for p in sorted(self.root.glob("run*.stderr")))

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Return the audit events so far (of one name, if given), from audit.jsonl."""
        log = self.path("log") / "audit.jsonl"
        if not log.exists():
            return []
        found = []
        for line in log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if name is None or event.get("event") == name:
                    found.append(event)
        return found

    def jobs(self) -> list[dict[str, Any]]:
        """Return every row of the jobs table (open only while no daemon runs)."""
        with contextlib.closing(sqlite3.connect(self.path("state") / "state.db")) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM jobs ORDER BY rowid")]

    def integrity(self) -> str:
        """Return the answer of ``PRAGMA integrity_check`` on the state file."""
        with contextlib.closing(sqlite3.connect(self.path("state") / "state.db")) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    def files(self, name: str) -> list[Path]:
        """Return every file under ``data/<name>``, sorted, as paths relative to it."""
        base = self.path(name)
        return sorted(p.relative_to(base) for p in base.rglob("*") if p.is_file())


@contextlib.contextmanager
def workspace(root: Path, srv: FaultServer) -> Iterator[Workspace]:
    """Yield a Workspace whose processes are all killed on the way out."""
    ws = Workspace(root, srv)
    try:
        yield ws
    finally:
        ws.close()


def signatures_issued(srv: FaultServer) -> set[bytes]:
    """Return the signatures of every presigned URL the daemon used (seen on PUT requests)."""
    found = set()
    for record in srv.requests("put"):
        for value in parse_qs(record.query).get("signature", []):
            found.add(value.encode())
    return found


def assert_no_secrets(ws: Workspace) -> None:
    """Fail if a secret leaked from the workspace's runs (see :func:`assert_no_secrets_in`)."""
    assert_no_secrets_in(ws.root / "data", ws.outputs(), signatures_issued(ws.srv))


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
