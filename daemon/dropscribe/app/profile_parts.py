"""The steps of every folder profile, built from the settings: each profile's effective
settings (config.effective) give its pipeline options (fingerprint included), its outbox
formats and the model path and tier it submits to.

A profile that submits where the top level does shares its client; another gets a twin of the
client (ApiClient.for_model) with the same connections. :class:`Clients` lists the clients in
use, so that a reloaded API key reaches all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dropscribe.api_client import ApiClient, OpenAIClient, OpenAIOptions, RebasedClient
from dropscribe.app.openai_backend import OpenAIBackend
from dropscribe.config import Settings, effective
from dropscribe.core.redaction import Redactor
from dropscribe.intake.custody import Custody
from dropscribe.intake.piece_cutter import PieceCutter
from dropscribe.outbox import CueLimits, Outbox
from dropscribe.pipeline import Clock, Options, Steps
from dropscribe.pipeline.ports import Audit, Store
from dropscribe.pipeline.ports import Remote as Caller


class Clients:
    """The API clients in use (replaced on reload); calling it returns them."""

    def __init__(self, clients: Sequence[ApiClient]) -> None:
        self._lock = threading.Lock()
        self._clients = tuple(clients)

    def replace(self, clients: Sequence[ApiClient]) -> None:
        """Put a new list in force."""
        with self._lock:
            self._clients = tuple(clients)

    def __call__(self) -> tuple[ApiClient, ...]:
        with self._lock:
            return self._clients


@dataclass(frozen=True)
class StepParts:
    """What the steps of every profile share."""

    store: Store
    custody: Custody
    log: Audit
    clock: Clock
    on_accepted: Callable[[], None]
    redactor: Redactor
    #: The top level's client and calls, and the embedded server's address (None: remote).
    client: ApiClient
    calls: Caller
    server_url: str | None
    #: Cuts recordings over an OpenAI-compatible server's upload limit.
    piece_cutter: PieceCutter
    #: The pipeline options of a profile's effective settings (service.parts.pipeline_options).
    options_of: Callable[[Settings], Options]


def outbox_of(settings: Settings, redactor: Redactor) -> Outbox:
    """Return the outbox of one profile's effective settings (its formats). Profiles write
    under disjoint folders of the outbox, so their outboxes never claim the same name."""
    subtitles = settings.output.subtitles
    return Outbox(
        settings.paths.outbox,
        settings.output.formats,
        redactor,
        txt_line_per_segment=settings.output.txt_line_per_segment,
        subtitles=CueLimits(
            subtitles.max_cue_seconds, subtitles.max_line_chars, subtitles.max_lines
        ),
    )


def profile_steps(
    settings: Settings, parts: StepParts
) -> tuple[dict[str | None, Steps], list[ApiClient]]:
    """Return the steps of the top level (key None) and of each profile, and the API
    clients they submit through."""
    steps: dict[str | None, Steps] = {}
    clients: dict[tuple[str, str], ApiClient] = {}
    for profile in (None, *settings.profiles):
        eff = effective(settings, profile)
        calls, client = _calls_for(eff, settings, parts)
        clients[(eff.api.async_path, eff.api.service_tier)] = client
        steps[None if profile is None else profile.name] = Steps(
            parts.store,
            calls,
            outbox_of(eff, parts.redactor),
            parts.custody,
            parts.log,
            parts.options_of(eff),
            parts.clock,
            parts.on_accepted,
            transcriber=openai_backend(eff, parts),
        )
    return steps, list(clients.values())


def openai_backend(eff: Settings, parts: StepParts) -> OpenAIBackend | None:
    """Return the OpenAI-compatible backend of one profile's effective settings, or None
    for the four-step protocol. It posts through the top level's client, so the key, its
    reload and its redaction are the same; on the embedded server's address when embedded."""
    if eff.api.protocol != "openai":
        return None
    spec = eff.api.openai
    options = OpenAIOptions(
        spec.path, spec.model, spec.model_field, spec.response_format,
        spec.request_timeout_seconds, dict(spec.fields),
    )  # fmt: skip
    client = OpenAIClient(parts.client, parts.server_url or eff.api.base_url, options)
    return OpenAIBackend(client, parts.piece_cutter, spec.max_upload_bytes)


def _calls_for(eff: Settings, top: Settings, parts: StepParts) -> tuple[Caller, ApiClient]:
    api = eff.api
    if (api.async_path, api.service_tier) == (top.api.async_path, top.api.service_tier):
        return parts.calls, parts.client
    twin = parts.client.for_model(api.async_path, api.service_tier)
    return (twin if parts.server_url is None else RebasedClient(twin, parts.server_url)), twin
