"""The settings of one server, shared by the command line, the app factory and every worker process.

``--workers N`` starts N uvicorn worker processes, each importing the app from
:func:`srlib.serve.app.app_from_env`; the settings travel to them as JSON in the environment variable
:data:`CONFIG_ENV` (and the token, never written to the JSON, in :data:`TOKEN_ENV`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

__all__ = ["CONFIG_ENV", "TOKEN_ENV", "ServeConfig", "check_token"]

#: Environment variable holding the JSON settings for worker processes.
CONFIG_ENV = "SRLIB_SERVE_CONFIG"
#: Environment variable holding the bearer token (also read by ``python -m srlib.serve``).
TOKEN_ENV = "SRLIB_SERVE_TOKEN"

_NO_TOKEN_FIX = "or pass --no-auth to serve without authentication"


def check_token(token: str | None, where: str = "--token") -> str:
    """A bearer token as given, refused when missing, empty or blank, or not plain printable ASCII.

    An empty token must never mean "no authentication" (``--token ""``, or ``--token "$VAR"`` with
    ``VAR`` unset): that is asked for only with ``--no-auth``.

    Args:
        token: the token (``None``: none was given).
        where: where it came from, named in the error (``--token``, ``$SRLIB_SERVE_TOKEN``).

    Raises:
        ValueError: no token, an empty or blank one, surrounding spaces, or characters a header cannot
            carry (the message names the fix).

    Example:
        >>> check_token("s3cret")
        's3cret'
        >>> try:
        ...     check_token("  ")
        ... except ValueError as err:
        ...     print(str(err)[:32])
        The token given by --token is em
    """
    if token is None:
        raise ValueError(
            f"No token: pass --token TOKEN or set ${TOKEN_ENV} (e.g. to $(openssl rand -hex 16)), "
            f"{_NO_TOKEN_FIX}."
        )
    if not token.strip():
        raise ValueError(
            f"The token given by {where} is empty (an unset variable?); give a non-empty token, "
            f"{_NO_TOKEN_FIX}."
        )
    if token != token.strip() or not all(33 <= ord(c) < 127 for c in token):
        raise ValueError(
            f"The token given by {where} has spaces or characters other than printable ASCII, which a "
            "header cannot carry exactly; use letters, digits and punctuation only."
        )
    return token


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
        max_output_pixels: the largest output image or video frame, checked before any work (budget
            about 30 bytes of memory a pixel: the model's float32 output is 12; see docs/serve.md).
        max_video_seconds: the longest video a job takes.
        request_timeout_s: an image request that has not been answered by then gets 503 (and its model
            work is stopped).
        upload_timeout_s: a request body not received by then gets 408.
        upload_idle_timeout_s: a request body that sends nothing for this long gets 408.
        max_uploads: video uploads being received at once (per worker) before new ones get 503; an
            upload holds no job slot: the slot is taken once the video is received and checked.
        max_jobs: video jobs queued or running at once (per worker) before new ones get 503.
        job_workers: video jobs running at the same time (per worker).
        job_batch_size: video frames per model call.
        job_ttl_s: a finished job's result (or a failed job's error) is removed after this long.
        work_dir: where uploads and job files live (default: a fresh temporary folder).
        token_required: whether a bearer token guards the API (the token itself is in :data:`TOKEN_ENV`).
        work_dir_locked: the main process holds ``work_dir``'s lock (worker processes must not take it).
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
    max_output_pixels: int = 16_777_216
    max_video_seconds: float = 600.0
    request_timeout_s: float = 120.0
    upload_timeout_s: float = 300.0
    upload_idle_timeout_s: float = 30.0
    max_uploads: int = 8
    max_jobs: int = 4
    job_workers: int = 1
    job_batch_size: int = 4
    job_ttl_s: float = 3600.0
    work_dir: str | None = None
    token_required: bool = False
    work_dir_locked: bool = False

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
