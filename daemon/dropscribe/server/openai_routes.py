"""OpenAI's ``POST /v1/audio/transcriptions`` on the same engine, jobs and token as the rest.

One request is one job: the recording is kept as an upload of this server (or put in the
bucket, scale-out), submitted like a protocol job, and the answer waits until the job has
finished, in the format asked for (openai_formats). So the job's limits (audio length,
sample rate), its queue, its metrics and its retention are the protocol's. Authentication and
the size bound come first, from the headers (guards.py); a client that goes away cancels its
job.

No ``from __future__ import annotations``: FastAPI reads the handler's annotations.
"""

import contextlib
from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.params import Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from dropscribe.server.api import ApiService, SubmitRequest
from dropscribe.server.apidocs import ENDPOINTS
from dropscribe.server.guards import TRANSCRIPTIONS_PATH
from dropscribe.server.job_status import JobStatus
from dropscribe.server.openai_formats import (
    MEDIA_TYPES,
    TranscriptionAsk,
    transcription_ask,
    transcription_body,
    upload_extension,
)
from dropscribe.server.problems import ApiProblem
from dropscribe.server.records import JobRecord

#: Seconds between looks at whether the client is still there while its job runs.
DISCONNECT_CHECK_SECONDS = 1.0

_FORMAT_HELP = "json (the default), text, verbose_json, srt or vtt"
_GRANULARITY_HELP = "segment and/or word; word (with verbose_json) adds word timestamps"


def add_transcriptions(
    app: FastAPI,
    service: ApiService,
    auth: list[Depends],
    base_url: Callable[[Request], str],
    max_upload_bytes: int,
) -> None:
    """Add OpenAI's transcription endpoint to ``app``."""

    @app.post(TRANSCRIPTIONS_PATH, dependencies=auth, **ENDPOINTS["transcriptions"])
    async def transcriptions(
        request: Request,
        file: Annotated[UploadFile, File(description="the recording")],
        model: Annotated[str, Form(description="a model path or name")] = "whisper-1",
        language: Annotated[str | None, Form(description="ISO-639-1, e.g. en")] = None,
        prompt: Annotated[str | None, Form(description="Whisper's initial prompt")] = None,
        response_format: Annotated[str, Form(description=_FORMAT_HELP)] = "json",
        temperature: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
        timestamp_granularities: Annotated[
            list[str] | None, Form(alias="timestamp_granularities[]", description=_GRANULARITY_HELP)
        ] = None,
    ) -> Response:
        ask = transcription_ask(
            language, prompt, temperature, response_format, timestamp_granularities or []
        )
        extension = upload_extension(file.filename)
        if file.size is not None and file.size > max_upload_bytes:
            raise ApiProblem(413, f"upload is larger than the limit of {max_upload_bytes} bytes")
        url = await anyio.to_thread.run_sync(
            service.store_recording, extension, file.file, base_url(request)
        )
        await file.close()
        route = service.route_for(model)
        job = service.submit(route, SubmitRequest(input=ask.options, URL=url), None).job
        return _answer(await _finished(service, request, job), ask)


async def _finished(service: ApiService, request: Request, job: JobRecord) -> JobRecord:
    """Return the job once it has finished; cancel it, and refuse, if the client goes away."""
    while not job.status.is_terminal:
        if await request.is_disconnected():
            await anyio.to_thread.run_sync(_cancel, service, job.job_id)
            raise ApiProblem(400, "the client went away; the job was cancelled")
        job = await service.wait_for_job(job.job_id, DISCONNECT_CHECK_SECONDS)
    return job


def _cancel(service: ApiService, job_id: str) -> None:
    # A job that finished in between has nothing left to cancel.
    with contextlib.suppress(ApiProblem):
        service.cancel(job_id)


def _answer(job: JobRecord, ask: TranscriptionAsk) -> Response:
    if job.status is not JobStatus.SUCCESS or job.result is None:
        # The job's error says why (a file the decoder cannot read, audio too long or too
        # thin): the request's fault, so a client does not send it again unchanged.
        raise ApiProblem(422, f"the recording could not be transcribed: {job.error or 'cancelled'}")
    body: Any = transcription_body(job.result, ask)
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=MEDIA_TYPES[ask.response_format])
