"""Paired low/high-resolution video frames (e.g. 144p/480p encodes of the same clips).

Layout: ``root/lr/NAME.mp4`` and ``root/hr/NAME.mp4`` are two encodes of the same clip ``NAME`` (any
container and codec PyAV reads; the suffixes may differ). The pipeline, run once when the dataset is
set up:

1. **Match clips by name.** Names found in only one of the folders are listed together in one error
   (or skipped with a warning when ``strict=False``).
2. **Scan headers** of every clip not yet cached (open, find the video stream, read the frame sizes)
   and check the size ratio against the :class:`FramePairPolicy`; every bad file and every bad ratio
   is reported in one error before any long decoding starts.
3. **Sample by timestamp.** Every ``every_n``-th HR frame (default 250, as in the Rutube setup) gives a
   target time; for each target the LR frame whose presentation time is nearest is taken, so the pairs
   correspond even when the two encodes have different frame rates or frame counts. Times are measured
   from each clip's first frame (``align_start=True``). A pair whose LR frame is more than
   ``max_time_offset`` LR frame periods (default half a period) from its target is dropped; clips whose
   frame counts or durations differ by more than ``mismatch_tolerance`` (relative), truncated files and
   dropped pairs are logged as warnings and recorded in the per-clip :class:`ClipReport`.
4. **Apply the size policy** (:class:`FramePairPolicy`) so every pair is exactly ``scale`` apart.
5. **Cache** the pairs as ``(3, H, W)`` uint8 ``.npy`` files, one folder per clip, each file written
   under a temporary name and renamed, the ``manifest.json`` written last. The folder name carries a
   hash of the source files' names, sizes and mtimes, the sampling settings and the policy, so a
   changed source (or setting) invalidates exactly that clip, and later epochs and runs never decode
   video.

Why ``.npy`` and not PNG: training reads random crops from these frames every step. An uncompressed
uint8 ``.npy`` has a fixed layout, so only the rows of the crop are read (a 96-pixel crop of a 480p
frame costs tens of microseconds, a whole frame well under a millisecond), while a PNG must be
inflated whole for every crop (milliseconds at 480p). The arrays are stored channels-first, as the
items are returned (transposing a 480p uint8 frame costs milliseconds with torch). The price is disk
space (~1.2 MB per 854x480 frame), small next to the decoding it saves.

The frames are converted to RGB by FFmpeg's default YUV->RGB conversion (the same for LR and HR);
rotation metadata is not applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import shutil
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from srlib.data.datamodules import SRDataModule
from srlib.data.datasets import random_augment
from srlib.ops import imresize

__all__ = [
    "FILTERS",
    "SIZE_POLICIES",
    "VIDEO_EXTENSIONS",
    "CachedClip",
    "ClipReport",
    "FramePair",
    "FramePairPolicy",
    "FrameSampling",
    "VideoFramePairDataset",
    "VideoPairDataModule",
    "cache_frame_pairs",
    "find_clip_pairs",
    "sample_frame_pairs",
]

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".ts",
    ".mts",
    ".m2ts",
    ".flv",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".3gp",
    ".y4m",
)
SIZE_POLICIES = ("none", "resize_lr", "resize_hr")
FILTERS = ("bicubic", "bilinear", "area")
_CACHE_VERSION = 1
_MANIFEST = "manifest.json"


# ----------------------------------------------------------------------------------------------------
# Resizing helpers (exact per-axis factors, so cropped HR frames and resized LR frames stay aligned)
# ----------------------------------------------------------------------------------------------------


def _linear_matrix(in_len: int, out_len: int, factor: float, kind: str) -> Tensor:
    """``(out_len, in_len)`` float64 resampling matrix; output pixel ``j`` is centred on input
    coordinate ``(j + 0.5) / factor - 0.5`` (pixel centres, 0-based), i.e. the output grid starts at
    the input's left edge and advances ``1 / factor`` input pixels per output pixel."""
    src = torch.arange(in_len, dtype=torch.float64)
    dst = torch.arange(out_len, dtype=torch.float64)
    if kind == "area":
        # Output pixel j covers [j/f, (j+1)/f) in edge coordinates; weight = overlap with [i, i+1).
        lo, hi = dst / factor, (dst + 1) / factor
        overlap = torch.minimum(hi[:, None], src[None, :] + 1) - torch.maximum(lo[:, None], src[None, :])
        weights = overlap.clamp(min=0)
    elif kind == "bilinear":
        # Triangle filter, stretched by 1/f when shrinking (antialiasing, as torch's antialias=True);
        # taps outside the image are dropped and the rest renormalised.
        stretch = max(1.0 / factor, 1.0)
        centre = (dst + 0.5) / factor - 0.5
        weights = (1.0 - (src[None, :] - centre[:, None]).abs() / stretch).clamp(min=0)
    else:  # pragma: no cover - guarded by the callers
        raise ValueError(f"Unknown filter {kind!r}.")
    total = weights.sum(dim=1, keepdim=True)
    if bool((total <= 0).any()):
        # An output pixel beyond the input's far edge (only when cropping to more than exists): use the
        # nearest input pixel.
        nearest = ((dst + 0.5) / factor - 0.5).round().clamp(0, in_len - 1).long()
        fallback = torch.zeros_like(weights).scatter_(1, nearest[:, None], 1.0)
        weights = torch.where(total > 0, weights, fallback)
        total = weights.sum(dim=1, keepdim=True)
    return weights / total


def _imresize_axis(x: Tensor, factor: float, axis: int) -> Tensor:
    """MATLAB bicubic along one axis (``-2`` rows, ``-1`` columns) by an exact factor.

    :func:`srlib.ops.imresize` takes one scale for both axes; resizing an image whose other axis is
    moved out of the way (a width-1 column, which the kernel leaves unchanged) gives per-axis factors
    without touching its arithmetic. The output length is ``ceil(length * factor)``.
    """
    if axis == -2:
        y = imresize(x.transpose(-1, -2).unsqueeze(-1), factor)
        return y[..., 0].transpose(-1, -2)
    return imresize(x.unsqueeze(-1), factor)[..., 0]


