"""The settings schema and its loading: validated once, completely, at start.

``load_config(path)`` reads YAML with the safe loader (no tag can run code), validates it
against a pydantic v2 schema in which unknown keys are errors, resolves relative paths against
the config file's folder, fills the state and log folders from systemd's ``$STATE_DIRECTORY``
and ``$LOGS_DIRECTORY`` when left out, and finds the API key for a remote service. Every
problem is collected and raised at once as a :class:`ConfigError` whose lines read
``<file>: <key.path>: <message>``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
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

from dropscribe.errors import ConfigError
from dropscribe.mounts import WatchMode

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

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = language_problem(value.strip().lower())
        if problem is not None:
            raise ValueError(problem)
        return value.strip().lower()


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
    # localapi.engine.DEFAULT_MAX_AUDIO_HOURS); same default as `serve`.
    max_audio_hours: Annotated[float, Field(gt=0, le=24, allow_inf_nan=False)] = 1.0


class Quality(_Section):
    """When a transcript counts as complete, and what happens to one that is not."""

    # 0.95: complete transcripts of the speech fixtures cover 0.996-1.0 of the speech the VAD
    # finds; one sentence dropped from a half-minute recording leaves 0.90-0.92.
    min_coverage: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.95
    on_incomplete: Literal["publish", "fail"] = "publish"


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
    # Filled by load_config, never read from YAML.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    source: Path | None = Field(default=None, exclude=True)

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
        """Return the ``input`` object sent with every submission."""
        return self.whisper.model_dump(mode="json")


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
        others = folder_problems + _key_problems(raw, path, env)
        raise ConfigError(schema_problems + others) from None
    problems: list[str] = []
    unset: list[str] = []  # folders not set; problems only for a command that needs them
    paths = _resolve_paths(settings.paths, path.parent.resolve(), env, path, unset)
    problems += unset if folders else []
    key = _find_api_key(settings.api, path.parent.resolve(), env, path, problems)
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
