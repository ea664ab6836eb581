"""The running part of ``dropscribe worker``: the engine, the scale-out parts and the health
endpoint, from checked WorkerOptions. Imports the ``scale`` extra (redis, Dramatiq, boto3), so
``cli.worker`` imports it only to run."""

from __future__ import annotations

import logging
import threading

from dropscribe.cli.worker_options import WorkerOptions
from dropscribe.engine.completeness import DEFAULT_MIN_COVERAGE
from dropscribe.engine.pieces import Sizes
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.scaleout.book import RedisJobBook, connect
from dropscribe.scaleout.health import HealthServer
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.persistence import persistence_warning
from dropscribe.scaleout.tasks import task_broker
from dropscribe.scaleout.worker import WorkerNode

log = logging.getLogger(__name__)

#: Seconds a stopping worker waits for its running jobs to hand themselves back.
STOP_TIMEOUT_SECONDS = 30.0


def run_worker(options: WorkerOptions, stop: threading.Event) -> None:
    """Load the models, start the workers and the health endpoint, and run until ``stop``.

    Raise EngineError if a model cannot be loaded, CannotListen if the health port cannot be
    had (checked before the models load, which takes seconds).
    """
    engine = WhisperEngine(
        options.workers,
        DEFAULT_MIN_COVERAGE,
        max_audio_hours=options.max_audio_hours,
        sizes=Sizes.of_piece(options.piece_seconds),
    )
    client = connect(options.broker)
    book = RedisJobBook(client, options.retention_hours * 3600)
    broker = task_broker(client)
    objects = ObjectStore(s3_client(options.storage_keys), options.storage)
    node = WorkerNode(
        broker, book, objects, engine, options.models, options.workers,
        max_download_bytes=options.max_upload_bytes,
    )  # fmt: skip
    # Bound before the models load, which takes seconds: a taken port is reported at once.
    health = HealthServer(options.health_host, options.health_port, node.health, node.metrics)
    try:
        warning = persistence_warning(client)
        if warning is not None:
            log.warning("dropscribe worker: %s", warning)
        for spec in options.models:
            log.info("dropscribe worker: loading model %s", engine.label(spec))
            engine.model(spec)
        node.start()
        health.start()
        log.info(
            "dropscribe worker: taking jobs from %s; health on http://%s:%d/healthz",
            ", ".join(node.queues), options.health_host, health.port,
        )  # fmt: skip
        while not stop.wait(1.0):
            pass
    finally:
        # Reverse order: no more health answers, then the jobs are handed back, then the
        # broker's connections that the workers used go.
        health.stop()
        node.stop(STOP_TIMEOUT_SECONDS)
        broker.close()
        engine.close()
