"""Publishing: where a finished job's transcript is written, atomically and safely named.

For a source ``talks/monday.mp3`` (stem ``talks/monday``) the outbox receives
``talks/monday.json`` (provenance plus the raw result), ``talks/monday.txt`` (the text) and,
when configured and the result has segments, ``talks/monday.srt`` and ``talks/monday.vtt``.

Three promises hold whatever happens:

* No partial file under a final name: every file is written to a temporary
  ``.dropscribe-tmp-*`` file in the same folder, fsynced, renamed over the final name, and the
  folder is fsynced. A crash leaves at most temporary files, which :meth:`Outbox.sweep_temp`
  removes at the next start.
* Nobody else's transcript is overwritten: the ``.json`` names the job that owns a stem, and is
  published first, so ownership is known even after a crash between two renames. A job
  re-publishing after a crash overwrites its own files; any other occupant of the stem makes the
  job take ``<stem> (2)``, ``<stem> (3)``, ...
* No secret is written: every string of the provenance and the result passes through the
  :class:`~dropscribe.core.redaction.Redactor` first (presigned URL signatures, the API key).

Names are decided by pure functions (:func:`safe_stem`, :func:`~dropscribe.core.fsio.numbered`,
:func:`stem_is_available`); rendering (:mod:`~dropscribe.outbox.formats`) is pure too; only
:class:`Outbox` touches the disk.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropscribe.core.fsio import (
    NAME_MAX_BYTES,
    TEMP_PREFIX,
    cut_to_bytes,
    numbered,
    write_atomic_at,
)
from dropscribe.core.redaction import Redactor
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.outbox.cue_layout import CueLimits
from dropscribe.outbox.formats import FORMATS, Rendering, render_all
from dropscribe.outbox.transcript_json import owner_in_json
from dropscribe.outbox.txt import render_txt

# Room kept in every name for the longest collision suffix (" (9999)", 7 bytes) and the longest
# extension (".json", 5 bytes).
MAX_COLLISIONS = 9999
_RESERVED_BYTES = len(f" ({MAX_COLLISIONS})") + len(".json")
COMPONENT_MAX_BYTES = NAME_MAX_BYTES - _RESERVED_BYTES
# Character categories never kept in a name: controls (newline, NUL, ESC), line and paragraph
# separators that act as newlines, and lone surrogates (undecodable bytes from os.fsdecode)
# that cannot be written as UTF-8.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def safe_stem(rel: str) -> str:
    """Given a source path relative to the inbox, without extension, return a safe output stem.

    Subfolders are kept; empty, ``.`` and ``..`` components are dropped, so the stem never leaves
    the outbox; control characters become ``_``; a leading ``-`` or ``.`` becomes ``_`` (no
    hidden files, nothing a shell tool reads as an option); every component is cut, on a UTF-8
    character boundary, so that a collision suffix and an extension still fit NAME_MAX.
    """
    parts = [_safe_component(p) for p in rel.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "_"


def _safe_component(name: str) -> str:
    cleaned = "".join("_" if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in name)
    if cleaned[:1] in ("-", "."):
        cleaned = "_" + cleaned[1:]
    return cut_to_bytes(cleaned, COMPONENT_MAX_BYTES)


@dataclass(frozen=True)
class Occupancy:
    """What lies under a stem: ``owner`` is the job id in its json (None without a readable
    json); ``occupied`` says whether any output file of that stem exists at all."""

    owner: str | None
    occupied: bool


def json_name(stem: str) -> str:
    """Return the file name of a stem's .json, as its .txt names it."""
    return f"{stem.rsplit('/', 1)[-1]}.json"


def stem_is_available(occupancy: Occupancy, job_id: str) -> bool:
    """Return True if ``job_id`` may write under a stem: it is free, or the job's own."""
    return not occupancy.occupied or occupancy.owner == job_id


def read_regular_file(path: Path) -> str:
    """Return the text of ``path`` if it is a regular file. Never follow a link or block on a
    FIFO someone left under an output name; raise OSError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return handle.read().decode("utf-8", errors="replace")


class Outbox:
    """Publishes transcripts under ``root``; safe to share between worker threads."""

    def __init__(
        self,
        root: Path,
        formats: Sequence[str] = FORMATS,
        redactor: Redactor | None = None,
        txt_line_per_segment: bool = False,
        subtitles: CueLimits | None = None,
    ) -> None:
        """``txt_line_per_segment`` writes the .txt one line per segment, not in paragraphs;
        ``subtitles`` limits the .srt and .vtt cues (None: the usual 7 s, two lines of 42)."""
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown output formats: {', '.join(unknown)}")
        self.root = root
        self.formats = tuple(formats)
        self.rendering = Rendering(self.formats, txt_line_per_segment, subtitles or CueLimits())
        # Even without known secrets, URL signatures are recognised and masked.
        self.redactor = redactor or Redactor()
        # Choosing a stem and claiming it must be one step, or two sources with the same stem
        # (a.mp3 and a.wav) could both pick "a". Outboxes may be network shares without hard
        # links, so this is a lock rather than link()-based claiming: one daemon owns an outbox.
        self._lock = threading.Lock()

    def publish(
        self,
        rel: str,
        job_id: str,
        result: RemoteTranscript,
        provenance: Mapping[str, Any],
    ) -> list[Path]:
        """Publish one job's outputs for source stem ``rel``; return the paths written, json
        first. Publishing again for the same job overwrites its own files. Raise OSError if the
        disk refuses; no partial file is left under a final name.
        """
        # Redaction rewrites strings only: the result keeps its shape.
        clean_result: RemoteTranscript = self.redactor.value(dict(result))
        clean_provenance = self.redactor.value(dict(provenance))
        wanted = safe_stem(rel)
        # Rendered before the lock (the cues of hours of speech take seconds); an incomplete
        # .txt names its .json, so it is rendered again if the stem had to be numbered.
        files = render_all(
            job_id, clean_result, clean_provenance, self.rendering, json_name(wanted)
        )
        with self._lock:
            stem = self._claim_stem(wanted, job_id)
            if stem != wanted:
                line_per_segment = self.rendering.txt_line_per_segment
                files["txt"] = render_txt(clean_result, line_per_segment, json_name(stem))
            written = []
            for ext, text in files.items():  # json first: it records ownership
                # No link below the root is followed: a link at outbox/sub cannot send
                # transcripts elsewhere.
                path = write_atomic_at(self.root, f"{stem}.{ext}", text.encode(), TEMP_PREFIX)
                written.append(path)
        return written

    def _claim_stem(self, stem: str, job_id: str) -> str:
        for n in range(1, MAX_COLLISIONS + 1):
            candidate = numbered(stem, n)
            if stem_is_available(self._occupancy(candidate), job_id):
                return candidate
        raise FileExistsError(f"no free output name for {stem!r} in {self.root}")

    def _occupancy(self, stem: str) -> Occupancy:
        try:
            owner = owner_in_json(read_regular_file(self.root / f"{stem}.json"))
        except OSError:  # absent, or not a readable file: no owner, maybe still occupied
            owner = None
        occupied = any(os.path.lexists(self.root / f"{stem}.{ext}") for ext in FORMATS)
        return Occupancy(owner=owner, occupied=occupied)

    def sweep_temp(self) -> int:
        """Remove temporary files a crash left anywhere under the root; return their count."""
        removed = 0
        for folder, _dirs, names in os.walk(self.root):  # followlinks=False: stay inside
            for name in names:
                if name.startswith(TEMP_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(folder, name))
                        removed += 1
        return removed
