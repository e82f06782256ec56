"""Durable video jobs on Huey: SQLite in-process, worker processes sharing one video, kill -9 and restart,
a real redis-server (started here on 127.0.0.1, stopped by its PID), Redis going away, bad addresses.

Every process a test starts is stopped by its own PID at the end; every wait is bounded in time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

import srlib
from srlib.inference.segments import JOURNAL_NAME, segment_folder, upscale_video_segmented

from ..inference.test_video_upscale import make_clip
from .conftest import free_port

huey = pytest.importorskip("huey")
from srlib.serve.queue import (  # noqa: E402 (after the skip)
    QueueUnreachableError,
    job_status,
    open_queue,
    recover_jobs,
    submit_video,
)

SEGMENT = 10
_WAIT_S = 180.0


def _checksum(path: Path) -> tuple[int, list[int], str]:
    """Frame count, every frame's pts and a SHA-256 of the decoded frames."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        digest = hashlib.sha256(b"".join(f.to_ndarray(format="rgb24").tobytes() for f in frames))
        return len(frames), [f.pts for f in frames], digest.hexdigest()


def _spec(src: Path, dst: Path, **extra) -> dict:
    return {
        "src": str(src),
        "dst": str(dst),
        "model": "bicubic",
        "scale": 2,
        "dtype": "fp32",
        "segment_frames": SEGMENT,
        "preset": "ultrafast",
        **extra,
    }


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("queue") / "clip.mp4", frames=60, size=(64, 48)
    )  # see SIZE there


@pytest.fixture(scope="module")
def reference_one_thread(clip, tmp_path_factory) -> tuple:
    """The same job run locally with one decoder and encoder thread, as the worker processes here."""
    dst = tmp_path_factory.mktemp("reference1") / "up.mp4"
    _local(clip, dst, threads=1)
    return _checksum(dst)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory) -> tuple:
    """The same job run locally (upscale_video with the same segments and settings)."""
    dst = tmp_path_factory.mktemp("reference") / "up.mp4"
    _local(clip, dst)
    return _checksum(dst)


def _local(src: Path, dst: Path, threads: int | None = None) -> None:
    """The job run here; ``threads`` as a worker's ``--threads`` (x264's output depends on its threads)."""
    net = srlib.create_model("bicubic", scale=2)
    upscale_video_segmented(
        src, dst, net, dtype="fp32", segment_frames=SEGMENT, preset="ultrafast", progress=False,
        codec_threads=threads,
    )  # fmt: skip


def _drain(queue, limit: int = 100) -> int:
    """Run the queued tasks in this process, as a worker would; returns how many ran."""
    ran = 0
    while ran < limit:
        task = queue.huey.dequeue()
        if task is None:
            return ran
        queue.huey.execute(task)
        ran += 1
    raise AssertionError(f"more than {limit} tasks")


def test_sqlite_queue_in_process(clip, reference, tmp_path):
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    dst = tmp_path / "up.mp4"
    job = submit_video(queue, _spec(clip, dst))
    status = job_status(queue, job)
    assert (status["state"], status["segments"], status["segments_done"]) == ("queued", 6, 0)
    assert queue.huey.pending_count() == 7  # six segments and the join
    assert _drain(queue) == 7
    status = job_status(queue, job)
    assert (status["state"], status["segments_done"], status["frames"]) == ("done", 6, 60)
    assert _checksum(dst) == reference
    assert not segment_folder(dst).exists()
    # The job's record and the queue survive the process: a new handle on the same file sees them.
    assert job_status(open_queue(f"sqlite:///{tmp_path / 'queue.db'}"), job)["state"] == "done"


def test_the_same_job_claimed_twice_finishes_once(clip, reference, tmp_path):
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    dst = tmp_path / "up.mp4"
    job = submit_video(queue, _spec(clip, dst))
    queue.join(job)  # a second join task, as a recovery racing a live worker would add
    _drain(queue)
    assert job_status(queue, job)["state"] == "done" and _checksum(dst) == reference


def test_a_job_whose_worker_died_is_requeued_after_its_lease(clip, reference, tmp_path):
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    dst = tmp_path / "up.mp4"
    job = submit_video(queue, _spec(clip, dst))
    for _ in range(4):  # a worker took these four tasks and died: Huey keeps no lease on them
        queue.huey.dequeue()
    queue.huey.execute(queue.huey.dequeue())  # segment 4 done by another worker
    while (task := queue.huey.dequeue()) is not None and task.name != "srlib.join":
        queue.huey.execute(task)
    assert job_status(queue, job)["state"] != "done"  # the join was taken by the dying worker too
    assert recover_jobs(queue, lease_s=3600) == []  # heartbeat fresh: not yet
    assert recover_jobs(queue, lease_s=0.0) == [job]  # past the lease: a new join task
    assert recover_jobs(queue, lease_s=0.5) == []  # one recovery per lease
    _drain(queue)
    assert job_status(queue, job)["state"] == "done" and _checksum(dst) == reference


def test_bad_addresses_and_inputs(clip, tmp_path):
    with pytest.raises(ValueError, match=r"sqlite:///PATH/queue.db .* redis://"):
        open_queue("amqp://127.0.0.1")
    with pytest.raises(ValueError, match="does not exist"):
        open_queue(f"sqlite:///{tmp_path / 'missing' / 'q.db'}")
    port = free_port()
    with pytest.raises(QueueUnreachableError, match=f"127.0.0.1:{port}.*stay queued"):
        open_queue(f"redis://127.0.0.1:{port}/0")
    queue = open_queue(f"sqlite:///{tmp_path / 'queue.db'}")
    with pytest.raises(FileNotFoundError):
        submit_video(queue, _spec(tmp_path / "none.mp4", tmp_path / "up.mp4"))
    (tmp_path / "up.mp4").write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        submit_video(queue, _spec(clip, tmp_path / "up.mp4"))
    assert (tmp_path / "up.mp4").read_bytes() == b"keep me"
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o555)
    if not os.access(readonly, os.W_OK):  # root writes anywhere
        with pytest.raises(ValueError, match="read-only"):
            submit_video(queue, _spec(clip, readonly / "up.mp4"))
    for bad in ("../../etc/passwd", "é" * 50, "x" * 10_000):
        assert job_status(queue, bad) is None
    assert queue.huey.pending_count() == 0


