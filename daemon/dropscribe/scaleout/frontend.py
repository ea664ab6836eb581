"""The parts behind a scale-out front end's routes: the Redis job book, the queue dispatch,
the bucket upload site and, with ``--workers N``, engine workers in the same process.

A front end keeps nothing of its own: every job, key and counter is in Redis, every upload in
the bucket, so any number of them can serve behind a load balancer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dropscribe.core.errors import ConfigError
from dropscribe.engine.protocol import Engine
from dropscribe.scaleout.book import RedisJobBook, connect
from dropscribe.scaleout.bucket_site import BucketUploads
from dropscribe.scaleout.expiry import BucketSweeper
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.outages import Outages, StorageUnavailable
from dropscribe.scaleout.persistence import persistence_warning
from dropscribe.scaleout.tasks import QueueDispatch, task_broker
from dropscribe.scaleout.worker import WorkerNode
from dropscribe.server.api import ApiService
from dropscribe.server.assembly import Assembly
from dropscribe.server.locations import broker_url, storage_location
from dropscribe.server.options import ServerOptions, distinct_specs, route_labels, route_specs
from dropscribe.server.pool import PoolHealth

log = logging.getLogger(__name__)

#: The option of ``dropscribe serve`` that lets a front end create its bucket.
CREATE_BUCKET_OPTION = "--create-bucket"

#: Seconds between a long poll's reads of its job: jobs finish in other processes.
LONG_POLL_RECHECK_SECONDS = 0.5


def assemble_front_end(
    options: ServerOptions,
    engine: Engine,
    clock: Callable[[], float],
    on_finished: Callable[[str], None] | None,
) -> Assembly:
    """Return the front end's service and how to start and stop its parts.

    Raise ValueError for an unusable ``--broker`` or ``--storage``. ``on_finished`` is not
    called: a job finishes in whichever worker ran it, and long polls learn of it by polling.
    Its start raises ConfigError if the bucket does not exist and ``create_bucket`` is off (a
    mistyped name would otherwise become a new, empty bucket).
    """
    assert options.broker is not None and options.storage is not None  # checked by the options
    client = connect(broker_url(options.broker))
    book = RedisJobBook(client, options.retention_hours * 3600)
    objects = ObjectStore(s3_client(options.storage_keys), storage_location(options.storage))
    broker = task_broker(client)
    specs = route_specs(options)
    node = None
    if options.workers > 0:
        node = WorkerNode(
            broker, book, objects, engine, distinct_specs(specs), options.workers, clock,
            max_download_bytes=options.max_upload_bytes,
        )  # fmt: skip

    def local_health() -> PoolHealth:
        return node.pool_health() if node is not None else PoolHealth(0, 0, 0, 0)

    dispatch = QueueDispatch(broker, book, specs, local_health)
    uploads = BucketUploads(
        book, objects, options.presign_ttl_seconds, clock, options.max_upload_bytes
    )
    labels, default_label = route_labels(options, engine)
    service = ApiService(
        book, dispatch, uploads, labels, default_label, clock, LONG_POLL_RECHECK_SECONDS
    )
    sweeper = BucketSweeper(book, objects, Outages(clock), clock)

    def start() -> None:
        warning = persistence_warning(client)
        if warning is not None:
            log.warning("%s", warning)
        try:
            if options.create_bucket:
                objects.create_bucket()
            elif not objects.bucket_exists():
                raise ConfigError([missing_bucket_problem(objects.location.bucket)])
        except StorageUnavailable as problem:
            # Not fatal: submits answer 503 until the bucket is back.
            log.warning("the bucket is unreachable at start: %s", problem.message)
        if node is not None:
            node.start()
        sweeper.start()

    def stop(timeout: float) -> None:
        # The sweeper and the workers, then the broker's connections, which both use.
        sweeper.stop(timeout)
        if node is not None:
            node.stop(timeout)
        broker.close()

    return Assembly(service, start, stop)


def missing_bucket_problem(bucket: str) -> str:
    """Return what a person reads when the front end's bucket does not exist."""
    return (
        f"the bucket {bucket!r} does not exist: check --storage, create the bucket, or pass "
        f"{CREATE_BUCKET_OPTION} to let this front end create it"
    )
