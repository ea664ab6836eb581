"""The pipeline's options, read from the settings: the fingerprint of where results come
from, the retry and poll policies, the quality policy and the speaker labeller."""

from __future__ import annotations

from dropscribe.config import Settings
from dropscribe.core.backoff import PollPolicy, RetryPolicy
from dropscribe.core.jobs import fingerprint
from dropscribe.pipeline import Options
from dropscribe.pipeline.quality import QualityPolicy, SpeechFinder
from dropscribe.speakers import ChannelLabeller, VoiceLabeller, VoiceModel

#: The limits a refusal of the embedded server names, each with the setting that lifts it.
EMBEDDED_LIMITS = {"max_audio_hours": "embedded.max_audio_hours"}


def pipeline_options(settings: Settings, speech: SpeechFinder | None = None) -> Options:
    """Return what the pipeline needs from the settings; ``speech`` finds the speech in a
    recording whose result carries no coverage (a remote service's)."""
    api = settings.api
    engine = f"embedded:{settings.embedded.model or 'bundled'}" if settings.is_embedded else ""
    return Options(
        whisper_input=settings.whisper_input,
        fingerprint=fingerprint(
            api.base_url + engine, _model_of(settings), api.service_tier, settings.whisper_input
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
            settings.quality.min_coverage,
            settings.quality.on_incomplete == "fail",
            settings.quality.max_gap_seconds,
        ),
        speech=speech,
        speakers=labeller_of(settings),
        # A remote service's limits are its operator's: the advice names them, not a setting.
        limit_settings=EMBEDDED_LIMITS if settings.is_embedded else {},
    )


def _model_of(settings: Settings) -> str:
    """Return what names the model in the fingerprint: the four steps' model path, or the
    OpenAI endpoint, model and extra fields (the four steps' fingerprints stay as they were)."""
    api = settings.api
    if api.protocol == "tiyaro":
        return api.async_path
    spec = api.openai
    return f"openai:{spec.path}:{spec.model_field}={spec.model}:{sorted(spec.fields.items())}"


def labeller_of(settings: Settings) -> ChannelLabeller | VoiceLabeller | None:
    """Return what labels speakers as configured (``diarize``), or None when it is off."""
    diarize = settings.diarize
    if not diarize.enabled:
        return None
    if diarize.method == "channels":
        return ChannelLabeller(diarize.channel_names)
    return VoiceLabeller(VoiceModel(diarize.min_speakers, diarize.max_speakers, diarize.max_hours))
