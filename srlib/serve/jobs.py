"""Video jobs: a bounded queue, a few job threads, progress, cooperative cancellation, clean files.

Layout under the server's work folder (shared by all worker processes of one server; see
:mod:`srlib.serve.workdir` for the lock and the markers that tag each file as the server's own)::

    uploads/<pid>/video.<x>.<ext> an upload being received (moved into its job folder once accepted)
    jobs/<id>/input.<ext>        the accepted upload (removed when the job ends)
    jobs/<id>/result.<ext>       the finished video (written by upscale_video under a hidden temporary
                                 name and renamed when complete, so it exists only when whole)
    state/<id>.json              the job's state, written atomically; the one source of truth, so any
                                 worker process can answer GET / result / DELETE for any job
    state/<id>.cancel            a cancellation request left by another worker process

A job is owned by the worker process that accepted it: only that process runs it and writes its
state. Cancellation is cooperative: the job's frames reach the model through :class:`_JobStream`,
which checks the cancel flag (and the marker file) before every batch, so a job stops within one batch.
Per-frame and video models (sliding-window, recurrent) both run; a video model's window and state are
the job's own.
A cancelled job leaves nothing on disk; a failed job leaves only its small state file (the error
message, no media) until it is deleted or expires after ``job_ttl_s``; a finished job's result and
state expire after ``job_ttl_s`` as well. A state write that fails (a full disk) drops the job whole,
so no job is ever left "queued" in memory with no one to run it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
from torch import Tensor

from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.inference.temporal import TemporalStream
from srlib.io.images import max_image_pixels
from srlib.serve.batcher import CancelledWorkError, QueueFullError
from srlib.serve.config import ServeConfig
from srlib.serve.images import BadRequestError, check_output_pixels, check_query, output_size
from srlib.serve.model import ModelService
from srlib.serve.workdir import WorkDir, disk_full

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
    header declares (a truncated upload).

    The duration is *counted*, not taken from the header: every video packet is read (no pixels are
    decoded, so this is quick) and the span of their timestamps (the timestamps the decoder gives its
    frames) and their count over the frame rate are measured; the longest of those and the header's
    figure counts. Reading stops, and the upload is refused, as soon as the timestamps pass the limit.
    """
    from srlib.io.video import open_video

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
            header = float(video.duration * video.time_base)
        else:
            header = (container.duration or 0) / 1_000_000
        _check_seconds(header, config, "its header says so")
        declared = int(video.frames or 0)
        rate = float(video.average_rate or video.guessed_rate or 0)
        packets, first, last = 0, None, None
        try:
            for packet in container.demux(video):
                if not packet.size:
                    continue
                packets += 1
                if packet.pts is not None and packet.time_base:
                    start = float(packet.pts * packet.time_base)
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    first = start if first is None else min(first, start)
                    last = end if last is None else max(last, end)
                    _check_seconds(last - first, config, "counted from its frames' timestamps", header)
                if rate:
                    _check_seconds(packets / rate, config, "counted from its frames", header)
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
        counted = max(last - first if first is not None else 0.0, packets / rate if rate else 0.0)
        return {
            "width": width,
            "height": height,
            "frames": max(declared, packets),
            "duration_s": round(max(header, counted), 3),
            "audio_streams": len(container.streams.audio),
        }
    finally:
        container.close()


def _check_seconds(seconds: float, config: ServeConfig, how: str, header: float | None = None) -> None:
    if seconds > config.max_video_seconds:
        said = f"; its header says {header:.1f} s" if header is not None and header < seconds else ""
        raise BadRequestError(
            f"The uploaded video lasts at least {seconds:.1f} s ({how}{said}), over this server's limit of "
            f"{config.max_video_seconds:g} s (--max-video-seconds); send a shorter video.",
            413,
        )


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


