"""Every part of a run, built in one phase from the settings: :func:`build` returns them
complete, in the order of the package docstring."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dropscribe import audit
from dropscribe.api_client import ApiClient, RebasedClient, Timeouts
from dropscribe.audit import Event
from dropscribe.config import Settings, profile_models
from dropscribe.core.backoff import PollPolicy, RetryPolicy
from dropscribe.core.errors import ConfigError
from dropscribe.core.fsio import write_atomic
from dropscribe.core.jobs import JobState, fingerprint
from dropscribe.core.redaction import Redactor
from dropscribe.intake.custody import Custody, Folders, check_layout, ensure_layout
from dropscribe.intake.speech_probe import SpeechProbe
from dropscribe.notifications import DeliveryWorker, Receivers, announcer
from dropscribe.outbox import Outbox
from dropscribe.pipeline import (
    POLL,
    TRANSFER,
    AuthGate,
    Clock,
    Lifecycle,
    Options,
    Pipeline,
    StepsByProfile,
)
from dropscribe.pipeline.gates.outage import ServiceGate
from dropscribe.pipeline.gates.pause import ProbeTiming
from dropscribe.pipeline.gates.storage import PROBE_BYTES, StorageGate
from dropscribe.pipeline.ports import Audit
from dropscribe.pipeline.ports import Remote as Caller
from dropscribe.pipeline.quality import QualityPolicy, SpeechFinder
from dropscribe.scheduler import Scheduler
from dropscribe.speakers import ChannelLabeller, VoiceLabeller, VoiceModel
from dropscribe.state import StateStore

if TYPE_CHECKING:  # the engine's import is heavy; see connect()
    from dropscribe.server.embedded import EmbeddedServer

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
from dropscribe.app.pauses import SERVICE_PAUSE_FILE, STORAGE_PAUSE_FILE
from dropscribe.app.profile_parts import Clients, StepParts, outbox_of, profile_steps
from dropscribe.notifications.metrics import DaemonMetrics, MetricsServer

# Threads that poll the service and publish results; polls are short, so a few serve thousands.
POLL_THREADS = 2
# How long the embedded server may take to stop once the transfers have drained (seconds).
SERVER_STOP_TIMEOUT_SECONDS = 10.0
# The file a storage probe writes (and removes) in the state folder.
STORAGE_PROBE_FILE = ".storage-probe"
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


def pipeline_options(settings: Settings, speech: SpeechFinder | None = None) -> Options:
    """Return what the pipeline needs from the settings; ``speech`` finds the speech in a
    recording whose result carries no coverage (a remote service's)."""
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
            give_up_seconds=settings.retry.give_up_after_hours * 3600.0,
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
        speech=speech,
        speakers=labeller_of(settings),
    )


def labeller_of(settings: Settings) -> ChannelLabeller | VoiceLabeller | None:
    """Return what labels speakers as configured (``diarize``), or None when it is off."""
    diarize = settings.diarize
    if not diarize.enabled:
        return None
    if diarize.method == "channels":
        return ChannelLabeller(diarize.channel_names)
    return VoiceLabeller(VoiceModel(diarize.min_speakers, diarize.max_speakers))