def _resize_by_factor(
    x: Tensor, factors: tuple[float, float], out_size: tuple[int, int], filter: str
) -> Tensor:
    """Resample ``x`` with exact per-axis ``factors`` and keep the top-left ``out_size``.

    Unlike resizing to a size, the factor fixes the geometry: output pixel ``j`` sits at input
    position ``(j + 0.5) / factor - 0.5``, whatever ``out_size`` is.
    """
    is_uint8 = x.dtype == torch.uint8
    y = x.float() if is_uint8 or x.dtype in (torch.float16, torch.bfloat16) else x
    in_h, in_w = y.shape[-2:]
    out_h, out_w = out_size
    # MATLAB's order: the axis with the smaller factor first (rows on a tie).
    axes = (-2, -1) if factors[0] <= factors[1] else (-1, -2)
    for axis in axes:
        f = factors[0] if axis == -2 else factors[1]
        in_len, out_len = (in_h, out_h) if axis == -2 else (in_w, out_w)
        if f == 1.0 and out_len == in_len:
            continue
        if filter == "bicubic":
            y = _imresize_axis(y, f, axis)
            if is_uint8:  # MATLAB rounds to uint8 after each pass
                y = y.round().clamp(0, 255)
            if y.shape[axis] < out_len:  # float rounding in ceil(); repeat the last line
                pad = out_len - y.shape[axis]
                last = y.narrow(axis, y.shape[axis] - 1, 1)
                y = torch.cat([y, *([last] * pad)], dim=axis)
            y = y.narrow(axis, 0, out_len)
        else:
            m = _linear_matrix(in_len, out_len, f, filter).to(device=y.device, dtype=y.dtype)
            y = torch.matmul(m, y) if axis == -2 else torch.matmul(y, m.T)
    if is_uint8:
        return y.round().clamp(0, 255).to(torch.uint8)
    return y.to(x.dtype)


def _resize_to(x: Tensor, size: tuple[int, int], filter: str) -> Tensor:
    """Resize the whole of ``x`` (edge to edge) to ``size`` with the named filter."""
    in_h, in_w = x.shape[-2:]
    if (in_h, in_w) == tuple(size):
        return x
    if filter == "bicubic":
        return imresize(x, size=size)
    return _resize_by_factor(x, (size[0] / in_h, size[1] / in_w), size, filter)


# ----------------------------------------------------------------------------------------------------
# Size policy
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FramePairPolicy:
    """How LR/HR frames whose size ratio is not exactly ``scale`` become training pairs (and how the
    same choice is repeated at inference).

    Policies (chosen explicitly; nothing is resized silently):

    - ``"none"``: the HR frame must be exactly ``scale`` times the LR frame, else an error.
    - ``"resize_lr"``: the HR frame is cropped at its bottom/right to a multiple of ``scale`` (fewer
      than ``scale`` pixels) and the LR frame is resampled to ``HR / scale`` with the named filter,
      using the clip's exact per-axis ratio so the two stay aligned to the pixel. The network learns
      the true HR frames; at inference :meth:`prepare_lr_for_inference` resamples a new LR frame by the
      same factor ``ratio / scale`` before the network.
    - ``"resize_hr"``: the HR frame is resampled to ``LR * scale``. The network learns a
      lower-resolution target; :meth:`finish_output` can resample its output to the native HR size.

    Frames exactly ``scale`` apart are never resized, whatever the policy. With a policy other than
    ``"none"``, a ratio (per axis) more than ``max_ratio_deviation`` (relative) away from ``scale`` is
    an error naming the clip and both sizes: ×3.33 (144p→480p) passes for ``scale=3`` or ``4`` with
    the default 0.25, not for ``scale=2``.

    Filters: ``"bicubic"`` = MATLAB-compatible bicubic (:func:`srlib.ops.imresize`, antialiased when
    shrinking); ``"bilinear"`` = torch-style triangle filter (antialiased when shrinking, as
    ``F.interpolate(..., antialias=True)``); ``"area"`` = exact pixel-area averaging.

    Args:
        scale: the network's integer upscaling factor.
        size_policy: ``"none"``, ``"resize_lr"`` or ``"resize_hr"``.
        filter: ``"bicubic"``, ``"bilinear"`` or ``"area"``.
        max_ratio_deviation: largest allowed ``|ratio / scale - 1|`` per axis.
        ratio: the data's native ``(H_hr / H_lr, W_hr / W_lr)``, needed at inference by
            ``"resize_lr"`` (and by :meth:`finish_output`); :class:`VideoFramePairDataset` fills it in
            from the clips (``dataset.policy``). Not part of the training cache key.

    Shape:
        - apply: lr ``(..., C, h, w)``, hr ``(..., C, H, W)`` -> lr ``(..., C, h', w')``,
          hr ``(..., C, h' * scale, w' * scale)``; uint8 or float, dtype kept.

    Example:
        >>> policy = FramePairPolicy(scale=3, size_policy="resize_lr", filter="bicubic")
        >>> lr, hr = torch.rand(3, 144, 256), torch.rand(3, 480, 854)
        >>> lr2, hr2 = policy.apply(lr, hr)
        >>> tuple(lr2.shape), tuple(hr2.shape)
        ((3, 160, 284), (3, 480, 852))
        >>> infer = FramePairPolicy(scale=3, size_policy="resize_lr", ratio=(480 / 144, 854 / 256))
        >>> infer.prepare_lr_for_inference(lr).shape
        torch.Size([3, 160, 284])
    """

    scale: int
    size_policy: str = "none"
    filter: str = "bicubic"
    max_ratio_deviation: float = 0.25
    ratio: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if int(self.scale) != self.scale or self.scale < 1:
            raise ValueError(f"FramePairPolicy scale must be a positive integer, got {self.scale!r}.")
        object.__setattr__(self, "scale", int(self.scale))
        if self.size_policy not in SIZE_POLICIES:
            raise ValueError(
                f"Unknown size_policy {self.size_policy!r}; choose one of {', '.join(SIZE_POLICIES)}."
            )
        if self.filter not in FILTERS:
            raise ValueError(f"Unknown resize filter {self.filter!r}; choose one of {', '.join(FILTERS)}.")
        if not self.max_ratio_deviation >= 0:
            raise ValueError(f"max_ratio_deviation must be >= 0, got {self.max_ratio_deviation!r}.")
        if self.ratio is not None:
            ratio = tuple(float(r) for r in self.ratio)
            if len(ratio) != 2 or min(ratio) <= 0:
                raise ValueError(
                    f"ratio must be two positive numbers (H_hr/H_lr, W_hr/W_lr), got {self.ratio!r}."
                )
            object.__setattr__(self, "ratio", ratio)

    def cache_fields(self) -> dict[str, Any]:
        """The fields that change the training pairs (everything but ``ratio``)."""
        return {
            "scale": self.scale,
            "size_policy": self.size_policy,
            "filter": self.filter,
            "max_ratio_deviation": self.max_ratio_deviation,
        }

    def check(
        self, lr_size: Sequence[int], hr_size: Sequence[int], name: str = "clip"
    ) -> tuple[float, float]:
        """Validate the sizes ``(h, w)`` / ``(H, W)`` of one pair; returns the ``(H/h, W/w)`` ratio.

        Raises:
            ValueError: sizes not exactly ``scale`` apart under ``"none"``, a ratio beyond
                ``max_ratio_deviation``, or an HR frame too small for one LR pixel.
        """
        (h, w), (H, W), s = (int(v) for v in lr_size), (int(v) for v in hr_size), self.scale
        if min(h, w, H, W) < 1:
            raise ValueError(f"{name}: empty frame (LR {w}x{h}, HR {W}x{H}).")
        ratio = (H / h, W / w)
        if (h * s, w * s) == (H, W):
            return ratio
        sizes = f"LR {w}x{h}, HR {W}x{H} (ratio x{ratio[1]:.3f} wide, x{ratio[0]:.3f} high)"
        if self.size_policy == "none":
            raise ValueError(
                f"{name}: {sizes} are not exactly x{s} apart. Choose an explicit size policy: "
                "size_policy='resize_lr' (resample LR to HR/scale) or 'resize_hr' (resample HR to LR*scale), "
                "with filter='bicubic'|'bilinear'|'area'."
            )
        deviation = max(abs(r / s - 1.0) for r in ratio)
        if deviation > self.max_ratio_deviation:
            raise ValueError(
                f"{name}: {sizes} differ from scale x{s} by {deviation:.1%}, more than "
                f"max_ratio_deviation={self.max_ratio_deviation:g} allows. Use a scale closer to the ratio "
                "or raise max_ratio_deviation."
            )
        if min(H, W) < s:
            raise ValueError(f"{name}: HR frame {W}x{H} is smaller than scale x{s}.")
        return ratio

    def apply(self, lr: Tensor, hr: Tensor, name: str = "clip") -> tuple[Tensor, Tensor]:
        """Turn one LR/HR frame pair (or batch of pairs) into an exact ``scale`` pair.

        Shape:
            - lr: ``(..., C, h, w)``; hr: ``(..., C, H, W)``.
            - output: ``(..., C, h', w')`` and ``(..., C, h' * scale, w' * scale)``.
        """
        (h, w), (H, W), s = lr.shape[-2:], hr.shape[-2:], self.scale
        ratio = self.check((h, w), (H, W), name)
        if (h * s, w * s) == (H, W):
            return lr, hr
        if self.size_policy == "resize_lr":
            out_h, out_w = H // s, W // s
            hr = hr[..., : out_h * s, : out_w * s]
            lr = _resize_by_factor(lr, (ratio[0] / s, ratio[1] / s), (out_h, out_w), self.filter)
            return lr, hr
        return lr, _resize_to(hr, (h * s, w * s), self.filter)

    def _need_ratio(self, what: str) -> tuple[float, float]:
        if self.ratio is None:
            raise ValueError(
                f"FramePairPolicy.{what} needs the data's native size ratio: pass "
                "ratio=(H_hr/H_lr, W_hr/W_lr), e.g. the `policy` of the VideoFramePairDataset you "
                "trained on (it fills ratio in)."
            )
        return self.ratio

    def prepare_lr_for_inference(self, lr: Tensor) -> Tensor:
        """Bring a native LR frame to what the network saw in training (the same policy and filter).

        ``"resize_lr"`` resamples by ``ratio / scale`` per axis (e.g. 256x144 -> 284x160 for a
        144p->480p ×3 model; the same pixels as the training LR frames); the other policies return
        ``lr`` unchanged.

        Shape:
            - lr: ``(..., C, h, w)``.
            - output: ``(..., C, floor(h * ratio_h / scale), floor(w * ratio_w / scale))``.
        """
        if self.size_policy != "resize_lr":
            return lr
        rh, rw = self._need_ratio("prepare_lr_for_inference")
        h, w = lr.shape[-2:]
        fh, fw = rh / self.scale, rw / self.scale
        # floor, as in training (LR frames are resampled to floor(H / scale) there).
        out = (max(1, math.floor(h * fh + 1e-6)), max(1, math.floor(w * fw + 1e-6)))
        if abs(fh - 1) < 1e-12 and abs(fw - 1) < 1e-12:
            return lr
        return _resize_by_factor(lr, (fh, fw), out, self.filter)

    def finish_output(self, sr: Tensor, lr_size: Sequence[int]) -> Tensor:
        """Resample a network output to the native HR size of an LR frame of size ``lr_size``.

        Only ``"resize_hr"`` changes anything (its network outputs ``LR * scale``, not the native
        HR size); with ``"resize_lr"``/``"none"`` the output already has the trained geometry.

        Shape:
            - sr: ``(..., C, h * scale, w * scale)``.
            - output: ``(..., C, round(h * ratio_h), round(w * ratio_w))``.
        """
        if self.size_policy != "resize_hr":
            return sr
        rh, rw = self._need_ratio("finish_output")
        h, w = (int(v) for v in lr_size)
        return _resize_to(sr, (max(1, round(h * rh)), max(1, round(w * rw))), self.filter)


