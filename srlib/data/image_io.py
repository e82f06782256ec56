"""Image files in and out: the only place srlib deals with file formats and uint8 decoding.

Conversions (documented, never silent errors): palette and CMYK images become RGB; an alpha channel
is dropped (SR works on colour; composite your images first if transparency matters); 16-bit images
are reduced to 8 bit by their top byte; gray images stay one channel with ``channels="keep"`` and are
replicated to RGB with ``channels="rgb"``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageHeader",
    "format_problems",
    "list_images",
    "read_headers",
    "read_image",
    "scan_images",
    "write_image",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass(frozen=True)
class ImageHeader:
    """Size and mode of an image file, read without decoding its pixels."""

    path: Path
    width: int
    height: int
    mode: str


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no image files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder {folder} does not exist (or is not a folder).")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise ValueError(
            f"Image folder {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}). "
            "Point the dataset at the folder that directly contains the image files."
        )
    return paths


def read_headers(paths: Iterable[Path]) -> tuple[list[ImageHeader], list[str]]:
    """Headers of the readable files, and one problem line for every bad file.

    Reads headers only; a PNG is also checked for its final ``IEND`` chunk (a cheap read of the
    file's tail), so truncated PNGs are found here rather than when they are decoded.
    """
    headers, problems = [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                header = ImageHeader(Path(path), img.width, img.height, img.mode)
                fmt = img.format
        except (UnidentifiedImageError, OSError, ValueError) as err:
            problems.append(f"  {path}: not a readable image ({err})")
            continue
        if fmt == "PNG" and not _png_complete(Path(path)):
            problems.append(f"  {path}: truncated PNG (no IEND chunk at the end of the file)")
            continue
        headers.append(header)
    return headers, problems


def _png_complete(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 4096))
        return b"IEND" in fh.read()


def format_problems(lines: list[str], limit: int = 100) -> str:
    """At most ``limit`` problem lines, then a count of the rest."""
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def scan_images(paths: Iterable[Path], *, min_size: int = 0) -> list[ImageHeader]:
    """Read every file's header (fast, no decoding) and report all bad files in one error.

    Args:
        paths: image files.
        min_size: smallest allowed side in pixels (e.g. the HR patch size).

    Raises:
        ValueError: listing each unreadable or truncated file and each image smaller than ``min_size``.
    """
    headers, problems = read_headers(paths)
    problems += [
        f"  {h.path}: {h.width}x{h.height} is smaller than the {min_size}px patch"
        for h in headers
        if min(h.width, h.height) < min_size
    ]
    if problems:
        raise ValueError(
            f"{len(problems)} problem file(s) found while scanning the images:\n"
            + format_problems(problems)
            + "\nRemove or re-export these files (or lower the patch size) and run again."
        )
    return headers


def read_image(path: str | os.PathLike, *, channels: str = "rgb") -> Tensor:
    """Decode an image file to a ``uint8`` tensor.

    Args:
        path: image file.
        channels: ``"rgb"`` (always 3 channels) or ``"keep"`` (1 for gray images, else 3).

    Returns:
        ``(C, H, W)`` uint8 tensor.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is corrupt, truncated or not an image.
    """
    path = Path(path)
    if channels not in ("rgb", "keep"):
        raise ValueError(f"channels must be 'rgb' or 'keep', got {channels!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"Image file {path} does not exist.")
    try:
        with Image.open(path) as img:
            img.load()
            array = _to_uint8_array(img, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(
            f"Could not decode image {path} ({err}); the file is corrupt, truncated or not an image. "
            "Re-export it or remove it from the folder."
        ) from err
    if array.ndim == 2:
        array = array[:, :, None]
    if channels == "rgb" and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return torch.from_numpy(np.array(array.transpose(2, 0, 1), copy=True, order="C"))


def _to_uint8_array(img: Image.Image, path: Path) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img, dtype=np.uint32)
        if mode == "I" and array.max(initial=0) <= 255:
            return array.astype(np.uint8)
        log.debug("%s: 16-bit image reduced to 8 bit", path)
        return (array >> 8).clip(0, 255).astype(np.uint8)
    if mode in ("L", "RGB"):
        return np.asarray(img, dtype=np.uint8)
    if mode in ("1", "LA"):
        if mode == "LA":
            log.debug("%s: alpha channel dropped", path)
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode == "F":
        array = np.asarray(img, dtype=np.float32)
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        return (array * scale).round().clip(0, 255).astype(np.uint8)
    if mode in ("RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        if "A" in mode or "a" in mode or (mode == "P" and "transparency" in img.info):
            log.debug("%s: alpha channel dropped", path)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    raise ValueError(f"Image {path} has the unsupported pixel mode {mode!r}; convert it to RGB PNG first.")


def write_image(path: str | os.PathLike, image: Tensor) -> Path:
    """Write a ``(C, H, W)`` uint8 or [0, 1] float tensor as an image file, atomically.

    The format follows the suffix (PNG recommended: lossless).
    """
    path = Path(path)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"write_image expects a (1 or 3, H, W) tensor, got shape {tuple(image.shape)}.")
    if image.is_floating_point():
        image = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    array = image.detach().cpu().numpy().transpose(1, 2, 0)
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".png", dir=path.parent)
    os.close(fd)
    try:
        pil.save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
