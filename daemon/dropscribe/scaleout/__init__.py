"""Scale-out mode: stateless front ends and engine workers on Redis and an S3 bucket.

- ``locations``: the ``--broker`` and ``--storage`` arguments, parsed.
- ``book``: jobs, idempotency keys, uploads and counters in Redis (the shared job store).
- ``objects``: the S3 bucket through boto3: presigned PUTs, downloads, the retention sweep.
- ``tasks``: the Dramatiq broker, one queue per model, and the dispatch of accepted jobs.
- ``outages``: the backoff policy and the record of broker and storage outages.
- ``runner``: what an engine worker does with one job.
- ``gathering``: small recordings of a worker's concurrent jobs decoded as one batch.
- ``worker``: the worker process (``dropscribe worker``) and its health endpoint.
- ``frontend``: the parts behind a front end's routes (``dropscribe serve --broker``).

Nothing here is imported unless ``--broker`` is given: redis, dramatiq and boto3 are the
optional ``scale`` extra. README "Scaling out" says why Dramatiq and Redis.
"""
