"""The FastAPI application: thin adapters from HTTP requests to ApiService calls.

Every error, including FastAPI's own validation errors and Starlette's 404/405, leaves as
``{"error": "<message for a person>"}``; a bug leaves as a 500 with a generic message, and its
traceback goes to the log only.

No ``from __future__ import annotations`` here: FastAPI must evaluate the handlers'
annotations where they are defined, because they refer to closures (known_model).
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from dropscribe.server.api import ApiService, SubmitRequest, check_token
from dropscribe.server.apidocs import DESCRIPTION, ENDPOINTS, TITLE
from dropscribe.server.guards import DOCS_PATHS, FailureLimiter, RequestGuard
from dropscribe.server.openai_routes import add_transcriptions
from dropscribe.server.problems import ApiProblem
from dropscribe.server.upload_site import UPLOAD_PATH
from dropscribe.server.uploads import ALLOWED_EXTENSIONS, store_body
from dropscribe.server.views import POLL_PATH, job_view, submit_view, upload_url_view

# The longest a long poll (GET poll URL ?wait=SECONDS) holds its answer, in seconds. A waiting
# poll is a coroutine, not a thread; guards.py caps how many one client may hold.
MAX_POLL_WAIT_SECONDS = 30.0

#: Content type of the Prometheus text exposition format.
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Documentation of the upload-url endpoint's ``extension`` query parameter.
EXTENSION_HELP = f"the recording's format, one of {', '.join(ALLOWED_EXTENSIONS)}"

#: Documentation of the poll endpoint's ``wait`` query parameter.
WAIT_HELP = (
    f"seconds to hold the answer until the job has finished; at most {MAX_POLL_WAIT_SECONDS:g}"
)

log = logging.getLogger(__name__)

ServiceTier = Literal["cpuflex", "gpuflex"]


def build_app(
    service: ApiService, token: str, max_upload_bytes: int, public_url: str | None
) -> FastAPI:
    """Return the ASGI application serving the protocol, its extensions and OpenAI's
    transcription endpoint."""
    docs, openapi, redoc = DOCS_PATHS
    app = FastAPI(
        title=TITLE, description=DESCRIPTION, docs_url=docs, openapi_url=openapi, redoc_url=redoc
    )
    _install_error_handlers(app)
    # Authentication and body limits run before FastAPI reads any body (see guards.py).
    app.add_middleware(
        RequestGuard, token=token, failures=FailureLimiter(), max_upload_bytes=max_upload_bytes
    )
    routes = service.routes

    def base_url(request: Request) -> str:
        return public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        check_token(token, authorization)

    def known_model(model_name: str) -> str:
        if model_name not in routes:
            raise ApiProblem(404, f"unknown model {model_name!r}; served: {', '.join(routes)}")
        return model_name

    auth = [Depends(authorized)]

    @app.post("/v1/input/upload-url", status_code=201, dependencies=auth, **ENDPOINTS["upload_url"])
    def upload_url(
        request: Request,
        extension: Annotated[str | None, Query(description=EXTENSION_HELP)] = None,
    ) -> dict[str, Any]:
        return upload_url_view(service.issue_upload_url(extension, base_url(request)))

    @app.put(UPLOAD_PATH, **ENDPOINTS["upload"])
    async def upload(
        name: str, request: Request, expires: str | None = None, signature: str | None = None
    ) -> dict[str, Any]:
        target = service.upload_target(name, expires, signature)
        _check_length(request.headers.get("content-length"), max_upload_bytes)
        try:
            size = await store_body(
                request.stream(), target, max_upload_bytes, service.check_replaceable
            )
        except ClientDisconnect as exc:
            raise ApiProblem(
                400, "the upload was interrupted before the body was complete"
            ) from exc
        service.record_upload(target, size)
        return {"size": size}

    @app.post(
        "/v1/async/ent/tiyarofs/1/openai/{model_name}",
        status_code=202,
        dependencies=auth,
        **ENDPOINTS["submit"],
    )
    def submit(
        request: Request,
        route: Annotated[str, Depends(known_model)],
        body: SubmitRequest,
        serviceTier: ServiceTier = "cpuflex",  # the protocol spells it so
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        # serviceTier is accepted for compatibility; this server has a single tier.
        return submit_view(service.submit(route, body, idempotency_key).job, base_url(request))

    @app.get(POLL_PATH, dependencies=auth, **ENDPOINTS["poll"])
    async def poll(
        job_id: str,
        wait: Annotated[float, Query(ge=0, allow_inf_nan=False, description=WAIT_HELP)] = 0.0,
    ) -> dict[str, Any]:
        # `wait` (an extension): hold the answer until the job has finished, at most that long.
        return job_view(await service.wait_for_job(job_id, capped_wait(wait)))

    @app.delete(POLL_PATH, dependencies=auth, **ENDPOINTS["cancel"])
    def cancel(job_id: str) -> dict[str, Any]:
        return job_view(service.cancel(job_id))

    add_transcriptions(app, service, auth, base_url, max_upload_bytes)

    @app.get("/healthz", **ENDPOINTS["healthz"])
    def healthz() -> JSONResponse:
        health = service.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)

    @app.get("/metrics", **ENDPOINTS["metrics"])
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics(), media_type=METRICS_MEDIA_TYPE)

    return app


def capped_wait(seconds: float) -> float:
    """Return the long-poll wait to honour: ``seconds``, at most MAX_POLL_WAIT_SECONDS.

    A client cannot know this server's maximum, so a longer wait is served, not refused.
    """
    return min(seconds, MAX_POLL_WAIT_SECONDS)


def _check_length(header: str | None, limit: int) -> None:
    if header is None:
        raise ApiProblem(411, "Content-Length header is required for uploads")
    if not header.isdigit():
        raise ApiProblem(400, f"Content-Length {header!r} is not a byte count")
    if int(header) > limit:
        raise ApiProblem(413, f"upload of {header} bytes is larger than the limit of {limit}")


def _install_error_handlers(app: FastAPI) -> None:
    handlers: dict[type[Exception], Callable[[Request, Any], Any]] = {
        ApiProblem: _problem,
        HTTPException: _http_error,
        RequestValidationError: _validation_error,
        Exception: _crash,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _problem(request: Request, exc: ApiProblem) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return _error(exc.status, exc.message, headers or None)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return _error(exc.status_code, message, exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        detail = errors[0].get("ctx", {}).get("error", "not valid JSON")
        return _error(400, f"malformed JSON body: {detail}")
    return _error(422, "invalid request: " + "; ".join(_describe(error) for error in errors))


def _describe(error: dict[str, Any]) -> str:
    return f"{_location(error['loc'])}: {error['msg']}"


def _location(loc: Sequence[str | int]) -> str:
    # Drop the "body" prefix and pydantic's union-branch tags ("list[int]") so the path names
    # the parameter as the client wrote it.
    parts = [str(part) for part in loc[1:] if not str(part).endswith("]") and "-" not in str(part)]
    where = ".".join(parts) or "body"
    return f"query parameter {where}" if loc[:1] == ("query",) else where


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    return _error(500, "internal server error; the server log has the details")
