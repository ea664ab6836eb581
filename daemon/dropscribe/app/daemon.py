"""A running dropscribe over complete parts: start order, the main loop, signals, systemd
notification, and shutdown in reverse data-flow order."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from dropscribe import audit
from dropscribe.app import pauses
from dropscribe.app.folders import state_dir
from dropscribe.app.keys import SIGNAL
from dropscribe.app.notices import delivery_policy, settings_receivers
from dropscribe.app.parts import Parts
from dropscribe.app.profile_parts import profile_steps
from dropscribe.app.reload import Reload, plan_reload
from dropscribe.app.remote import SERVER_STOP_TIMEOUT_SECONDS
from dropscribe.app.stopping import in_background, waited
from dropscribe.app.systemd_notify import Notifier
from dropscribe.audit import Event
from dropscribe.config import language_model_warnings, load_config, profile_for
from dropscribe.core import errors
from dropscribe.core.errors import ConfigError
from dropscribe.core.jobs import Job, JobState, new_job
from dropscribe.intake import inbox, recordings
from dropscribe.notifications import Receiver

# How often the main loop wakes to ping the watchdog, rescan and adopt (seconds).
TICK_SECONDS = 0.5
# How often `once` checks whether every job has finished (seconds); a cheap indexed query.
IDLE_CHECK_SECONDS = 0.1
# How often STATUS= is sent to systemd (seconds).
STATUS_EVERY_SECONDS = 5.0
# How often a running daemon looks for jobs requeued by `dropscribe retry` (seconds).
ADOPT_EVERY_SECONDS = 5.0
# How long shutdown waits for a delivery attempt in progress (seconds); one not finished by
# then is tried again at the next start (at least once, never lost).
DELIVERY_STOP_SECONDS = 3.0
# How long shutdown waits for the embedded server (seconds): its HTTP thread and then its
# engine workers each get SERVER_STOP_TIMEOUT_SECONDS.
SERVER_STOP_WAIT_SECONDS = 2 * SERVER_STOP_TIMEOUT_SECONDS
TRUNCATED_HINT = (
    "its writer stopped before the end: copy the whole recording into the inbox again "
    "(watch.unfinished_wait_seconds is how long an unchanged short file is waited for)"
)


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
        """Read the configuration again, rescan the inbox and read the API key source
        again, now."""
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
        depth = self.settings.watch.max_folder_depth
        swept = parts.outbox.sweep_temp(depth)
        parts.lifecycle.settle_failed(parts.store.in_states([JobState.FAILED]))
        orphans = self._adopt_orphans()
        recovered = parts.pipeline.recover()
        parts.scheduler.start()
        parts.deliveries.start()
        for warning in language_model_warnings(self.settings):
            self._log.warning(Event.CONFIG_WARNING, warning=warning)
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
        for rel in self.parts.custody.held(self.settings.watch.max_folder_depth):
            if self.parts.store.active_for_source(rel) is None:
                self.parts.store.save(new_job(rel, time.time(), self.profile_of(rel)))
                count += 1
        return count

    def _watcher(self) -> inbox.InboxWatcher:
        w = self.settings.watch
        return inbox.InboxWatcher(
            self.settings.paths.inbox,
            on_ready=self._take_entry,
            mode=w.mode,
            on_ignored=lambda rel, why: self._log.info(Event.FILE_IGNORED, source=rel, reason=why),
            on_refused=lambda rel, why: self._log.warning(
                Event.FOLDER_REFUSED, folder=rel, reason=why
            ),
            on_unfinished=lambda rel, why: self._log.info(
                Event.FILE_UNFINISHED,
                source=rel,
                reason=why,
                wait_seconds=w.unfinished_wait_seconds,
            ),
            max_depth=w.max_folder_depth,
            unfinished_wait_seconds=w.unfinished_wait_seconds,
            recursive=w.recursive,
            settle_seconds=w.settle_seconds,
            rescan_seconds=w.rescan_seconds,
            extensions=w.extensions,
            ignore=w.ignore,
            on_problem=lambda problem: self._log.warning(Event.INBOX_PROBLEM, problem=problem),
        )

    # -- intake ---------------------------------------------------------------------------------

    def _take_entry(self, entry: inbox.Entry) -> None:
        self.take(entry)

    def take(self, entry: inbox.Entry) -> Job | None:
        """Inspect a settled inbox entry, then claim it or move it to failed/; return the job.

        Raise StorageFull while the disk is full: the watcher offers the entry again later.
        A claim that the full disk interrupts is finished when space is back (the recording
        waits in processing/ and is adopted then).
        """
        pipeline = self.parts.pipeline
        if pipeline.storage_paused():
            raise errors.StorageFull("intake waits while the disk is full")
        try:
            return self._take(entry)
        except Exception as exc:
            if not pipeline.storage_trouble(exc):
                raise
            raise errors.StorageFull(f"intake of {entry.rel}: {exc}") from exc

    def _take(self, entry: inbox.Entry) -> Job | None:
        self._log.info(Event.FILE_DETECTED, source=entry.rel)
        verdict = recordings.inspect_entry(
            entry.path,
            max_bytes=self.settings.max_file_bytes,
            extensions=self.settings.watch.extensions,
        )
        profile = self.profile_of(entry.rel)
        if not verdict.ok:
            return self.parts.lifecycle.refuse(entry.rel, verdict.reason, verdict.hint, profile)
        if entry.truncated:
            return self.parts.lifecycle.refuse(entry.rel, entry.truncated, TRUNCATED_HINT, profile)
        assert verdict.identity is not None  # an accepted verdict names the file inspected
        try:
            claimed = self.parts.custody.claim(entry.rel, verdict.identity)
        except FileNotFoundError:
            return None  # taken away by its owner between the scan and the claim
        except recordings.EntryChanged as exc:
            self._log.warning(Event.FILE_CHANGED, source=entry.rel, reason=str(exc))
            raise
        rel = claimed.relative_to(self.settings.paths.processing).as_posix()
        return self.parts.pipeline.accept(rel, profile)

    def profile_of(self, rel: str) -> str | None:
        """Return the name of the folder profile a recording at ``rel`` (relative to the
        inbox) runs with, or None for the top level's settings."""
        profile = profile_for(self.settings.profiles, rel)
        return None if profile is None else profile.name

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
                self.reload_config()
                if self.watcher is not None:
                    self.watcher.rescan_now()
                self.parts.reload_key(SIGNAL)
                last_adopt = 0.0
            if self.parts.pipeline.probe_storage():
                self._after_storage_pause()
                last_adopt = now
            if now - last_adopt >= ADOPT_EVERY_SECONDS:
                self.parts.pipeline.adopt()
                last_adopt = now
            if ping_every and now - last_ping >= ping_every and self.healthy():
                self._notify.watchdog()
                last_ping = now
            if now - last_status >= STATUS_EVERY_SECONDS:
                self._notify.status(self.status_line())
                last_status = now

    def reload_config(self) -> None:
        """Read the configuration file again and apply what can change while running (see
        service.reload); a file with problems is refused with every one logged, and the
        settings in force stay."""
        source = self.settings.source
        if source is None:
            return
        redactor = self.parts.step_parts.redactor
        try:
            plan = plan_reload(self.settings, load_config(source))
            receivers = settings_receivers(plan.settings, redactor)
        except ConfigError as exc:
            self._log.error(
                Event.CONFIG_RELOAD_FAILED,
                problems=exc.problems,
                hint="the configuration in force stays; fix the file (dropscribe check-config) "
                "and reload again",
            )
            return
        self._apply(plan, receivers)

    def _apply(self, plan: Reload, receivers: list[Receiver]) -> None:
        # Jobs in flight take the new steps at their next step; none is dropped or restarted.
        by_profile, clients = profile_steps(plan.settings, self.parts.step_parts)
        self.parts.steps.replace(by_profile)
        if not plan.settings.is_embedded:
            self.parts.clients.replace(clients)
        self.parts.receivers.replace(receivers)
        self.parts.deliveries.use_policy(delivery_policy(plan.settings.notify))
        self.parts.deliveries.start()  # the first receivers: the senders start now
        watch_changed = plan.settings.watch != self.settings.watch
        self.settings = plan.settings
        if watch_changed and self.watcher is not None:
            self.watcher.stop()
            self.watcher = self._watcher()
            self.watcher.start()
        self._log.info(Event.CONFIG_RELOADED, applied=list(plan.applied))
        if plan.restart_needed:
            self._log.warning(
                Event.CONFIG_RESTART_REQUIRED,
                keys=list(plan.restart_needed),
                hint="these changes take effect at the next start (systemctl restart dropscribe)",
            )

    def _after_storage_pause(self) -> None:
        # Claims the full disk interrupted left recordings in processing/ without a job, and
        # entries the watcher offered meanwhile wait in the inbox: take both now.
        self._adopt_orphans()
        self.parts.pipeline.adopt()
        if self.watcher is not None:
            self.watcher.rescan_now()

    def status_line(self) -> str:
        """Return a one-line summary of the jobs per state, after any daemon-wide pause."""
        counts = self.parts.store.counts()
        jobs = ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "idle"
        paused = {**pauses.read_pauses(state_dir(self.settings)), **self.parts.pipeline.pauses()}
        return "; ".join([*(pauses.describe(k, *t) for k, t in paused.items()), jobs])

    def wait_until_idle(self, progress: Callable[[dict[str, int]], None] | None = None) -> None:
        """Block until no job is unfinished (or a stop was asked for)."""
        while not self.flags.stop.is_set():
            # Idle is read before the counts, so the last counts shown include every job: read
            # after them, a job finishing in between ended the wait with the bar one short.
            idle = not self.parts.store.unfinished()
            if progress is not None:
                progress(self.parts.store.counts())
            if idle:
                return
            self.flags.stop.wait(IDLE_CHECK_SECONDS)

    # -- stop -------------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Stop in reverse data-flow order; return True if every transfer finished in time.

        Every wait is cut short by a second signal (``stopping.waited``)."""
        hard = self.flags.hard_stop
        self._notify.stopping()
        self._log.info(Event.DAEMON_STOPPING, hard=hard.is_set())
        # Intake first: nothing new is claimed while the rest winds down.
        if self.watcher is not None:
            self.watcher.stop()
        drained = self._drain()
        # Deliveries after the jobs: a job that ended while draining still wrote its own.
        self.parts.deliveries.stop()
        drained = waited(self.parts.deliveries.join, DELIVERY_STOP_SECONDS, hard) and drained
        remote = self.parts.remote
        # The server goes after the transfers that talk to it. Its engine notices a stop only
        # between segments, seconds apart in a long decode: waited for in the background, so
        # that a second signal does not wait for it.
        server = remote.server
        if server is not None and drained:
            stop = in_background(lambda: server.stop(SERVER_STOP_TIMEOUT_SECONDS), "server-stop")
            waited(stop, SERVER_STOP_WAIT_SECONDS, hard)
        remote.client.close()
        if self.parts.metrics_server is not None:
            self.parts.metrics_server.stop()
        if drained and not hard.is_set():
            self._log.info(Event.DAEMON_STOPPED, jobs=self.parts.store.counts())
            self.parts.store.close()
        else:
            # Threads still in a step (or the server's, after a second signal) may write to
            # the state; the process exit ends them.
            self._log.warning(Event.DAEMON_STOPPED, drained=False, hard=hard.is_set())
        self.parts.lock.release()
        return drained

    def _drain(self) -> bool:
        scheduler = self.parts.scheduler
        scheduler.stop()
        return waited(
            lambda seconds: scheduler.join(time.monotonic() + seconds),
            self.settings.workers.drain_timeout_seconds,
            self.flags.hard_stop,
        )