# ----------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameSampling:
    """Which frames are taken from a clip pair, and what counts as a mismatch.

    Args:
        every_n: take HR frames ``offset, offset + every_n, ...`` (decode order = presentation order).
            The sampled frames of one clip are held in memory until its cache is written, so very small
            values on long clips need memory accordingly.
        offset: index of the first sampled HR frame.
        max_frames_per_clip: at most this many pairs per clip (``None``: no limit).
        max_time_offset: drop a pair whose nearest LR frame is more than this many LR frame periods
            from the HR frame's time (0.5: the LR frame must be the one that covers that time).
        mismatch_tolerance: report a clip whose LR and HR frame counts or durations differ by more than
            this fraction (0.02 = 2 %; any difference at all for short clips).
        align_start: measure times from each clip's first frame (encoders may start at different
            timestamps); ``False`` uses the raw presentation times.
    """

    every_n: int = 250
    offset: int = 0
    max_frames_per_clip: int | None = None
    max_time_offset: float = 0.5
    mismatch_tolerance: float = 0.02
    align_start: bool = True

    def __post_init__(self) -> None:
        if int(self.every_n) != self.every_n or self.every_n < 1:
            raise ValueError(f"every_n must be a positive integer, got {self.every_n!r}.")
        if int(self.offset) != self.offset or self.offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {self.offset!r}.")
        if self.max_frames_per_clip is not None and self.max_frames_per_clip < 1:
            raise ValueError(f"max_frames_per_clip must be >= 1 or None, got {self.max_frames_per_clip!r}.")
        if not self.max_time_offset > 0:
            raise ValueError(
                f"max_time_offset must be > 0 (in LR frame periods), got {self.max_time_offset!r}."
            )
        if not self.mismatch_tolerance >= 0:
            raise ValueError(f"mismatch_tolerance must be >= 0, got {self.mismatch_tolerance!r}.")


