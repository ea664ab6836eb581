"""Every part of a run, built in one phase from the settings: :func:`build` returns them
complete, in the order of the package docstring, one builder per subsystem."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dropscribe import audit
from dropscribe.app.folders import STATE_FILE, check_folders, folders_of, state_dir
from dropscribe.app.gates import service_gate, storage_gate
from dropscribe.app.keys import PROBE, key_reloader, pause_recorder
from dropscribe.app.lock import StateLock
from dropscribe.app.metering import daemon_metrics, job_observer, serve_metrics
from dropscribe.app.notices import (
    attempt_reporter,
    delivery_policy,
    settings_receivers,
    shortfall,
    waking,
)
from dropscribe.app.options import pipeline_options
from dropscribe.app.profile_parts import Clients, StepParts, outbox_of, profile_steps
from dropscribe.app.remote import (
    SERVER_STOP_TIMEOUT_SECONDS,
    Remote,
    close_remote,
    connect,
    wake_poll,
)
from dropscribe.audit import Event
from dropscribe.config import Settings
from dropscribe.core.redaction import Redactor
from dropscribe.intake.custody import Custody
from dropscribe.notifications import DeliveryWorker, Receivers, announcer
from dropscribe.notifications.metrics import DaemonMetrics, MetricsServer
from dropscribe.outbox import Outbox
from dropscribe.pipeline import (
    POLL,
    TRANSFER,
    AuthGate,
    Clock,
    Lifecycle,
    Pipeline,
    StepsByProfile,
)
from dropscribe.pipeline.ports import Audit
from dropscribe.scheduler import Scheduler
from dropscribe.state import StateStore

# Threads that poll the service and publish results; polls are short, so a few serve thousands.
POLL_THREADS = 2
# Wall-clock time and jitter of a real run (tests pass their own).
WALL_CLOCK = Clock()


@dataclass(frozen=True, kw_only=True)
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
    #: Reads the API key source again (its argument: why, keys.PROBE or keys.SIGNAL).
    reload_key: Callable[[str], None]
    #: The webhook and Apprise receivers in force (replaced on reload).
    receivers: Receivers
    #: The sender threads of webhooks and messages.
    deliveries: DeliveryWorker
    #: The steps of each folder profile (replaced on reload), what they are built from, and
    #: the API clients they submit through.
    steps: StepsByProfile
    step_parts: StepParts
    clients: Clients
    #: The daemon's metrics, and their server when metrics.listen is set.
    metrics: DaemonMetrics
    metrics_server: MetricsServer | None


def build(settings: Settings, redactor: Redactor, clock: Clock = WALL_CLOCK) -> Parts:
    """Build every part from the settings, in order (see the module docstring); return them.

    Raise AlreadyRunning if another process holds the state folder, ConfigError if the
    folders or the state file cannot be used. Whatever was opened is closed again on an error.
    """
    check_folders(settings)
    receivers = Receivers(settings_receivers(settings, redactor))
    lock = StateLock(state_dir(settings))
    opened: list[Callable[[], None]] = [lock.release]
    try:
        return _build_locked(settings, redactor, clock, lock, receivers, opened)
    except BaseException:
        for close in reversed(opened):
            close()
        raise


def _build_locked(
    settings: Settings,
    redactor: Redactor,
    clock: Clock,
    lock: StateLock,
    receivers: Receivers,
    opened: list[Callable[[], None]],
) -> Parts:
    """Build the parts behind the lock, subsystem by subsystem; append to ``opened`` how to
    close each part that holds something open, as it is opened."""
    log = audit.get_logger()
    wake = threading.Event()  # set with each delivery written: idle senders take it
    # The gauges read the store at scrape time; the store is made next.
    metrics = daemon_metrics(settings, lambda: store.counts(), state_dir(settings))
    store = _state_store(settings, receivers, wake, metrics, clock)
    opened.append(store.close)
    metrics_server = serve_metrics(settings, metrics)
    if metrics_server is not None:
        opened.append(metrics_server.stop)
    custody = Custody(folders_of(settings))
    outbox = outbox_of(settings, redactor)
    # The scheduler calls the pipeline and the pipeline schedules: the scheduler takes
    # callables, bound to the pipeline made below; it runs nothing before Service.start().
    scheduler = _scheduler(settings, lambda: pipeline)
    remote = _remote(settings, redactor, store, scheduler, metrics)
    opened.append(lambda: close_remote(remote, SERVER_STOP_TIMEOUT_SECONDS))
    speech = None if remote.speech_probe is None else remote.speech_probe.speech
    options = pipeline_options(settings, speech)
    lifecycle = _lifecycle(settings, store, custody, log, clock)
    clients = Clients([] if settings.is_embedded else [remote.client])
    reload_key = key_reloader(settings, clients, log)
    gate = _auth_gate(settings, scheduler, reload_key, log, clock)
    step_parts = StepParts(
        store=store, custody=custody, log=log, clock=clock, on_accepted=gate.accepted,
        redactor=redactor, client=remote.client, calls=remote.calls,
        server_url=None if remote.server is None else remote.server.base_url,
        piece_cutter=remote.piece_cutter,
        options_of=lambda eff: pipeline_options(eff, speech),
    )  # fmt: skip
    steps = _steps(settings, step_parts, clients)
    pipeline = Pipeline(
        store, steps, lifecycle, gate, scheduler, log, options, clock,
        service_gate(settings, scheduler, log, clock),
        storage_gate(settings, store, scheduler, log, clock),
    )  # fmt: skip
    deliveries = _deliveries(settings, store, receivers, wake, metrics, redactor, log, clock)
    return Parts(
        settings=settings, lock=lock, store=store, custody=custody, outbox=outbox,
        scheduler=scheduler, remote=remote, lifecycle=lifecycle, pipeline=pipeline,
        reload_key=reload_key, receivers=receivers, deliveries=deliveries,
        steps=steps, step_parts=step_parts, clients=clients,
        metrics=metrics, metrics_server=metrics_server,
    )  # fmt: skip


def _state_store(
    settings: Settings,
    receivers: Receivers,
    wake: threading.Event,
    metrics: DaemonMetrics,
    clock: Clock,
) -> StateStore:
    """Return the open state file; each job it saves is announced to ``receivers`` (waking
    the senders) and counted in ``metrics``."""
    announce = waking(
        announcer(receivers, settings.paths.outbox, lambda job: job.profile, shortfall, clock.time),
        wake,
    )
    observe = job_observer(metrics, clock.time)
    return StateStore(state_dir(settings) / STATE_FILE, announce, observe)


def _scheduler(settings: Settings, pipeline: Callable[[], Pipeline]) -> Scheduler:
    """Return the scheduler of the transfer and poll workers; each job it runs goes to the
    pipeline that ``pipeline()`` returns by then."""
    return Scheduler(
        {TRANSFER: settings.workers.transfers, POLL: POLL_THREADS},
        {
            TRANSFER: lambda job_id: pipeline().run_transfer(job_id),
            POLL: lambda job_id: pipeline().run_poll(job_id),
        },
    )


def _remote(
    settings: Settings,
    redactor: Redactor,
    store: StateStore,
    scheduler: Scheduler,
    metrics: DaemonMetrics,
) -> Remote:
    """Return the connection to the service: a job the service reports finished is polled at
    once, and each response is counted in ``metrics``."""
    return connect(
        settings, redactor, lambda rid: wake_poll(store, scheduler, rid), metrics.api_response
    )


def _lifecycle(
    settings: Settings, store: StateStore, custody: Custody, log: Audit, clock: Clock
) -> Lifecycle:
    """Return the jobs' lifecycle: their state transitions and their recordings' moves."""
    p = settings.paths
    return Lifecycle(store, custody, log, clock.time, (p.processing, p.failed))


def _auth_gate(
    settings: Settings,
    scheduler: Scheduler,
    reload_key: Callable[[str], None],
    log: Audit,
    clock: Clock,
) -> AuthGate:
    """Return the pause for a refused API key; its probe reads the key source again."""
    record_pause = pause_recorder(state_dir(settings))
    record_pause(None, None)  # a pause left by an earlier run is over
    return AuthGate(scheduler.hold, log, clock.time, lambda: reload_key(PROBE), record_pause)


def _steps(settings: Settings, step_parts: StepParts, clients: Clients) -> StepsByProfile:
    """Return the steps of every folder profile, and put the clients they submit through in
    ``clients`` (none with the embedded engine, whose token is not reloaded)."""
    by_profile, in_use = profile_steps(settings, step_parts)
    clients.replace([] if settings.is_embedded else in_use)
    return StepsByProfile(by_profile)


def _deliveries(
    settings: Settings,
    store: StateStore,
    receivers: Receivers,
    wake: threading.Event,
    metrics: DaemonMetrics,
    redactor: Redactor,
    log: Audit,
    clock: Clock,
) -> DeliveryWorker:
    """Return the senders of webhooks and messages to ``receivers``; they take a delivery
    as soon as ``wake`` is set, and count each attempt in ``metrics``."""
    return DeliveryWorker(
        store,
        receivers,
        delivery_policy(settings.notify),
        attempt_reporter(log, metrics.delivery),
        redactor.text,
        lambda exc: log.error(Event.DELIVERY_ERROR, error=redactor.text(repr(exc))),
        wake=wake,
        clock=clock.time,
        random=clock.random,
    )
