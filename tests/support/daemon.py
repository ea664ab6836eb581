"""Run the installed ``dropscribe`` as a subprocess, the way a user or systemd does.

:class:`Daemon` owns one temporary folder: it writes ``config.yaml`` there (relative paths
under ``data/``), starts ``dropscribe run -c config.yaml`` (or ``once``, ``status``, ...) with
``TIYARO_API_KEY`` in its environment, and reads back what the daemon left: the audit trail,
the state file (read-only), the outbox, done/ and failed/. Every wait has a deadline and
fails with the daemon's last stderr lines, so a hung or crashed daemon shows why::

    with FaultServer(token=KEY) as srv:
        daemon = Daemon(tmp_path, fault_server_settings(srv), api_key=KEY)
        daemon.start()
        daemon.wait_for_event("daemon.started")
        (daemon.inbox / "a.wav").write_bytes(wav_bytes("a"))
        daemon.wait_for_published(1)
        assert daemon.stop() == 0

``close()`` kills whatever is still running; fixtures call it in their teardown.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

#: The console script of the environment running the tests: the installed package, not the
#: source tree, so a packaging mistake fails here.
DROPSCRIBE = Path(sys.executable).with_name("dropscribe")

#: How long one wait may take by default, in seconds: generous for a busy shared machine.
DEFAULT_TIMEOUT = 20.0
#: Seconds between two checks of a condition.
CHECK_INTERVAL = 0.05
#: How long a daemon may take to exit after its last signal, in seconds.
EXIT_TIMEOUT = 15.0
#: Lines of stderr quoted when a wait fails.
STDERR_TAIL_LINES = 30

#: A RIFF/WAVE header: enough for the daemon's magic-byte check (the fault server never
#: decodes audio).
WAV_HEADER = b"RIFF\x24\x00\x00\x00WAVEfmt "

#: The folders of the configuration, relative to the config file.
FOLDERS = ("inbox", "processing", "done", "failed", "outbox", "state", "log")
#: The ``paths`` section of a test config: every folder under ``data/`` beside the config file.
#: Copy it (``dict(DATA_PATHS)``) before changing it.
DATA_PATHS = {
    "inbox": "data/inbox",
    "processing": "data/processing",
    "done": "data/done",
    "failed": "data/failed",
    "outbox": "data/outbox",
    "state_dir": "data/state",
    "log_dir": "data/log",
}

#: Output extensions of a published job with segments.
OUTPUT_EXTENSIONS = ("txt", "json", "srt", "vtt")


#: What the ``make_daemon`` fixture returns: ``make_daemon(name="daemon", **sections)``.
MakeDaemon = Callable[..., "Daemon"]


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline."""


