"""A real ``python -m srlib.serve`` process on 127.0.0.1 and a free port, and small media to send it.

Every server is stopped at the end of its fixture (SIGTERM, then SIGKILL after 15 s); every wait has a
timeout, so nothing here can hang a test run.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One server process; ``url`` once it answers ``/health``."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environ = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
        if "SRLIB_SERVE_TOKEN" not in (env or {}):
            environ.pop("SRLIB_SERVE_TOKEN", None)  # only the token a test asks for
        command = [sys.executable, "-m", "srlib.serve", "--port", str(self.port), *args]
        self._out = log.open("wb")
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT, env=environ)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {_START_TIMEOUT_S} s:\n{self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._out.close()
        return self.process.returncode

    def client(self, token: bool = True) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH if token else {}, timeout=30.0)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-work")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, work_dir: Path) -> Iterator[Server]:
    """bicubic x2 with a token and small limits, so each limit is cheap to reach (an upload silent for
    2 s is given up)."""
    logs = tmp_path_factory.mktemp("serve-logs")
    args = [
        "--model", "bicubic", "--scale", "2", "--token", TOKEN, "--work-dir", str(work_dir),
        "--max-upload-mb", "0.25", "--max-pixels", "200000", "--max-output-pixels", "4000000",
        "--max-video-seconds", "3", "--batch-window-ms", "150", "--max-batch", "8",
        "--max-jobs", "2", "--job-workers", "1", "--job-batch-size", "1", "--upload-idle-timeout", "2",
    ]  # fmt: skip
    srv = Server(args, logs / "server.log")
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


# -- media ----------------------------------------------------------------------------------------
def png(width: int = 32, height: int = 24, mode: str = "RGB", noise: bool = False) -> bytes:
    """A PNG of gradients (compresses to almost nothing) or of noise (does not compress)."""
    from PIL import Image

    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    y, x = np.mgrid[:height, :width]
    array = np.stack([(x * 7 + y * 3 + 60 * c) % 256 for c in range(channels)], axis=-1).astype(np.uint8)
    if noise:
        array = np.random.default_rng(width + height).integers(0, 256, array.shape, dtype=np.uint8)
    image = Image.fromarray(array[:, :, 0] if channels == 1 else array, mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encoded(fmt: str, width: int = 32, height: int = 24) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png(width, height))).save(buffer, format=fmt)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares ``width x height`` pixels, with a few bytes of data (never decodable)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def clip(
    path: Path,
    *,
    frames: int = 12,
    fps: int = 8,
    size: tuple[int, int] = (32, 24),
    audio: bool = True,
    video: bool = True,
) -> Path:
    """An H.264 clip of moving bars (and an AAC tone as long as the video); ``video=False``: audio only."""
    rate = 16000
    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps) if video else None
        if stream is not None:
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "20"}
        sound = container.add_stream("aac", rate=rate, layout="mono") if audio else None
        samples = 0
        for k in range(frames):
            if stream is not None:
                image = np.zeros((h, w, 3), np.uint8)
                image[..., 0] = (40 + 7 * k) % 256
                image[:, : 2 + (3 * k) % (w - 2), 1] = 200
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            while sound is not None and samples < (k + 1) * rate // fps:
                t = (np.arange(1024) + samples) / rate
                wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
                frame.sample_rate, frame.pts = rate, samples
                container.mux(sound.encode(frame))
                samples += 1024
        if stream is not None:
            container.mux(stream.encode())
        if sound is not None:
            container.mux(sound.encode())
    return path
