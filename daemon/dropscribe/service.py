"""Composition: every part built in one phase from the settings; start and stop order,
signals, systemd notification and the single-instance lock.

:func:`build` returns the parts complete. Build order follows the data's path backwards, so
that nothing is taken in before there is somewhere for it to go: the lock on the state folder
-> the state file -> custody and the outbox -> the scheduler -> the service connection (the
embedded server, when configured, is started here: the client is made for its address) -> the
pipeline. :meth:`Service.start` then settles failed moves, adopts orphans, recovers the jobs,
starts the workers, scans the inbox and starts the observer. Shutdown is the reverse: stop
intake first, then let transfers in flight finish (up to the drain timeout), then stop the
server they talk to, then close the state file and release the lock.

Signal handlers only set flags: the first SIGTERM or SIGINT drains, a second one stops at once
(every transition is already committed, so the state stays consistent); SIGHUP rescans.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from dropscribe import audit, inbox, recordings
from dropscribe.api_client import ApiClient, RebasedClient, Timeouts
from dropscribe.audit import Event
from dropscribe.backoff import PollPolicy, RetryPolicy
from dropscribe.config import Settings
from dropscribe.custody import Custody, Folders, check_layout, ensure_layout
from dropscribe.errors import ConfigError, DropscribeError
from dropscribe.jobs import Job, JobState, fingerprint, new_job
from dropscribe.notify import Notifier
from dropscribe.outbox import Outbox
from dropscribe.pipeline import POLL, TRANSFER, AuthGate, Clock, Lifecycle, Options, Pipeline, Steps
from dropscribe.pipeline.ports import Remote as Caller
from dropscribe.redaction import Redactor
from dropscribe.scheduler import Scheduler
from dropscribe.state import StateStore

if TYPE_CHECKING:  # the engine's import is heavy; see connect()
    from dropscribe.localapi.server import EmbeddedServer

# Threads that poll the service and publish results; polls are short, so a few serve thousands.
POLL_THREADS = 2
# How often the main loop wakes to ping the watchdog, rescan and adopt (seconds).
TICK_SECONDS = 0.5
# How often `once` checks whether every job has finished (seconds); a cheap indexed query.
IDLE_CHECK_SECONDS = 0.1
# How often STATUS= is sent to systemd (seconds).
STATUS_EVERY_SECONDS = 5.0
# How often a running daemon looks for jobs requeued by `dropscribe retry` (seconds).
ADOPT_EVERY_SECONDS = 5.0
# How long the embedded server may take to stop once the transfers have drained (seconds).
SERVER_STOP_TIMEOUT_SECONDS = 10.0
# The single-instance lock in the state folder; it holds the pid of the process that has it.
LOCK_FILE = "lock"
# Wall-clock time and jitter of a real run (tests pass their own).
WALL_CLOCK = Clock()


def folders_of(settings: Settings) -> Folders:
    """Return the custody folders named in the settings."""
    p = settings.paths
    return Folders(inbox=p.inbox, processing=p.processing, done=p.done, failed=p.failed)


def state_dir(settings: Settings) -> Path:
    """Return the state folder (load_config guarantees it is set)."""
    assert settings.paths.state_dir is not None
    return settings.paths.state_dir


def check_folders(settings: Settings) -> None:
    """Create the folders and raise ConfigError if their layout is unsafe."""
    folders = folders_of(settings)
    ensure_layout(folders, settings.paths.outbox)
    problems = check_layout(folders, settings.paths.outbox)
    if problems:
        source = settings.source or Path("config")
        raise ConfigError([f"{source}: paths: {problem}" for problem in problems])


def pipeline_options(settings: Settings) -> Options:
    """Return what the pipeline needs from the settings."""
    api = settings.api
    engine = f"embedded:{settings.embedded.model or 'bundled'}" if settings.is_embedded else ""
    return Options(
        whisper_input=settings.whisper_input,
        fingerprint=fingerprint(
            api.base_url + engine, api.async_path, api.service_tier, settings.whisper_input
        ),
        service_tier=api.service_tier,
        retry=RetryPolicy(
            max_attempts=settings.retry.max_attempts,
            base_seconds=settings.retry.base_seconds,
            cap_seconds=settings.retry.cap_seconds,
        ),
        poll=PollPolicy(
            initial_seconds=settings.poll.initial_seconds,
            max_seconds=max(settings.poll.max_seconds, settings.poll.initial_seconds),
            deadline_seconds=settings.poll.deadline_hours * 3600.0,
        ),
        delete_after_success=settings.output.after_success == "delete",
    )


class StateLock:
    """An exclusive ``flock`` on ``<state_dir>/lock``, held while a process may run jobs.

    The file holds the holder's pid, for ``status``. The kernel drops the lock when the process
    ends, however it ends, so a crash leaves no stale lock.
    """

    def __init__(self, state_dir: Path) -> None:
        """Take the lock. Raise AlreadyRunning if another process holds it."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(self._fd)
            os.close(self._fd)
            raise AlreadyRunning(state_dir, holder) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Give the lock up (closing the file drops it)."""
        os.close(self._fd)


class AlreadyRunning(DropscribeError):
    """Another dropscribe process works on the same state folder."""

    def __init__(self, state_dir: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{who} already works on {state_dir} (a `dropscribe run`, `once` or `transcribe`); "
            "stop it first, or use `dropscribe status` beside it"
        )
        self.pid = pid


def read_holder(fd: int) -> int | None:
    """Return the pid written in an open lock file, or None."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def lock_holder(state_dir: Path) -> int | None:
    """Return the pid of the process holding the state folder's lock (0 if its pid is not
    known), or None when no process holds it. Takes nothing."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(fd) or 0
    else:
        return None
    finally:
        os.close(fd)  # also drops the shared lock, if this took it


@dataclass(frozen=True)
class Remote:
    """The connection to the service: the client, what the pipeline calls, and the embedded
    server when it is the backend."""

    client: ApiClient
    calls: Caller
    server: EmbeddedServer | None


@dataclass(frozen=True)
class Parts:
    """Everything a run needs, complete."""

    settings: Settings
    lock: StateLock
    store: StateStore
    custody: Custody
    outbox: Outbox
    scheduler: Scheduler
    remote: Remote
    lifecycle: Lifecycle
    pipeline: Pipeline


def build(settings: Settings, redactor: Redactor, clock: Clock = WALL_CLOCK) -> Parts:
    """Build every part from the settings, in order (see the module docstring); return them.

    Raise AlreadyRunning if another process holds the state folder, ConfigError if the
    folders or the state file cannot be used. Whatever was opened is closed again on an error.
    """
    check_folders(settings)
    lock = StateLock(state_dir(settings))
    opened: list[Callable[[], None]] = [lock.release]
    try:
        store = StateStore(state_dir(settings) / "state.db")
        opened.append(store.close)
        return _build_on(settings, redactor, clock, lock, store, opened)
    except BaseException:
        for close in reversed(opened):
            close()
        raise


def _build_on(
    settings: Settings,
    redactor: Redactor,
    clock: Clock,
    lock: StateLock,
    store: StateStore,
    opened: list[Callable[[], None]],
) -> Parts:
    log = audit.get_logger()
    custody = Custody(folders_of(settings))
    outbox = Outbox(
        settings.paths.outbox,
        settings.output.formats,
        redactor,
        txt_line_per_segment=settings.output.txt_line_per_segment,
    )
    # The scheduler calls the pipeline and the pipeline schedules: the scheduler takes
    # callables, bound to the pipeline made below; it runs nothing before Service.start().
    scheduler = Scheduler(
        {TRANSFER: settings.workers.transfers, POLL: POLL_THREADS},
        {
            TRANSFER: lambda job_id: pipeline.run_transfer(job_id),
            POLL: lambda job_id: pipeline.run_poll(job_id),
        },
    )
    remote = connect(settings, redactor, lambda rid: wake_poll(store, scheduler, rid))
    opened.append(lambda: close_remote(remote, SERVER_STOP_TIMEOUT_SECONDS))
    options = pipeline_options(settings)
    p = settings.paths
    lifecycle = Lifecycle(store, custody, log, clock.time, (p.processing, p.failed))
    gate = AuthGate(scheduler.hold, log, clock.time)
    steps = Steps(store, remote.calls, outbox, custody, log, options, clock, gate.accepted)
    pipeline = Pipeline(store, steps, lifecycle, gate, scheduler, log, options, clock)
    return Parts(settings, lock, store, custody, outbox, scheduler, remote, lifecycle, pipeline)


def connect(settings: Settings, redactor: Redactor, on_finished: Callable[[str], None]) -> Remote:
    """Return the connection to the configured service; for the embedded backend, start the
    server first (``on_finished(request_id)`` is called as each of its jobs ends)."""
    s = settings
    timeouts = Timeouts(
        connect_seconds=s.api.connect_timeout_seconds,
        read_seconds=s.api.read_timeout_seconds,
        call_deadline_seconds=s.api.call_deadline_seconds,
    )
    if not s.is_embedded:
        if s.api_key is None:
            raise ConfigError(["api_key: required for a remote service"])
        key = s.api_key.get_secret_value()
        client = ApiClient(s.api.base_url, s.api.async_path, s.api.service_tier, key, timeouts)
        return Remote(client, client, None)
    # Imported here: the engine brings numpy, CTranslate2 and FFmpeg (about 55 MB and a
    # thread pool), which a daemon talking to a remote service does without.
    from dropscribe.localapi.server import EmbeddedServer, ServerOptions

    token = secrets.token_urlsafe(32)
    redactor.add(token)
    server = EmbeddedServer(
        ServerOptions(
            data_dir=state_dir(s) / "embedded",
            token=token,
            model=s.embedded.model,
            workers=s.embedded.workers,
            max_audio_hours=s.embedded.max_audio_hours,
            keep_finished_uploads=False,  # the recording stays in our custody until published
        ),
        on_finished=on_finished,
    )
    server.start()
    audit.get_logger().info(Event.SERVER_STARTED, base_url=server.base_url)
    client = ApiClient(server.base_url, s.api.async_path, s.api.service_tier, token, timeouts)
    return Remote(client, RebasedClient(client, server.base_url), server)


def close_remote(remote: Remote, server_timeout: float) -> None:
    """Close the client, then stop the embedded server if there is one."""
    remote.client.close()
    if remote.server is not None:
        remote.server.stop(server_timeout)


def wake_poll(store: StateStore, scheduler: Scheduler, request_id: str) -> None:
    """The service says ``request_id`` finished: poll its job at once, not at its next due
    time. Safe to call from any thread."""
    job = store.by_request_id(request_id)
    if job is not None and job.state is JobState.SUBMITTED:
        scheduler.schedule(job.id, POLL, 0.0)


@dataclass
class Flags:
    """What the signal handlers ask for; read by the main loop."""

    stop: threading.Event = field(default_factory=threading.Event)
    hard_stop: threading.Event = field(default_factory=threading.Event)
    rescan: threading.Event = field(default_factory=threading.Event)

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        """First signal: drain; second: stop now."""
        if self.stop.is_set():
            self.hard_stop.set()
        self.stop.set()

    def on_hup(self, signum: int, frame: FrameType | None) -> None:
        """Rescan the inbox now."""
        self.rescan.set()


def install_signal_handlers(flags: Flags) -> None:
    """Route SIGTERM, SIGINT and SIGHUP to ``flags``."""
    signal.signal(signal.SIGTERM, flags.on_stop)
    signal.signal(signal.SIGINT, flags.on_stop)
    signal.signal(signal.SIGHUP, flags.on_hup)


class Service:
    """One running dropscribe over complete :class:`Parts`: start, serve, stop."""

    def __init__(
        self, parts: Parts, *, watch: bool, flags: Flags, notifier: Notifier | None = None
    ) -> None:
        """With ``watch``, the inbox is scanned and observed as well."""
        self.parts = parts
        self.settings = parts.settings
        self.flags = flags
        self._notify = notifier or Notifier()
        self._log = audit.get_logger()
        self.watcher = self._watcher() if watch else None

    # -- start --------------------------------------------------------------------------------

    def start(self) -> None:
        """Settle, recover and start the workers, then the inbox scan and observer."""
        parts = self.parts
        swept = parts.outbox.sweep_temp()
        parts.lifecycle.settle_failed(parts.store.in_states([JobState.FAILED]))
        orphans = self._adopt_orphans()
        recovered = parts.pipeline.recover()
        parts.scheduler.start()
        self._log.info(
            Event.DAEMON_STARTED,
            pid=os.getpid(),
            recovered_jobs=recovered,
            orphans_adopted=orphans,
            temp_files_swept=swept,
            backend="embedded" if self.settings.is_embedded else self.settings.api.base_url,
            inbox=str(self.settings.paths.inbox),
            outbox=str(self.settings.paths.outbox),
        )
        if self.watcher is not None:
            self.watcher.start()

    def _adopt_orphans(self) -> int:
        """Give a job to every file in processing/ that has none (a crash right after the
        claim, before the job was saved)."""
        count = 0
        for rel in self.parts.custody.held():
            if self.parts.store.active_for_source(rel) is None:
                self.parts.store.save(new_job(rel, time.time()))
                count += 1
        return count

    def _watcher(self) -> inbox.InboxWatcher:
        w = self.settings.watch
        return inbox.InboxWatcher(
            self.settings.paths.inbox,
            on_ready=self._take_entry,
            mode=w.mode,
            recursive=w.recursive,
            settle_seconds=w.settle_seconds,
            rescan_seconds=w.rescan_seconds,
            extensions=w.extensions,
            ignore=w.ignore,
            on_problem=lambda problem: self._log.warning(Event.INBOX_PROBLEM, problem=problem),
            on_ignored=lambda rel, why: self._log.info(Event.FILE_IGNORED, source=rel, reason=why),
        )

    # -- intake ---------------------------------------------------------------------------------

    def _take_entry(self, entry: inbox.Entry) -> None:
        self.take(entry)

    def take(self, entry: inbox.Entry) -> Job | None:
        """Inspect a settled inbox entry, then claim it or move it to failed/; return the job."""
        self._log.info(Event.FILE_DETECTED, source=entry.rel)
        verdict = recordings.inspect_entry(
            entry.path,
            max_bytes=self.settings.max_file_bytes,
            extensions=self.settings.watch.extensions,
        )
        if not verdict.ok:
            return self.parts.lifecycle.refuse(entry.rel, verdict.reason, verdict.hint)
        try:
            claimed = self.parts.custody.claim(entry.rel)
        except FileNotFoundError:
            return None  # taken away by its owner between the scan and the claim
        rel = claimed.relative_to(self.settings.paths.processing).as_posix()
        return self.parts.pipeline.accept(rel)

    # -- running ----------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Return True while the observer (when watching) and the scheduler run."""
        watching = self.watcher is None or self.watcher.is_alive()
        return watching and self.parts.scheduler.alive()

    def run_until_stopped(self) -> None:
        """Serve until a stop signal: watchdog pings, status lines, rescans, adoptions."""
        self._notify.ready()
        last_status = last_adopt = last_ping = 0.0
        ping_every = self._notify.watchdog_seconds / 2 if self._notify.watchdog_seconds else 0.0
        while not self.flags.stop.wait(TICK_SECONDS):
            now = time.monotonic()
            if self.flags.rescan.is_set():
                self.flags.rescan.clear()
                if self.watcher is not None:
                    self.watcher.rescan_now()
                last_adopt = 0.0
            if now - last_adopt >= ADOPT_EVERY_SECONDS:
                self.parts.pipeline.recover()
                last_adopt = now
            if ping_every and now - last_ping >= ping_every and self.healthy():
                self._notify.watchdog()
                last_ping = now
            if now - last_status >= STATUS_EVERY_SECONDS:
                self._notify.status(self.status_line())
                last_status = now

    def status_line(self) -> str:
        """Return a one-line summary of the jobs per state."""
        counts = self.parts.store.counts()
        return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "idle"

    def wait_until_idle(self, progress: Callable[[dict[str, int]], None] | None = None) -> None:
        """Block until no job is unfinished (or a stop was asked for)."""
        while not self.flags.stop.is_set():
            if progress is not None:
                progress(self.parts.store.counts())
            if not self.parts.store.unfinished():
                return
            self.flags.stop.wait(IDLE_CHECK_SECONDS)

    # -- stop -------------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Stop in reverse data-flow order; return True if every transfer finished in time."""
        self._notify.stopping()
        self._log.info(Event.DAEMON_STOPPING, hard=self.flags.hard_stop.is_set())
        # Intake first: nothing new is claimed while the rest winds down.
        if self.watcher is not None:
            self.watcher.stop()
        drained = self._drain()
        remote = self.parts.remote
        # The server goes after the transfers that talk to it.
        if remote.server is not None and drained:
            remote.server.stop(SERVER_STOP_TIMEOUT_SECONDS)
        remote.client.close()
        if drained:
            self._log.info(Event.DAEMON_STOPPED, jobs=self.parts.store.counts())
            self.parts.store.close()
        else:
            # Threads still in a step may write to the state; the process exit ends them.
            self._log.warning(Event.DAEMON_STOPPED, drained=False)
        self.parts.lock.release()
        return drained

    def _drain(self) -> bool:
        scheduler = self.parts.scheduler
        scheduler.stop()
        deadline = time.monotonic() + self.settings.workers.drain_timeout_seconds
        while time.monotonic() < deadline and not self.flags.hard_stop.is_set():
            if scheduler.join(min(deadline, time.monotonic() + TICK_SECONDS)):
                return True
        return False