def wait_for(
    predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "a condition"
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    Raise WaitTimeout naming ``what`` if ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(CHECK_INTERVAL)


def wav_bytes(tag: str, size: int = 256) -> bytes:
    """Return ``size`` bytes (at least) that pass as a WAV and differ for every ``tag``."""
    body = hashlib.sha256(tag.encode()).digest() * (1 + size // 32)
    return (WAV_HEADER + body)[: max(size, len(WAV_HEADER) + 32)]


def sha256_of(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def fault_server_settings(server: Any, **sections: Mapping[str, Any]) -> dict[str, Any]:
    """Return settings for a daemon talking to a FaultServer, fast timings, with ``sections``
    merged over them (one level deep: ``watch={"settle_seconds": 1}`` keeps the other keys)."""
    settings: dict[str, Any] = {
        "paths": dict(DATA_PATHS),
        "api": {"base_url": server.base_url, "async_path": server.async_path},
        "watch": {"settle_seconds": 0.5, "rescan_seconds": 5},
        "poll": {"initial_seconds": 0.2, "max_seconds": 1},
        "retry": {"base_seconds": 0.2, "cap_seconds": 1},
        "workers": {"drain_timeout_seconds": 5},
    }
    return merged(settings, sections)


def merged(base: Mapping[str, Any], sections: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with each section of ``sections`` merged over it, key by key."""
    result = copy.deepcopy(dict(base))
    for name, values in sections.items():
        if isinstance(values, Mapping) and isinstance(result.get(name), Mapping):
            result[name] = {**result[name], **values}
        else:
            result[name] = values
    return result


class Daemon:
    """One dropscribe installation in a temporary folder; see the module docstring."""

    def __init__(
        self, root: Path, settings: Mapping[str, Any], *, api_key: str | None = None
    ) -> None:
        self.root = root
        self.config = root / "config.yaml"
        self.settings = dict(settings)
        self.api_key = api_key
        #: Variables added to the environment of every command this daemon runs.
        self.extra_env: dict[str, str] = {}
        data = root / "data"
        self.inbox, self.processing = data / "inbox", data / "processing"
        self.done, self.failed, self.outbox = data / "done", data / "failed", data / "outbox"
        self.state_db = data / "state" / "state.db"
        self.audit_log = data / "log" / "audit.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None
        self._runs = 0
        self._starts_before = 0
        self._events: list[dict[str, Any]] = []
        self._audit_offset = 0
        self._logs: list[tuple[IO[bytes], IO[bytes]]] = []
        self._captured: list[tuple[str, str]] = []
        root.mkdir(parents=True, exist_ok=True)
        self.write_config()

    # -- configuration and processes ------------------------------------------------------

    def write_config(self, settings: Mapping[str, Any] | None = None) -> None:
        """Write ``settings`` (or the current ones) to config.yaml; JSON is valid YAML."""
        if settings is not None:
            self.settings = dict(settings)
        self.config.write_text(json.dumps(self.settings, indent=2), encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        """Return the daemon's environment: ours without systemd's or dropscribe's variables,
        plus the API key when one was given."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TIYARO_", "DROPSCRIBE_", "NOTIFY_SOCKET", "CREDENTIALS_"))
            and k not in ("STATE_DIRECTORY", "LOGS_DIRECTORY")
        }
        if self.api_key is not None:
            env["TIYARO_API_KEY"] = self.api_key
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start(self, command: str = "run", *args: str, stdout: int | None = None) -> None:
        """Start ``dropscribe COMMAND -c config.yaml ARGS`` in the background; its stdout and
        stderr go to numbered files under the root (or stdout to the fd ``stdout``)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the daemon is already running")
        self._runs += 1
        self._starts_before = len(self.events("daemon.started"))
        out = open(self.root / f"stdout-{self._runs}.log", "wb")  # noqa: SIM115 (kept open)
        err = open(self.root / f"stderr-{self._runs}.log", "wb")  # noqa: SIM115 (kept open)
        self._logs.append((out, err))
        self.proc = subprocess.Popen(
            [str(DROPSCRIBE), command, "-c", str(self.config), *args],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=out if stdout is None else stdout,
            stderr=err,
        )

    def start_and_wait(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Start ``dropscribe run`` and wait until it reports daemon.started."""
        self.start()
        self.wait_started(timeout)

    def wait_started(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait for the daemon.started event of the latest start."""
        self.wait_for_event("daemon.started", timeout, count=self._starts_before + 1)

    def run(
        self, command: str, *args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``dropscribe COMMAND -c config.yaml ARGS`` to its end; return what it did (its
        output is also kept for :meth:`outputs`)."""
        done = subprocess.run(
            [str(DROPSCRIBE), command, "-c", str(self.config), *args],
            cwd=self.root,
            env=dict(env) if env is not None else self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self._captured.append((done.stdout, done.stderr))
        return done

    @property
    def pid(self) -> int:
        """The pid of the running daemon."""
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        """Return True while the last started daemon runs."""
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the running daemon."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Wait for the daemon to exit; return its exit code (negative: killed by a signal)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(
                f"dropscribe did not exit within {timeout:g} s\n{self.stderr_tail()}"
            ) from None

    def stop(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Send SIGTERM and return the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        """SIGKILL the daemon (a crash) and reap it."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(EXIT_TIMEOUT)

    def close(self) -> None:
        """Kill the daemon if it still runs and close its log files."""
        if self.running():
            self.kill()
        for out, err in self._logs:
            out.close()
            err.close()
        self._logs.clear()

    # -- waiting ------------------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "it"
    ) -> T:
        """Like :func:`wait_for`, but fail at once if a started daemon died, and quote its
        stderr on failure."""

        def check() -> T:
            value = predicate()
            if not value and self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"dropscribe exited ({self.proc.returncode}) while waiting for {what}\n"
                    + self.stderr_tail()
                )
            return value

        try:
            return wait_for(check, timeout, what)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n{self.stderr_tail()}") from None

    def wait_for_event(
        self,
        name: str,
        timeout: float = DEFAULT_TIMEOUT,
        count: int = 1,
        **fields: Any,
    ) -> list[dict[str, Any]]:
        """Wait until the audit trail holds ``count`` events ``name`` with ``fields``."""
        return self.wait_for(
            lambda: found if len(found := self.events(name, **fields)) >= count else [],
            timeout,
            f"{count} audit event(s) {name} {fields or ''}",
        )

    def wait_for_state(self, state: str, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Wait until some job of the state file is in ``state``; return the jobs."""

        def jobs_if_found() -> list[dict[str, Any]]:
            jobs = self.jobs()
            return jobs if any(j["state"] == state for j in jobs) else []

        return self.wait_for(jobs_if_found, timeout, f"a job in state {state!r}")

    def wait_for_published(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until ``count`` jobs were published (job.published events)."""
        self.wait_for_event("job.published", timeout, count)

    # -- reading what the daemon left -------------------------------------------------------

    def events(self, name: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Return the audit events so far (all runs), optionally those named ``name`` whose
        fields equal ``fields``."""
        self._read_new_events()
        return [
            event
            for event in self._events
            if (name is None or event.get("event") == name)
            and all(event.get(k) == v for k, v in fields.items())
        ]

    def _read_new_events(self) -> None:
        # The trail only grows, so only what was appended since the last call is parsed; a
        # line still being written (no newline yet) waits for the next call.
        try:
            with self.audit_log.open("rb") as handle:
                handle.seek(self._audit_offset)
                data = handle.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        self._audit_offset += len(complete)
        for line in complete.splitlines():
            try:
                self._events.append(json.loads(line))
            except ValueError:
                self._events.append({"event": None, "unparsed": line.decode(errors="replace")})

    def jobs(self) -> list[dict[str, Any]]:
        """Return the rows of the jobs table (read-only; [] before the file exists)."""
        if not self.state_db.exists():
            return []
        db = sqlite3.connect(f"file:{self.state_db}?mode=ro", uri=True, timeout=5.0)
        try:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM jobs ORDER BY rowid")]
        except sqlite3.OperationalError:
            return []  # the schema is not created yet
        finally:
            db.close()

    def integrity(self) -> str:
        """Return the result of SQLite's integrity check of the state file."""
        db = sqlite3.connect(self.state_db, timeout=5.0)
        try:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            db.close()

    def outputs(self) -> list[str]:
        """Return the outbox's files, relative and sorted (temporary files included)."""
        return files_under(self.outbox)

    def output_sets(self) -> dict[str, dict[str, Any]]:
        """Return, per published json in the outbox, its stem and document."""
        sets = {}
        for rel in self.outputs():
            if rel.endswith(".json"):
                doc = json.loads((self.outbox / rel).read_text(encoding="utf-8"))
                sets[rel[: -len(".json")]] = doc
        return sets

    def path(self, name: str) -> Path:
        """Return the folder ``data/<name>`` (inbox, processing, done, failed, outbox, ...)."""
        return self.root / "data" / name

    def files(self, name: str) -> list[Path]:
        """Return every file under ``data/<name>``, sorted, as paths relative to it."""
        base = self.path(name)
        return sorted(p.relative_to(base) for p in base.rglob("*") if p.is_file())

    def drop(self, files: Mapping[str, bytes]) -> None:
        """Write recordings into the inbox under hidden temporary names, then rename them into
        place, so the daemon never sees a half-written one."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            draft = self.inbox / f".{name}.part"
            draft.write_bytes(data)
            draft.rename(self.inbox / name)

    def process_outputs(self) -> list[bytes]:
        """Return the stdout and stderr of every command run so far, started or run."""
        logs = sorted(self.root.glob("std*-*.log"))
        captured = [text.encode() for pair in self._captured for text in pair]
        return [p.read_bytes() for p in logs] + captured

    def stderr_text(self) -> str:
        """Return the stderr of every command run so far, concatenated."""
        logs = sorted(self.root.glob("stderr-*.log"))
        texts = [p.read_text(encoding="utf-8", errors="replace") for p in logs]
        return "".join(texts + [err for _, err in self._captured])

    def stderr_tail(self) -> str:
        """Return the last lines of the latest run's stderr."""
        path = self.root / f"stderr-{self._runs}.log"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return "(no stderr)"
        return "stderr:\n" + "\n".join(lines[-STDERR_TAIL_LINES:])


class NotifySocket:
    """A datagram socket standing in for systemd's ``$NOTIFY_SOCKET``: it keeps what a daemon
    started with ``extra_env={"NOTIFY_SOCKET": sock.address}`` announces (READY=1, STATUS=...,
    WATCHDOG=1, STOPPING=1). A context manager that closes the socket."""

    def __init__(self, path: Path) -> None:
        self.address = str(path)
        #: Every message received so far, in order.
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.address)
        self._sock.settimeout(CHECK_INTERVAL)

    def receive_until(
        self, done: Callable[[list[str]], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> list[str]:
        """Receive until ``done(messages)`` holds or ``timeout`` seconds pass; return the
        messages received so far (the caller checks ``done`` again to tell which)."""
        deadline = time.monotonic() + timeout
        while not done(self.messages) and time.monotonic() < deadline:
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except TimeoutError:
                continue
        return self.messages

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def files_under(root: Path) -> list[str]:
    """Return every non-folder entry under ``root``, relative posix paths, sorted."""
    found: list[str] = []
    for folder, _dirs, names in os.walk(root):
        base = Path(folder).relative_to(root)
        found.extend((base / name).as_posix() for name in names)
    return sorted(found)


def drop_all(staging: Path, inbox: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` in ``staging`` (same filesystem) and rename them into ``inbox`` at once,
    so that each appears whole."""
    staging.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    for name in files:
        os.rename(staging / name, inbox / name)


def expect_outputs(stems: Iterable[str], extensions: Sequence[str] = OUTPUT_EXTENSIONS
                   ) -> list[str]:  # fmt: skip
    """Return the sorted outbox listing of one output set per stem."""
    return sorted(f"{stem}.{ext}" for stem in stems for ext in extensions)
