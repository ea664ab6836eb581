"""The outbox: where a finished job's transcript is published, atomically and safely named.

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

Names are decided by pure functions (:func:`safe_stem`, :func:`candidate_stem`,
:func:`stem_is_available`); rendering is pure too; only :class:`Outbox` touches the disk.
"""

from __future__ import annotations

import contextlib
import json
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

FORMATS = ("txt", "json", "srt", "vtt")
# Written for every job, whatever the configuration: the json is the ownership record.
ALWAYS = ("json", "txt")
# Only written when the result carries timed segments.
TIMED = ("srt", "vtt")

# Room kept in every name for the longest collision suffix (" (9999)", 7 bytes) and the longest
# extension (".json", 5 bytes).
MAX_COLLISIONS = 9999
_RESERVED_BYTES = len(f" ({MAX_COLLISIONS})") + len(".json")
COMPONENT_MAX_BYTES = NAME_MAX_BYTES - _RESERVED_BYTES
# Version of the json layout, so readers can tell ours from anything else named *.json.
JSON_VERSION = 1
# Character categories never kept in a name: controls (newline, NUL, ESC), line and paragraph
# separators that act as newlines, and lone surrogates (undecodable bytes from os.fsdecode)
# that cannot be written as UTF-8.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Silence between two segments, in seconds, that starts a new paragraph in the .txt: longer
# than the breath between two sentences, as long as a new speaker or topic usually takes.
PARAGRAPH_PAUSE_SECONDS = 2.0
# Longest .vtt cue cut from a segment that has word timings, in seconds: subtitle guidelines
# keep a cue on screen for at most about 7 s, and a batched segment can run 30 s.
MAX_CUE_SECONDS = 7.0


# --- names -----------------------------------------------------------------------------------


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


def stem_is_available(occupancy: Occupancy, job_id: str) -> bool:
    """Return True if ``job_id`` may write under a stem: it is free, or the job's own."""
    return not occupancy.occupied or occupancy.owner == job_id


def owner_in_json(text: str) -> str | None:
    """Return the job id recorded in one of our json outputs, or None if it is not one."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("dropscribe") is None:
        return None
    owner = doc.get("job_id")
    return owner if isinstance(owner, str) else None


def read_regular_file(path: Path) -> str:
    """Return the text of ``path`` if it is a regular file. Never follow a link or block on a
    FIFO someone left under an output name; raise OSError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return handle.read().decode("utf-8", errors="replace")


# --- rendering -------------------------------------------------------------------------------


def format_timestamp(seconds: float, sep: str) -> str:
    """Return ``seconds`` as ``HH:MM:SS<sep>mmm``, rounded to the millisecond (negative -> 0).

    Hours are not wrapped at 24; SRT uses ``sep=","``, WebVTT ``sep="."``.
    """
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def render_txt(result: Mapping[str, Any], line_per_segment: bool = False) -> str:
    """Return the plain text of a result, ending with one newline (empty: an empty file).

    With speaker labels, each turn is a paragraph starting ``Speaker 1:`` (see
    :func:`render_turns`). Otherwise, with timed segments, a pause of PARAGRAPH_PAUSE_SECONDS
    or more starts a new paragraph (a blank line), or, with ``line_per_segment``, each segment
    is a line of its own. Without them, the result's ``text``, else its segments' texts
    joined.
    """
    segments = result.get("segments") or ()
    if has_speakers(segments):
        return render_turns(segments, line_per_segment)
    timed = timed_texts(segments)
    if timed:
        if line_per_segment:
            return "".join(f"{text}\n" for _, _, text in timed)
        return "\n\n".join(paragraphs(timed)) + "\n"
    text = result.get("text")
    if not isinstance(text, str) or not text.strip():
        cues = (_cue_lines(seg) for seg in result.get("segments") or ())
        text = " ".join(cue for cue in cues if cue)
    text = text.strip()
    return text + "\n" if text else ""


def has_speakers(segments: Sequence[Mapping[str, Any]]) -> bool:
    """Return True if the segments carry speaker labels (a diarized result)."""
    return any(isinstance(segment.get("speaker"), str) for segment in segments)


def speaker_of(segment: Mapping[str, Any]) -> str | None:
    """Return a segment's speaker label on one line, or None without one."""
    speaker = segment.get("speaker")
    return " ".join(speaker.split()) or None if isinstance(speaker, str) else None


