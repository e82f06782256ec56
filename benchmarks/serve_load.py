"""Load on ``python -m srlib.serve``: N concurrent clients for a fixed time, beside one-by-one in-process.

    python benchmarks/serve_load.py                                  # 16 clients, 60 s, srvgg_compact x4
    python benchmarks/serve_load.py --seconds 5 --clients 4          # a smoke run
    python benchmarks/serve_load.py --bad-mix                        # every kind of bad request mixed in
    python benchmarks/serve_load.py --url http://host:8000 --token T # an already running server

1. **In-process, one by one** (before the server starts, so nothing competes): the same PNG images
   through the same model and precision, one request's work at a time (decode the PNG, upscale
   through an ``Upscaler``, encode the PNG), for ``--baseline-seconds``; the model alone is timed too.
2. **Server under load**: ``--clients`` threads, each with its own httpx client, POST the images to
   ``/v1/upscale`` back to back for ``--seconds``. Reported: requests/s, p50/p95/p99 latency, errors,
   the batch sizes the server ran (``/v1/stats``), and the server's RSS sampled every 0.5 s (all its
   processes): the peak, and the mean of the first and of the last third of the run (flat memory:
   the two are close).
3. With ``--bad-mix``, every ``--bad-every``-th request of each client is a bad one, cycling through
   every kind (not an image, truncated, a decompression bomb header, too many pixels, too large an
   upload, an unknown parameter, a bad outscale, a video without a video stream, a truncated video,
   no token); each must get a 4xx and every good request a 200, else the run fails (exit code 1).

The throughput ratio server / in-process shows what batching and overlapping decode, model and encode
across requests gain. The CPU is printed beside the figures: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from srlib.evaluation.cost import device_name

_MB = 1024 * 1024
_BAD_TURN = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the images -----------------------------------------------------------------------------------
def make_images(count: int, width: int, height: int) -> list[bytes]:
    """Natural photos (scikit-image's bundled ones) resized to ``width x height``, as PNG bytes."""
    import skimage.data

    names = [
        "astronaut",
        "chelsea",
        "coffee",
        "rocket",
        "immunohistochemistry",
        "retina",
        "cat",
        "hubble_deep_field",
    ]
    images = []
    for k in range(count):
        array = getattr(skimage.data, names[k % len(names)])()
        image = Image.fromarray(array).convert("RGB").resize((width, height), Image.BICUBIC)
        if k >= len(names):
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def bad_requests(max_upload_mb: float, workdir: Path) -> list[tuple[str, dict]]:
    """``(kind, httpx request arguments)`` for every kind of bad request."""
    import struct
    import zlib

    import av

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    noise = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    noisy = buffer.getvalue()
    huge = io.BytesIO()
    Image.new("1", (12_000, 10_000)).save(huge, format="PNG")  # 120 MP in a few KB

    audio = workdir / "audio.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        for k in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16000, k * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    video = workdir / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(8):
            image = np.full((48, 64, 3), 20 * k, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    clip = video.read_bytes()
    too_large = os.urandom(int(max_upload_mb * _MB) + 1024)
    return [
        ("not an image", {"url": "/v1/upscale", "content": b"hello, this is text" * 20}),
        ("truncated image", {"url": "/v1/upscale", "content": noisy[: len(noisy) // 3]}),
        ("decompression bomb", {"url": "/v1/upscale", "content": bomb}),
        ("too many pixels", {"url": "/v1/upscale", "content": huge.getvalue()}),
        ("upload too large", {"url": "/v1/upscale", "content": too_large}),
        ("unknown parameter", {"url": "/v1/upscale", "params": {"scale_factor": "2"}, "content": noisy}),
        ("bad outscale", {"url": "/v1/upscale", "params": {"outscale": "-3"}, "content": noisy}),
        ("video without video stream", {"url": "/v1/jobs", "content": audio.read_bytes()}),
        ("truncated video", {"url": "/v1/jobs", "content": clip[: len(clip) // 2]}),
        ("no token", {"url": "/v1/upscale", "content": noisy, "headers": {"Authorization": "Bearer wrong"}}),
    ]


# -- in-process baseline --------------------------------------------------------------------------
def in_process(args: argparse.Namespace, images: list[bytes]) -> dict:
    """One request's work at a time, in this process: decode, upscale (same model, dtype), encode."""
    import torch

    from srlib.inference import Upscaler
    from srlib.inference.upscale import upscale_picture
    from srlib.models import resolve_model
    from srlib.serve.images import decode_image, encode_image

    net = resolve_model(args.model, scale=args.scale)
    up = Upscaler(net, dtype=args.dtype)
    folder = Path(tempfile.mkdtemp(prefix="serve-load-"))
    try:

        def one(data: bytes) -> bytes:
            return encode_image(upscale_picture(decode_image(data, folder, None), up), "png")

        for data in images[:2]:
            one(data)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.baseline_seconds:
            one(images[done % len(images)])
            done += 1
        full = done / (time.perf_counter() - start)
        x = torch.rand(1, 3, args.height, args.width)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < max(2.0, args.baseline_seconds / 3):
            up(x)
            done += 1
        model_only = done / (time.perf_counter() - start)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return {"rate": full, "model_rate": model_only, "dtype": str(up.dtype).removeprefix("torch.")}


# -- the server and its memory --------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def rss_mb(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Sampler:
    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.samples.append((time.monotonic(), rss_mb(self.pid)))

    def report(self) -> dict:
        values = [v for _, v in self.samples]
        if len(values) < 3:
            return {"peak": max(values, default=0.0), "first": 0.0, "last": 0.0}
        third = len(values) // 3
        return {
            "peak": max(values),
            "first": statistics.mean(values[:third]),
            "last": statistics.mean(values[-third:]),
        }


def start_server(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    port = args.port or free_port()
    command = [
        sys.executable, "-m", "srlib.serve", "--model", args.model, "--port", str(port),
        "--dtype", args.dtype, "--workers", str(args.workers),
        "--batch-window-ms", str(args.batch_window_ms), "--max-upload-mb", str(args.max_upload_mb),
        "--max-queue", str(max(64, 4 * args.clients)),
    ]  # fmt: skip
    if args.scale:
        command += ["--scale", str(args.scale)]
    if args.max_batch:
        command += ["--max-batch", str(args.max_batch)]
    if args.token:
        command += ["--token", args.token]
    else:  # the service refuses to start open unless told so
        command += ["--no-auth"]
    out = log.open("wb")
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start within 180 s")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- the load -------------------------------------------------------------------------------------
@dataclass
class Record:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bad: dict[str, list[int]] = field(default_factory=dict)


def client_loop(
    url: str, headers: dict, images: list[bytes], bad: list, args, end: float, offset: int, record: Record
) -> None:
    k = offset
    with httpx.Client(base_url=url, headers=headers, timeout=args.request_timeout) as client:
        while time.monotonic() < end:
            k += 1
            if bad and k % args.bad_every == 0:
                kind, request = bad[next(_BAD_TURN) % len(bad)]  # shared: every kind comes up early
                request = {**request, "headers": {**headers, **request.get("headers", {})}}
                try:
                    status = client.post(**request).status_code
                except httpx.HTTPError as err:
                    status = -1
                    record.errors.append(f"{kind}: {type(err).__name__}")
                record.bad.setdefault(kind, []).append(status)
                continue
            start = time.perf_counter()
            try:
                response = client.post("/v1/upscale", content=images[k % len(images)])
                ok = response.status_code == 200
                if not ok:
                    record.errors.append(f"{response.status_code}: {response.text[:120]}")
            except httpx.HTTPError as err:
                ok = False
                record.errors.append(type(err).__name__)
            if ok and time.monotonic() < end:
                record.latencies.append(time.perf_counter() - start)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default=None, help="an already running server (default: start one here)")
    p.add_argument("--token", default=None)
    p.add_argument("--model", default="srvgg_compact")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--size", default="256x144", help="image width x height")
    p.add_argument("--images", type=int, default=8, help="distinct images sent")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    p.add_argument("--baseline-seconds", type=float, default=None, help="default: min(--seconds, 20)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--max-batch", type=int, default=None, help="default: the server's (8 on a GPU, 1 on a CPU)"
    )
    p.add_argument("--batch-window-ms", type=float, default=5)
    p.add_argument("--max-upload-mb", type=float, default=4)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--request-timeout", type=float, default=120)
    p.add_argument("--bad-mix", action="store_true", help="mix every kind of bad request into the load")
    p.add_argument("--bad-every", type=int, default=4, help="with --bad-mix: every k-th request is bad")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args()
    args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    if args.baseline_seconds is None:
        args.baseline_seconds = min(args.seconds, 20.0)

    print(f"CPU: {device_name('cpu')}")
    print(f"model {args.model} x{args.scale}, dtype {args.dtype}, images {args.width}x{args.height}")
    images = make_images(args.images, args.width, args.height)
    baseline = None
    if not args.no_baseline:
        baseline = in_process(args, images)
        print(
            f"in-process one by one: {baseline['rate']:.2f} images/s (decode+model+encode), "
            f"model alone {baseline['model_rate']:.2f} images/s, dtype {baseline['dtype']}"
        )

    scratch = Path(tempfile.mkdtemp(prefix="serve-load-"))
    process = None
    url = args.url
    if url is None:
        args.token = args.token or ("bench-" + os.urandom(6).hex() if args.bad_mix else None)
        process, url = start_server(args, scratch / "server.log")
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    bad = bad_requests(args.max_upload_mb, scratch) if args.bad_mix else []
    if args.bad_mix and not args.token:
        bad = [b for b in bad if b[0] != "no token"]
    sampler = Sampler(process.pid) if process is not None else None
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            info = c.get("/v1/model").json()
            before = c.get("/v1/stats").json()
        print(
            f"server: {info['name']} x{info['scale']}, {info['dtype']} on {info['device']}, "
            f"{info['workers']} worker(s), max batch {info['max_batch']}, window {info['batch_window_ms']} ms"
        )
        if args.warmup > 0:
            warm = Record()
            end = time.monotonic() + args.warmup
            threads = [
                threading.Thread(target=client_loop, args=(url, headers, images, [], args, end, k, warm))
                for k in range(args.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.warmup + args.request_timeout + 10)
        record = Record()
        if sampler is not None:
            threading.Thread(target=sampler.run, daemon=True).start()
        start = time.monotonic()
        end = start + args.seconds
        threads = [
            threading.Thread(target=client_loop, args=(url, headers, images, bad, args, end, k, record))
            for k in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + args.request_timeout + 10)
        elapsed = time.monotonic() - start
        if sampler is not None:
            sampler.stop.set()
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            after = c.get("/v1/stats").json()
    finally:
        if process is not None:
            stop_server(process)

    lat = record.latencies
    rate = len(lat) / args.seconds
    print(f"\n{args.clients} clients for {args.seconds:g} s ({elapsed:.1f} s with the last answers):")
    print(f"  good requests answered 200: {len(lat)}  ->  {rate:.2f} requests/s")
    print(
        f"  latency p50 {percentile(lat, 50) * 1000:.0f} ms, p95 {percentile(lat, 95) * 1000:.0f} ms, "
        f"p99 {percentile(lat, 99) * 1000:.0f} ms"
    )
    print(f"  errors: {len(record.errors)}" + (f" (first: {record.errors[:3]})" if record.errors else ""))
    b0, b1 = before["batching"], after["batching"]
    calls, frames = b1["model_calls"] - b0["model_calls"], b1["frames"] - b0["frames"]
    if calls:
        sizes = {k: v - b0["batch_sizes"].get(k, 0) for k, v in b1["batch_sizes"].items()}
        print(f"  server batches (one worker): mean {frames / calls:.2f}, frames per call: count {sizes}")
    if sampler is not None:
        mem = sampler.report()
        print(
            f"  server RSS: peak {mem['peak']:.0f} MB; mean first third {mem['first']:.0f} MB, "
            f"last third {mem['last']:.0f} MB ({len(sampler.samples)} samples)"
        )
    if baseline is not None:
        print(
            f"  throughput vs in-process one by one: {rate / baseline['rate']:.2f}x "
            f"(server {rate:.2f} / in-process {baseline['rate']:.2f} images/s)"
        )
    failed = bool(record.errors)
    if args.bad_mix:
        print("\nbad requests (each must be 4xx):")
        for kind, statuses in record.bad.items():
            wrong = [s for s in statuses if not 400 <= s < 500]
            failed |= bool(wrong)
            flag = "  FAIL" if wrong else ""
            print(f"  {kind:28s} {len(statuses):4d} sent, statuses {sorted(set(statuses))}{flag}")
        kinds = {k for k, _ in bad}
        if set(record.bad) != kinds:
            print(f"  not sent (run longer): {sorted(kinds - set(record.bad))}")
    print(
        "\nresult:",
        "FAIL" if failed else "ok (no errors" + (", every bad request 4xx)" if args.bad_mix else ")"),
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