@dataclass(frozen=True)
class Remote:
    """The connection to the service: the client, what the pipeline calls, and the embedded
    server when it is the backend."""

    client: ApiClient
    calls: Caller
    server: EmbeddedServer | None
    #: Measures a remote result's coverage in a helper process started on first use; None with
    #: the embedded engine, which measures coverage itself.
    speech_probe: SpeechProbe | None = None


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
        wake = threading.Event()  # set with each delivery written: idle senders take it
        announce = waking(
            announcer(
                receivers, settings.paths.outbox, lambda job: job.profile, shortfall, clock.time
            ),
            wake,
        )
        # The gauges read the store at scrape time; the store is made next.
        metrics = daemon_metrics(settings, lambda: store.counts(), state_dir(settings))
        observe = job_observer(metrics, clock.time)
        store = StateStore(state_dir(settings) / "state.db", announce, observe)
        opened.append(store.close)
        metrics_server = serve_metrics(settings, metrics)
        if metrics_server is not None:
            opened.append(metrics_server.stop)
        return _build_on(
            settings,
            redactor,
            clock,
            lock,
            store,
            (receivers, wake),
            (metrics, metrics_server),
            opened,
        )
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
    notices: tuple[Receivers, threading.Event],
    metering: tuple[DaemonMetrics, MetricsServer | None],
    opened: list[Callable[[], None]],
) -> Parts:
    log = audit.get_logger()
    receivers, wake = notices
    metrics, metrics_server = metering
    custody = Custody(folders_of(settings))
    outbox = outbox_of(settings, redactor)
    # The scheduler calls the pipeline and the pipeline schedules: the scheduler takes
    # callables, bound to the pipeline made below; it runs nothing before Service.start().
    scheduler = Scheduler(
        {TRANSFER: settings.workers.transfers, POLL: POLL_THREADS},
        {
            TRANSFER: lambda job_id: pipeline.run_transfer(job_id),
            POLL: lambda job_id: pipeline.run_poll(job_id),
        },
    )
    remote = connect(
        settings, redactor, lambda rid: wake_poll(store, scheduler, rid), metrics.api_response
    )
    opened.append(lambda: close_remote(remote, SERVER_STOP_TIMEOUT_SECONDS))
    probe = remote.speech_probe
    speech = None if probe is None else probe.speech
    options = pipeline_options(settings, speech)
    p = settings.paths
    lifecycle = Lifecycle(store, custody, log, clock.time, (p.processing, p.failed))
    clients = Clients([] if settings.is_embedded else [remote.client])
    reload_key = key_reloader(settings, clients, log)
    record_pause = pause_recorder(state_dir(settings))
    record_pause(None, None)  # a pause left by an earlier run is over
    gate = AuthGate(scheduler.hold, log, clock.time, lambda: reload_key(PROBE), record_pause)
    step_parts = StepParts(
        store,
        custody,
        log,
        clock,
        gate.accepted,
        redactor,
        remote.client,
        remote.calls,
        None if remote.server is None else remote.server.base_url,
        lambda eff: pipeline_options(eff, speech),
    )
    by_profile, in_use = profile_steps(settings, step_parts)
    clients.replace([] if settings.is_embedded else in_use)
    steps = StepsByProfile(by_profile)
    service = service_gate(settings, scheduler, log, clock)
    storage = storage_gate(settings, store, scheduler, log, clock)
    pipeline = Pipeline(
        store, steps, lifecycle, gate, scheduler, log, options, clock, service, storage
    )
    deliveries = DeliveryWorker(
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
    return Parts(
        settings,
        lock,
        store,
        custody,
        outbox,
        scheduler,
        remote,
        lifecycle,
        pipeline,
        reload_key,
        receivers,
        deliveries,
        steps,
        step_parts,
        clients,
        metrics,
        metrics_server,
    )


def service_gate(settings: Settings, scheduler: Scheduler, log: Audit, clock: Clock) -> ServiceGate:
    """Return the outage pause of this run; a pause left by an earlier run is over."""
    record = pause_recorder(state_dir(settings), SERVICE_PAUSE_FILE)
    record(None, None)
    r = settings.retry
    timing = ProbeTiming(
        r.outage_probe_first_seconds, r.outage_probe_max_seconds, r.outage_min_failures
    )
    return ServiceGate(scheduler.hold, log, clock.time, timing, record)


def storage_gate(
    settings: Settings, store: StateStore, scheduler: Scheduler, log: Audit, clock: Clock
) -> StorageGate:
    """Return the full-disk pause of this run: its probe writes PROBE_BYTES beside the state
    file, then a transaction to it."""
    folder = state_dir(settings)
    record = pause_recorder(folder, STORAGE_PAUSE_FILE)
    with contextlib.suppress(OSError):
        record(None, None)  # a pause left by an earlier run is over

    def probe() -> None:
        try:
            write_atomic(folder / STORAGE_PROBE_FILE, bytes(PROBE_BYTES))
        finally:
            (folder / STORAGE_PROBE_FILE).unlink(missing_ok=True)
        store.probe()

    r = settings.retry
    timing = ProbeTiming(r.outage_probe_first_seconds, r.outage_probe_max_seconds)
    return StorageGate(scheduler.hold, log, clock.time, timing, probe, record)


def connect(
    settings: Settings,
    redactor: Redactor,
    on_finished: Callable[[str], None],
    on_response: Callable[[str, int | None], None] = lambda step, code: None,
) -> Remote:
    """Return the connection to the configured service; for the embedded backend, start the
    server first (``on_finished(request_id)`` is called as each of its jobs ends).
    ``on_response`` hears of each request's step and HTTP status (the metrics)."""
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
        client = ApiClient(
            s.api.base_url,
            s.api.async_path,
            s.api.service_tier,
            key,
            timeouts,
            on_response=on_response,
        )
        return Remote(client, client, None, SpeechProbe())
    # Imported here: the engine brings numpy, CTranslate2 and FFmpeg (about 55 MB and a
    # thread pool), which a daemon talking to a remote service does without.
    from dropscribe.server.embedded import EmbeddedServer, ServerOptions
    from dropscribe.server.store import StoreTooNew

    token = secrets.token_urlsafe(32)
    redactor.add(token)
    server = EmbeddedServer(
        ServerOptions(
            data_dir=state_dir(s) / "embedded",
            token=token,
            model=s.embedded.model,
            # Each profile with its own embedded.model has it served on its own model path.
            model_map=profile_models(s),
            workers=s.embedded.workers,
            max_audio_hours=s.embedded.max_audio_hours,
            min_coverage=s.quality.min_coverage,
            keep_finished_uploads=False,  # the recording stays in our custody until published
        ),
        on_finished=on_finished,
    )
    try:
        server.start()
    except StoreTooNew as exc:
        raise ConfigError([f"{exc}; upgrade dropscribe or use another state_dir"]) from exc
    audit.get_logger().info(Event.SERVER_STARTED, base_url=server.base_url)
    client = ApiClient(
        server.base_url,
        s.api.async_path,
        s.api.service_tier,
        token,
        timeouts,
        on_response=on_response,
    )
    return Remote(client, RebasedClient(client, server.base_url), server)


def close_remote(remote: Remote, server_timeout: float) -> None:
    """Close the client, then stop the embedded server if there is one."""
    remote.client.close()
    if remote.speech_probe is not None:
        remote.speech_probe.close()
    if remote.server is not None:
        remote.server.stop(server_timeout)


def wake_poll(store: StateStore, scheduler: Scheduler, request_id: str) -> None:
    """The service says ``request_id`` finished: poll its job at once, not at its next due
    time. Safe to call from any thread."""
    job = store.by_request_id(request_id)
    if job is not None and job.state is JobState.SUBMITTED:
        scheduler.schedule(job.id, POLL, 0.0)
