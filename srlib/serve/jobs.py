"""Video jobs: a bounded queue, a few job threads, progress, cooperative cancellation, clean files.

Layout under the server's work folder (shared by all worker processes of one server)::

    jobs/<id>/input.<ext>        the upload (removed when the job ends)
    jobs/<id>/result.<ext>       the finished video (written by upscale_video under a hidden temporary
                                 name and renamed when complete, so it exists only when whole)
    state/<id>.json              the job's state, written atomically; the one source of truth, so any
                                 worker process can answer GET / result / DELETE for any job
    state/<id>.cancel            a cancellation request left by another worker process

A job is owned by the worker process that accepted it: only that process runs it and writes its
state. Cancellation is cooperative: the job's frames reach the model through :class:`_JobUpscaler`,
which checks the cancel flag (and the marker file) before every batch, so a job stops within one batch.
A cancelled job leaves nothing on disk; a failed job leaves only its small state file (the error
message, no media) until it is deleted or expires after ``job_ttl_s``; a finished job's result and
state expire after ``job_ttl_s`` as well.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import av
from torch import Tensor

from srlib._fs import atomic_write
from srlib.data.image_io import max_image_pixels
from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.serve.batcher import QueueFullError
from srlib.serve.config import ServeConfig
from srlib.serve.images import BadRequestError, check_output_pixels, check_query, output_size
from srlib.serve.model import ModelService

__all__ = ["JOB_QUERY", "JobManager", "JobParams", "JobsFullError", "probe_video"]

log = logging.getLogger(__name__)

JOB_QUERY = ("outscale", "width", "height", "tile", "format", "crf", "preset")
#: Containers a job may write, by the ``format`` parameter.
VIDEO_FORMATS = ("mp4", "mkv", "mov")
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_ACTIVE = ("queued", "running")
_WRITE_EVERY_S = 0.5


class JobsFullError(RuntimeError):
    """The job queue is full; ``retry_after`` is a guess of when a slot frees (seconds)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobCancelledError(Exception):
    """Raised inside a job's model calls once it has been cancelled."""


@dataclass(frozen=True)
class JobParams:
    """What ``POST /v1/jobs`` was asked for."""

    output: OutputSize
    tile: int | None
    format: str | None
    crf: int
    preset: str


def parse_job_params(query, policy=None) -> JobParams:
    """Validate the query of ``POST /v1/jobs``.

    Raises:
        BadRequestError: an unknown parameter or a bad value.

    Example:
        >>> parse_job_params({"format": "mkv", "crf": "20"}).crf
        20
    """
    check_query(query, JOB_QUERY)
    fmt = query.get("format")
    if fmt is not None and fmt.lower().lstrip(".") not in VIDEO_FORMATS:
        raise BadRequestError(f"Unknown video format {fmt!r}; use one of {', '.join(VIDEO_FORMATS)}.")
    preset = query.get("preset", "medium")
    if preset not in _PRESETS:
        raise BadRequestError(f"Unknown preset {preset!r}; use one of {', '.join(_PRESETS)}.")
    try:
        crf = int(query.get("crf", "18"))
    except ValueError:
        raise BadRequestError(f"crf must be a whole number from 0 to 51, got {query['crf']!r}.") from None
    if not 0 <= crf <= 51:
        raise BadRequestError(f"crf must be a whole number from 0 to 51, got {crf}.")
    tile_raw = query.get("tile")
    try:
        tile = int(tile_raw) if tile_raw not in (None, "") else None
    except ValueError:
        raise BadRequestError(f"tile must be a whole number of pixels, got {tile_raw!r}.") from None
    if tile is not None and tile < 0:
        raise BadRequestError(f"tile must be 0 (whole frames) or a positive number of pixels, got {tile}.")
    return JobParams(
        output=output_size(query, policy),
        tile=tile,
        format=fmt.lower().lstrip(".") if fmt else None,
        crf=crf,
        preset=preset,
    )


