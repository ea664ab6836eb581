"""The embedded, Tiyaro-compatible async transcription server and its Whisper engine.

This subpackage imports nothing from the rest of dropscribe: it is written against the
protocol (``shared/seed/tiyaro-async-api.txt``), not against our client.

Protocol endpoints (all JSON; every error is ``{"error": "<message>"}``):

- ``POST /v1/input/upload-url?extension=EXT`` (bearer) -> 201 ``{"uploadUrl": {"PUT": url}}``.
  Extensions: mp3, wav, flac, ogg, opus, m4a, aac, webm, mp4; any other -> 400.
- ``PUT <upload url>`` (no bearer; the URL carries ``expires`` and an HMAC ``signature``) -> 200.
  411 without Content-Length, 413 over the size limit, 403 expired or tampered.
- ``POST /v1/async/ent/tiyarofs/1/openai/whisper-{tiny,small,medium,large}?serviceTier=...``
  (bearer) with ``{"input": {...}, "URL": upload_url}`` -> 202 ``{"response": {..., "urls":
  {"GET": poll_url}}}``. 404 unknown model; 400 malformed JSON, a URL this server did not issue,
  or nothing uploaded yet; 422 an unknown ``input`` parameter or a wrong type, named.
  ``serviceTier`` (cpuflex, gpuflex) is accepted and has no effect: there is one tier.
- ``GET <poll url>`` (bearer) -> 200 ``{"id", "model", "status", "acceptedAt", "startedAt",
  "completedAt", "result"}``, plus ``"error"`` when failed. 404 unknown job.

Extensions beyond Tiyaro:

- ``Idempotency-Key`` request header on submit: the same key returns the same job (202, its
  current state) and the engine runs once; the same key with a different request -> 422.
- ``DELETE <poll url>`` (bearer) cancels an unfinished job -> 200 with status ``cancelled``
  (409 if it already succeeded or failed).
- ``GET <poll url>?wait=SECONDS``: a long poll; the answer comes as soon as the job has
  finished, or with its current state once the wait is over. A wait beyond 30 is served as 30.
- ``GET /docs`` (Swagger UI), ``/redoc`` and ``/openapi.json`` (no bearer) describe every
  endpoint and extension (``apidocs``).
- ``GET /healthz`` (no bearer) -> ``{"status": "ok", "model", "models", "submissions",
  "engine_runs", "queued", "workers"}``; ``models`` maps each model path to the model it
  serves (all four ``whisper-*`` paths serve ``--model`` unless ``--route PATH=MODEL`` says
  otherwise); the counters are lifetime totals kept in the database; ``workers`` says how
  many engine workers are configured and alive and how often a dead one was restarted. 503
  with status ``degraded`` while a worker is dead.
- ``GET /metrics`` (no bearer): the same figures in the Prometheus text format.

Limits on hostile clients (guards.py, connections.py, audio.py): every other request is
authenticated from its headers before its body is read (401; 429 after 10 failures a minute
from one address); JSON bodies at most 32 KiB (413); 16 long polls per address (429); headers
within 10 s; 64 connections per address; a PUT to an upload already submitted -> 409; audio
under 8 kHz or longer than ``max_audio_hours`` fails its job with the reason.

Scale-out mode (``--broker redis://... --storage s3://...``, README "Scaling out"): the same
routes over a Redis job book, a Dramatiq queue and an S3 bucket (``distributed``); upload URLs
are then S3 presigned PUTs, the PUT endpoint above answers 404, and 503 with Retry-After means
Redis or the bucket is unreachable. ``backends`` names what the routes' service stands on.

Python API: ``server.EmbeddedServer``, ``server.ServerOptions``, ``server.serve_forever``;
command line: ``dropscribe serve`` (see ``cli.serve``).
"""