# -- real processes -------------------------------------------------------------------------------------


def _worker(queue_url: str, log: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "srlib.worker", "--queue", queue_url, "--threads", "1", *extra]
    return subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def _stop(*processes: subprocess.Popen) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _wait_done(queue, job: str, timeout: float = _WAIT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(queue, job)
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job} not finished after {timeout} s: {job_status(queue, job)}")


def _wait_segments(dst: Path, count: int, timeout: float = _WAIT_S) -> None:
    journal = segment_folder(dst) / JOURNAL_NAME
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(json.loads(journal.read_text())["segments"]) >= count:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} segments of {dst} finished after {timeout} s")


@pytest.mark.slow
def test_two_worker_processes_share_one_video_and_survive_kill_9(tmp_path):
    long_clip = make_clip(tmp_path / "long.mp4", frames=240, size=(96, 72))
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    queue = open_queue(url)
    whole = tmp_path / "whole.mp4"
    _local(long_clip, whole, threads=1)  # as the workers: --threads 1
    dst = tmp_path / "up.mp4"
    job = submit_video(queue, _spec(long_clip, dst))
    logs = [tmp_path / "w1.log", tmp_path / "w2.log", tmp_path / "w3.log"]
    first, second = _worker(url, logs[0], "--lease", "3"), _worker(url, logs[1], "--lease", "3")
    third = None
    try:
        _wait_segments(dst, 4)
        os.kill(first.pid, signal.SIGKILL)  # mid-job: its segment (or the join) is lost with it
        first.wait(10)
        third = _worker(url, logs[2], "--lease", "3")  # the restart
        status = _wait_done(queue, job)
    finally:
        _stop(first, second, *([third] if third else []))
    assert status["state"] == "done", status
    assert _checksum(dst) == _checksum(whole)
    text = [log.read_text() for log in logs]
    assert all("segment" in t and "done by worker" in t for t in text[:2]), text  # both took segments


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on 127.0.0.1 and a free port (append-only file on: restarts keep the queue)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes",
               "--save", ""]  # fmt: skip
    servers: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(server)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                open_queue(f"redis://127.0.0.1:{port}/0")
                return server
            except QueueUnreachableError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 20 s")

    start()
    yield port, start, servers
    _stop(*servers)


def test_redis_backend_with_two_workers(redis_server, clip, reference_one_thread, tmp_path):
    port, _, _ = redis_server
    url = f"redis://127.0.0.1:{port}/0"
    queue = open_queue(url)
    dst = tmp_path / "up.mp4"
    job = submit_video(queue, _spec(clip, dst))
    workers = [_worker(url, tmp_path / f"w{i}.log", "--exit-when-idle", "2") for i in range(2)]
    try:
        status = _wait_done(queue, job)
    finally:
        _stop(*workers)
    assert status["state"] == "done" and _checksum(dst) == reference_one_thread


@pytest.mark.slow
def test_redis_going_away_mid_job_the_job_waits_and_resumes(redis_server, tmp_path):
    port, start, servers = redis_server
    long_clip = make_clip(tmp_path / "long.mp4", frames=200, size=(96, 72))
    whole = tmp_path / "whole.mp4"
    _local(long_clip, whole, threads=1)  # as the workers: --threads 1
    url = f"redis://127.0.0.1:{port}/0"
    queue = open_queue(url)
    dst = tmp_path / "up.mp4"
    job = submit_video(queue, _spec(long_clip, dst))
    worker = _worker(url, tmp_path / "w.log")
    try:
        _wait_segments(dst, 2)
        servers[-1].send_signal(signal.SIGTERM)  # Redis goes away (its append-only file keeps the queue)
        servers[-1].wait(20)
        time.sleep(3)
        assert worker.poll() is None  # the worker waits for it
        start()
        status = _wait_done(open_queue(url), job)
    finally:
        _stop(worker)
    assert status["state"] == "done" and _checksum(dst) == _checksum(whole)
    assert "does not answer" in (tmp_path / "w.log").read_text() or "rror" in (tmp_path / "w.log").read_text()


def test_a_worker_that_cannot_reach_redis_names_the_address_and_exits_2(tmp_path):
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "srlib.worker", "--queue", f"redis://127.0.0.1:{port}/0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and f"127.0.0.1:{port}" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.slow
def test_the_status_of_a_job_id_that_is_not_one_is_one_error_line(clip, tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    for bad in ("../../etc/passwd", "x" * 10_000):
        done = subprocess.run(
            [sys.executable, "-m", "srlib.worker", "--queue", url, "--status", bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "No job" in done.stderr and done.stderr.count("\n") == 1
    queued = subprocess.run(
        [sys.executable, "-m", "srlib.upscale", str(clip), str(tmp_path / "up.mp4"), "--model", "bicubic",
         "--scale", "2", "--queue", url, "--segment-frames", "20"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    job = queued.stdout.split("queued job ")[1].split(":")[0]
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "srlib.worker", "--queue", url, "--status", job],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    )  # fmt: skip
    assert (status["state"], status["segments"], status["segments_done"]) == ("queued", 3, 0)