def probe_video(path: Path, config: ServeConfig, scale: int, output: OutputSize) -> dict:
    """Check an uploaded video before it is queued; returns its facts (size, frames, duration, audio).

    Refused (as :class:`BadRequestError`): not a video, no video stream, longer than ``max_video_seconds``,
    frames over the pixel limit, an output over ``max_output_pixels``, or fewer video packets than the
    header declares (a truncated upload). Only packets are read (no decoding), so this is quick.
    """
    from srlib.data.video.decode import open_video

    try:
        container = open_video(path)
    except ValueError as err:
        if not isinstance(err.__cause__, Exception):  # opened, but no video stream: the message says so
            raise BadRequestError(str(err).replace(f"Video file {path}", "The upload")) from None
        reason = str(err.__cause__).replace(str(path), "the upload")
        raise BadRequestError(
            f"The upload is not a video FFmpeg can open, or it is truncated or corrupt ({reason})."
        ) from None
    try:
        video = container.streams.video[0]
        ctx = video.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise BadRequestError("The uploaded video's stream declares no frame size; it is corrupt.")
        limit = max_image_pixels(config.max_pixels)
        if width * height > limit:
            raise BadRequestError(
                f"The uploaded video's frames are {width}x{height}, over this server's limit of {limit:,} "
                "pixels per frame.",
                413,
            )
        check_output_pixels((height, width), scale, output, config.max_output_pixels)
        if video.duration and video.time_base:
            seconds = float(video.duration * video.time_base)
        else:
            seconds = (container.duration or 0) / 1_000_000
        if seconds > config.max_video_seconds:
            raise BadRequestError(
                f"The uploaded video lasts {seconds:.1f} s, over this server's limit of "
                f"{config.max_video_seconds:g} s (--max-video-seconds).",
                413,
            )
        declared = int(video.frames or 0)
        packets = 0
        try:
            for packet in container.demux(video):
                if packet.size:
                    packets += 1
        except (av.FFmpegError, OSError) as err:
            raise BadRequestError(
                f"The uploaded video cannot be read ({err}); it is truncated or corrupt."
            ) from None
        if packets == 0:
            raise BadRequestError("The uploaded video holds no video frames.")
        if declared and packets < declared:
            raise BadRequestError(
                f"The uploaded video holds {packets} of the {declared} frames its header declares; it is "
                "truncated."
            )
        if seconds <= 0 and video.average_rate:
            seconds = packets / float(video.average_rate)
        if seconds > config.max_video_seconds:
            raise BadRequestError(
                f"The uploaded video lasts about {seconds:.1f} s, over this server's limit of "
                f"{config.max_video_seconds:g} s (--max-video-seconds).",
                413,
            )
        return {
            "width": width,
            "height": height,
            "frames": declared or packets,
            "duration_s": round(seconds, 3),
            "audio_streams": len(container.streams.audio),
        }
    finally:
        container.close()


@dataclass
class _Job:
    id: str
    folder: Path
    input: Path
    result: Path
    params: JobParams
    facts: dict
    created: float = field(default_factory=time.time)
    state: str = "queued"
    started: float | None = None
    finished: float | None = None
    frames_done: int = 0
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    last_write: float = 0.0


class _JobUpscaler(Upscaler):
    """The server's prepared Upscaler, seen by ``upscale_video``: frames go through the micro-batcher.

    ``upscale_video`` takes an ``nn.Module`` or an ``Upscaler`` and has no progress callback or cancel
    hook, so this subclass is the seam: before each batch it checks the job's cancel flag, after it
    counts the frames. It shares the prepared model (no ``Upscaler.__init__``: that would move the
    model while the model thread runs it).
    """

    def __init__(self, base: Upscaler, manager: JobManager, job: _Job) -> None:
        self.__dict__.update(base.__dict__)
        self._base, self._manager, self._job = base, manager, job

    def __call__(self, x: Tensor) -> Tensor:
        batcher = self._manager.service.batcher
        while True:
            self._manager.check_cancel(self._job)
            try:
                future = batcher.submit(x, self._base)
                break
            except QueueFullError:  # images first: a job's batch waits for room
                time.sleep(0.05)
        while True:
            try:
                y = future.result(timeout=0.25)
                break
            except TimeoutError:
                if self._manager.cancelled(self._job) and future.cancel():
                    raise JobCancelledError() from None
        self._manager.advance(self._job, x.shape[0])
        return y


