"""The FastAPI application: endpoints, the guard (token, body limits, timeouts), JSON errors.

One app per worker process holds one :class:`~srlib.serve.model.ModelService` (model, Upscaler,
micro-batcher) and one :class:`~srlib.serve.jobs.JobManager` (its own bounded job queue). Every error
is JSON ``{"error": "..."}``: 4xx for what the client sent (named), 503 with ``Retry-After`` when a
queue is full; a handler never lets an exception reach uvicorn, so a bad request cannot stop a worker.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import nn

from srlib._version import __version__
from srlib.serve.batcher import QueueFullError
from srlib.serve.config import TOKEN_ENV, ServeConfig
from srlib.serve.images import (
    IMAGE_FORMATS,
    BadRequestError,
    check_output_pixels,
    check_query,
    decode_image,
    encode_image,
    parse_image_params,
    sniff_format,
)
from srlib.serve.jobs import JobManager, JobsFullError, parse_job_params, probe_video
from srlib.serve.model import ModelService

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger(__name__)

_CANCEL_WAIT_S = 30.0
_VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/x-matroska": ".mkv",
    "video/webm": ".webm",
    "video/x-msvideo": ".avi",
    "video/mp2t": ".ts",
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _Guard:
    """Pure ASGI middleware: bearer token, upload size (header and counted), upload timeout, counters.

    A request body larger than its limit is refused with 413 as soon as its ``Content-Length`` (or the
    bytes received so far) says so; a body not received within ``upload_timeout_s`` gets 408.
    """

    def __init__(self, app: ASGIApp, config: ServeConfig, token: str | None, counts: Counter) -> None:
        self.app, self.config, self.token, self.counts = app, config, token, counts

    def _limit(self, scope: Scope) -> int:
        video = scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/jobs"
        return self.config.max_video_upload_bytes if video else self.config.max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is not None and scope["path"] != "/health":
            given = headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                self.counts["4xx"] += 1
                response = _error(
                    401,
                    "A bearer token is required: send the header 'Authorization: Bearer TOKEN'.",
                    {"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        limit = self._limit(scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self.counts["4xx"] += 1
            await _error(413, _too_large(limit))(scope, receive, send)
            return
        received = 0
        deadline = time.monotonic() + self.config.upload_timeout_s

        async def limited_receive() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise HTTPException(408, "The request body was not received in time.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large(limit))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counts[f"{message['status'] // 100}xx"] += 1
            await send(message)

        await self.app(scope, limited_receive, counting_send)


def _too_large(limit: int) -> str:
    return f"The upload is larger than this server's limit of {limit:,} bytes."


def _bad_request(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "; ".join(parts) or "Bad request."


async def _read_upload(request: Request) -> tuple[bytes, str | None]:
    """The uploaded file's bytes and name: the raw body, or the one file of a multipart form."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return await request.body(), None
    form = await request.form(max_files=1, max_fields=8)
    try:
        files = [v for v in form.values() if isinstance(v, UploadFile)]
        fields = [k for k, v in form.items() if not isinstance(v, UploadFile)]
        if fields:
            raise BadRequestError(
                f"Form field(s) {', '.join(fields)} are not taken; send parameters in the query string."
            )
        if not files:
            raise BadRequestError("The multipart form holds no file; send the image as a file field.")
        return await files[0].read(), files[0].filename
    finally:
        await form.close()


