"""What a server is built from: ServerOptions, checked when built, and the model routes.

The options are the same for the embedded server, ``dropscribe serve`` and a scale-out front
end; ``options_problem`` says what is wrong in words for a person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from dropscribe.core.coverage import DEFAULT_MAX_GAP_SECONDS
from dropscribe.engine.completeness import DEFAULT_MIN_COVERAGE
from dropscribe.engine.models import BUNDLED_MODEL
from dropscribe.engine.pieces import MAX_PIECE_SECONDS, MIN_PIECE_SECONDS, PIECE_SECONDS
from dropscribe.engine.protocol import Engine
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS
from dropscribe.server.locations import StorageKeys, broker_url, storage_location

#: Default upload size limit: 2 GiB.
DEFAULT_MAX_UPLOAD_BYTES = 2 << 30

#: Shortest bearer token accepted: 16 characters from a password generator resist guessing.
MIN_TOKEN_LENGTH = 16

#: What --public-url may look like: scheme, host, optional port and path; no query, no user.
_PUBLIC_URL = re.compile(
    r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:/[A-Za-z0-9._~/-]*)?$"
)

#: Largest max_audio_hours accepted, a week: memory no longer limits the length (a recording
#: is transcribed a few minutes at a time), but a week of audio is days of engine time on a
#: CPU, past which a limit guards nothing.
MAX_AUDIO_HOURS_CEILING = 168.0

#: The four model paths of the Tiyaro protocol.
PROTOCOL_ROUTES = ("whisper-tiny", "whisper-small", "whisper-medium", "whisper-large")

# Long enough for a daemon profile's own model path, profile-<name of up to 64 characters>.
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ServerOptions:
    """Everything the embedded server needs; validated when built (ValueError if wrong).

    ``min_coverage`` is the share of a recording's speech a transcript must cover to be
    complete, and ``max_gap_seconds`` the most seconds of its speech in a row it may leave
    uncovered (short of either, the engine tries its other strategy once). A recording longer
    than a short clip is transcribed in pieces of about ``piece_seconds``, each kept as a
    checkpoint once done. ``model`` None means the
    bundled tiny.en; ``model_map`` sends model paths (e.g.
    ``whisper-large``) to other faster-whisper model names or folders; paths it leaves out use
    ``model``. ``presign_secret`` None means a secret generated once and kept in ``data_dir``.
    ``public_url`` (e.g. ``https://asr.example.org``) is the base of every URL the server
    issues, for a server behind a reverse proxy; None means the request's own base URL.
    ``tls_cert`` and ``tls_key`` (PEM files, both or neither) make the server speak HTTPS.
    ``broker`` (a Redis URL, which may hold a password: not in the repr) and ``storage``
    (``s3://BUCKET/PREFIX``) make it a scale-out front end; ``storage_keys`` None means boto3's
    own credential chain; the bucket is created at start only with ``create_bucket``.
    Uploads and finished jobs are kept ``retention_hours``; ``keep_finished_uploads`` False
    deletes a job's upload as soon as the job has finished (its result stays for polls), for a
    client that keeps the recording itself, as the daemon does.
    """

    data_dir: Path
    _: KW_ONLY
    host: str = "127.0.0.1"
    port: int = 0
    token: str = field(repr=False)
    model: str | None = None
    workers: int = 1
    model_map: Mapping[str, str] | None = None
    presign_secret: bytes | None = None
    presign_ttl_seconds: float = 900
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    retention_hours: float = 72
    keep_finished_uploads: bool = True
    public_url: str | None = None
    max_audio_hours: float = DEFAULT_MAX_AUDIO_HOURS
    tls_cert: Path | None = None
    tls_key: Path | None = None
    min_coverage: float = DEFAULT_MIN_COVERAGE
    max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS
    piece_seconds: float = PIECE_SECONDS
    broker: str | None = field(default=None, repr=False)
    storage: str | None = None
    storage_keys: StorageKeys | None = None
    create_bucket: bool = False

    def __post_init__(self) -> None:
        problem = options_problem(self)
        if problem is not None:
            raise ValueError(problem)


def options_problem(options: ServerOptions) -> str | None:
    """Return what is wrong with the options, or None when they are usable."""
    checks = (
        (not options.token, "a bearer token is required"),
        (
            len(options.token) < MIN_TOKEN_LENGTH,
            f"the bearer token must be at least {MIN_TOKEN_LENGTH} characters long",
        ),
        ((options.tls_cert is None) != (options.tls_key is None), "give both TLS cert and key"),
        (
            options.public_url is not None and not _PUBLIC_URL.match(options.public_url),
            f"public_url {options.public_url!r} is not an http(s)://host[:port][/path] URL",
        ),
        (not 0 <= options.port <= 65535, f"port {options.port} is not 0..65535"),
        (
            options.workers < (0 if options.broker else 1),
            f"workers must be at least {0 if options.broker else 1}, not {options.workers}",
        ),
        ((options.broker is None) != (options.storage is None), "give both broker and storage"),
        (options.presign_ttl_seconds <= 0, "presign_ttl_seconds must be positive"),
        (options.max_upload_bytes <= 0, "max_upload_bytes must be positive"),
        (options.retention_hours <= 0, "retention_hours must be positive"),
        (options.presign_secret == b"", "presign_secret must not be empty"),
        (
            not 0 < options.max_audio_hours <= MAX_AUDIO_HOURS_CEILING,
            f"max_audio_hours must be above 0 and at most {MAX_AUDIO_HOURS_CEILING}",
        ),
        (not 0 <= options.min_coverage <= 1, "min_coverage must be between 0 and 1"),
        (not options.max_gap_seconds > 0, "max_gap_seconds must be positive"),
        (
            not MIN_PIECE_SECONDS <= options.piece_seconds <= MAX_PIECE_SECONDS,
            f"piece_seconds must be {MIN_PIECE_SECONDS:g} to {MAX_PIECE_SECONDS:g}",
        ),
    )
    for failed, message in checks:
        if failed:
            return message
    bad = [name for name in options.model_map or {} if not _ROUTE_NAME.match(name)]
    if bad:
        return f"model_map has unusable model names: {bad}"
    return scale_out_problem(options)


def scale_out_problem(options: ServerOptions) -> str | None:
    """Return what is wrong with ``broker`` and ``storage``, or None when usable or absent."""
    try:
        if options.broker is not None:
            broker_url(options.broker)
        if options.storage is not None:
            storage_location(options.storage)
    except ValueError as exc:
        return str(exc)
    return None


def route_specs(options: ServerOptions) -> dict[str, str]:
    """Return which model spec serves each model path."""
    default = options.model or BUNDLED_MODEL
    return {route: default for route in PROTOCOL_ROUTES} | dict(options.model_map or {})


def route_labels(options: ServerOptions, engine: Engine) -> tuple[dict[str, str], str]:
    """Return the model name each path reports, and the default model's name."""
    labels = {route: engine.label(spec) for route, spec in route_specs(options).items()}
    return labels, engine.label(options.model or BUNDLED_MODEL)


def distinct_specs(specs: Mapping[str, str]) -> list[str]:
    """Given the path -> model spec mapping, return each spec once, in first-use order."""
    return list(dict.fromkeys(specs.values()))
