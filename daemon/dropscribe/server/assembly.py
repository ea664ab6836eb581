"""The parts behind a server's routes, and how they start and stop: the embedded set
(SQLite job store, engine pool, local uploads, retention sweep) built here; the scale-out set
is built by ``scaleout.frontend`` to the same ``Assembly`` shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dropscribe.engine.protocol import Engine
from dropscribe.server.api import METRIC_PREFIX, ApiService
from dropscribe.server.job_status import JobStatus
from dropscribe.server.meter import EngineMeter
from dropscribe.server.options import ServerOptions, route_labels, route_specs
from dropscribe.server.pool import EnginePool
from dropscribe.server.presign import Presigner, load_or_create_secret
from dropscribe.server.retention import RetentionSweeper
from dropscribe.server.store import JobStore
from dropscribe.server.upload_site import LocalUploads
from dropscribe.server.uploads import private_folder, remove_drafts, upload_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assembly:
    """The parts behind the HTTP layer: the service, and how to start and stop the rest."""

    service: ApiService
    start: Callable[[], None]
    stop: Callable[[float], None]


#: Builds the parts behind the routes from the options, the engine, the clock and the
#: finished-job callback (the scale-out front end is one).
Assembler = Callable[
    [ServerOptions, Engine, Callable[[], float], Callable[[str], None] | None], Assembly
]


def failure_logger(store: JobStore) -> Callable[[str], None]:
    """Return a job-finished listener that logs the error of every job that failed."""

    def log_if_failed(job_id: str) -> None:
        job = store.get(job_id)
        if job is not None and job.status is JobStatus.FAILED:
            log.warning("job %s (%s) failed: %s", job_id, job.route, job.error)

    return log_if_failed


def upload_remover(store: JobStore, stored: Callable[[str, str], Path]) -> Callable[[str], None]:
    """Return a job-finished listener that deletes the finished job's upload file.

    The upload's record stays, so a submit replayed with the job's Idempotency-Key still
    finds its job; only an unfinished job is ever run again, and it keeps its file.
    """

    def remove_upload(job_id: str) -> None:
        job = store.get(job_id)
        if job is None or not job.status.is_terminal:
            return
        upload = store.find_upload(job.upload_id)
        if upload is not None:
            stored(upload.upload_id, upload.extension).unlink(missing_ok=True)

    return remove_upload


def assemble_local(
    options: ServerOptions,
    engine: Engine,
    clock: Callable[[], float],
    on_finished: Callable[[str], None] | None,
) -> Assembly:
    """Return the embedded server's parts: jobs in ``<data_dir>/server.db``, uploads on its
    disk, this process's engine pool. ``on_finished(job_id)`` is called as each job leaves the
    engine."""
    opts = options
    private_folder(opts.data_dir)
    uploads_dir = private_folder(opts.data_dir / "uploads")
    remove_drafts(uploads_dir)
    secret = opts.presign_secret or load_or_create_secret(opts.data_dir)
    store = JobStore(opts.data_dir)
    specs = route_specs(opts)

    def stored(upload_id: str, extension: str) -> Path:
        return upload_path(uploads_dir, upload_id, extension)

    listeners: list[Callable[[str], None]] = [failure_logger(store)]
    if not opts.keep_finished_uploads:
        listeners.append(upload_remover(store, stored))

    def finished(job_id: str) -> None:
        for listener in listeners:
            listener(job_id)

    meter = EngineMeter(METRIC_PREFIX)
    pool = EnginePool(store, engine, specs, stored, opts.workers, clock, finished, meter)
    meter.watch_queue(pool.queue_depth)
    retention = opts.retention_hours * 3600
    sweeper = RetentionSweeper(store, uploads_dir, retention, clock)
    presigner = Presigner(secret, opts.presign_ttl_seconds, clock)
    uploads = LocalUploads(store, presigner, uploads_dir, clock)
    labels, default_label = route_labels(opts, engine)
    service = ApiService(store, pool, uploads, labels, default_label, clock, meter=meter)
    listeners.append(service.job_finished)
    if on_finished is not None:
        listeners.append(on_finished)

    def start() -> None:
        pool.start()
        sweeper.start()

    def stop(timeout: float) -> None:
        # The workers first, whose unfinished job returns to pending; the DB goes last
        # because every other part writes to it.
        pool.stop(timeout)
        sweeper.stop(timeout)
        store.close()

    return Assembly(service, start, stop)
