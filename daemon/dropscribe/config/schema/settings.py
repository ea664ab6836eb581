"""The whole configuration: every section, the rules that span sections, and the settings in
force for a folder profile's recordings (its keys over the top level's) with the models the
profiles add.

The profile merging lives here with :class:`Settings` because its validation applies it: a
profile's model must know the language the profile ends up with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, SecretStr, model_validator

from dropscribe.config.languages import english_only
from dropscribe.config.schema.diarization import Diarize, diarize_inputs, diarize_problems
from dropscribe.config.schema.folders import Paths, Watch
from dropscribe.config.schema.metrics import Metrics
from dropscribe.config.schema.pacing import Poll, Retry, Workers
from dropscribe.config.schema.profile import PROFILE_ASYNC_PATH_BASE, Profile, profile_route
from dropscribe.config.schema.receivers import Notify
from dropscribe.config.schema.section import Section, refuse
from dropscribe.config.schema.service import EMBEDDED, Api, Embedded, protocol_mix
from dropscribe.config.schema.transcription import OPTIONAL_INPUTS, Output, Quality, Whisper

MIB = 1024 * 1024

_S = TypeVar("_S", bound=Section)


def _distinct_profiles(profiles: tuple[Profile, ...]) -> tuple[Profile, ...]:
    problems: list[str] = []
    for index, profile in enumerate(profiles):
        for earlier in profiles[:index]:
            if profile.name == earlier.name:
                problems.append(f"{index}: name {profile.name!r} is used twice")
            if profile.folder == earlier.folder:
                problems.append(
                    f"{index}: folder {profile.folder!r} is also the folder of {earlier.name!r}"
                )
    refuse(problems)
    return profiles


def _unset_optional(whisper: Whisper) -> set[str]:
    return {name for name in OPTIONAL_INPUTS if getattr(whisper, name) is None}


class Settings(Section):
    """The whole configuration."""

    paths: Paths = Paths()
    api: Api = Api()
    watch: Watch = Watch()
    workers: Workers = Workers()
    poll: Poll = Poll()
    retry: Retry = Retry()
    output: Output = Output()
    whisper: Whisper = Whisper()
    embedded: Embedded = Embedded()
    quality: Quality = Quality()
    diarize: Diarize = Diarize()
    notify: Notify = Notify()
    profiles: Annotated[tuple[Profile, ...], AfterValidator(_distinct_profiles)] = ()
    metrics: Metrics = Metrics()
    # Filled by load_config, never read from YAML.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _language_fits_the_model(self) -> Settings:
        problem = language_model_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _profile_models_usable(self) -> Settings:
        refuse([p for profile in self.profiles for p in profile_model_problems(self, profile)])
        return self

    @model_validator(mode="after")
    def _channels_need_the_engine(self) -> Settings:
        problem = channels_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def is_embedded(self) -> bool:
        """Return True when the daemon runs its own server."""
        return self.api.base_url == EMBEDDED

    @property
    def max_file_bytes(self) -> int:
        """Return the largest recording accepted, in bytes."""
        return self.watch.max_file_mb * MIB

    @property
    def whisper_input(self) -> dict[str, Any]:
        """Return the ``input`` object sent with every submission; ``word_timestamps`` only
        when set, so a service that does not know it is never sent it."""
        sent = self.whisper.model_dump(mode="json", exclude=_unset_optional(self.whisper))
        return {**sent, **diarize_inputs(self.diarize, self.whisper)}


def channels_problem(settings: Settings) -> str | None:
    """Return why the channels method cannot work with the rest (None if it can, or is off)."""
    diarize = settings.diarize
    if diarize.enabled and diarize.method == "channels" and not settings.is_embedded:
        return (
            "diarize.method channels needs api.base_url: embedded (the embedded engine "
            "transcribes each channel; a remote service gets the channels mixed)"
        )
    return None


def language_model_problem(settings: Settings) -> str | None:
    """Return why the embedded model cannot transcribe the configured language (an
    English-only model and another language), or None if it can."""
    language, model = settings.whisper.language, settings.embedded.model
    if settings.is_embedded and language not in (None, "en") and english_only(model):
        return (
            f"whisper.language {language!r} needs a multilingual embedded.model; "
            f"{model!r} knows English only (use e.g. base or small, or a model folder)"
        )
    return None


def language_model_warnings(settings: Settings) -> list[str]:
    """Return the language settings that are valid but cannot do what they ask, for the top
    level and each profile: detection (``whisper.language: null``) with an English-only
    embedded model, which transcribes every recording as English."""
    scopes = [
        ("", settings),
        *((f"profiles: {p.name}: ", effective(settings, p)) for p in settings.profiles),
    ]
    return [
        f"{where}whisper.language null asks to detect the language, but embedded.model "
        f"{s.embedded.model!r} knows English only: every recording is transcribed as English "
        f"and its .json records language en with language_probability null (detecting needs "
        f"a multilingual model, e.g. base or small)"
        for where, s in scopes
        if s.is_embedded and s.whisper.language is None and english_only(s.embedded.model)
    ]


def effective(settings: Settings, profile: Profile | None) -> Settings:
    """Return the settings in force for the recordings of ``profile`` (the top level's for
    None): each key the profile sets replaces the top level's, the others stay. A profile's
    own ``embedded.model`` also gives it its own model path (:func:`profile_route`)."""
    if profile is None:
        return settings
    api_keys = {
        k: getattr(profile.api, k)
        for k in profile.api.model_fields_set
        if getattr(profile.api, k) is not None
    }
    if profile.api.openai is not None:
        api_keys["openai"] = _over(settings.api.openai, profile.api.openai)
    embedded = settings.embedded
    if profile.embedded.model is not None:
        embedded = embedded.model_copy(update={"model": profile.embedded.model})
        api_keys["async_path"] = PROFILE_ASYNC_PATH_BASE + profile_route(profile.name)
    return settings.model_copy(
        update={
            "whisper": _over(settings.whisper, profile.whisper),
            "output": _over(settings.output, profile.output),
            "api": settings.api.model_copy(update=api_keys),
            "embedded": embedded,
            "diarize": _over(settings.diarize, profile.diarize),
        }
    )


def profile_models(settings: Settings) -> dict[str, str]:
    """Return the model path and model of each profile that sets its own ``embedded.model``
    (what the embedded server serves besides the top level's model)."""
    return {
        profile_route(p.name): p.embedded.model
        for p in settings.profiles
        if p.embedded.model is not None
    }


def profile_model_problems(settings: Settings, profile: Profile) -> list[str]:
    """Return why ``profile``'s model settings cannot work with the rest (empty if they can):
    its own ``embedded.model`` needs the embedded backend and its own model path, and its
    model must know its language."""
    where = f"profiles: {profile.name}"
    problems: list[str] = []
    if profile.embedded.model is not None:
        if not settings.is_embedded:
            problems.append(
                f"{where}: embedded.model needs api.base_url: embedded "
                f"(a remote service chooses its model by api.async_path)"
            )
        if profile.api.async_path is not None:
            problems.append(
                f"{where}: set embedded.model or api.async_path, not both (the embedded "
                f"server serves the profile's model on a path of its own, "
                f"{profile_route(profile.name)})"
            )
    in_force = effective(settings, profile)
    set_keys = {k for k in profile.api.model_fields_set if getattr(profile.api, k) is not None}
    problems += [f"{where}: {p}" for p in protocol_mix(in_force.api.protocol, set_keys)]
    if profile.embedded.model is not None and in_force.api.protocol == "openai":
        problems.append(
            f"{where}: embedded.model needs protocol tiyaro; with protocol openai "
            f"set api.openai.model (a model path of the embedded server)"
        )
    language = language_model_problem(in_force)
    if language is not None:
        problems.append(f"{where}: {language}")
    if profile.diarize.model_fields_set:
        problems += [f"{where}: diarize: {p}" for p in diarize_problems(in_force.diarize)]
        channels = channels_problem(in_force)
        problems += [] if channels is None else [f"{where}: {channels}"]
    return problems


def _over(base: _S, override: Section) -> _S:
    # The override is the base's section or the keys of it a profile may set.
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})