@dataclass(frozen=True)
class FramePair:
    """One sampled pair at native sizes: ``(H, W, 3)`` uint8 RGB arrays and their times (seconds)."""

    hr_index: int
    hr_time: float
    lr_index: int
    lr_time: float
    lr: np.ndarray
    hr: np.ndarray


@dataclass
class ClipReport:
    """What happened to one clip pair (also stored in its cache manifest).

    Attributes:
        name: the clip name.
        lr_file, hr_file: source file names.
        lr_frames, hr_frames: frames decoded.
        lr_fps, hr_fps: frame rates (from the frame times; the header's when fewer than 2 frames).
        lr_duration, hr_duration: seconds from the first frame to the end of the last.
        lr_size, hr_size: native ``(height, width)``.
        pairs: pairs kept.
        dropped: pairs dropped because no LR frame lay within ``max_time_offset`` periods.
        max_offset: largest |LR time - HR time| among the kept pairs, in seconds.
        warnings: every problem found (also logged).
        cached: loaded from the cache rather than decoded in this run.
    """

    name: str
    lr_file: str
    hr_file: str
    lr_frames: int = 0
    hr_frames: int = 0
    lr_fps: float = 0.0
    hr_fps: float = 0.0
    lr_duration: float = 0.0
    hr_duration: float = 0.0
    lr_size: tuple[int, int] = (0, 0)
    hr_size: tuple[int, int] = (0, 0)
    pairs: int = 0
    dropped: int = 0
    max_offset: float = 0.0
    warnings: list[str] = field(default_factory=list)
    cached: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipReport:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        for key in ("lr_size", "hr_size"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


@dataclass
class _Decoded:
    """Frame times of one decoded clip, and the frames picked from it."""

    times: list[float]
    picks: list[tuple[int, float, np.ndarray]]
    size: tuple[int, int]
    header_fps: float | None
    problems: list[str]

    @property
    def period(self) -> float:
        if len(self.times) >= 2:
            steps = [b - a for a, b in zip(self.times[:-1], self.times[1:], strict=True) if b > a]
            if steps:
                return float(statistics.median(steps))
        return 1.0 / self.header_fps if self.header_fps else 0.04

    @property
    def duration(self) -> float:
        return (self.times[-1] - self.times[0] + self.period) if self.times else 0.0


def _open_video(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading; clear errors for missing, unreadable and video-less files."""
    if not path.is_file():
        raise FileNotFoundError(f"Video file {path} does not exist.")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"Could not open video {path} ({err}). The file is corrupt, truncated (an .mp4 cut short loses "
            "its index) or not a video; re-encode or remove it."
        ) from err
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        raise ValueError(f"Video file {path} has no video stream (its streams: {kinds}).")
    return container


def _header_fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _iter_frames(container: Any, path: Path, problems: list[str]) -> Iterator[tuple[int, float, Any]]:
    """Decoded frames in presentation order as ``(index, time_s, frame)``; a decoding error ends the
    stream with a note in ``problems`` (what was decoded before it is kept)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    fps = _header_fps(stream) or 25.0
    size = None
    index, prev_time, backwards = 0, -math.inf, 0
    try:
        for frame in container.decode(stream):
            if size is None:
                size = (frame.height, frame.width)
            elif size != (frame.height, frame.width):
                raise ValueError(
                    f"Video {path} changes frame size mid-stream ({size[1]}x{size[0]} -> "
                    f"{frame.width}x{frame.height} at frame {index}); re-encode it at one size."
                )
            t = frame.time
            if t is None:  # no timestamp: continue at the header frame rate
                t = prev_time + 1.0 / fps if index else 0.0
            if t <= prev_time:
                backwards += 1
            yield index, float(t), frame
            prev_time = float(t)
            index += 1
    except av.FFmpegError as err:
        problems.append(
            f"{path.name}: decoding stopped after {index} frame(s) ({err}); the file looks truncated or "
            "corrupt, only the frames before that point are used"
        )
    if backwards:
        problems.append(f"{path.name}: {backwards} frame(s) with non-increasing timestamps")


def _truncation_check(decoded: _Decoded, container: Any, path: Path) -> None:
    """Note a clip that ends well before the length its header declares."""
    stream = container.streams.video[0]
    n_declared = int(stream.frames or 0)
    n = len(decoded.times)
    if n_declared and n < n_declared:
        decoded.problems.append(
            f"{path.name}: only {n} of the {n_declared} frames its header declares could be decoded "
            "(truncated?)"
        )
        return
    declared = _declared_duration(container, stream)
    if declared and n and declared - decoded.duration > 1.5 * decoded.period + 0.01 * declared:
        decoded.problems.append(
            f"{path.name}: decoded {decoded.duration:.3f} s of the {declared:.3f} s its header declares "
            "(truncated?)"
        )


def _decode_every_nth(path: Path, sampling: FrameSampling) -> _Decoded:
    """Decode ``path``; keep every ``every_n``-th frame (times relative to the first frame if aligned)."""
    problems: list[str] = []
    times: list[float] = []
    picks: list[tuple[int, float, np.ndarray]] = []
    size = (0, 0)
    with _open_video(path) as container:
        header_fps = _header_fps(container.streams.video[0])
        t0 = None
        for i, t, frame in _iter_frames(container, path, problems):
            if t0 is None:
                t0 = t if sampling.align_start else 0.0
                size = (frame.height, frame.width)
            rt = t - t0
            times.append(rt)
            wanted = i >= sampling.offset and (i - sampling.offset) % sampling.every_n == 0
            if wanted and (sampling.max_frames_per_clip is None or len(picks) < sampling.max_frames_per_clip):
                picks.append((i, rt, frame.to_ndarray(format="rgb24")))
        decoded = _Decoded(times, picks, size, header_fps, problems)
        _truncation_check(decoded, container, path)
    if not times:
        raise ValueError(
            f"No frame of video {path} could be decoded ({'; '.join(problems) or 'empty stream'})."
        )
    return decoded


def _decode_nearest(path: Path, targets: Sequence[float], align_start: bool) -> _Decoded:
    """Decode ``path`` and pick, for each (sorted) target time, the frame with the nearest time.

    Streams through the clip holding only the previous frame: when a frame's time passes a target,
    the target goes to this frame or the previous one, whichever is nearer (the earlier on a tie).
    """
    problems: list[str] = []
    times: list[float] = []
    picks: list[tuple[int, float, np.ndarray]] = []
    converted: dict[int, np.ndarray] = {}
    size = (0, 0)

    def take(i: int, t: float, frame: Any) -> None:
        if i not in converted:
            converted.clear()  # targets are sorted, so an earlier frame is never chosen again
            converted[i] = frame.to_ndarray(format="rgb24")
        picks.append((i, t, converted[i]))

    with _open_video(path) as container:
        header_fps = _header_fps(container.streams.video[0])
        t0, k, prev = None, 0, None
        for i, t, frame in _iter_frames(container, path, problems):
            if t0 is None:
                t0 = t if align_start else 0.0
                size = (frame.height, frame.width)
            rt = t - t0
            times.append(rt)
            while k < len(targets) and rt >= targets[k]:
                if prev is not None and targets[k] - prev[1] <= rt - targets[k]:
                    take(*prev)
                else:
                    take(i, rt, frame)
                k += 1
            if k == len(targets) and picks:
                # Every target is matched; keep counting frames (for the report) without keeping any.
                prev = None
                continue
            prev = (i, rt, frame)
        while k < len(targets) and prev is not None:
            take(*prev)  # targets after the last frame: the last frame (dropped later if too far)
            k += 1
        decoded = _Decoded(times, picks, size, header_fps, problems)
        _truncation_check(decoded, container, path)
    if not times:
        raise ValueError(
            f"No frame of video {path} could be decoded ({'; '.join(problems) or 'empty stream'})."
        )
    return decoded


def sample_frame_pairs(
    lr_path: str | os.PathLike,
    hr_path: str | os.PathLike,
    sampling: FrameSampling | None = None,
    *,
    name: str | None = None,
) -> tuple[list[FramePair], ClipReport]:
    """Decode one LR/HR clip pair and return its frame pairs, matched by presentation time.

    Every ``sampling.every_n``-th HR frame gives a target time; the LR frame nearest to it is its
    partner. Problems (truncation, frame-count or duration mismatch, pairs dropped for lack of an LR
    frame within ``max_time_offset`` periods) are logged as warnings and listed in the report.

    Args:
        lr_path, hr_path: the two encodes of one clip.
        sampling: sampling settings (default :class:`FrameSampling`).
        name: clip name for messages (default: the HR file's stem).

    Returns:
        The pairs (native sizes, ``(H, W, 3)`` uint8) and the :class:`ClipReport`.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file cannot be opened, has no video stream, or has no decodable frame.
    """
    sampling = sampling or FrameSampling()
    lr_path, hr_path = Path(lr_path), Path(hr_path)
    name = name or hr_path.stem
    hr = _decode_every_nth(hr_path, sampling)
    lr = _decode_nearest(lr_path, [t for _, t, _ in hr.picks], sampling.align_start)
    report = ClipReport(
        name=name,
        lr_file=lr_path.name,
        hr_file=hr_path.name,
        lr_frames=len(lr.times),
        hr_frames=len(hr.times),
        lr_fps=round(1.0 / lr.period, 6),
        hr_fps=round(1.0 / hr.period, 6),
        lr_duration=round(lr.duration, 6),
        hr_duration=round(hr.duration, 6),
        lr_size=lr.size,
        hr_size=hr.size,
        warnings=[*hr.problems, *lr.problems],
    )
    tol = sampling.mismatch_tolerance
    if abs(report.lr_frames - report.hr_frames) > tol * max(report.lr_frames, report.hr_frames):
        report.warnings.append(f"frame counts differ: LR {report.lr_frames}, HR {report.hr_frames}")
    if abs(lr.duration - hr.duration) > tol * max(lr.duration, hr.duration) + 1e-6:
        report.warnings.append(f"durations differ: LR {lr.duration:.3f} s, HR {hr.duration:.3f} s")

    limit = sampling.max_time_offset * lr.period + 1e-6
    pairs: list[FramePair] = []
    dropped_at: list[str] = []
    for (hi, ht, harr), (li, lt, larr) in zip(hr.picks, lr.picks, strict=True):
        offset = abs(lt - ht)
        if offset > limit:
            dropped_at.append(f"{ht:.3f}")
            continue
        report.max_offset = max(report.max_offset, round(offset, 6))
        pairs.append(FramePair(hi, ht, li, lt, larr, harr))
    report.pairs, report.dropped = len(pairs), len(dropped_at)
    if dropped_at:
        more = " ..." if len(dropped_at) > 8 else ""
        report.warnings.append(
            f"{len(dropped_at)} sampled HR frame(s) have no LR frame within {sampling.max_time_offset:g} LR "
            f"frame period(s) (HR times {', '.join(dropped_at[:8])}{more} s); those pairs are dropped"
        )
    if not hr.picks:
        report.warnings.append(
            f"no HR frame sampled: the clip has {len(hr.times)} frame(s), sampling starts at frame "
            f"{sampling.offset} (lower offset/every_n for short clips)"
        )
    for message in report.warnings:
        log.warning("Video pair %s: %s", name, message)
    return pairs, report


# ----------------------------------------------------------------------------------------------------
# Clip discovery and the frame cache
# ----------------------------------------------------------------------------------------------------


def _list_videos(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Video folder {folder} does not exist; a paired video dataset needs root/lr and root/hr folders "
            "holding LR and HR encodes with the same names."
        )
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_EXTENSIONS:
            found.setdefault(p.stem, []).append(p)
    twins = [f"{stem}: {', '.join(q.name for q in ps)}" for stem, ps in found.items() if len(ps) > 1]
    if twins:
        raise ValueError(
            f"Video folder {folder} holds several files with the same name: {'; '.join(twins)}. "
            "Keep one encode per clip name."
        )
    return {stem: ps[0] for stem, ps in found.items()}


def find_clip_pairs(
    root: str | os.PathLike, *, lr_dir: str = "lr", hr_dir: str = "hr", strict: bool = True
) -> list[tuple[str, Path, Path]]:
    """Match ``root/lr/NAME.*`` with ``root/hr/NAME.*``; returns sorted ``(NAME, lr_path, hr_path)``.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: no clips, or (with ``strict``) names present in only one folder, all listed at once.
    """
    root = Path(root)
    lr, hr = _list_videos(root / lr_dir), _list_videos(root / hr_dir)
    only_lr, only_hr = sorted(set(lr) - set(hr)), sorted(set(hr) - set(lr))
    if only_lr or only_hr:
        lines = [f"  only in {root / lr_dir}: {lr[n].name}" for n in only_lr]
        lines += [f"  only in {root / hr_dir}: {hr[n].name}" for n in only_hr]
        message = f"{len(lines)} clip(s) under {root} have no partner of the same name:\n" + "\n".join(lines)
        if strict:
            raise ValueError(message + "\nAdd the missing encodes, remove these files, or pass strict=False.")
        log.warning("%s\nThese clips are skipped (strict=False).", message)
    names = sorted(set(lr) & set(hr))
    if not names:
        raise ValueError(
            f"No clip pairs under {root}: {root / lr_dir} and {root / hr_dir} share no file names "
            f"(looked for {', '.join(VIDEO_EXTENSIONS)})."
        )
    return [(n, lr[n], hr[n]) for n in names]


@dataclass
class CachedClip:
    """One clip's cached pairs: its folder, the manifest's frame entries and its report."""

    name: str
    directory: Path
    frames: list[dict[str, Any]]
    report: ClipReport


def _cache_key(name: str, lr: Path, hr: Path, sampling: FrameSampling, policy: FramePairPolicy) -> str:
    def stat(p: Path) -> list[Any]:
        st = p.stat()
        return [p.name, st.st_size, st.st_mtime_ns]

    payload = {
        "version": _CACHE_VERSION,
        "name": name,
        "lr": stat(lr),
        "hr": stat(hr),
        "sampling": dataclasses.asdict(sampling),
        "policy": policy.cache_fields(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "clip"


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_manifest(directory: Path, key: str) -> dict[str, Any] | None:
    """The manifest of a complete cache folder for ``key``, or ``None``."""
    try:
        manifest = json.loads((directory / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _CACHE_VERSION or manifest.get("key") != key:
        return None
    for entry in manifest.get("frames", []):
        if not ((directory / entry["lr"]).is_file() and (directory / entry["hr"]).is_file()):
            return None
    return manifest


def _remove_stale(cache_dir: Path, safe: str, name: str, keep: Path) -> None:
    """Delete this clip's cache folders made for other keys (older sources or settings)."""
    pattern = re.compile(re.escape(safe) + r"-[0-9a-f]{16}")
    for d in cache_dir.iterdir():
        if d == keep or not d.is_dir() or not pattern.fullmatch(d.name):
            continue
        try:
            owner = json.loads((d / _MANIFEST).read_text()).get("name")
        except (OSError, ValueError):
            owner = name  # an unfinished folder of this clip
        if owner == name:
            shutil.rmtree(d, ignore_errors=True)


def _write_clip(
    directory: Path, key: str, name: str, pairs: list[FramePair], report: ClipReport, policy: FramePairPolicy
) -> list[dict[str, Any]]:
    directory.mkdir(parents=True, exist_ok=True)
    frames = []
    for k, pair in enumerate(pairs):
        lr = torch.from_numpy(pair.lr).permute(2, 0, 1)
        hr = torch.from_numpy(pair.hr).permute(2, 0, 1)
        lr, hr = policy.apply(lr, hr, name)
        entry = {
            "hr_index": pair.hr_index,
            "hr_time": pair.hr_time,
            "lr_index": pair.lr_index,
            "lr_time": pair.lr_time,
            "lr": f"lr_{k:05d}.npy",
            "hr": f"hr_{k:05d}.npy",
            "lr_size": list(lr.shape[-2:]),
            "hr_size": list(hr.shape[-2:]),
        }
        for which, t in (("lr", lr), ("hr", hr)):
            array = np.ascontiguousarray(t.numpy())  # (3, H, W): items need no transposition
            _write_atomic(directory / entry[which], lambda f, a=array: np.save(f, a, allow_pickle=False))
        frames.append(entry)
    manifest = {
        "version": _CACHE_VERSION,
        "key": key,
        "name": name,
        "policy": policy.cache_fields(),
        "report": dataclasses.asdict(report),
        "frames": frames,
    }
    _write_atomic(directory / _MANIFEST, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    return frames


def _probe(path: Path) -> tuple[int, int]:
    """Fast header scan: open, find the video stream, return its ``(height, width)``."""
    with _open_video(path) as container:
        ctx = container.streams.video[0].codec_context
        return int(ctx.height), int(ctx.width)


def cache_frame_pairs(
    root: str | os.PathLike,
    *,
    policy: FramePairPolicy,
    sampling: FrameSampling | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = True,
    lr_dir: str = "lr",
    hr_dir: str = "hr",
) -> list[CachedClip]:
    """Make sure every clip pair under ``root`` has its sampled frame pairs in the cache.

    Clips already cached for the same sources and settings are only read (their stored warnings are
    logged again); the others are header-scanned first (all bad files and bad size ratios reported in
    one error), then decoded, sampled, passed through ``policy`` and written.

    Args:
        root: folder holding ``lr_dir`` and ``hr_dir``.
        policy: the size policy (its ``scale`` is the network's).
        sampling: frame sampling settings.
        cache_dir: where the frames go (default ``root/.srlib_frame_cache``).
        strict: raise on unmatched names and bad files (``False``: warn and skip those clips).
        lr_dir, hr_dir: the sub-folder names.

    Returns:
        One :class:`CachedClip` per usable clip, sorted by name.

    Raises:
        ValueError: unmatched names or bad files (with ``strict``), or no usable frame pair at all.
    """
    sampling = sampling or FrameSampling()
    root = Path(root)
    cache_dir = Path(cache_dir) if cache_dir is not None else root / ".srlib_frame_cache"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"Cannot create the frame cache folder {cache_dir} ({err}); pass cache_dir=."
        ) from err

    clips: list[CachedClip] = []
    pending: list[tuple[str, Path, Path, str, Path]] = []
    for name, lr, hr in find_clip_pairs(root, lr_dir=lr_dir, hr_dir=hr_dir, strict=strict):
        key = _cache_key(name, lr, hr, sampling, policy)
        directory = cache_dir / f"{_safe_name(name)}-{key}"
        manifest = _load_manifest(directory, key)
        if manifest is None:
            pending.append((name, lr, hr, key, directory))
            continue
        report = ClipReport.from_dict(manifest["report"])
        report.cached = True
        for message in report.warnings:
            log.warning("Video pair %s (cached): %s", name, message)
        clips.append(CachedClip(name, directory, manifest["frames"], report))

    # Header scan of everything still to decode: every problem in one report, before long decoding.
    problems: list[str] = []
    good = []
    for item in pending:
        name, lr, hr = item[:3]
        try:
            lr_size, hr_size = _probe(lr), _probe(hr)
            if min(*lr_size, *hr_size) > 0:  # some containers only know the size after decoding
                policy.check(lr_size, hr_size, name)
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"  {err}")
            continue
        good.append(item)
    _raise_or_warn(problems, strict, "while scanning the video headers")

    if good:
        log.info("Decoding %d video pair(s) into the frame cache %s", len(good), cache_dir)
    problems = []
    for name, lr, hr, key, directory in good:
        try:
            pairs, report = sample_frame_pairs(lr, hr, sampling, name=name)
            policy.check(report.lr_size, report.hr_size, name)  # decoded sizes, not only the header's
            frames = _write_clip(directory, key, name, pairs, report, policy)
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"  {err}")
            continue
        _remove_stale(cache_dir, _safe_name(name), name, directory)
        clips.append(CachedClip(name, directory, frames, report))
    _raise_or_warn(problems, strict, "while decoding the videos")

    clips.sort(key=lambda c: c.name)
    if not any(c.frames for c in clips):
        raise ValueError(
            f"No usable frame pair from the videos under {root} (every_n={sampling.every_n}); "
            "see the warnings above, or lower every_n for short clips."
        )
    return clips


def _raise_or_warn(problems: list[str], strict: bool, when: str) -> None:
    if not problems:
        return
    message = f"{len(problems)} problem clip(s) found {when}:\n" + "\n".join(problems)
    if strict:
        raise ValueError(message + "\nFix or remove these files (or pass strict=False to skip them).")
    log.warning("%s\nThese clips are skipped (strict=False).", message)


# ----------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------


class VideoFramePairDataset(Dataset):
    """LR/HR frame pairs sampled from paired video encodes, served from a disk cache.

    Set-up decodes each clip pair once (see the module docstring: timestamp matching, reports, size
    policy, atomic cache); items are then read from the memory-mapped cache. With ``patch_size`` an
    item is a random scale-aligned crop (``patch_size`` HR pixels, ``patch_size // scale`` LR pixels)
    with the same random flips/rot90 on both; without it, whole frames (clips of different sizes
    need ``batch_size=1``). Randomness comes from torch's RNG (seeded per worker by the DataLoader).

    Args:
        root: folder with ``lr/`` and ``hr/`` sub-folders of same-named clips.
        scale: integer SR scale.
        patch_size: HR patch side (a multiple of ``scale``) or ``None`` for whole frames.
        every_n: sample every N-th HR frame.
        cache_dir: frame cache folder (default ``root/.srlib_frame_cache``).
        size_policy: ``"none"``, ``"resize_lr"``, ``"resize_hr"`` or a ready :class:`FramePairPolicy`.
        filter: resize filter for the policy (``"bicubic"``, ``"bilinear"``, ``"area"``).
        max_ratio_deviation: see :class:`FramePairPolicy`.
        offset, max_frames_per_clip, max_time_offset, mismatch_tolerance, align_start: see
            :class:`FrameSampling`.
        strict: raise on unmatched names and bad files (``False``: warn and skip).
        augment: random flips/rot90 on patches.
        samples_per_epoch: epoch length (default: one item per cached pair).
        lr_dir, hr_dir: sub-folder names.

    Attributes:
        policy: the :class:`FramePairPolicy`, with ``ratio`` filled in from the clips when they agree;
            keep it (``dataclasses.asdict``) to prepare inputs identically at inference.
        reports: one :class:`ClipReport` per clip.

    Shape:
        - item["lr"]: ``(3, h, w)`` uint8; item["hr"]: ``(3, h * scale, w * scale)`` uint8.

    Example:
        >>> ds = VideoFramePairDataset("data/rutube", scale=4, patch_size=128,  # doctest: +SKIP
        ...                            size_policy="resize_lr", filter="bicubic")
        >>> ds[0]["lr"].shape  # doctest: +SKIP
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        scale: int,
        patch_size: int | None = None,
        every_n: int = 250,
        cache_dir: str | os.PathLike | None = None,
        *,
        size_policy: str | FramePairPolicy = "none",
        filter: str = "bicubic",
        max_ratio_deviation: float = 0.25,
        offset: int = 0,
        max_frames_per_clip: int | None = None,
        max_time_offset: float = 0.5,
        mismatch_tolerance: float = 0.02,
        align_start: bool = True,
        strict: bool = True,
        augment: bool = True,
        samples_per_epoch: int | None = None,
        lr_dir: str = "lr",
        hr_dir: str = "hr",
    ) -> None:
        if isinstance(size_policy, FramePairPolicy):
            if size_policy.scale != scale:
                raise ValueError(
                    f"The FramePairPolicy's scale {size_policy.scale} differs from scale={scale}."
                )
            policy = size_policy
        else:
            policy = FramePairPolicy(
                scale=scale, size_policy=size_policy, filter=filter, max_ratio_deviation=max_ratio_deviation
            )
        if patch_size is not None and (patch_size < scale or patch_size % scale):
            raise ValueError(
                f"patch_size {patch_size} must be a positive multiple of scale {scale} "
                f"(e.g. {max(1, patch_size // scale) * scale})."
            )
        self.sampling = FrameSampling(
            every_n=every_n,
            offset=offset,
            max_frames_per_clip=max_frames_per_clip,
            max_time_offset=max_time_offset,
            mismatch_tolerance=mismatch_tolerance,
            align_start=align_start,
        )
        self.root, self.scale, self.patch_size, self.augment = Path(root), policy.scale, patch_size, augment
        clips = cache_frame_pairs(
            root,
            policy=policy,
            sampling=self.sampling,
            cache_dir=cache_dir,
            strict=strict,
            lr_dir=lr_dir,
            hr_dir=hr_dir,
        )
        self.reports = [c.report for c in clips]
        self.items: list[tuple[str, Path, Path, tuple[int, int]]] = []
        for clip in clips:
            for entry in clip.frames:
                self.items.append(
                    (
                        f"{clip.name}_f{entry['hr_index']:06d}",
                        clip.directory / entry["lr"],
                        clip.directory / entry["hr"],
                        tuple(entry["lr_size"]),
                    )
                )
        if patch_size is not None:
            lp = patch_size // self.scale
            small = sorted(
                {n.rsplit("_f", 1)[0] + f" ({s[1]}x{s[0]})" for n, _, _, s in self.items if min(s) < lp}
            )
            if small:
                raise ValueError(
                    f"LR frames of {len(small)} clip(s) are smaller than the {lp}px LR patch "
                    f"(patch_size={patch_size}, scale={self.scale}): {', '.join(small[:10])}. "
                    "Lower patch_size."
                )
        self.policy = self._with_ratio(policy)
        self._headers: dict[Path, tuple[int, tuple[int, ...]]] = {}
        self.samples_per_epoch = int(samples_per_epoch or len(self.items))

    def _with_ratio(self, policy: FramePairPolicy) -> FramePairPolicy:
        if policy.ratio is not None or not self.reports:
            return policy
        ratios = [
            (r.hr_size[0] / r.lr_size[0], r.hr_size[1] / r.lr_size[1]) for r in self.reports if min(r.lr_size)
        ]
        if not ratios:
            return policy
        first = ratios[0]
        if any(abs(r[0] / first[0] - 1) > 0.01 or abs(r[1] / first[1] - 1) > 0.01 for r in ratios):
            log.warning(
                "The clips' LR/HR size ratios differ (from x%.3f to x%.3f wide); FramePairPolicy.ratio "
                "is left unset, pass it explicitly for inference.",
                min(r[1] for r in ratios),
                max(r[1] for r in ratios),
            )
            return policy
        return dataclasses.replace(policy, ratio=first)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _read(self, path: Path, top: int = 0, left: int = 0, size: int | None = None) -> Tensor:
        """``(3, size, size)`` crop at ``(top, left)`` (the whole array if ``size`` is None) of a
        cached ``.npy``, reading only the rows it needs (np.load's header parsing and memmap set-up
        cost more than the crop itself, so the header is parsed once per file and process)."""
        header = self._headers.get(path)
        if header is None:
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read(f)
                if dtype != np.uint8 or fortran or len(shape) != 3:
                    raise ValueError(
                        f"Frame cache file {path} is not a (3, H, W) uint8 array; delete the cache."
                    )
                header = self._headers[path] = (f.tell(), tuple(shape))
        offset, (c, h, w) = header
        if size is None:
            top, left, rows, cols = 0, 0, h, w
        else:
            rows = cols = size
        out = np.empty((c, rows, w), dtype=np.uint8)
        with open(path, "rb", buffering=0) as f:
            for k in range(c):
                f.seek(offset + (k * h + top) * w)
                if f.readinto(memoryview(out[k]).cast("B")) != rows * w:
                    raise ValueError(
                        f"Frame cache file {path} is truncated; delete the cache folder {path.parent}."
                    )
        if cols != w:
            out = np.ascontiguousarray(out[:, :, left : left + cols])
        return torch.from_numpy(out)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, lr_path, hr_path, (h, w) = self.items[index % len(self.items)]
        s = self.scale
        if self.patch_size is None:
            lr, hr = self._read(lr_path), self._read(hr_path)
        else:
            lp = self.patch_size // s
            top = int(torch.randint(0, h - lp + 1, ()))
            left = int(torch.randint(0, w - lp + 1, ()))
            lr = self._read(lr_path, top, left, lp)
            hr = self._read(hr_path, top * s, left * s, self.patch_size)
        if self.patch_size is not None and self.augment:
            lr, hr = random_augment(lr, hr)
        return {"lr": lr.contiguous(), "hr": hr.contiguous(), "name": name}


# ----------------------------------------------------------------------------------------------------
# DataModule
# ----------------------------------------------------------------------------------------------------


class VideoPairDataModule(SRDataModule):
    """Paired LR/HR video encodes (e.g. Rutube 144p/480p) as a Lightning DataModule.

    :meth:`prepare_data` decodes every clip pair once into the frame cache (on one process);
    :meth:`setup` then reads the cache only. Batches carry their own ``"lr"``, so the base class's
    ``on_after_batch_transfer`` only converts them to float on the device: no synthetic degradation.
    Validation uses whole frames of the clips under ``val_root`` (batch size 1), or the benchmark
    images of ``val_dir`` (bicubic LR) when no ``val_root`` is given. After :meth:`setup`,
    :attr:`policy` is the size policy to use at inference (with the clips' ratio filled in).

    Args:
        root: folder with ``lr/`` and ``hr/`` sub-folders of same-named clips.
        val_root: the same layout for validation clips (optional).
        every_n: sample every N-th HR frame (training clips).
        val_every_n: the same for validation clips (default ``every_n``).
        cache_dir: frame cache folder (default ``root/.srlib_frame_cache``; the validation clips use
            ``val_root/.srlib_frame_cache`` unless it is set).
        size_policy, filter, max_ratio_deviation: see :class:`FramePairPolicy`.
        offset, max_frames_per_clip, max_time_offset, mismatch_tolerance, align_start: see
            :class:`FrameSampling`.
        strict: raise on unmatched names and bad files (``False``: warn and skip).
        **kwargs: see :class:`~srlib.data.datamodules.SRDataModule` (``scale``, ``patch_size``,
            ``batch_size``, ``num_workers``, ``samples_per_epoch``, ``val_dir``).

    Shape:
        - batch after transfer: lr ``(B, 3, p / scale, p / scale)``, hr ``(B, 3, p, p)`` float in [0, 1].
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        val_root: str | os.PathLike | None = None,
        every_n: int = 250,
        val_every_n: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        size_policy: str = "none",
        filter: str = "bicubic",
        max_ratio_deviation: float = 0.25,
        offset: int = 0,
        max_frames_per_clip: int | None = None,
        max_time_offset: float = 0.5,
        mismatch_tolerance: float = 0.02,
        align_start: bool = True,
        strict: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root, self.val_root = Path(root), (Path(val_root) if val_root is not None else None)
        self.every_n = int(every_n)
        self.val_every_n = int(val_every_n) if val_every_n is not None else self.every_n
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        # Validated now, so a bad policy fails when the config is built, not at setup.
        self.policy = FramePairPolicy(
            scale=self.scale, size_policy=size_policy, filter=filter, max_ratio_deviation=max_ratio_deviation
        )
        self.sampling_kwargs = {
            "offset": offset,
            "max_frames_per_clip": max_frames_per_clip,
            "max_time_offset": max_time_offset,
            "mismatch_tolerance": mismatch_tolerance,
            "align_start": align_start,
        }
        FrameSampling(every_n=self.every_n, **self.sampling_kwargs)
        self.strict = strict

    def _cache_for(self, sub: str) -> Path | None:
        return self.cache_dir / sub if self.cache_dir is not None else None

    def prepare_data(self) -> None:
        """Decode the clips into the frame cache (once; later calls and runs only check it)."""
        jobs = [(self.root, self.every_n, "train")]
        if self.val_root is not None:
            jobs.append((self.val_root, self.val_every_n, "val"))
        for root, every_n, sub in jobs:
            cache_frame_pairs(
                root,
                policy=self.policy,
                sampling=FrameSampling(every_n=every_n, **self.sampling_kwargs),
                cache_dir=self._cache_for(sub),
                strict=self.strict,
            )

    def _dataset(self, root: Path, every_n: int, sub: str, **kwargs: Any) -> VideoFramePairDataset:
        return VideoFramePairDataset(
            root,
            self.scale,
            every_n=every_n,
            cache_dir=self._cache_for(sub),
            size_policy=self.policy,
            strict=self.strict,
            **self.sampling_kwargs,
            **kwargs,
        )

    def build_train_dataset(self) -> Dataset:
        dataset = self._dataset(
            self.root,
            self.every_n,
            "train",
            patch_size=self.patch_size,
            samples_per_epoch=self.samples_per_epoch,
        )
        self.policy = dataset.policy
        return dataset

    def build_val_dataset(self) -> Dataset | None:
        if self.val_root is None:
            return super().build_val_dataset()
        return self._dataset(self.val_root, self.val_every_n, "val", patch_size=None, augment=False)
