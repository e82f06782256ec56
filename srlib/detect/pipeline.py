"""Detect, then correct: upscale only the images a pixelation detector flags.

:func:`clean_image_check` turns a detector into the per-file test ``upscale_folder(...,
skip=...)`` and ``python -m srlib.upscale ... --only-pixelated`` use: it returns the reason to
leave a file alone ("not pixelated (p=0.031)") or ``None`` to upscale it. Videos are always upscaled
(the detector judges still images). A file the detector cannot judge (unreadable, under 64 px) raises,
so the caller lists it as failed rather than guessing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from torch import nn

__all__ = ["clean_image_check", "split_pixelated"]


def clean_image_check(
    detector: nn.Module | str | None = None,
    *,
    threshold: float | None = None,
    dtype: str | None = "auto",
    max_pixels: int | None = None,
) -> Callable[[str | os.PathLike], str | None]:
    """A function ``path -> reason to skip (clean) or None (pixelated: upscale it)``.

    Args:
        detector: a detector module, a registered name or a weight file (default: the shipped
            ``mobilenetv3_canny``).
        threshold: verdict threshold (default: the detector's).
        dtype: inference precision (``"auto"``: bf16 only where native).
        max_pixels: pixel limit of the images read.

    Raises (from the returned function):
        ValueError / OSError: the file cannot be read or is too small to judge.
    """
    from srlib.detect.models import resolve_detector
    from srlib.detect.predict import DetectorRunner, picture_rgb
    from srlib.io.pictures import read_picture
    from srlib.io.video import VIDEO_EXTENSIONS

    if detector is None or isinstance(detector, str):
        detector = resolve_detector(detector or "mobilenetv3_canny", threshold=threshold)
    runner = DetectorRunner(detector, dtype=dtype, threshold=threshold)

    def check(path: str | os.PathLike) -> str | None:
        if Path(path).suffix.lower() in VIDEO_EXTENSIONS:
            return None
        probability = runner.probability(picture_rgb(read_picture(path, max_pixels=max_pixels)))
        if probability > runner.threshold:
            return None
        return f"not pixelated (p={probability:.3f} <= {runner.threshold:.3g})"

    return check


def split_pixelated(
    paths: list[str | os.PathLike], detector: nn.Module | str | None = None, **options
) -> tuple[list[Path], list[tuple[Path, str]], list[tuple[Path, str]]]:
    """``(pixelated, clean with reason, failed with reason)`` for ``paths`` (:func:`clean_image_check`)."""
    check = clean_image_check(detector, **options)
    flagged, clean, failed = [], [], []
    for path in map(Path, paths):
        try:
            reason = check(path)
        except (OSError, ValueError) as err:
            failed.append((path, str(err)))
            continue
        if reason is None:
            flagged.append(path)
        else:
            clean.append((path, reason))
    return flagged, clean, failed
