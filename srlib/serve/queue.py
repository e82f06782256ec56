"""Durable video jobs on Huey: one video = a task per segment + one task that joins, on SQLite or Redis.

srlib does not run its own job manager for batch video work: it uses `Huey <https://huey.readthedocs.io>`_
(extra ``srlib[queue]``), which stores its queue either in one SQLite file (``sqlite:///PATH``: nothing to
install, one machine) or in Redis (``redis://HOST:PORT/DB``: any number of machines).

:func:`submit_video` plans the video's segments (:mod:`srlib.inference.segments`) and enqueues one
``srlib.segment`` task per segment, then one ``srlib.join`` task. Any worker (``python -m srlib.worker``)
takes any task: segment tasks compute a segment each (the segment's file lock keeps two workers off the
same one), the join task computes whatever is still missing (waiting for segments other workers hold)
and writes the output. The media and the segment folder must be on a folder every worker sees at the
same path (local disk for one machine; NFSv4, CephFS or another POSIX file system with working
``flock`` for several).

What survives a crash:

* the queue lives in SQLite or Redis, the finished segments and their journal on disk, and the job's
  record (:func:`job_status`) in the queue's key-value store, so a kill -9 of the submitting process
  or of a worker loses at most the segment that worker was computing;
* Huey removes a task from the queue when a worker takes it and has no lease, so a task whose worker
  dies is gone. Every worker therefore watches the unfinished jobs: a job with no task left in the
  queue and no heartbeat (workers refresh it every :data:`HEARTBEAT_S` seconds while they work on it)
  for ``lease_s`` seconds gets a new join task, which finishes it. Two join tasks for one job are
  harmless: one joins, the other finds it claimed or done.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "HEARTBEAT_S",
    "LEASE_S",
    "QueueUnreachableError",
    "VideoJobSpec",
    "VideoQueue",
    "job_status",
    "open_queue",
    "recover_jobs",
    "set_worker_threads",
    "submit_video",
    "unfinished_jobs",
]

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
"""How often a worker refreshes the heartbeat of the job it works on."""
LEASE_S = 60.0
"""Seconds without a heartbeat (and with no task queued) after which a job is given a new join task."""
_INDEX = "srlib:jobs"
_FINAL = ("done", "failed")
_MODEL_KEYS = ("model", "weights", "scale", "use_policy", "backend")


class QueueUnreachableError(ConnectionError):
    """The queue's store (Redis) cannot be reached; the message names the address."""


VideoJobSpec = dict[str, Any]
"""What a video job needs, JSON-serialisable: ``src``, ``dst``, the model (``model``, ``weights``,
``scale``, ``use_policy``, ``backend``), ``output`` (``outscale``, ``size``, ``height``, ``filter``)
and :func:`~srlib.inference.segments.upscale_video_segmented`'s settings (``segment_frames``, ``crf``,
``preset``, ``codec``, ``pix_fmt``, ``dtype``, ``device``, ``tile``, ``tile_overlap``, ``batch_size``,
``video_stream``, ``max_pixels``, ``overwrite``)."""


def _require_huey() -> Any:
    try:
        import huey
    except ImportError as err:
        raise ImportError(f'{err}; srlib\'s video queue needs its extra: pip install "srlib[queue]"') from err
    return huey


@dataclass
class VideoQueue:
    """A Huey queue with srlib's two tasks registered: ``segment(job_id, index)``, ``join(job_id)``
    (calling one enqueues it)."""

    huey: Any
    url: str
    segment: Any = None
    join: Any = None

    def get(self, key: str) -> Any:
        return self.huey.get(key, peek=True)

    def put(self, key: str, value: Any) -> None:
        self.huey.put(key, value)