class _JobStream(TemporalStream):
    """A job's frames on their way to the model, as ``upscale_video`` feeds them: the seam of a job.

    Every model call goes through the server's micro-batcher, so only the model thread runs the model:
    a per-frame model's batches share calls with image requests; a video model's window batches and
    recurrent steps run as calls of their own (the stream's window and state stay with the job). Before
    each batch the stream checks the job's cancel flag (and the marker file) and that the decoder gives
    no more frames than were counted when the upload was accepted; after, it counts the finished frames.
    The batch carries the job's cancel event, so the model thread stops it within one layer once the
    job is cancelled. It shares the prepared Upscaler (a new one would move the model while the model
    thread runs it).
    """

    def __init__(self, base: Upscaler, manager: JobManager, job: _Job) -> None:
        super().__init__(base)
        self._manager, self._job = manager, job
        self._pushed = 0

    def push(self, frames: Tensor) -> list[Tensor]:
        job, manager = self._job, self._manager
        counted = int(job.facts.get("frames") or 0)
        self._pushed += frames.shape[0] if frames.ndim == 4 else 1
        if counted and self._pushed > counted:
            raise BadRequestError(
                f"The video decodes to more frames than the {counted} counted when it was accepted; it was "
                f"stopped (--max-video-seconds is {manager.config.max_video_seconds:g} s)."
            )
        if self.kind == "frame":  # batched with other callers' frames under the Upscaler's key
            ready = list(self._submit(frames, self.upscaler))
        else:
            ready = super().push(frames)
        manager.advance(job, len(ready))
        return ready

    def flush(self) -> list[Tensor]:
        ready = super().flush()
        self._manager.advance(self._job, len(ready))
        return ready

    def _call(self, fn, x: Tensor, key: tuple[int, int]) -> Tensor:
        """One window batch or recurrent step, run on the model thread as a call of its own."""
        return self._submit(x, lambda t: TemporalStream._call(self, fn, t, key))

    def _submit(self, x: Tensor, key) -> Tensor:
        """Run ``x`` through the batcher under ``key``; waits for room, stops when the job is cancelled."""
        job, manager = self._job, self._manager
        batcher = manager.service.batcher
        while True:
            manager.check_cancel(job)
            try:
                future = batcher.submit(x, key, job.cancel)
                break
            except QueueFullError:  # images first: a job's batch waits for room
                time.sleep(0.05)
        while True:
            try:
                return future.result(timeout=0.25)
            except TimeoutError:
                if manager.cancelled(job):
                    job.cancel.set()  # the model thread skips the batch, or stops it between layers
                    future.cancel()
                    raise JobCancelledError() from None
            except (CancelledError, CancelledWorkError):
                raise JobCancelledError() from None


