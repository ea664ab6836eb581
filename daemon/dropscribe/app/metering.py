"""The daemon's metrics fed from the parts: job outcomes and durations from the state file's
committed transitions, the inbox's waiting recordings, the auth pause, and the metrics server
started on ``metrics.listen``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from dropscribe import __version__
from dropscribe.app.keys import read_pause
from dropscribe.app.notices import shortfall
from dropscribe.config import Settings, listen_address
from dropscribe.core.announcements import Topic, topics_of
from dropscribe.core.errors import ConfigError
from dropscribe.core.folder_tree import walk_tree
from dropscribe.core.jobs import Job, JobState
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.notifications.metrics import DaemonMetrics, MetricsServer

#: The outcome each announced topic counts as (dropscribe_jobs_total).
OUTCOME_OF = {
    Topic.JOB_PUBLISHED: "published",
    Topic.JOB_FAILED: "failed",
    Topic.JOB_DUPLICATE: "duplicate",
    Topic.TRANSCRIPT_INCOMPLETE: "incomplete",
}


def job_observer(
    metrics: DaemonMetrics, now: Callable[[], float]
) -> Callable[[JobState | None, Job, RemoteTranscript | None], None]:
    """Return the state store's observer: each committed transition that ends or marks a job
    counts its outcome; a publish observes the time since the claim."""

    def observe(before: JobState | None, job: Job, result: RemoteTranscript | None) -> None:
        missing = None if result is None else shortfall(result)
        for topic in topics_of(before, job, result, missing is not None):
            if topic in OUTCOME_OF:
                metrics.job_ended(OUTCOME_OF[topic])
        if job.state is JobState.PUBLISHED and before is not JobState.PUBLISHED:
            claimed = job.steps.get(JobState.CLAIMED.value)
            if claimed is not None:
                metrics.job_published(now() - claimed)

    return observe


def inbox_counter(inbox: Path, extensions: tuple[str, ...], max_depth: int) -> Callable[[], int]:
    """Return a function that counts the recordings (watched extensions, no dotfiles) under
    the inbox, where they wait to be claimed, in folders at most ``max_depth`` deep."""
    wanted = {f".{ext}" for ext in extensions}

    def count() -> int:
        listings = walk_tree(inbox, max_depth=max_depth, enter=_not_hidden)
        return sum(_is_recording(n, wanted) for listing in listings for n in listing.files)

    return count


def _not_hidden(name: str) -> bool:
    return not name.startswith(".")


def _is_recording(name: str, extensions: set[str]) -> bool:
    return _not_hidden(name) and Path(name).suffix.lower() in extensions


def daemon_metrics(
    settings: Settings, jobs: Callable[[], Mapping[str, int]], state_dir: Path
) -> DaemonMetrics:
    """Return the daemon's metrics over the settings' inbox and state folder."""
    backend = "embedded" if settings.is_embedded else "remote"
    return DaemonMetrics(
        jobs,
        lambda: read_pause(state_dir) is not None,
        inbox_counter(
            settings.paths.inbox, settings.watch.extensions, settings.watch.max_folder_depth
        ),
        {"version": __version__, "backend": backend},
    )


def serve_metrics(settings: Settings, metrics: DaemonMetrics) -> MetricsServer | None:
    """Start the metrics server on ``metrics.listen``; None when it is not set. Raise
    ConfigError if the address cannot be listened on."""
    if settings.metrics.listen is None:
        return None
    host, port = listen_address(settings.metrics.listen)
    try:
        return metrics.serve(host, port)
    except OSError as exc:
        source = settings.source or Path("config")
        raise ConfigError(
            [f"{source}: metrics.listen: cannot listen on {settings.metrics.listen}: {exc}"]
        ) from None
