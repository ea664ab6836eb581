"""The connection to the transcription service: the API client for a remote service, or the
embedded server started on this machine and a client made for its address."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dropscribe import audit
from dropscribe.api_client import ApiClient, RebasedClient, Timeouts
from dropscribe.app.folders import state_dir
from dropscribe.audit import Event
from dropscribe.config import Settings, profile_models
from dropscribe.core.errors import ConfigError
from dropscribe.core.jobs import JobState
from dropscribe.core.redaction import Redactor
from dropscribe.intake.piece_cutter import PieceCutter
from dropscribe.intake.speech_probe import SpeechProbe
from dropscribe.pipeline import POLL
from dropscribe.pipeline.ports import Remote as Caller
from dropscribe.scheduler import Scheduler
from dropscribe.state import StateStore

if TYPE_CHECKING:  # the engine's import is heavy; see connect()
    from dropscribe.server.embedded import EmbeddedServer

# How long the embedded server may take to stop once the transfers have drained (seconds).
SERVER_STOP_TIMEOUT_SECONDS = 10.0


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
    #: Cuts a recording over an OpenAI-compatible server's upload limit into pieces, in a
    #: helper process started on first use.
    piece_cutter: PieceCutter = field(default_factory=PieceCutter)


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
            max_gap_seconds=s.quality.max_gap_seconds,
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
    remote.piece_cutter.close()
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
