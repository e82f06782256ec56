"""Real-codec LR: HR frames downscaled, then re-encoded with H.264/H.265 and decoded back.

What a low-resolution upload to a video platform looks like: an antialiased downscale (MATLAB-style
bicubic, :func:`srlib.ops.imresize`) to the LR size, then a lossy encode at a chosen CRF or bit rate
(yuv420p, as platforms store), decoded back to RGB frames. The frames go through the encoder as one
continuous stream, so the codec's temporal behaviour (key frames every ``gop`` frames, motion-compensated
prediction in between, quality pumping) is that of a real encode. Encoding runs in memory with one
encoder thread, so the result is the same bytes on every run for the same frames and settings; the clip
cache (:mod:`srlib.data.video.clips`) stores the decoded LR frames under a key that includes the
:class:`CodecSettings`, so each video is re-encoded once.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from srlib.data.video._fields import settings_from
from srlib.io.video import ENCODERS, VideoEncoder, require_encoder
from srlib.ops import imresize

__all__ = ["CodecSettings", "LowResEncoder", "as_codec", "codec_lr"]


@dataclass(frozen=True)
class CodecSettings:
    """How the LR frames are encoded.

    Args:
        codec: ``"h264"`` (libx264) or ``"h265"`` (libx265, when PyAV's FFmpeg has it; else a
            ``ValueError`` naming the fix).
        crf: constant rate factor (x264/x265: 0-51, higher = worse); or
        bitrate: average bits per second (e.g. 150_000 at 256x144: a 144p platform encode). Give one;
            neither means ``crf=30``.
        preset: encoder preset (``"medium"``, as platforms use).
        gop: key-frame interval in frames (``None``: 2 s at ``fps``).
        fps: the frame rate told to the encoder (rate control depends on it).

    Example:
        >>> CodecSettings(bitrate=150_000).rate_control
        ('bitrate', 150000)
    """

    codec: str = "h264"
    crf: float | None = None
    bitrate: int | None = None
    preset: str = "medium"
    gop: int | None = None
    fps: float = 25.0

    def __post_init__(self) -> None:
        if self.codec.lower() not in ENCODERS:
            raise ValueError(f"codec must be one of {', '.join(ENCODERS)}, got {self.codec!r}.")
        if self.crf is not None and self.bitrate is not None:
            raise ValueError(f"Give crf= or bitrate=, not both (got crf={self.crf}, bitrate={self.bitrate}).")
        if self.crf is not None and not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf!r}.")
        if self.bitrate is not None and int(self.bitrate) < 1000:
            raise ValueError(f"bitrate is in bits per second (e.g. 150000), got {self.bitrate!r}.")
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps!r}.")
        if self.gop is not None and int(self.gop) < 1:
            raise ValueError(f"gop must be >= 1 frames or None, got {self.gop!r}.")

    @property
    def rate_control(self) -> tuple[str, float]:
        """``("crf", value)`` or ``("bitrate", bits per second)``."""
        if self.bitrate is not None:
            return "bitrate", int(self.bitrate)
        return "crf", 30.0 if self.crf is None else float(self.crf)

    def encoder_options(self) -> dict[str, Any]:
        """The :class:`~srlib.io.video.VideoEncoder` keyword arguments of these settings."""
        kind, value = self.rate_control
        return {
            "codec": self.codec,
            kind: value,
            "preset": self.preset,
            "gop": int(self.gop) if self.gop is not None else max(1, round(2 * self.fps)),
            "fps": self.fps,
        }

    def cache_fields(self) -> dict[str, Any]:
        """Everything that changes the LR frames (part of the clip cache key)."""
        return asdict(self)

    def check_available(self) -> None:
        """Fail now, naming the fix, when PyAV's FFmpeg lacks the encoder."""
        require_encoder(self.codec)


def as_codec(value: CodecSettings | Mapping[str, Any] | None) -> CodecSettings:
    """A :class:`CodecSettings` from itself, a mapping of its fields (as Hydra passes) or ``None``."""
    return settings_from(CodecSettings, value, "codec")