def create_app(
    config: ServeConfig,
    *,
    token: str | None = None,
    net: nn.Module | None = None,
    workers: int = 1,
) -> FastAPI:
    """The service's FastAPI app (the model is loaded when the app starts, in its lifespan).

    Args:
        config: the server settings.
        token: the bearer token guarding every endpoint but ``/health`` (``None``: no token).
        net: an already loaded network (default: loaded from ``config.model``).
        workers: how many worker processes serve (reported by ``/v1/model``).
    """
    work = Path(config.work_dir) if config.work_dir else None
    state: dict = {}
    counts: Counter = Counter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        root = work
        temporary = root is None
        if root is None:
            import tempfile

            root = Path(tempfile.mkdtemp(prefix="srlib-serve-"))
        uploads = root / "uploads" / str(os.getpid())
        uploads.mkdir(parents=True, exist_ok=True)
        service = await run_in_threadpool(ModelService, config, net)
        await run_in_threadpool(service.start)
        jobs = JobManager(config, service, root)
        jobs.start()
        state.update(service=service, jobs=jobs, uploads=uploads, started=time.time())
        log.info(
            "serving %s (x%d, %s on %s), pid %d",
            config.model,
            service.scale,
            service.upscaler.dtype,
            service.upscaler.device,
            os.getpid(),
        )
        try:
            yield
        finally:
            jobs.stop()
            service.stop()
            shutil.rmtree(uploads, ignore_errors=True)
            if temporary:
                shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(
        title="srlib upscaling service",
        version=__version__,
        description="Image upscaling with micro-batching, and video upscaling jobs. See docs/serve.md.",
        lifespan=lifespan,
    )
    app.add_middleware(_Guard, config=config, token=token, counts=counts)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(400, _bad_request(err))

    @app.exception_handler(BadRequestError)
    async def _bad(request: Request, err: BadRequestError) -> JSONResponse:
        return _error(err.status, str(err))

    @app.exception_handler(QueueFullError)
    async def _queue_full(request: Request, err: QueueFullError) -> JSONResponse:
        return _error(503, str(err), {"Retry-After": "1"})

    @app.exception_handler(JobsFullError)
    async def _jobs_full(request: Request, err: JobsFullError) -> JSONResponse:
        return _error(503, str(err), {"Retry-After": str(err.retry_after)})

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, f"Internal error ({type(err).__name__}); the server keeps running.")

    def _no_query(request: Request) -> None:
        check_query(request.query_params, ())

    @app.get("/health", summary="Liveness (never needs the token)")
    async def health(request: Request) -> dict:
        _no_query(request)
        return {"status": "ok", "pid": os.getpid(), "uptime_s": round(time.time() - state["started"], 1)}

    @app.get("/v1/model", summary="The served model: name, scale, params, dtype, device, srlib version")
    async def model(request: Request) -> dict:
        _no_query(request)
        return state["service"].info(workers)

    @app.get("/v1/stats", summary="This worker's counters: requests, model calls and batch sizes, jobs")
    async def stats(request: Request) -> dict:
        _no_query(request)
        return {
            "pid": os.getpid(),
            "responses": dict(counts),
            "batching": state["service"].batcher.stats(),
            "jobs": state["jobs"].stats(),
        }

    image_body = {
        "requestBody": {
            "required": True,
            "content": {
                **{t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_FORMATS.values()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        },
        "parameters": [
            {
                "name": "outscale",
                "in": "query",
                "schema": {"type": "number"},
                "description": "final size = input x this",
            },
            {
                "name": "width",
                "in": "query",
                "schema": {"type": "integer"},
                "description": "final width (with height)",
            },
            {"name": "height", "in": "query", "schema": {"type": "integer"}, "description": "final height"},
            {
                "name": "format",
                "in": "query",
                "schema": {"enum": ["png", "jpeg", "webp"]},
                "description": "output format (default: the input's)",
            },
            {
                "name": "tile",
                "in": "query",
                "schema": {"type": "integer"},
                "description": "tile size in input pixels (0: whole)",
            },
            {"name": "alpha", "in": "query", "schema": {"enum": ["model", "bicubic"]}},
            {
                "name": "quality",
                "in": "query",
                "schema": {"type": "integer"},
                "description": "JPEG/WebP quality",
            },
        ],
    }

    @app.post(
        "/v1/upscale",
        summary="Upscale one image (PNG/JPEG/WebP body, or multipart); the image comes back",
        response_class=Response,
        responses={200: {"content": {t: {} for t in IMAGE_FORMATS.values()}}},
        openapi_extra=image_body,
    )
    async def upscale_image(request: Request) -> Response:
        service = state["service"]
        params = parse_image_params(request.query_params, service.policy)
        try:
            upscaler = service.variant(params.tile)
        except ValueError as err:
            raise BadRequestError(str(err)) from None
        data, _ = await _read_upload(request)
        deadline = time.monotonic() + config.request_timeout_s

        def work() -> tuple[bytes, str, int]:
            batcher = service.batcher
            with batcher.preparing():
                picture = decode_image(data, state["uploads"], config.max_pixels)
                check_output_pixels(picture.size, service.scale, params.output, config.max_output_pixels)
                fmt = params.format or sniff_format(data) or "png"
                if picture.alpha is not None and fmt == "jpeg":
                    raise BadRequestError(
                        "The image has an alpha channel, which JPEG cannot store; ask for format=png."
                    )

            def run(x):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                y, frames = batcher.run(x, upscaler, timeout=left)
                batch_sizes.append(frames)
                return y

            batch_sizes: list[int] = []

            from srlib.inference.upscale import upscale_picture

            try:
                result = upscale_picture(picture, run, output=params.output, alpha=params.alpha)
            except TimeoutError:
                raise HTTPException(
                    503,
                    f"Not answered within {config.request_timeout_s:g} s; the server is busy.",
                    headers={"Retry-After": "1"},
                ) from None
            return encode_image(result, fmt, params.quality), fmt, max(batch_sizes, default=0)

        body, fmt, batch = await run_in_threadpool(work)
        headers = {"X-Batch-Size": str(batch)}
        return Response(body, media_type=IMAGE_FORMATS[fmt], headers=headers)

    video_body = {
        "requestBody": {
            "required": True,
            "content": {
                **{t: {"schema": {"type": "string", "format": "binary"}} for t in _VIDEO_TYPES},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        },
        "parameters": [
            {"name": n, "in": "query", "schema": {"type": t}}
            for n, t in (
                ("outscale", "number"),
                ("width", "integer"),
                ("height", "integer"),
                ("tile", "integer"),
                ("format", "string"),
                ("crf", "integer"),
                ("preset", "string"),
            )
        ],
    }

    @app.post(
        "/v1/jobs",
        status_code=202,
        summary="Upload a video: starts an upscaling job (audio kept); 503 + Retry-After when full",
        openapi_extra=video_body,
    )
    async def submit_job(request: Request) -> JSONResponse:
        service, jobs = state["service"], state["jobs"]
        params = parse_job_params(request.query_params, service.policy)
        try:
            service.variant(params.tile)
        except ValueError as err:
            raise BadRequestError(str(err)) from None
        jobs.reserve()
        folder = None
        try:
            job_id, folder = jobs.new_folder()
            upload = await _receive_video(request, folder)
            facts = await run_in_threadpool(probe_video, upload, config, service.scale, params.output)
            status = jobs.enqueue(job_id, folder, upload, params, facts)
        except BaseException:
            jobs.release()
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(status, status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})

    async def _receive_video(request: Request, folder: Path) -> Path:
        from srlib.data.video.decode import VIDEO_EXTENSIONS

        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=8)
            try:
                files = [v for v in form.values() if isinstance(v, UploadFile)]
                if not files:
                    raise BadRequestError("The multipart form holds no file; send the video as a file field.")
                suffix = Path(files[0].filename or "").suffix.lower()
                path = folder / f"input{suffix if suffix in VIDEO_EXTENSIONS else '.bin'}"
                with path.open("wb") as f:
                    await run_in_threadpool(shutil.copyfileobj, files[0].file, f, 1 << 20)
            finally:
                await form.close()
        else:
            path = folder / f"input{_VIDEO_TYPES.get(ctype, '.bin')}"
            with path.open("wb") as f:
                async for chunk in request.stream():
                    f.write(chunk)
        if path.stat().st_size == 0:
            raise BadRequestError("The request has no video (the body is empty).")
        return path

    def _job_status(job_id: str) -> dict:
        status = state["jobs"].status(job_id)
        if status is None:
            raise HTTPException(404, f"No job {job_id!r} (unknown, deleted or expired).")
        return status

    @app.get("/v1/jobs/{job_id}", summary="A job's state and progress (frames done / total, frames/s, ETA)")
    async def job_status(job_id: str, request: Request) -> dict:
        _no_query(request)
        status = _job_status(job_id)
        status.pop("result_name", None)
        return status

    @app.get(
        "/v1/jobs/{job_id}/result",
        summary="The finished video (409 until the job is done)",
        response_class=FileResponse,
    )
    async def job_result(job_id: str, request: Request) -> FileResponse:
        _no_query(request)
        status = _job_status(job_id)
        if status["state"] != "done":
            why = f": {status['error']}" if status.get("error") else ""
            raise HTTPException(409, f"Job {job_id} is {status['state']}, there is no result{why}.")
        path = state["jobs"].result_path(job_id)
        if path is None:
            raise HTTPException(404, f"The result of job {job_id} was deleted or has expired.")
        from mimetypes import guess_type

        return FileResponse(
            path,
            media_type=guess_type(path.name)[0] or "application/octet-stream",
            filename=f"{job_id}{path.suffix}",
        )

    @app.delete(
        "/v1/jobs/{job_id}", summary="Cancel a queued or running job, or delete a finished one, and its files"
    )
    async def delete_job(job_id: str, request: Request) -> JSONResponse:
        _no_query(request)
        jobs = state["jobs"]
        outcome = await run_in_threadpool(jobs.delete, job_id)
        if outcome is None:
            raise HTTPException(404, f"No job {job_id!r} (unknown, deleted or expired).")
        if outcome == "cancelling":
            deadline = time.monotonic() + _CANCEL_WAIT_S
            while not jobs.gone(job_id) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if not jobs.gone(job_id):
                return JSONResponse({"id": job_id, "state": "cancelling"}, status_code=202)
        return JSONResponse({"id": job_id, "state": "deleted"})

    return app


def app_from_env() -> FastAPI:
    """The app of a worker process started by ``python -m srlib.serve --workers N`` (settings from the
    environment: see :mod:`srlib.serve.config`)."""
    from srlib._logging import setup_cli_logging

    setup_cli_logging(logging.INFO)
    config = ServeConfig.from_env()
    token = os.environ.get(TOKEN_ENV) or None
    return create_app(
        config,
        token=token if config.token_required else None,
        workers=int(os.environ.get("SRLIB_SERVE_WORKERS", "1")),
    )