class JobManager:
    """The video jobs of one worker process (its own bounded queue) and the shared job files.

    A job slot is taken only once an upload has been received and checked (:meth:`reserve`), so slow or
    stalled uploads hold none; uploads in progress are bounded on their own (:meth:`receiving`).
    Every state write goes through the :class:`~srlib.serve.workdir.WorkDir`; when one fails (a full
    disk) the job is dropped whole: out of memory, off the disk, its slot free. No job is ever left
    "queued" or "running" without a thread working on it.

    Args:
        config: the server settings (``max_jobs``, ``job_workers``, ``job_batch_size``, ``job_ttl_s``,
            ``max_uploads``).
        service: the model service whose batcher runs the frames.
        work: the server's work folder.
    """

    def __init__(self, config: ServeConfig, service: ModelService, work: WorkDir) -> None:
        self.config, self.service, self.work = config, service, work
        self._lock = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._owned: dict[str, _Job] = {}
        self._reserved = 0
        self._receiving = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.counts = {"submitted": 0, "done": 0, "failed": 0, "cancelled": 0, "dropped": 0}

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
            self._remove(job)

    # -- slots --------------------------------------------------------------------------------------
    def _busy_locked(self) -> int:
        return self._reserved + sum(1 for j in self._owned.values() if j.state in _ACTIVE)

    def active(self) -> int:
        with self._lock:
            return self._busy_locked()

    def retry_after(self) -> int:
        """Seconds until a running job is expected to end (1-300; 5 when unknown)."""
        with self._lock:
            return self._retry_after_locked()

    def _full_locked(self) -> None:
        if self._stop.is_set():
            raise JobsFullError("The server is shutting down.", 5)
        busy = self._busy_locked()
        if busy >= self.config.max_jobs:
            raise JobsFullError(
                f"The job queue is full ({busy} of {self.config.max_jobs} jobs queued or running); "
                "retry later.",
                self._retry_after_locked(),
            )

    def check_room(self) -> None:
        """Refuse at once, before an upload is read, when the queue is full (nothing is reserved).

        Raises:
            JobsFullError: ``max_jobs`` jobs are queued or running already.
        """
        with self._lock:
            self._full_locked()

    @contextmanager
    def receiving(self) -> Iterator[None]:
        """Count an upload being received; at most ``max_uploads`` at once (they hold no job slot).

        Raises:
            JobsFullError: ``max_uploads`` uploads are being received already.
        """
        with self._lock:
            if self._receiving >= self.config.max_uploads:
                raise JobsFullError(
                    f"{self._receiving} uploads are being received already (the limit is "
                    f"{self.config.max_uploads}, --max-uploads); retry later.",
                    self._retry_after_locked(),
                )
            self._receiving += 1
        try:
            yield
        finally:
            with self._lock:
                self._receiving -= 1

    def reserve(self) -> None:
        """Take a queue slot for an upload that was received and checked.

        Raises:
            JobsFullError: ``max_jobs`` jobs are queued or running already.
        """
        with self._lock:
            self._full_locked()
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
        return self.work.new_job_folder()

    def enqueue(self, job_id: str, folder: Path, upload: Path, params: JobParams, facts: dict) -> dict:
        """Queue an accepted upload (its slot was reserved); returns its status.

        Raises:
            OSError: its state could not be written (a full disk); nothing of the job is kept in memory
                and its slot is free (the caller removes its folder).
        """
        fmt = params.format or (upload.suffix.lstrip(".").lower() if upload.suffix else "")
        if fmt not in VIDEO_FORMATS:
            fmt = "mkv"  # holds (nearly) any audio codec the input may bring
        job = _Job(job_id, folder, upload, folder / f"result.{fmt}", params, facts)
        with self._lock:
            self._reserved = max(0, self._reserved - 1)
            self._write_state(job)  # raises before the job exists anywhere
            self._owned[job_id] = job
            self._queue.append(job)
            self.counts["submitted"] += 1
            self._lock.notify()
        return self._status_of(job)

    # -- state --------------------------------------------------------------------------------------
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
        self.work.write_state(job.id, self._status_of(job))
        job.last_write = time.monotonic()

    def _store(self, job: _Job) -> bool:
        """Write the job's state; if that fails, drop the job whole (call with the lock held)."""
        try:
            self._write_state(job)
            return True
        except OSError as err:
            log.warning("could not write the state of job %s (%s): the job is dropped", job.id, err)
            job.cancel.set()
            if job in self._queue:
                self._queue.remove(job)
            self._owned.pop(job.id, None)
            self.counts["dropped"] += 1
            self._remove(job)
            return False

    def status(self, job_id: str) -> dict | None:
        """The job's state as last written (any worker's job), or ``None`` for an unknown id."""
        return self.work.read_state(job_id)

    def open_result(self, job_id: str) -> tuple[BinaryIO, str] | None:
        """The finished video, opened (so a DELETE racing the download cannot take it away mid-way),
        and its file name; ``None`` when there is none (any more)."""
        status = self.status(job_id)
        if status is None or status["state"] != "done":
            return None
        name = str(status.get("result_name", ""))
        if not name.startswith("result.") or "/" in name:
            return None
        try:
            f = (self.work.jobs / job_id / name).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return f, name

    # -- cancellation and deletion ------------------------------------------------------------------
    def cancelled(self, job: _Job) -> bool:
        return job.cancel.is_set() or self._stop.is_set() or self.work.cancel_requested(job.id)

    def check_cancel(self, job: _Job) -> None:
        if self.cancelled(job):
            raise JobCancelledError()

    def advance(self, job: _Job, frames: int) -> None:
        job.frames_done += frames
        if time.monotonic() - job.last_write >= _WRITE_EVERY_S and not self.cancelled(job):
            try:
                self._write_state(job)
            except OSError as err:  # progress only: the last state written stays whole and true
                log.debug("progress of job %s not written: %s", job.id, err)

    def delete(self, job_id: str) -> str | None:
        """Cancel (queued or running) or remove (finished) a job.

        Returns ``None`` for an unknown id (or one another request is deleting right now), ``"deleted"``
        when its files are gone already, or ``"cancelling"`` when a running job was asked to stop (its
        files go once it has; wait with :meth:`gone`).

        Raises:
            OSError: the cancellation request for another worker process could not be written.
        """
        status = self.status(job_id)
        if status is None:
            return None
        if status["state"] not in _ACTIVE:
            if not self.work.remove_state(job_id):  # another DELETE (or the janitor) got there first
                return None
            with self._lock:
                self._owned.pop(job_id, None)
            self.work.remove_job_folder(self.work.jobs / job_id)
            self.work.remove_cancel(job_id)
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
        self.work.request_cancel(job_id)  # another worker process owns it
        return "cancelling"

    def gone(self, job_id: str) -> bool:
        return not self.work.state_file(job_id).exists()

    def _remove(self, job: _Job) -> None:
        self.work.remove_job_folder(job.folder)
        self.work.remove_state(job.id)
        self.work.remove_cancel(job.id)

    def _finish_cancelled(self, job: _Job) -> None:
        job.state = "cancelled"
        self.counts["cancelled"] += 1
        self._owned.pop(job.id, None)
        self._remove(job)

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
                if not self._store(job):
                    continue
            self._run(job)

    def _run(self, job: _Job) -> None:
        from srlib.inference.video import upscale_video

        try:
            base = self.service.variant(job.params.tile)
            upscale_video(
                job.input,
                job.result,
                _JobStream(base, self, job),
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
            if disk_full(err):
                message = "The server's disk filled up while the result was written; retry later."
            for path, name in ((job.input, "the uploaded video"), (job.result, "the result")):
                message = message.replace(str(path), name)
            log.info("job %s failed: %s", job.id, message)
            with self._lock:
                job.state, job.error, job.finished = "failed", message, time.time()
                self.counts["failed"] += 1
                self.work.remove_job_folder(job.folder)  # nothing of the video stays
                self._store(job)
            return
        with self._lock:
            job.input.unlink(missing_ok=True)
            if self.cancelled(job):  # cancelled after the last batch: still nothing stays
                self._finish_cancelled(job)
                return
            job.state, job.finished = "done", time.time()
            if self._store(job):  # after the result was renamed into place: "done" means whole
                self.counts["done"] += 1

    def _janitor(self) -> None:
        """Stop queued jobs another worker cancelled; expire finished jobs after ``job_ttl_s``."""
        while not self._stop.wait(0.5):
            now = time.time()
            with self._lock:
                for job in list(self._queue):
                    if self.work.cancel_requested(job.id):
                        self._queue.remove(job)
                        self._finish_cancelled(job)
                for job in list(self._owned.values()):
                    if job.state in _ACTIVE:
                        continue
                    if not self.work.state_file(job.id).exists():  # deleted through another worker
                        self._owned.pop(job.id, None)
                    elif job.finished and now - job.finished > self.config.job_ttl_s:
                        self._owned.pop(job.id, None)
                        self._remove(job)

    def stats(self) -> dict:
        with self._lock:
            states = [j.state for j in self._owned.values()]
            receiving = self._receiving
        return {
            **self.counts,
            "queued": states.count("queued"),
            "running": states.count("running"),
            "receiving": receiving,
            "max_jobs": self.config.max_jobs,
        }
