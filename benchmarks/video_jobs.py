"""Queued video jobs: one worker vs two, resuming after a kill at 50%, and the image endpoint meanwhile.

    python benchmarks/video_jobs.py [--seconds 120] [--segment-frames 100] [--skip serve] [--pin]

On a 256x144 clip at 25 frames/s (``--seconds`` long, with an AAC track), upscaled x4 with ``fsrcnn``
through the SQLite queue (``python -m srlib.upscale ... --queue``, ``python -m srlib.worker --threads 1``:
one thread each for torch, the decoder and the encoder, which still overlap, so one worker uses more than
one core; ``--pin`` puts worker i on CPU i only):

1. one worker, then two workers on the same job: wall time from submission to the written output, and the
   ratio (the outputs are checked identical, frame for frame);
2. two workers killed with SIGKILL once half the segments are done, then two new ones: the time from the
   restart to the output, the work redone (per killed worker, the time since it last finished a segment
   over its time per segment, from the journal) and the output checked against (1);
3. ``python -m srlib.serve`` on 127.0.0.1 answering 64x64 PNGs (4 clients) for ``--load-seconds``: requests/s
   and p95 latency idle, then while two workers run a job, and the ratio.

Run it alone: other work on the machine changes every figure. The CPU is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from video_resume import FPS, facts, make_clip

from srlib.evaluation.cost import device_name
from srlib.inference.segments import JOURNAL_NAME, segment_folder
from srlib.serve.queue import job_status, open_queue

_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def submit(src: Path, dst: Path, url: str, segment_frames: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "srlib.upscale", str(src), str(dst), "--model", "fsrcnn", "--scale", "4",
         "--segment-frames", str(segment_frames), "--preset", "veryfast", "--queue", url],
        capture_output=True, text=True, check=True, env=_ENV,
    )  # fmt: skip
    return done.stdout.split("queued job ")[1].split(":")[0]


PIN = False  # --pin: worker i runs on CPU i only (taskset), so one worker is one core


def workers(url: str, count: int, folder: Path) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "srlib.worker", "--queue", url, "--threads", "1", "--lease", "10"]
    return [
        subprocess.Popen([*(["taskset", "-c", str(i)] if PIN else []), *command],
                         stdout=(folder / f"worker{time.time_ns()}.log").open("wb"),
                         stderr=subprocess.STDOUT, env=_ENV)
        for i in range(count)
    ]  # fmt: skip


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def wait_done(url: str, job: str, timeout: float = 3600.0) -> float:
    queue, start = open_queue(url), time.perf_counter()
    while time.perf_counter() - start < timeout:
        state = job_status(queue, job)["state"]
        if state == "done":
            return time.perf_counter() - start
        if state == "failed":
            raise RuntimeError(f"job {job} failed: {job_status(queue, job)['error']}")
        time.sleep(0.2)
    raise TimeoutError(f"job {job} not done after {timeout} s")


def run_job(src: Path, folder: Path, n_workers: int, segment_frames: int) -> tuple[float, dict]:
    url = f"sqlite:///{folder / 'queue.db'}"
    dst = folder / "out.mp4"
    start = time.perf_counter()
    job = submit(src, dst, url, segment_frames)
    procs = workers(url, n_workers, folder)
    try:
        wait_done(url, job)
    finally:
        stop(procs)
    return time.perf_counter() - start, facts(dst)


def kill_and_resume(src: Path, folder: Path, segment_frames: int, total: int) -> tuple[float, float, dict]:
    url = f"sqlite:///{folder / 'queue.db'}"
    dst = folder / "out.mp4"
    job = submit(src, dst, url, segment_frames)
    procs = workers(url, 2, folder)
    journal = segment_folder(dst) / JOURNAL_NAME
    while True:
        try:
            entries = json.loads(journal.read_text())["segments"]
        except (OSError, ValueError):
            entries = {}
        if len(entries) >= total // 2:
            break
        time.sleep(0.05)
    killed_at = time.time()
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait(30)
    # The work lost: per killed worker, the time since it last finished a segment over the time it
    # took per segment (from the journal, which names the worker of each segment).
    by_worker: dict[str, list[float]] = {}
    for entry in entries.values():
        by_worker.setdefault(entry["worker"], []).append(entry["finished_at"])
    lost = 0.0
    for times in by_worker.values():
        times.sort()
        if len(times) > 1:
            lost += (killed_at - times[-1]) / float(np.median(np.diff(times)))
    start = time.perf_counter()
    procs = workers(url, 2, folder)
    try:
        wait_done(url, job)
    finally:
        stop(procs)
    return time.perf_counter() - start, lost, facts(dst)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(url: str, seconds: float, clients: int = 4) -> tuple[float, float]:
    """Requests/s and p95 latency (ms) of POST /v1/upscale with a 64x64 PNG from ``clients`` threads."""
    import httpx
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "PNG"
    )
    body, latencies, lock = buffer.getvalue(), [], threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while time.perf_counter() < end:
                t = time.perf_counter()
                r = http.post(f"{url}/v1/upscale", content=body, headers={"Content-Type": "image/png"})
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / seconds, 1000 * float(np.percentile(latencies, 95))


def serve_while_jobs(src: Path, folder: Path, segment_frames: int, seconds: float) -> None:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "srlib.serve", "--model", "fsrcnn", "--scale", "4", "--no-auth",
         "--port", str(port), "--work-dir", str(folder / "serve")],
        stdout=(folder / "serve.log").open("wb"), stderr=subprocess.STDOUT, env=_ENV,
    )  # fmt: skip
    procs: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        idle = load(url, seconds)
        queue_url = f"sqlite:///{folder / 'queue.db'}"
        submit(src, folder / "busy.mp4", queue_url, segment_frames)
        procs = workers(queue_url, 2, folder)
        time.sleep(3)  # the workers load the model and start
        busy = load(url, seconds)
    finally:
        stop([*procs, server])
    print(
        f"image endpoint, 64x64 PNG, 4 clients: idle {idle[0]:.1f} req/s, p95 {idle[1]:.0f} ms; with two "
        f"queue workers running {busy[0]:.1f} req/s, p95 {busy[1]:.0f} ms (throughput ratio "
        f"{busy[0] / idle[0]:.2f}, p95 ratio {busy[1] / idle[1]:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="clip length")
    parser.add_argument("--segment-frames", type=int, default=100)
    parser.add_argument("--load-seconds", type=float, default=15.0)
    parser.add_argument("--skip", action="append", default=[], choices=["workers", "resume", "serve"])
    parser.add_argument("--pin", action="store_true", help="worker i on CPU i only (taskset -c i)")
    args = parser.parse_args()
    global PIN
    PIN = args.pin
    work = Path(tempfile.mkdtemp(prefix="srlib-video-jobs-"))
    frames = int(args.seconds * FPS)
    src = make_clip(work / "clip.mp4", frames)
    total = -(-frames // args.segment_frames)
    print(
        f"CPU: {device_name('cpu')}; {frames} frames 256x144 at {FPS} frames/s, fsrcnn x4 (1024x576 out), "
        f"{total} segments of {args.segment_frames} frames, SQLite queue, 1 thread per task"
        f"{', worker i pinned to CPU i' if PIN else ''}"
    )
    reference = None
    if "workers" not in args.skip:
        (work / "one").mkdir()
        (work / "two").mkdir()
        one, reference = run_job(src, work / "one", 1, args.segment_frames)
        two, result = run_job(src, work / "two", 2, args.segment_frames)
        print(
            f"one worker {one:.1f} s ({frames / one:.1f} frames/s); two workers {two:.1f} s "
            f"({frames / two:.1f} frames/s): x{one / two:.2f}; outputs identical: {result == reference}"
        )
    if "resume" not in args.skip:
        (work / "kill").mkdir()
        resume, lost, result = kill_and_resume(src, work / "kill", args.segment_frames, total)
        same = (
            "identical to the uninterrupted output"
            if reference is None or result == reference
            else "DIFFERENT"
        )
        print(
            f"killed both workers at 50%: two new ones finished in {resume:.1f} s; work redone "
            f"{lost:.2f} segment(s) (both workers' unfinished ones); {result['frames']} frames, {same}"
        )
    if "serve" not in args.skip:
        (work / "serve").mkdir()
        serve_while_jobs(src, work / "serve", args.segment_frames, args.load_seconds)
    print(f"CPU: {device_name('cpu')}")


if __name__ == "__main__":
    main()