class JobManager:
    """The video jobs of one worker process (its own bounded queue) and the shared job files.

    Args:
        config: the server settings (``max_jobs``, ``job_workers``, ``job_batch_size``, ``job_ttl_s``).
        service: the model service whose batcher runs the frames.
        root: the server's work folder (``jobs/`` and ``state/`` are made inside).
    """

    def __init__(self, config: ServeConfig, service: ModelService, root: Path) -> None:
        self.config, self.service = config, service
        self.jobs_dir, self.state_dir = root / "jobs", root / "state"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._owned: dict[str, _Job] = {}
        self._reserved = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.counts = {"submitted": 0, "done": 0, "failed": 0, "cancelled": 0}

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        for k in range(max(1, self.config.job_workers)):
            t = threading.Thread(target=self._work, name=f"srlib-serve-job-{k}", daemon=True)
            t.start()
            self._threads.append(t)
        janitor = threading.Thread(target=self._janitor, name="srlib-serve-janitor", daemon=True)
        janitor.start()
        self._threads.append(janitor)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every owned job, wait for the job threads and remove the owned jobs' files."""
        self._stop.set()
        with self._lock:
            for job in self._owned.values():
                job.cancel.set()
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout)
        for job in list(self._owned.values()):
            self._remove(job.id)

    # -- slots --------------------------------------------------------------------------------------
    def active(self) -> int:
        with self._lock:
            return self._reserved + sum(1 for j in self._owned.values() if j.state in _ACTIVE)

    def retry_after(self) -> int:
        """Seconds until a running job is expected to end (1-300; 5 when unknown)."""
        with self._lock:
            return self._retry_after_locked()

    def reserve(self) -> None:
        """Take a queue slot before an upload is read.

        Raises:
            JobsFullError: ``max_jobs`` jobs are queued or running already.
        """
        with self._lock:
            if self._stop.is_set():
                raise JobsFullError("The server is shutting down.", 5)
            busy = self._reserved + sum(1 for j in self._owned.values() if j.state in _ACTIVE)
            if busy >= self.config.max_jobs:
                raise JobsFullError(
                    f"The job queue is full ({busy} of {self.config.max_jobs} jobs queued or running); "
                    "retry later.",
                    self._retry_after_locked(),
                )
            self._reserved += 1

    def _retry_after_locked(self) -> int:
        etas = []
        for job in self._owned.values():
            if job.state == "running" and job.started and job.frames_done:
                rate = job.frames_done / max(time.time() - job.started, 1e-6)
                etas.append((job.facts["frames"] - job.frames_done) / rate)
        return int(min(300, max(1, min(etas)))) if etas else 5

    def release(self) -> None:
        with self._lock:
            self._reserved = max(0, self._reserved - 1)

    # -- submission ---------------------------------------------------------------------------------
    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.jobs_dir / job_id
        folder.mkdir()
        return job_id, folder

    def enqueue(self, job_id: str, folder: Path, upload: Path, params: JobParams, facts: dict) -> dict:
        """Queue an accepted upload (its slot was reserved); returns its status."""
        fmt = params.format or (upload.suffix.lstrip(".").lower() if upload.suffix else "")
        if fmt not in VIDEO_FORMATS:
            fmt = "mkv"  # holds (nearly) any audio codec the input may bring
        job = _Job(job_id, folder, upload, folder / f"result.{fmt}", params, facts)
        with self._lock:
            self._reserved = max(0, self._reserved - 1)
            self._owned[job_id] = job
            self._write_state(job)
            self._queue.append(job)
            self.counts["submitted"] += 1
            self._lock.notify()
        return self._status_of(job)

    # -- state --------------------------------------------------------------------------------------
    def _state_file(self, job_id: str) -> Path:
        return self.state_dir / f"{job_id}.json"

    def _marker(self, job_id: str) -> Path:
        return self.state_dir / f"{job_id}.cancel"

    def _status_of(self, job: _Job) -> dict:
        total = int(job.facts.get("frames") or 0)
        elapsed = (job.finished or time.time()) - job.started if job.started else 0.0
        rate = job.frames_done / elapsed if elapsed > 0 and job.frames_done else 0.0
        eta = (max(total - job.frames_done, 0) / rate) if rate and job.state == "running" else None
        return {
            "id": job.id,
            "state": job.state,
            "progress": {
                "frames_done": job.frames_done,
                "frames_total": total,
                "fraction": round(min(job.frames_done / total, 1.0), 4) if total else None,
                "frames_per_second": round(rate, 3),
                "eta_s": round(eta, 1) if eta is not None else None,
            },
            "input": job.facts,
            "error": job.error,
            "created_at": job.created,
            "started_at": job.started,
            "finished_at": job.finished,
            "result": f"/v1/jobs/{job.id}/result" if job.state == "done" else None,
            "result_name": job.result.name,
            "worker_pid": os.getpid(),
        }

    def _write_state(self, job: _Job) -> None:
        data = json.dumps(self._status_of(job)).encode()
        atomic_write(self._state_file(job.id), lambda f: f.write(data))
        job.last_write = time.monotonic()

    def status(self, job_id: str) -> dict | None:
        """The job's state as last written (any worker's job), or ``None`` for an unknown id."""
        if not _valid_id(job_id):
            return None
        try:
            return json.loads(self._state_file(job_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def result_path(self, job_id: str) -> Path | None:
        status = self.status(job_id)
        if status is None or status["state"] != "done":
            return None
        path = self.jobs_dir / job_id / status["result_name"]
        return path if path.is_file() else None

    # -- cancellation and deletion ------------------------------------------------------------------
    def cancelled(self, job: _Job) -> bool:
        return job.cancel.is_set() or self._stop.is_set() or self._marker(job.id).exists()

    def check_cancel(self, job: _Job) -> None:
        if self.cancelled(job):
            raise JobCancelledError()

    def advance(self, job: _Job, frames: int) -> None:
        job.frames_done += frames
        if time.monotonic() - job.last_write >= _WRITE_EVERY_S and not self.cancelled(job):
            self._write_state(job)

    def delete(self, job_id: str) -> str | None:
        """Cancel (queued or running) or remove (finished) a job.

        Returns ``None`` for an unknown id, ``"deleted"`` when its files are gone already, or
        ``"cancelling"`` when a running job was asked to stop (its files go once it has; wait with
        :meth:`gone`).
        """
        status = self.status(job_id)
        if status is None:
            return None
        if status["state"] not in _ACTIVE:
            with self._lock:
                self._owned.pop(job_id, None)
            self._remove(job_id)
            return "deleted"
        with self._lock:
            job = self._owned.get(job_id)
            if job is not None:
                job.cancel.set()
                if job in self._queue:  # not started: nothing runs, remove it now
                    self._queue.remove(job)
                    self._finish_cancelled(job)
                    return "deleted"
                return "cancelling"
        self._marker(job_id).touch()  # another worker process owns it
        return "cancelling"

    def gone(self, job_id: str) -> bool:
        return not self._state_file(job_id).exists()

    def _remove(self, job_id: str) -> None:
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
        self._state_file(job_id).unlink(missing_ok=True)
        self._marker(job_id).unlink(missing_ok=True)

    def _finish_cancelled(self, job: _Job) -> None:
        job.state = "cancelled"
        self.counts["cancelled"] += 1
        self._owned.pop(job.id, None)
        self._remove(job.id)

    # -- the job threads ----------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._queue and not self._stop.is_set():
                    self._lock.wait(0.5)
                if self._stop.is_set():
                    return
                job = self._queue.popleft()
                if self.cancelled(job):
                    self._finish_cancelled(job)
                    continue
                job.state, job.started = "running", time.time()
                self._write_state(job)
            self._run(job)

    def _run(self, job: _Job) -> None:
        from srlib.inference.video import upscale_video

        try:
            base = self.service.variant(job.params.tile)
            upscale_video(
                job.input,
                job.result,
                _JobUpscaler(base, self, job),
                batch_size=self.config.job_batch_size,
                output=job.params.output,
                crf=job.params.crf,
                preset=job.params.preset,
                progress=False,
            )
        except JobCancelledError:
            with self._lock:
                self._finish_cancelled(job)
            log.info("job %s cancelled after %d frames", job.id, job.frames_done)
            return
        except Exception as err:
            if self.cancelled(job):
                with self._lock:
                    self._finish_cancelled(job)
                return
            message = str(err)
            for path, name in ((job.input, "the uploaded video"), (job.result, "the result")):
                message = message.replace(str(path), name)
            log.info("job %s failed: %s", job.id, message)
            with self._lock:
                job.state, job.error, job.finished = "failed", message, time.time()
                self.counts["failed"] += 1
                shutil.rmtree(job.folder, ignore_errors=True)  # nothing of the video stays
                self._write_state(job)
            return
        with self._lock:
            job.input.unlink(missing_ok=True)
            if self.cancelled(job):  # cancelled after the last batch: still nothing stays
                self._finish_cancelled(job)
                return
            job.state, job.finished = "done", time.time()
            self.counts["done"] += 1
            self._write_state(job)  # after the result was renamed into place: "done" means whole

    def _janitor(self) -> None:
        """Stop queued jobs another worker cancelled; expire finished jobs after ``job_ttl_s``."""
        while not self._stop.wait(0.5):
            now = time.time()
            with self._lock:
                for job in list(self._queue):
                    if self._marker(job.id).exists():
                        self._queue.remove(job)
                        self._finish_cancelled(job)
                for job in list(self._owned.values()):
                    if job.state in _ACTIVE:
                        continue
                    if not self._state_file(job.id).exists():  # deleted through another worker
                        self._owned.pop(job.id, None)
                    elif job.finished and now - job.finished > self.config.job_ttl_s:
                        self._owned.pop(job.id, None)
                        self._remove(job.id)

    def stats(self) -> dict:
        with self._lock:
            states = [j.state for j in self._owned.values()]
        return {
            **self.counts,
            "queued": states.count("queued"),
            "running": states.count("running"),
            "max_jobs": self.config.max_jobs,
        }


def _valid_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)
