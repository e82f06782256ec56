"""The FastAPI application: endpoints, the guard (token, body limits, timeouts), JSON errors.

One app per worker process holds one :class:`~srlib.serve.model.ModelService` (model, Upscaler,
micro-batcher) and one :class:`~srlib.serve.jobs.JobManager` (its own bounded job queue). Every error
is JSON ``{"error": "..."}``: 4xx for what the client sent (named), 503 with ``Retry-After`` when a
queue is full, 507 when the disk is full; a handler never lets an exception reach uvicorn, so a bad
request cannot stop a worker.

An image request's model work is stopped when its client hangs up or its time runs out (the request
carries a cancel event the model checks between tiles and layers). A video upload is received and
checked before it takes a job slot, so slow or stalled uploads never hold the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import nn

from srlib._version import __version__
from srlib.serve.batcher import CancelledWorkError, QueueFullError
from srlib.serve.config import TOKEN_ENV, ServeConfig, check_token
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
from srlib.serve.workdir import WorkDir, disk_full

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger(__name__)

_CANCEL_WAIT_S = 30.0
#: Status answered (to nobody) when the client hung up before its image was done (nginx's "client
#: closed request"); counted in /v1/stats.
_CLIENT_GONE = 499
_CHUNK = 1 << 20
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
    """Pure ASGI middleware: bearer token, upload size (header and counted), upload timeouts, counters.

    A request body larger than its limit is refused with 413 as soon as its ``Content-Length`` (or the
    bytes received so far) says so; a body not received within ``upload_timeout_s``, or one that sends
    nothing for ``upload_idle_timeout_s``, gets 408. Once the body is complete, ``receive`` passes
    through untimed (it then only reports the client hanging up).
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
        received, complete = 0, False
        deadline = time.monotonic() + self.config.upload_timeout_s
        idle = self.config.upload_idle_timeout_s

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            left = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(min(left, idle), 0.001))
            except asyncio.TimeoutError:
                if left <= idle:
                    why = f"The request body was not received within {self.config.upload_timeout_s:g} s"
                    why += " (--upload-timeout)."
                else:
                    why = f"The upload stalled: nothing came for {idle:g} s (--upload-idle-timeout)."
                raise HTTPException(408, why) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large(limit))
                complete = not message.get("more_body", False)
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


async def _watch_disconnect(request: Request, cancel: threading.Event) -> None:
    """Set ``cancel`` when the client hangs up (after its body was read, ``receive`` says only that)."""
    with contextlib.suppress(Exception):
        while True:
            if (await request.receive())["type"] == "http.disconnect":
                cancel.set()
                return


