"""Start and stop order, signals and systemd notification for `run` and `once`.

Start order follows the data's path backwards, so that nothing is taken in before there is
somewhere for it to go: settings (already loaded) -> state recovery -> the embedded server,
when configured -> the workers -> an initial scan of the inbox -> the observer. Shutdown is the
reverse: stop intake first, then let transfers in flight finish (up to the drain timeout), then
stop the server they talk to, then close the state file.

Signal handlers only set flags: the first SIGTERM or SIGINT drains, a second one stops at once
(every transition is already committed, so the state stays consistent); SIGHUP rescans.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from dropscribe import audit, inbox, mounts, recordings
from dropscribe.api_client import ApiClient, PollResult, Submission, Timeouts
from dropscribe.audit import Event
from dropscribe.backoff import PollPolicy, RetryPolicy
from dropscribe.config import Settings
from dropscribe.custody import Custody, Folders, check_layout, ensure_layout
from dropscribe.errors import ConfigError
from dropscribe.jobs import Job, JobState, fingerprint, new_job, update
from dropscribe.notify import Notifier
from dropscribe.outbox import Outbox
from dropscribe.pipeline import POLL, TRANSFER, Options, Pipeline
from dropscribe.probe import SpeechProbe
from dropscribe.quality import QualityPolicy
from dropscribe.redaction import Redactor
from dropscribe.scheduler import Scheduler
from dropscribe.state import StateStore

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
        quality=QualityPolicy(
            settings.quality.min_coverage, settings.quality.on_incomplete == "fail"
        ),
    )


class RebasedClient:
    """An ApiClient whose stored URLs are pointed at the embedded server's current address.

    The embedded server listens on a new ephemeral port at every start, while the state file
    keeps the upload and poll URLs it handed out before; their paths and signatures stay valid.
    """

    def __init__(self, client: ApiClient, base_url: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")

    def _rebase(self, url: str) -> str:
        scheme_end = url.find("://")
        path_start = url.find("/", scheme_end + 3) if scheme_end >= 0 else -1
        return self._base + url[path_start:] if path_start >= 0 else url

    def get_upload_url(self, extension: str) -> str:
        """See ApiClient.get_upload_url."""
        return self._client.get_upload_url(extension)

    def upload(self, url: str, path: Path) -> None:
        """See ApiClient.upload."""
        self._client.upload(self._rebase(url), path)

    def submit(
        self, upload_url: str, params: Mapping[str, Any], idempotency_key: str
    ) -> Submission:
        """See ApiClient.submit."""
        return self._client.submit(self._rebase(upload_url), params, idempotency_key)

    def poll(self, poll_url: str) -> PollResult:
        """See ApiClient.poll."""
        return self._client.poll(self._rebase(poll_url))


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
    """One running dropscribe: builds the parts from the settings and runs them."""

    def __init__(
        self,
        settings: Settings,
        redactor: Redactor,
        *,
        flags: Flags | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.flags = flags or Flags()
        self._redactor = redactor
        self._notify = notifier or Notifier()
        self._log = audit.get_logger()
        self.store: StateStore | None = None
        self._server: Any = None  # an EmbeddedServer when the backend is embedded
        self._client: ApiClient | None = None
        self.pipeline: Pipeline | None = None
        self.scheduler: Scheduler | None = None
        self.watcher: inbox.InboxWatcher | None = None
        self.custody = Custody(folders_of(settings))
        self.outbox = Outbox(settings.paths.outbox, settings.output.formats, redactor)
        # Measures a remote result's coverage in a helper process, started on first use.
        self._speech_probe = SpeechProbe()

    # -- start --------------------------------------------------------------------------------

    def start(self, *, watch: bool) -> None:
        """Start everything in order; with ``watch`` also the inbox scan and observer."""
        check_folders(self.settings)
        self.store = StateStore(state_dir(self.settings) / "state.db")
        swept = self.outbox.sweep_temp()
        remote = self._start_remote()
        self.pipeline = Pipeline(
            self.store,
            remote,
            self.outbox,
            self.custody,
            self._log,
            self._with_speech_probe(pipeline_options(self.settings)),
        )
        self.pipeline.settle_failed(self.store.in_states([JobState.FAILED]))
        orphans = self._adopt_orphans()
        self.scheduler = Scheduler(
            {TRANSFER: self.settings.workers.transfers, POLL: POLL_THREADS},
            {TRANSFER: self.pipeline.run_transfer, POLL: self.pipeline.run_poll},
        )
        self.pipeline.attach(self.scheduler)
        recovered = self.pipeline.recover()
        self.scheduler.start()
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
        if watch:
            self._start_watcher()

    def remote_only(self) -> Any:
        """Start just the service connection (the embedded server when configured), for
        `transcribe`; return the client."""
        state_dir(self.settings).mkdir(parents=True, exist_ok=True)
        return self._start_remote()

    def _start_remote(self) -> Any:
        s = self.settings
        timeouts = Timeouts(
            connect_seconds=s.api.connect_timeout_seconds,
            read_seconds=s.api.read_timeout_seconds,
            call_deadline_seconds=s.api.call_deadline_seconds,
        )
        if not s.is_embedded:
            assert s.api_key is not None
            key = s.api_key.get_secret_value()
            self._client = ApiClient(
                s.api.base_url, s.api.async_path, s.api.service_tier, key, timeouts
            )
            return self._client
        # Imported here: the engine brings numpy, CTranslate2 and FFmpeg (about 55 MB and a
        # thread pool), which a daemon talking to a remote service does without.
        from dropscribe.localapi.server import EmbeddedServer, ServerOptions

        token = secrets.token_urlsafe(32)
        self._redactor.add(token)
        self._server = EmbeddedServer(
            ServerOptions(
                data_dir=state_dir(s) / "embedded",
                token=token,
                model=s.embedded.model,
                workers=s.embedded.workers,
                min_coverage=s.quality.min_coverage,
            ),
            on_finished=self._result_ready,
        )
        self._server.start()
        self._log.info(Event.SERVER_STARTED, base_url=self._server.base_url)
        self._client = ApiClient(
            self._server.base_url, s.api.async_path, s.api.service_tier, token, timeouts
        )
        return RebasedClient(self._client, self._server.base_url)

    def _with_speech_probe(self, options: Options) -> Options:
        # The embedded engine measures coverage itself; a remote result is measured here.
        if self.settings.is_embedded:
            return options
        return replace(options, speech=self._speech_probe.speech)

    def _result_ready(self, request_id: str) -> None:
        if self.pipeline is not None:
            self.pipeline.poll_now(request_id)

    def _adopt_orphans(self) -> int:
        """Give a job to every file in processing/ that has none (a crash right after the
        claim, before the job was saved)."""
        assert self.store is not None and self.pipeline is not None
        count = 0
        for rel in self.custody.held():
            if self.store.active_for_source(rel) is None:
                self.store.save(new_job(rel, time.time()))
                count += 1
        return count

    def _start_watcher(self) -> None:
        w = self.settings.watch
        self.watcher = inbox.InboxWatcher(
            self.settings.paths.inbox,
            on_ready=self._take_entry,
            mode=mounts.WatchMode(w.mode.value),
            recursive=w.recursive,
            settle_seconds=w.settle_seconds,
            rescan_seconds=w.rescan_seconds,
            extensions=w.extensions,
            ignore=w.ignore,
            on_problem=lambda problem: self._log.warning(Event.INBOX_PROBLEM, problem=problem),
        )
        self.watcher.start()

    # -- intake ---------------------------------------------------------------------------------

    def _take_entry(self, entry: inbox.Entry) -> None:
        self.take(entry)

    def take(self, entry: inbox.Entry) -> Job | None:
        """Inspect a settled inbox entry, then claim it or move it to failed/; return the job."""
        assert self.pipeline is not None
        self._log.info(Event.FILE_DETECTED, source=entry.rel)
        verdict = recordings.inspect_entry(
            entry.path,
            max_bytes=self.settings.max_file_bytes,
            extensions=self.settings.watch.extensions,
        )
        if not verdict.ok:
            return self._reject(entry.rel, verdict.reason, verdict.hint)
        try:
            claimed = self.custody.claim(entry.rel)
        except FileNotFoundError:
            return None  # taken away by its owner between the scan and the claim
        rel = claimed.relative_to(self.settings.paths.processing).as_posix()
        return self.pipeline.accept(rel)

    def _reject(self, rel: str, reason: str, hint: str) -> Job:
        assert self.store is not None
        now = time.time()
        job = new_job(rel, now)
        job = update(job, state=JobState.FAILED, error=reason, failed_step="inspect")
        report = {"job_id": job.id, "source": rel, "step": "inspect", "error": reason, "hint": hint}
        try:
            where: str | None = str(self.custody.fail(rel, report, from_inbox=True))
        except FileNotFoundError:
            where = None
        job = update(job, steps={"claimed": now, "failed": now}, extra={"failed_path": where})
        self.store.save(job)
        self._log.warning(
            Event.FILE_REJECTED,
            job_id=job.id,
            source=rel,
            reason=reason,
            hint=hint,
            failed_path=where,
        )
        return job

    # -- running ----------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Return True while the observer (when watching) and the scheduler run."""
        watching = self.watcher is None or self.watcher.is_alive()
        return watching and self.scheduler is not None and self.scheduler.alive()

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
                assert self.pipeline is not None
                self.pipeline.recover()
                last_adopt = now
            if ping_every and now - last_ping >= ping_every and self.healthy():
                self._notify.watchdog()
                last_ping = now
            if now - last_status >= STATUS_EVERY_SECONDS:
                self._notify.status(self.status_line())
                last_status = now

    def status_line(self) -> str:
        """Return a one-line summary of the jobs per state."""
        assert self.store is not None
        counts = self.store.counts()
        return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "idle"

    def wait_until_idle(self, progress: Callable[[dict[str, int]], None] | None = None) -> None:
        """Block until no job is unfinished (or a stop was asked for)."""
        assert self.store is not None
        while not self.flags.stop.is_set():
            if progress is not None:
                progress(self.store.counts())
            if not self.store.unfinished():
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
        # The server goes after the transfers that talk to it.
        if self._server is not None and drained:
            self._server.stop(SERVER_STOP_TIMEOUT_SECONDS)
        if self._client is not None:
            self._client.close()
        self._speech_probe.close()
        if self.store is None:
            return drained
        if drained:
            self._log.info(Event.DAEMON_STOPPED, jobs=self.store.counts())
            self.store.close()
        else:
            # Threads still in a step may write to the state; the process exit ends them.
            self._log.warning(Event.DAEMON_STOPPED, drained=False)
        return drained

    def _drain(self) -> bool:
        if self.scheduler is None:
            return True
        self.scheduler.stop()
        deadline = time.monotonic() + self.settings.workers.drain_timeout_seconds
        while time.monotonic() < deadline and not self.flags.hard_stop.is_set():
            if self.scheduler.join(min(deadline, time.monotonic() + TICK_SECONDS)):
                return True
        return False