def turns(segments: Sequence[Mapping[str, Any]]) -> list[tuple[str | None, list[str]]]:
    """Return (speaker, texts) for each run of consecutive segments with text by one speaker."""
    runs: list[tuple[str | None, list[str]]] = []
    for segment in segments:
        text = " ".join(_cue_lines(segment).splitlines())
        if not text:
            continue
        speaker = speaker_of(segment)
        if not runs or runs[-1][0] != speaker:
            runs.append((speaker, []))
        runs[-1][1].append(text)
    return runs


def _with_speaker(speaker: str | None, text: str) -> str:
    return f"{speaker}: {text}" if speaker else text


def render_turns(segments: Sequence[Mapping[str, Any]], line_per_segment: bool) -> str:
    """Return the text of labelled segments: a paragraph per turn (a change of speaker),
    starting with its speaker, e.g. ``Speaker 1: ...``; with ``line_per_segment``, a line per
    segment, each starting with its speaker."""
    runs = turns(segments)
    if line_per_segment:
        return "".join(f"{_with_speaker(who, text)}\n" for who, texts in runs for text in texts)
    return "\n\n".join(_with_speaker(who, " ".join(texts)) for who, texts in runs) + "\n"


def timed_texts(segments: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """Return (start, end, text on one line) of each segment with text, in order; an empty
    list if any such segment lacks a usable start or end."""
    timed = []
    for segment in segments:
        text = " ".join(_cue_lines(segment).splitlines())
        if not text:
            continue
        try:
            timed.append((float(segment["start"]), float(segment["end"]), text))
        except (KeyError, TypeError, ValueError):
            return []
    return timed


def paragraphs(timed: Sequence[tuple[float, float, str]]) -> list[str]:
    """Given (start, end, text) segments, return paragraphs: the texts joined, split where
    the silence before a segment is PARAGRAPH_PAUSE_SECONDS or longer."""
    groups: list[list[str]] = []
    previous_end: float | None = None
    for start, end, text in timed:
        if previous_end is None or start - previous_end >= PARAGRAPH_PAUSE_SECONDS:
            groups.append([])
        groups[-1].append(text)
        previous_end = end
    return [" ".join(group) for group in groups]


def _cue_lines(segment: Mapping[str, Any]) -> str:
    # A blank line ends a cue in both formats, so a cue's text never contains one.
    lines = str(segment.get("text") or "").splitlines()
    return "\n".join(line.strip() for line in lines if line.strip())


def _cue_times(segment: Mapping[str, Any], sep: str) -> str:
    start = format_timestamp(float(segment["start"]), sep)
    return f"{start} --> {format_timestamp(float(segment['end']), sep)}"


def _cues(segments: Sequence[Mapping[str, Any]], sep: str) -> list[tuple[str, str, str | None]]:
    return [(_cue_times(s, sep), text, speaker_of(s)) for s in segments if (text := _cue_lines(s))]


def render_srt(segments: Sequence[Mapping[str, Any]]) -> str:
    """Return SubRip text for ``segments`` (``start``/``end`` in seconds, ``text``).

    Cues are numbered from 1; segments without text are skipped (and take no number); a
    labelled segment's text starts with its speaker, e.g. ``[Speaker 1]``.
    """
    cues = enumerate(_cues(segments, ","), 1)
    blocks = [f"{n}\n{times}\n{_srt_speaker(who)}{text}\n" for n, (times, text, who) in cues]
    return "\n".join(blocks)


def _srt_speaker(speaker: str | None) -> str:
    return f"[{speaker}] " if speaker else ""


def _vtt_escape(text: str) -> str:
    # WebVTT cue text must not contain "-->", and "&" and "<" start entities and tags there;
    # escaping them covers "-->" too ("--&gt;").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(segments: Sequence[Mapping[str, Any]]) -> str:
    """Return WebVTT text for ``segments``: a ``WEBVTT`` header, then one cue per segment, or
    per stretch of at most MAX_CUE_SECONDS of a segment that carries word timings; a labelled
    segment's cues are voice spans, e.g. ``<v Speaker 1>``.

    Segments without text are skipped; cue text is escaped so it cannot end the cue early.
    """
    pieces = [piece for segment in segments for piece in cue_pieces(segment, MAX_CUE_SECONDS)]
    blocks = [
        f"{times}\n{_vtt_voice(who)}{_vtt_escape(text)}\n"
        for times, text, who in _cues(pieces, ".")
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def _vtt_voice(speaker: str | None) -> str:
    # A voice span's name ends at ">", and "&" or "<" would start a reference or a tag there.
    if not speaker:
        return ""
    name = "".join("_" if c in "<>&" else c for c in speaker)
    return f"<v {name}>"


def cue_pieces(segment: Mapping[str, Any], max_seconds: float) -> list[Mapping[str, Any]]:
    """Given a segment, return it cut at word boundaries into pieces of at most
    ``max_seconds`` each (a single longer word stays whole); a segment without usable word
    timings, or short enough, is returned as it is."""
    words = segment.get("words")
    if not words or float(segment["end"]) - float(segment["start"]) <= max_seconds:
        return [segment]
    try:
        groups = word_groups(words, max_seconds)
    except (KeyError, TypeError, ValueError):
        return [segment]
    return [_piece(segment, group) for group in groups]


def word_groups(
    words: Sequence[Mapping[str, Any]], max_seconds: float
) -> list[list[Mapping[str, Any]]]:
    """Return the words in consecutive groups, each spanning at most ``max_seconds`` from its
    first word's start to its last word's end (a longer single word is a group of its own)."""
    groups: list[list[Mapping[str, Any]]] = []
    for word in words:
        if not groups or float(word["end"]) - float(groups[-1][0]["start"]) > max_seconds:
            groups.append([])
        groups[-1].append(word)
    return groups


def _piece(segment: Mapping[str, Any], words: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        **segment,
        "start": float(words[0]["start"]),
        "end": float(words[-1]["end"]),
        "text": "".join(str(word["word"]) for word in words),
        "words": list(words),
    }


def render_json(job_id: str, result: Mapping[str, Any], provenance: Mapping[str, Any]) -> str:
    """Return the json document of a job: our version, the job id, provenance, the result.

    ``dropscribe``, ``job_id`` and ``result`` are ours: provenance keys of those names are
    ignored, so provenance can never forge ownership.
    """
    reserved = {"dropscribe", "job_id", "result"}
    doc = {
        "dropscribe": JSON_VERSION,
        "job_id": job_id,
        **{k: v for k, v in provenance.items() if k not in reserved},
        "result": dict(result),
    }
    # default=str: provenance may hold datetimes or paths; a transcript must not fail on them.
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"


def render_all(
    job_id: str,
    result: Mapping[str, Any],
    provenance: Mapping[str, Any],
    formats: Sequence[str],
    txt_line_per_segment: bool = False,
) -> dict[str, str]:
    """Return the text of each file to publish, keyed by extension, json first."""
    files = {
        "json": render_json(job_id, result, provenance),
        "txt": render_txt(result, txt_line_per_segment),
    }
    segments = result.get("segments") or []
    if segments and "srt" in formats:
        files["srt"] = render_srt(segments)
    if segments and "vtt" in formats:
        files["vtt"] = render_vtt(segments)
    return files


# --- disk ------------------------------------------------------------------------------------


class Outbox:
    """Publishes transcripts under ``root``; safe to share between worker threads."""

    def __init__(
        self,
        root: Path,
        formats: Sequence[str] = FORMATS,
        redactor: Redactor | None = None,
        txt_line_per_segment: bool = False,
    ) -> None:
        """``txt_line_per_segment`` writes the .txt one line per segment, not in paragraphs."""
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown output formats: {', '.join(unknown)}")
        self.root = root
        self.formats = tuple(formats)
        self.txt_line_per_segment = txt_line_per_segment
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
        result: Mapping[str, Any],
        provenance: Mapping[str, Any],
    ) -> list[Path]:
        """Publish one job's outputs for source stem ``rel``; return the paths written, json
        first. Publishing again for the same job overwrites its own files. Raise OSError if the
        disk refuses; no partial file is left under a final name.
        """
        clean_result = self.redactor.value(dict(result))
        clean_provenance = self.redactor.value(dict(provenance))
        files = render_all(
            job_id, clean_result, clean_provenance, self.formats, self.txt_line_per_segment
        )
        with self._lock:
            stem = self._claim_stem(safe_stem(rel), job_id)
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