def open_queue(url: str) -> VideoQueue:
    """The queue at ``url`` (``sqlite:///PATH`` or ``redis://HOST:PORT/DB``), with srlib's tasks.

    Raises:
        ValueError: an address of another kind, or a SQLite file in a missing folder.
        QueueUnreachableError: Redis does not answer at the address.
    """
    huey = _require_huey()
    url = str(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        engine = huey.RedisHuey("srlib", url=url)
        try:
            engine.storage.conn.ping()
        except Exception as err:  # redis.ConnectionError, TimeoutError, AuthenticationError
            raise QueueUnreachableError(
                f"Cannot reach Redis at {url} ({err}); start redis-server there or give the right address "
                "with --queue redis://HOST:PORT/DB. Queued jobs stay queued."
            ) from err
    elif url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.parent.is_dir():
            raise ValueError(
                f"The queue's folder {path.parent} does not exist; create it or use another path."
            )
        engine = huey.SqliteHuey("srlib", filename=str(path))
    else:
        raise ValueError(
            f"Unknown queue address {url!r}: use sqlite:///PATH/queue.db (one machine, nothing to install) "
            "or redis://HOST:6379/0 (many machines)."
        )
    queue = VideoQueue(engine, url)

    def segment(job_id: str, index: int) -> None:
        _work(queue, job_id, [index])

    def join(job_id: str) -> None:
        _work(queue, job_id, None)

    queue.segment = engine.task(name="srlib.segment")(segment)
    queue.join = engine.task(name="srlib.join")(join)
    return queue


# -- job records ------------------------------------------------------------------------------------------


def _key(job_id: str) -> str:
    return f"srlib:job:{job_id}"


def _record(queue: VideoQueue, job_id: str) -> dict[str, Any] | None:
    return queue.get(_key(job_id))


def _save(queue: VideoQueue, job_id: str, **changes: Any) -> dict[str, Any]:
    record = {**(_record(queue, job_id) or {}), **changes}
    queue.put(_key(job_id), record)
    return record


@contextlib.contextmanager
def _queue_lock(queue: VideoQueue, name: str, timeout: float = 10.0) -> Iterator[None]:
    """A lock held in the queue's store (works across machines with Redis)."""
    from huey.exceptions import TaskLockedException

    lock = queue.huey.lock_task(name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire()
            break
        except TaskLockedException:
            if time.monotonic() > deadline:
                raise TimeoutError(f"The queue's lock {name!r} stayed held for {timeout:.0f} s.") from None
            time.sleep(0.02)
    try:
        yield
    finally:
        lock.release()


def _index(queue: VideoQueue, add: str | None = None, remove: str | None = None) -> list[str]:
    """The unfinished jobs' ids (updated under a queue lock)."""
    with _queue_lock(queue, "srlib-jobs-index"):
        ids = list(queue.get(_INDEX) or [])
        if add is not None and add not in ids:
            ids.append(add)
        if remove is not None and remove in ids:
            ids.remove(remove)
        if add is not None or remove is not None:
            queue.put(_INDEX, ids)
    return ids


def _beat(queue: VideoQueue, job_id: str) -> None:
    queue.put(f"srlib:beat:{job_id}", time.time())


@contextlib.contextmanager
def _heartbeat(queue: VideoQueue, job_id: str) -> Iterator[None]:
    """Refresh the job's heartbeat every :data:`HEARTBEAT_S` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                _beat(queue, job_id)
            except Exception as err:  # the store is away for a moment: the work goes on
                log.warning("job %s: heartbeat not written (%s)", job_id, err)

    _beat(queue, job_id)
    thread = threading.Thread(target=beat, name=f"srlib-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# -- submitting and status --------------------------------------------------------------------------------


def submit_video(queue: VideoQueue, spec: VideoJobSpec) -> str:
    """Plan ``spec``'s video into segments, record the job and enqueue its tasks; returns the job id.

    Raises:
        FileNotFoundError: the input does not exist.
        FileExistsError: the output exists and ``overwrite`` is not set.
        ValueError: the input cannot be cut into segments (see :mod:`srlib.inference.segments`).
    """
    from srlib.inference.segments import count_segments

    src, dst = Path(spec["src"]).resolve(), Path(spec["dst"]).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"Video file {src} does not exist.")
    if dst.exists() and not spec.get("overwrite"):
        raise FileExistsError(f"{dst} already exists; pass --overwrite to replace it.")
    if not dst.parent.is_dir() or not os.access(dst.parent, os.W_OK):
        raise ValueError(
            f"The output folder {dst.parent} is missing or read-only; workers could not write there."
        )
    count = count_segments(src, int(spec["segment_frames"]), spec.get("video_stream"), spec.get("max_pixels"))
    job_id = uuid.uuid4().hex
    spec = {**spec, "src": str(src), "dst": str(dst)}
    _save(
        queue,
        job_id,
        id=job_id,
        state="queued",
        spec=spec,
        segments=count,
        created=time.time(),
        host=socket.gethostname(),
        error=None,
    )
    _index(queue, add=job_id)
    for index in range(count):
        queue.segment(job_id, index)
    queue.join(job_id)
    log.info("job %s: %s -> %s in %d segment(s) queued", job_id, src, dst, count)
    return job_id


def job_status(queue: VideoQueue, job_id: str) -> dict[str, Any] | None:
    """The job's record and its progress by segment (``segments_done`` from the journal), or ``None``."""
    from srlib.inference.segments import JOURNAL_NAME, segment_folder

    record = _record(queue, job_id)
    if record is None:
        return None
    status = {k: v for k, v in record.items() if k != "spec"}
    status["src"], status["dst"] = record["spec"]["src"], record["spec"]["dst"]
    if record["state"] == "done":
        status["segments_done"] = record["segments"]
    else:
        try:
            journal = json.loads((segment_folder(record["spec"]["dst"]) / JOURNAL_NAME).read_text())
            status["segments_done"] = len(journal["segments"])
        except (OSError, ValueError, KeyError):
            status["segments_done"] = 0
    return status


# -- the work ---------------------------------------------------------------------------------------------

_worker_threads: int | None = None


def set_worker_threads(threads: int | None) -> None:
    """The threads each task of this process may use: torch's, the decoder's and the encoder's."""
    global _worker_threads
    _worker_threads = threads
    if threads:
        import torch

        torch.set_num_threads(threads)


_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def _upscaler_for(spec: VideoJobSpec) -> tuple[Any, Any]:
    """The job's Upscaler and OutputSize, the model loaded once per worker process."""
    from srlib.inference.engine import Upscaler
    from srlib.inference.loader import load_upscaling_model
    from srlib.inference.output_size import OutputSize

    key = json.dumps({k: spec.get(k) for k in (*_MODEL_KEYS, "dtype", "device", "tile", "tile_overlap")})
    with _models_lock:
        if key not in _models:
            loaded = load_upscaling_model(
                spec["model"],
                scale=spec.get("scale"),
                weights=spec.get("weights"),
                use_policy=spec.get("use_policy", True),
                backend=spec.get("backend", "torch"),
            )
            upscaler = Upscaler(
                loaded.net,
                device=spec.get("device"),
                dtype=spec.get("dtype", "auto"),
                tile=spec.get("tile"),
                tile_overlap=spec.get("tile_overlap", 16),
            )
            _models[key] = (upscaler, loaded.frame_policy)
        upscaler, policy = _models[key]
    out = spec.get("output") or {}
    size = tuple(out["size"]) if out.get("size") else None
    output = OutputSize(
        outscale=out.get("outscale"),
        size=size,
        height=out.get("height"),
        filter=out.get("filter", "bicubic"),
        policy=policy,
    )
    return upscaler, output


def _work(queue: VideoQueue, job_id: str, only: list[int] | None) -> None:
    """Run one task of a job: compute segment(s) ``only``, or (``None``) finish and join the job."""
    from srlib.inference.segments import OutputBusyError, upscale_video_segmented

    record = _record(queue, job_id)
    if record is None or record.get("state") in _FINAL:
        return  # deleted, or finished by another worker (a late or repeated task)
    spec = record["spec"]
    what = "join" if only is None else f"segment {only[0]}"
    with _heartbeat(queue, job_id):
        if record.get("state") == "queued":
            _save(queue, job_id, state="running")
        try:
            upscaler, output = _upscaler_for(spec)
            report = upscale_video_segmented(
                spec["src"],
                spec["dst"],
                upscaler,
                output=output,
                segment_frames=int(spec["segment_frames"]),
                only_segments=only,
                shared=True,
                progress=False,
                overwrite=bool(spec.get("overwrite")),
                batch_size=int(spec.get("batch_size", 4)),
                codec=spec.get("codec", "libx264"),
                crf=int(spec.get("crf", 18)),
                preset=spec.get("preset", "medium"),
                video_stream=spec.get("video_stream"),
                max_pixels=spec.get("max_pixels"),
                pix_fmt=spec.get("pix_fmt"),
                codec_threads=_worker_threads,
            )
        except OutputBusyError:
            log.info("job %s: %s left to the worker that holds it", job_id, what)
            return
        except FileExistsError:
            if (_record(queue, job_id) or {}).get("state") in _FINAL:
                return  # the output appeared because another worker just finished the job
            raise
        except Exception as err:
            if only is None:  # the joiner redoes what segment tasks failed at; its failure is the job's
                _save(queue, job_id, state="failed", error=str(err), finished=time.time())
                _index(queue, remove=job_id)
            log.error("job %s: %s failed: %s", job_id, what, err)
            raise
        if only is not None:
            log.info("job %s: segment %d done by worker %d", job_id, only[0], os.getpid())
        else:
            _save(
                queue, job_id, state="done", finished=time.time(), frames=report.frames,
                segments_reused=report.segments_reused, error=None,
            )  # fmt: skip
            _index(queue, remove=job_id)
            log.info("job %s: %s written (%d frames)", job_id, spec["dst"], report.frames)


def unfinished_jobs(queue: VideoQueue) -> list[str]:
    """The ids of the jobs not done or failed yet."""
    return _index(queue)


def recover_jobs(queue: VideoQueue, lease_s: float = LEASE_S) -> list[str]:
    """Give a new join task to every unfinished job that has none queued and no heartbeat for
    ``lease_s`` seconds (its worker died); returns their ids."""
    ids = _index(queue)
    if not ids:
        return []
    queued = {task.args[0] for task in queue.huey.pending() if task.args}
    recovered = []
    now = time.time()
    for job_id in ids:
        if job_id in queued:
            continue
        with _queue_lock(queue, f"srlib-recover-{job_id}"):
            record = _record(queue, job_id)
            if record is None or record.get("state") in _FINAL:
                _index(queue, remove=job_id)
                continue
            beat = queue.get(f"srlib:beat:{job_id}") or record.get("created", 0)
            if now - beat < lease_s:
                continue
            _beat(queue, job_id)  # one recovery per lease, whichever worker sees it first
            queue.join(job_id)
            recovered.append(job_id)
            log.warning("job %s: no worker for %.0f s; queued a join task to finish it", job_id, now - beat)
    return recovered