def _downscale(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(h, w, 3)`` uint8 by antialiased MATLAB bicubic."""
    if frame.shape[:2] == tuple(size):
        return frame
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float()
    y = imresize(x, size=tuple(size)).round_().clamp_(0, 255).to(torch.uint8)
    return y.permute(1, 2, 0).contiguous().numpy()


class LowResEncoder:
    """Stream HR frames in (:meth:`add`), get their real-codec LR frames back (:meth:`decode`).

    The encoder works on an even-sized frame (an odd LR side is padded by one replicated row or column,
    cropped again after decoding), so any LR size works with yuv420p.

    Args:
        lr_size: ``(h, w)`` of the LR frames.
        settings: the :class:`CodecSettings`.

    Example:
        >>> enc = LowResEncoder((8, 8), CodecSettings(crf=20, preset="ultrafast"))
        >>> for _ in range(3):
        ...     enc.add(np.full((32, 32, 3), 90, np.uint8))
        >>> [f.shape for f in enc.decode()]
        [(8, 8, 3), (8, 8, 3), (8, 8, 3)]
    """

    def __init__(self, lr_size: tuple[int, int], settings: CodecSettings) -> None:
        self.lr_size = (int(lr_size[0]), int(lr_size[1]))
        if min(self.lr_size) < 1:
            raise ValueError(f"LR size {self.lr_size} must be at least 1x1.")
        h, w = self.lr_size
        self.padded = (h + h % 2, w + w % 2)
        self.buffer = io.BytesIO()
        options = settings.encoder_options()
        self.encoder = VideoEncoder(
            self.buffer, width=self.padded[1], height=self.padded[0], container="mp4", **options
        )
        self.closed = False

    def add(self, hr_frame: np.ndarray) -> None:
        """Downscale one ``(H, W, 3)`` uint8 HR frame and feed it to the encoder."""
        lr = _downscale(hr_frame, self.lr_size)
        h, w = self.lr_size
        if self.padded != self.lr_size:
            lr = np.pad(lr, ((0, self.padded[0] - h), (0, self.padded[1] - w), (0, 0)), mode="edge")
        self.encoder.add(lr)

    @property
    def frames(self) -> int:
        return self.encoder.frames

    def decode(self) -> Iterable[np.ndarray]:
        """Finish the encode and yield the decoded ``(h, w, 3)`` uint8 frames, in order."""
        import av

        if not self.closed:
            self.encoder.close()
            self.closed = True
        h, w = self.lr_size
        with av.open(io.BytesIO(self.buffer.getvalue()), mode="r") as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")[:h, :w]

    @property
    def encoded_bytes(self) -> int:
        """Size of the encoded stream (after :meth:`decode`)."""
        return len(self.buffer.getvalue())


def codec_lr(
    hr_frames: Iterable[np.ndarray] | torch.Tensor,
    lr_size: tuple[int, int],
    settings: CodecSettings | Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Real-codec LR of a clip: antialiased downscale to ``lr_size``, lossy encode, decode.

    Args:
        hr_frames: ``(T, 3, H, W)`` uint8 tensor or an iterable of ``(H, W, 3)`` uint8 arrays.
        lr_size: ``(h, w)``.
        settings: :class:`CodecSettings` (or a mapping of its fields; default ``crf=30`` H.264).

    Returns:
        ``(T, 3, h, w)`` uint8.

    Shape:
        - hr_frames: ``(T, 3, H, W)``; output ``(T, 3, h, w)``.

    Example:
        >>> clip = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> codec_lr(clip, (8, 8), {"crf": 28, "preset": "ultrafast"}).shape
        torch.Size([4, 3, 8, 8])
    """
    settings = as_codec(settings)
    if isinstance(hr_frames, torch.Tensor):
        if hr_frames.ndim != 4 or hr_frames.shape[1] != 3 or hr_frames.dtype != torch.uint8:
            raise ValueError(f"hr_frames must be a (T, 3, H, W) uint8 tensor, got {tuple(hr_frames.shape)}.")
        hr_frames = list(hr_frames.permute(0, 2, 3, 1).contiguous().numpy())
    encoder = LowResEncoder(lr_size, settings)
    for frame in hr_frames:
        encoder.add(frame)
    if not encoder.frames:
        raise ValueError("codec_lr got no frames.")
    out = [torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1) for f in encoder.decode()]
    return torch.stack(out)
