"""``transcribe``: files named on the command line sent through the daemon's steps in the
foreground, in a scratch folder, and their transcripts printed."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from dropscribe.app.daemon import Flags, Service
from dropscribe.app.lock import StateLock
from dropscribe.app.parts import build
from dropscribe.config import Metrics, Notify, Paths, Settings
from dropscribe.core.jobs import JobState
from dropscribe.core.redaction import Redactor
from dropscribe.intake.recordings import inspect_entry
from dropscribe.outbox import FORMATS as OUTPUT_FORMATS
from dropscribe.pipeline.quality import describe_shortfall, is_incomplete
from dropscribe.state import StateStore


def scratch_settings(settings: Settings, root: Path) -> Settings:
    """Return ``settings`` with every folder under ``root`` and every output format on:
    `transcribe` runs the daemon's steps there, leaving the configured inbox, outbox and state
    alone, and prints the format asked for. It announces nothing (its state file is thrown
    away with its deliveries) and serves no metrics."""
    paths = {name: root / name for name in Paths.model_fields}
    output = settings.output.model_copy(update={"formats": OUTPUT_FORMATS})
    quiet = {"notify": Notify(), "metrics": Metrics(), "profiles": ()}
    return settings.model_copy(update={"paths": Paths(**paths), "output": output, **quiet})


@dataclass(frozen=True)
class Transcript:
    """What `transcribe` got for one file: its text in the format asked for, why it failed
    (None: published), and how it falls short (None: complete)."""

    text: str
    error: str | None = None
    shortfall: str | None = None


def transcribe(
    settings: Settings | None,
    redactor: Redactor,
    files: Sequence[Path],
    out: TextIO,
    err: TextIO,
    output_format: str = "txt",
) -> int:
    """Send each file through the daemon's steps in the foreground and print it in
    ``output_format``; return the number of files that failed.

    Each file is inspected as the daemon inspects an inbox entry first. The steps run on copies
    in a temporary folder, removed afterwards. Without settings, the embedded engine is used;
    with them, the configured service, and the configured state folder (if any) is locked
    meanwhile (so `transcribe` does not run beside a daemon on it).
    """
    lock_dir = None if settings is None else settings.paths.state_dir
    with tempfile.TemporaryDirectory(prefix="dropscribe-") as root:
        scratch = scratch_settings(settings or Settings(), Path(root))
        held = None if lock_dir is None else StateLock(lock_dir)
        try:
            results = _transcribe_all(scratch, redactor, files, output_format)
        finally:
            if held is not None:
                held.release()
    return _print_transcripts(files, results, redactor, out, err)


def _print_transcripts(
    files: Sequence[Path],
    results: Sequence[Transcript],
    redactor: Redactor,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print each transcript (headed by its file when there are several) and each problem;
    return how many files failed or fell short."""
    failures = 0
    for path, got in zip(files, results, strict=True):
        if got.error is not None:
            failures += 1
            print(f"dropscribe: {path}: {redactor.text(got.error)}", file=err)
            continue
        if got.shortfall is not None:
            # Published all the same (quality.on_incomplete: publish), but not a success.
            failures += 1
            print(f"dropscribe: {path}: incomplete: {got.shortfall}", file=err)
        if len(files) > 1:
            print(f"== {path}", file=out)
        print(got.text.rstrip("\n"), file=out)
    return failures


def _transcribe_all(
    settings: Settings, redactor: Redactor, files: Sequence[Path], output_format: str
) -> list[Transcript]:
    service = Service(build(settings, redactor), watch=False, flags=Flags())
    parts = service.parts
    try:
        service.start()
        verdicts = [_inspect(settings, path) for path in files]
        jobs = [
            None if refusal else parts.pipeline.accept(_place(settings, n, path))
            for n, (path, refusal) in enumerate(zip(files, verdicts, strict=True))
        ]
        service.wait_until_idle()
        return [
            Transcript("", refusal)
            if job is None
            else _transcript_of(parts.store, job.id, output_format)
            for job, refusal in zip(jobs, verdicts, strict=True)
        ]
    finally:
        service.shutdown()


def _inspect(settings: Settings, path: Path) -> str:
    """Return why the daemon would refuse ``path`` as a recording, or "" if it takes it.
    A link named on the command line is followed: the user chose it."""
    verdict = inspect_entry(
        path.resolve(), max_bytes=settings.max_file_bytes, extensions=settings.watch.extensions
    )
    return "" if verdict.ok else f"{verdict.reason}; {verdict.hint}"


def _place(settings: Settings, number: int, path: Path) -> str:
    """Copy ``path`` into processing/ under a name of its own; return that name."""
    rel = f"{number:04d}-{path.name}"
    shutil.copyfile(path, settings.paths.processing / rel)
    return rel


def _transcript_of(store: StateStore, job_id: str, output_format: str) -> Transcript:
    """Return the job's transcript in ``output_format``, read from what it published."""
    job = store.get(job_id)
    if job is None or job.state is not JobState.PUBLISHED:
        return Transcript("", (job.error if job is not None else None) or "not transcribed")
    result = store.result(job.id) or {}
    shortfall = describe_shortfall(result) if is_incomplete(result) else None
    published = [Path(p) for p in job.outputs if Path(p).suffix == f".{output_format}"]
    if not published:
        return Transcript("", f"no {output_format} output: the result has no timed segments")
    return Transcript(published[0].read_text(encoding="utf-8"), None, shortfall)
