"""Paired LR/HR videos made from still photos: a camera pan over each photo, encoded like an upload.

What training and evaluating a video model needs and no dataset here ships: clips whose frames show the
same detail at different sub-pixel positions. Each photo becomes one clip: a window of the HR frame size
moves over it (1 to 3 HR pixels per frame, so 0.25 to 0.75 LR pixels at x4, bouncing off the edges),
the HR video is encoded almost losslessly (H.264 CRF 12 by default) and the LR one is the antialiased
MATLAB-bicubic downscale encoded like a low-resolution upload (CRF 28 by default), in the Rutube layout
``OUT/hr/NAME.mp4`` + ``OUT/lr/NAME.mp4`` that :class:`~srlib.data.video.VideoPairDataModule` reads.
The LR size may be any size (144p for 480p is a ratio of 3.33: use ``size_policy="resize_lr"``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srlib.data.video.codec import _downscale
from srlib.io.images import list_images, read_image
from srlib.io.video import write_video

__all__ = ["CameraPan", "make_video_pairs", "pan_frames"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraPan:
    """How the camera moves over a photo.

    Args:
        frames: frames per clip.
        min_speed, max_speed: HR pixels per frame along each axis (drawn per clip, with a random sign).
        seed: the clips' random paths (clip ``k`` uses ``seed + k``).
    """

    frames: int = 30
    min_speed: float = 1.0
    max_speed: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames!r}.")
        if not 0 <= self.min_speed <= self.max_speed:
            raise ValueError(f"Need 0 <= min_speed <= max_speed, got {self.min_speed!r}, {self.max_speed!r}.")


def _bounce(position: float, span: int) -> int:
    """A position reflected into ``[0, span]`` (the window bounces off the photo's edges)."""
    if span <= 0:
        return 0
    period = 2 * span
    p = position % period
    return int(np.rint(p if p <= span else period - p))


def pan_frames(
    photo: np.ndarray, size: tuple[int, int], pan: CameraPan, index: int = 0
) -> Iterator[np.ndarray]:
    """``pan.frames`` windows of ``size`` ``(h, w)`` moving over an ``(H, W, 3)`` uint8 photo.

    Raises:
        ValueError: the photo is smaller than the window.
    """
    h, w = size
    height, width = photo.shape[:2]
    if height < h or width < w:
        raise ValueError(
            f"The photo is {width}x{height}, smaller than the {w}x{h} frame; use a smaller --hr-size."
        )
    rng = np.random.default_rng(pan.seed + index)
    speed = rng.uniform(pan.min_speed, pan.max_speed, 2) * rng.choice((-1.0, 1.0), 2)
    start = rng.uniform(0, 1, 2) * (height - h, width - w)
    for t in range(pan.frames):
        top = _bounce(start[0] + speed[0] * t, height - h)
        left = _bounce(start[1] + speed[1] * t, width - w)
        yield photo[top : top + h, left : left + w]


def _tone(seconds: float, rate: int, index: int) -> np.ndarray:
    """A quiet sine tone (a stand-in audio track, so audio passthrough is exercised)."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * (220 + 20 * index) * t)).astype(np.float32)


def make_video_pairs(
    images: str | os.PathLike,
    out: str | os.PathLike,
    *,
    hr_size: tuple[int, int] = (96, 128),
    lr_size: tuple[int, int] | None = None,
    scale: int = 4,
    pan: CameraPan | None = None,
    fps: float = 25.0,
    hr_crf: float = 12,
    lr_crf: float = 28,
    codec: str = "h264",
    preset: str = "medium",
    audio: bool = True,
    limit: int | None = None,
) -> list[str]:
    """Write one HR/LR video pair per photo under ``images`` (see the module docstring).

    Args:
        images: a folder of photos (any srlib-readable format); photos smaller than ``hr_size`` are
            skipped with a warning.
        out: the output root; ``out/hr`` and ``out/lr`` are created. Existing pairs are kept (not
            rewritten).
        hr_size: ``(height, width)`` of the HR frames (even numbers).
        lr_size: ``(height, width)`` of the LR frames (default ``hr_size / scale``).
        scale: used for the default ``lr_size``.
        pan: the :class:`CameraPan`.
        fps: frame rate of both videos.
        hr_crf, lr_crf: H.264/H.265 constant rate factors of the HR and LR encodes.
        codec: ``"h264"`` or ``"h265"``.
        preset: the encoder preset.
        audio: add a quiet tone as an AAC track to both.
        limit: at most this many photos (in name order).

    Returns:
        The clip names written or found.

    Raises:
        ValueError: no photo usable, or bad sizes.
    """
    pan = pan or CameraPan()
    hr_size = (int(hr_size[0]), int(hr_size[1]))
    lr_size = tuple(lr_size) if lr_size is not None else (hr_size[0] // scale, hr_size[1] // scale)
    if min(lr_size) < 2 or lr_size[0] > hr_size[0] or lr_size[1] > hr_size[1]:
        raise ValueError(f"LR size {lr_size} must be at least 2x2 and not larger than the HR size {hr_size}.")
    if any(v % 2 for v in (*hr_size, *lr_size)):
        raise ValueError(f"Frame sizes must be even for yuv420p video, got HR {hr_size} and LR {lr_size}.")
    out = Path(out)
    (out / "hr").mkdir(parents=True, exist_ok=True)
    (out / "lr").mkdir(parents=True, exist_ok=True)
    photos = list_images(images)[: limit if limit else None]
    names = []
    for k, path in enumerate(photos):
        name = path.stem
        hr_path, lr_path = out / "hr" / f"{name}.mp4", out / "lr" / f"{name}.mp4"
        if hr_path.exists() and lr_path.exists():
            names.append(name)
            continue
        photo = np.ascontiguousarray(read_image(path).permute(1, 2, 0).numpy())
        if photo.shape[0] < hr_size[0] or photo.shape[1] < hr_size[1]:
            log.warning(
                "%s (%dx%d) is smaller than the %dx%d frame; skipped.",
                path.name,
                photo.shape[1],
                photo.shape[0],
                hr_size[1],
                hr_size[0],
            )
            continue
        frames = list(pan_frames(photo, hr_size, pan, k))
        sound = _tone(len(frames) / fps, 48_000, k) if audio else None
        options = {"codec": codec, "preset": preset}
        write_video(hr_path, frames, fps=fps, audio=sound, crf=hr_crf, **options)
        write_video(
            lr_path, (_downscale(f, lr_size) for f in frames), fps=fps, audio=sound, crf=lr_crf, **options
        )
        names.append(name)
    if not names:
        raise ValueError(
            f"No photo under {images} is at least {hr_size[1]}x{hr_size[0]}; use a smaller hr_size."
        )
    log.info(
        "%d video pair(s) in %s (HR %dx%d, LR %dx%d)",
        len(names),
        out,
        hr_size[1],
        hr_size[0],
        lr_size[1],
        lr_size[0],
    )
    return names