class _OpenFileResponse(Response):
    """An already opened file, streamed (one ``bytes=a-b`` range honoured): a DELETE that removes the
    file while it is being sent cannot cut the download short, since the open file stays readable."""

    def __init__(self, f: BinaryIO, media_type: str, filename: str) -> None:
        self.file, self.size = f, os.fstat(f.fileno()).st_size
        super().__init__(
            None,
            media_type=media_type,
            headers={
                "content-disposition": f'attachment; filename="{filename}"',
                "accept-ranges": "bytes",
                "content-length": str(self.size),
            },
        )

    def _range(self, scope: Scope) -> tuple[int, int] | None:
        raw = next((v for k, v in scope["headers"] if k.lower() == b"range"), None)
        m = re.fullmatch(rb"bytes=(\d*)-(\d*)", raw.strip()) if raw else None
        if m is None or not (m.group(1) or m.group(2)):
            return None
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)) + 1, self.size) if m.group(2) else self.size
        else:
            start, end = max(self.size - int(m.group(2)), 0), self.size
        return start, end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start, end, status = 0, self.size, 200
            wanted = self._range(scope)
            if wanted is not None:
                start, end = wanted
                if start >= end:
                    await Response(status_code=416, headers={"content-range": f"bytes */{self.size}"})(
                        scope, receive, send
                    )
                    return
                status = 206
                self.headers["content-length"] = str(end - start)
                self.headers["content-range"] = f"bytes {start}-{end - 1}/{self.size}"
            await send({"type": "http.response.start", "status": status, "headers": self.raw_headers})
            offset = start
            while scope["method"] != "HEAD" and offset < end:
                size = min(_CHUNK, end - offset)
                data = await run_in_threadpool(os.pread, self.file.fileno(), size, offset)
                if not data:
                    break
                offset += len(data)
                await send({"type": "http.response.body", "body": data, "more_body": offset < end})
            if scope["method"] == "HEAD" or offset == start:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.file.close()


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
    no_auth: bool = False,
    net: nn.Module | None = None,
    workers: int = 1,
    work: WorkDir | None = None,
) -> FastAPI:
    """The service's FastAPI app (the model is loaded when the app starts, in its lifespan).

    Args:
        config: the server settings.
        token: the bearer token guarding every endpoint but ``/health``.
        no_auth: serve without a token (must be asked for: a missing or empty token never opens the API).
        net: an already loaded network (default: loaded from ``config.model``).
        workers: how many worker processes serve (reported by ``/v1/model``).
        work: the work folder, already locked by the caller (default: opened, locked and swept when the
            app starts, from ``config.work_dir``; attached without the lock when ``work_dir_locked``).

    Raises:
        ValueError: no token and no ``no_auth``, an empty or blank token, or both a token and ``no_auth``.
    """
    if no_auth and token is not None:
        raise ValueError("Give a token or no_auth=True, not both.")
    if not no_auth:
        token = check_token(token, "token")
    state: dict = {}
    counts: Counter = Counter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = None
        if work is not None:
            folder = work
        elif config.work_dir and config.work_dir_locked:
            folder = WorkDir.attach(config.work_dir)
        else:
            folder = opened = await run_in_threadpool(WorkDir.open, config.work_dir)
        try:
            uploads = folder.worker_uploads()
            service = await run_in_threadpool(ModelService, config, net)
        except BaseException:
            if opened is not None:
                opened.close()
            raise
        await run_in_threadpool(service.start)
        jobs = JobManager(config, service, folder)
        jobs.start()
        state.update(service=service, jobs=jobs, uploads=uploads, work=folder, started=time.time())
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
            folder.remove_uploads(uploads)
            if opened is not None:
                opened.close()

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

    @app.exception_handler(OSError)
    async def _os_error(request: Request, err: OSError) -> JSONResponse:
        if disk_full(err):
            log.warning("disk full on %s %s: %s", request.method, request.url.path, err)
            return _error(
                507,
                "The server's disk is full, so the request could not be stored (nothing of it was kept); "
                "retry later.",
                {"Retry-After": "30"},
            )
        return await _internal(request, err)

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
        if service.temporal:
            raise BadRequestError(
                f"This server runs the video model {config.model!r}, which upscales videos, not single "
                "images: POST the video to /v1/jobs, or serve an image model (e.g. vsr_frame) for images."
            )
        params = parse_image_params(request.query_params, service.policy)
        try:
            upscaler = service.variant(params.tile)
        except ValueError as err:
            raise BadRequestError(str(err)) from None
        data, _ = await _read_upload(request)
        deadline = time.monotonic() + config.request_timeout_s
        cancel = threading.Event()  # set when the client hangs up, or by the batcher on timeout

        def work() -> tuple[bytes, str, int]:
            batcher = service.batcher
            with batcher.preparing():
                picture = decode_image(
                    data, state["uploads"], config.max_pixels, write=state["work"].write_chunk
                )
                check_output_pixels(picture.size, service.scale, params.output, config.max_output_pixels)
                fmt = params.format or sniff_format(data) or "png"
                if picture.alpha is not None and fmt == "jpeg":
                    raise BadRequestError(
                        "The image has an alpha channel, which JPEG cannot store; ask for format=png."
                    )

            def run(x):
                left = deadline - time.monotonic()
                if left <= 0:
                    cancel.set()
                    raise TimeoutError
                y, frames = batcher.run(x, upscaler, timeout=left, cancel=cancel)
                batch_sizes.append(frames)
                return y

            batch_sizes: list[int] = []

            from srlib.inference.upscale import upscale_picture

            try:
                result = upscale_picture(picture, run, output=params.output, alpha=params.alpha)
            except TimeoutError:
                raise HTTPException(
                    503,
                    f"Not answered within {config.request_timeout_s:g} s (--timeout); the server is busy. "
                    "Its work was stopped.",
                    headers={"Retry-After": "1"},
                ) from None
            if cancel.is_set():
                raise CancelledWorkError
            return encode_image(result, fmt, params.quality), fmt, max(batch_sizes, default=0)

        watcher = asyncio.ensure_future(_watch_disconnect(request, cancel))
        try:
            body, fmt, batch = await run_in_threadpool(work)
        except CancelledWorkError:
            return _error(_CLIENT_GONE, "The client closed the connection; the work was stopped.")
        finally:
            watcher.cancel()
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
        service, jobs, work = state["service"], state["jobs"], state["work"]
        params = parse_job_params(request.query_params, service.policy)
        try:
            service.variant(params.tile)
        except ValueError as err:
            raise BadRequestError(str(err)) from None
        jobs.check_room()  # a full queue answers before a large upload is read (nothing is reserved)
        with jobs.receiving():
            upload = await _receive_video(request)
        folder = None
        try:
            facts = await run_in_threadpool(probe_video, upload, config, service.scale, params.output)
            jobs.reserve()  # the slot is taken only now: received, checked, ready to queue
            try:
                job_id, folder = work.new_job_folder()
                accepted = folder / f"input{upload.suffix}"
                os.replace(upload, accepted)
                status = jobs.enqueue(job_id, folder, accepted, params, facts)
            except BaseException:
                jobs.release()
                if folder is not None:
                    work.remove_job_folder(folder)
                raise
        finally:
            upload.unlink(missing_ok=True)
        return JSONResponse(status, status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})

    async def _receive_video(request: Request) -> Path:
        """The upload, streamed into this worker's uploads folder (every byte through the WorkDir)."""
        from srlib.io.video import VIDEO_EXTENSIONS

        work = state["work"]
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        path = None
        try:
            if ctype.startswith("multipart/form-data"):
                form = await request.form(max_files=1, max_fields=8)
                try:
                    files = [v for v in form.values() if isinstance(v, UploadFile)]
                    if not files:
                        raise BadRequestError(
                            "The multipart form holds no file; send the video as a file field."
                        )
                    suffix = Path(files[0].filename or "").suffix.lower()
                    path = work.new_upload(state["uploads"], suffix if suffix in VIDEO_EXTENSIONS else ".bin")

                    def copy(source: BinaryIO, target: Path) -> None:
                        with target.open("wb") as f:
                            while chunk := source.read(_CHUNK):
                                work.write_chunk(f, chunk)

                    await run_in_threadpool(copy, files[0].file, path)
                finally:
                    await form.close()
            else:
                path = work.new_upload(state["uploads"], _VIDEO_TYPES.get(ctype, ".bin"))
                with path.open("wb") as f:
                    async for chunk in request.stream():
                        work.write_chunk(f, chunk)
            if path.stat().st_size == 0:
                raise BadRequestError("The request has no video (the body is empty).")
        except BaseException:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
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
        summary="The finished video (409 until the job is done; 404 once deleted, even mid-race)",
        response_class=Response,
    )
    async def job_result(job_id: str, request: Request) -> Response:
        _no_query(request)
        status = _job_status(job_id)
        if status["state"] != "done":
            why = f": {status['error']}" if status.get("error") else ""
            raise HTTPException(409, f"Job {job_id} is {status['state']}, there is no result{why}.")
        opened = await run_in_threadpool(state["jobs"].open_result, job_id)
        if opened is None:
            raise HTTPException(404, f"The result of job {job_id} was deleted or has expired.")
        from mimetypes import guess_type

        f, name = opened
        suffix = Path(name).suffix
        return _OpenFileResponse(
            f, guess_type(name)[0] or "application/octet-stream", filename=f"{job_id}{suffix}"
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
    workers = int(os.environ.get("SRLIB_SERVE_WORKERS", "1"))
    if not config.token_required:
        return create_app(config, no_auth=True, workers=workers)
    return create_app(config, token=os.environ.get(TOKEN_ENV), workers=workers)
