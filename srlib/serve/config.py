"""The settings of one server, shared by the command line, the app factory and every worker process.

``--workers N`` starts N uvicorn worker processes, each importing the app from
:func:`srlib.serve.app.app_from_env`; the settings travel to them as JSON in the environment variable
:data:`CONFIG_ENV` (and the token, never written to the JSON, in :data:`TOKEN_ENV`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

__all__ = ["CONFIG_ENV", "TOKEN_ENV", "ServeConfig"]

#: Environment variable holding the JSON settings for worker processes.
CONFIG_ENV = "SRLIB_SERVE_CONFIG"
#: Environment variable holding the bearer token (also read by ``python -m srlib.serve``).
TOKEN_ENV = "SRLIB_SERVE_TOKEN"


@dataclass
class ServeConfig:
    """Everything a server needs besides the host and port.

    Attributes:
        model: a registered name, a weight file or an ``.onnx`` export (as ``--model`` of the upscale CLI).
        weights: a weight file loaded into a registered name.
        scale: the scale to build a registered name at.
        device: ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        dtype: ``auto``, ``bf16``, ``fp16`` or ``fp32``.
        tile: default tile size in input pixels (``None``: whole images).
        tile_overlap: input pixels shared by neighbouring tiles.
        no_policy: ignore a ``FramePairPolicy`` stored with the weights.
        max_batch: the most images (or video frames) one model call takes; ``None``: 8 on a GPU, 1 on a
            CPU (measured with ``benchmarks/serve_load.py`` on a 2-core AMD EPYC: batches of 8 gave 0.82x
            the one-by-one in-process rate, batches of 1 gave 0.98x; the model already uses every core).
        batch_window_ms: how long the model worker waits for more inputs of the same size.
        max_queue: images waiting for the model before new ones get 503.
        max_upload_bytes: the largest image request body.
        max_video_upload_bytes: the largest video upload.
        max_pixels: the largest input image or video frame (pixels, from the header).
        max_output_pixels: the largest output image or video frame.
        max_video_seconds: the longest video a job takes.
        request_timeout_s: an image request that has not been answered by then gets 503.
        upload_timeout_s: a request body not received by then gets 408.
        max_jobs: video jobs queued or running at once (per worker) before new ones get 503.
        job_workers: video jobs running at the same time (per worker).
        job_batch_size: video frames per model call.
        job_ttl_s: a finished job's result (or a failed job's error) is removed after this long.
        work_dir: where uploads and job files live (default: a fresh temporary folder).
        token_required: whether a bearer token guards the API (the token itself is in :data:`TOKEN_ENV`).
    """

    model: str = "bicubic"
    weights: str | None = None
    scale: int | None = None
    device: str | None = None
    dtype: str = "auto"
    tile: int | None = None
    tile_overlap: int = 16
    no_policy: bool = False
    max_batch: int | None = None
    batch_window_ms: float = 5.0
    max_queue: int = 64
    max_upload_bytes: int = 32 * 1024 * 1024
    max_video_upload_bytes: int = 1024 * 1024 * 1024
    max_pixels: int | None = None
    max_output_pixels: int = 64_000_000
    max_video_seconds: float = 600.0
    request_timeout_s: float = 120.0
    upload_timeout_s: float = 300.0
    max_jobs: int = 4
    job_workers: int = 1
    job_batch_size: int = 4
    job_ttl_s: float = 3600.0
    work_dir: str | None = None
    token_required: bool = False

    def to_env(self) -> str:
        """The settings as the JSON text of :data:`CONFIG_ENV`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        """Read the settings a parent process left in :data:`CONFIG_ENV` (defaults when unset).

        Example:
            >>> ServeConfig.from_env().model if "SRLIB_SERVE_CONFIG" not in os.environ else "bicubic"
            'bicubic'
        """
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            return cls()
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
