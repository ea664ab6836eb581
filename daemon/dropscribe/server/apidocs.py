"""What /docs, /redoc and /openapi.json say: the API, each endpoint, and each extension.

Kept apart from routes.py so the adapters stay short; routes.py passes each entry of
ENDPOINTS to its route decorator. The documentation pages need no bearer token (guards.py).
"""

from __future__ import annotations

from typing import Any

#: Title shown on the documentation pages.
TITLE = "dropscribe embedded transcription API"

#: How long uploads and finished jobs are kept, as the store's and the bucket's sweeps and the
#: job book's expiry do it (``retention``, ``scaleout.expiry``, ``scaleout.book``); the README
#: says the same in the same words (a test holds them together).
RETENTION = (
    "each upload is deleted `--retention-hours` (72) after it arrived, or, if its job is still "
    "unfinished then, once that job has ended; each finished job, with its result, is kept "
    "`--retention-hours` after it finished (a client can poll it until then), then forgotten."
)

#: The API as a whole: the protocol's four steps, then what this server adds to it.
DESCRIPTION = """\
A Tiyaro-compatible async transcription API served by `dropscribe serve`.

**The protocol, in four steps:** ask for a presigned upload URL, `PUT` the recording to it,
submit a job naming that URL, poll the job's URL until it has finished. Every request but the
presigned `PUT`, `/healthz`, `/metrics` and these documentation pages needs
`Authorization: Bearer <token>`. Every error is `{"error": "<message for a person>"}`.

**Model paths:** `whisper-tiny`, `whisper-small`, `whisper-medium` and `whisper-large` all
serve the model given to `--model` (default: the bundled tiny.en weights) unless
`--route PATH=MODEL` maps a path to another model; `GET /healthz` lists the mapping.

**Extensions beyond Tiyaro:**
- `Idempotency-Key` header on submit: the same key returns the same job and the engine runs
  once; the same key with a different request is refused (422).
- `DELETE` on a poll URL cancels an unfinished job.
- `?wait=SECONDS` on a poll URL holds the answer until the job has finished, at most that long;
  waits above 30 seconds are served as 30.
- `GET /healthz` and `GET /metrics` (Prometheus text), without a token.

**OpenAI's transcription endpoint:** `POST /v1/audio/transcriptions` takes OpenAI's multipart
upload (`file`, `model`, `language`, `prompt`, `temperature`, `response_format`,
`timestamp_granularities[]`) with the same bearer token, runs it as one job on the same engine
and answers when it has finished, as `json`, `text`, `verbose_json`, `srt` or `vtt`. `model`
is a model path (`whisper-small`) or a model's name; any other (`whisper-1`) gets the default.
"""
DESCRIPTION += (
    f"\n**Retention:** {RETENTION} The daemon's in-process server deletes an upload as soon as "
    "its job has finished.\n"
)

_BINARY_BODY = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}

_ERROR = {"description": 'refused; the body is {"error": "<message>"}'}

#: Route decorator arguments (summary, description, documented error answers) per endpoint.
ENDPOINTS: dict[str, dict[str, Any]] = {
    "upload_url": {
        "summary": "Step 1: get a presigned upload URL",
        "description": 'Return `{"uploadUrl": {"PUT": url}}`: a URL, valid for 15 minutes, '
        "that the recording is PUT to with no token. `extension` names the recording's format.",
        "responses": {400: _ERROR, 401: _ERROR},
    },
    "upload": {
        "summary": "Step 2: PUT the recording to the presigned URL",
        "description": "The body is the recording's bytes; `Content-Length` is required. The "
        "URL's `expires` and `signature` are the credential: no bearer token.",
        "responses": {400: _ERROR, 403: _ERROR, 409: _ERROR, 411: _ERROR, 413: _ERROR},
        "openapi_extra": {"requestBody": _BINARY_BODY},
    },
    "submit": {
        "summary": "Step 3: submit a transcription job",
        "description": "Queue the uploaded recording for the model path `model_name`; answer "
        "202 with the job and its poll URL in `response.urls.GET`. `serviceTier` is accepted "
        "and has no effect. Extension: an `Idempotency-Key` header makes a retried submit "
        "return the same job.",
        "responses": {400: _ERROR, 401: _ERROR, 404: _ERROR, 422: _ERROR},
    },
    "poll": {
        "summary": "Step 4: poll a job",
        "description": "Return the job: `status` (accepted, pending, processing, success, "
        "failed, cancelled), its three ISO 8601 UTC times, `result` once it succeeded and "
        "`error` once it failed. Extension: `wait` holds the answer until the job has "
        "finished, at most that many seconds (capped at 30).",
        "responses": {401: _ERROR, 404: _ERROR},
    },
    "cancel": {
        "summary": "Cancel a job (extension)",
        "description": "Cancel an unfinished job and return it with status `cancelled`; 409 "
        "if it has already succeeded or failed.",
        "responses": {401: _ERROR, 404: _ERROR, 409: _ERROR},
    },
    "transcriptions": {
        "summary": "Transcribe a recording in one request (OpenAI's API)",
        "description": "OpenAI's `POST /v1/audio/transcriptions`: a multipart upload whose "
        "answer is the transcript, once the job has finished. `response_format` is json "
        '(`{"text"}`), text, verbose_json (language, duration, segments; `words` with '
        "`timestamp_granularities[]=word`), srt or vtt. The upload size limit and the audio "
        "limits are the protocol's; a client that goes away cancels its job.",
        "responses": {400: _ERROR, 401: _ERROR, 413: _ERROR, 422: _ERROR},
    },
    "healthz": {
        "summary": "Liveness, model mapping and counters (extension, no token)",
        "description": "`status` is `ok`, or `degraded` (503) while an engine worker is dead; "
        "`models` maps each model path to the model it serves; the counters are lifetime "
        "totals.",
    },
    "metrics": {
        "summary": "Counters in the Prometheus text format (extension, no token)",
        "description": "Submissions, engine runs, queued jobs and engine worker state.",
    },
}
