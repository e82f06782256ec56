"""Image files in and out: the only place srlib deals with file formats and uint8 decoding.

Conversions (documented, never silent errors): palette and CMYK images become RGB; an alpha channel
is dropped (SR works on colour; composite your images first if transparency matters); 16-bit images
are reduced to 8 bit by their top byte; gray images stay one channel with ``channels="keep"`` and are
replicated to RGB with ``channels="rgb"``.

Untrusted files: an image is refused from its header, before any pixel is decoded, when it has more
than ``max_pixels`` pixels (default 100 megapixels; raise it per call with ``max_pixels=`` or for the
whole process with the environment variable ``SRLIB_MAX_IMAGE_PIXELS``). Files and folders whose name
starts with ``.`` (macOS ``._photo.png``, srlib's own ``.NAME.*.tmp`` temporary files) are never listed
as images.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from srlib._fs import atomic_write, walk_files

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "ImageHeader",
    "ImageTooLargeError",
    "check_image_size",
    "checking_image_size",
    "format_problems",
    "list_images",
    "max_image_pixels",
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


#: Pixel limit of :func:`read_image` and the header scans (unless ``max_pixels=`` or the variable is set).
DEFAULT_MAX_PIXELS = 100_000_000
#: Environment variable that sets the pixel limit for the whole process (a whole number of pixels).
MAX_PIXELS_ENV = "SRLIB_MAX_IMAGE_PIXELS"


class ImageTooLargeError(ValueError):
    """An image whose header declares more pixels than srlib's limit (refused before decoding)."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, limit: int) -> None:
        self.path, self.width, self.height, self.limit = Path(path), int(width), int(height), int(limit)
        megapixels = self.width * self.height / 1e6
        super().__init__(
            f"Image {self.path} is {self.width}x{self.height} ({megapixels:.1f} megapixels), "
            f"over srlib's limit of {self.limit:,} pixels. If you trust this file, "
            f"raise the limit with max_pixels=... (--max-pixels on the command line) or the environment "
            f"variable {MAX_PIXELS_ENV}=..."
        )

    def __reduce__(self):  # picklable (DataLoader workers, process pools) despite the custom signature
        return type(self), (self.path, self.width, self.height, self.limit)


def max_image_pixels(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` when given, else ``$SRLIB_MAX_IMAGE_PIXELS``, else 100 MP.

    Raises:
        ValueError: the argument or the variable is not a positive whole number.

    Example:
        >>> max_image_pixels(4_000_000)
        4000000
    """
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
            raise ValueError(f"max_pixels must be a positive whole number of pixels, got {max_pixels!r}.")
        return max_pixels
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(
            f"{MAX_PIXELS_ENV}={raw!r} is not a positive whole number of pixels; "
            f"set it like {MAX_PIXELS_ENV}=200000000, or unset it for the default {DEFAULT_MAX_PIXELS:,}."
        )
    return value


def check_image_size(path: str | os.PathLike, width: int, height: int, max_pixels: int | None = None) -> None:
    """Raise :class:`ImageTooLargeError` when ``width * height`` is over the pixel limit.

    Args:
        path: the file the size was read from (named in the error).
        width, height: the size its header declares.
        max_pixels: the limit (default: :func:`max_image_pixels`).
    """
    limit = max_image_pixels(max_pixels)
    if int(width) * int(height) > limit:
        raise ImageTooLargeError(path, width, height, limit)


_pil_lock = threading.Lock()
_pil_users = 0
_pil_saved: int | None = None


@contextmanager
def checking_image_size() -> Iterator[None]:
    """Switch off PIL's own decompression-bomb check while srlib opens a file (srlib checks the size).

    PIL checks inside ``Image.open``, before srlib could name the file; its global limit is restored when
    the last srlib reader leaves (a counter, so concurrent decoding threads do not restore it early).
    """
    global _pil_users, _pil_saved
    with _pil_lock:
        if _pil_users == 0:
            _pil_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pil_users += 1
    try:
        yield
    finally:
        with _pil_lock:
            _pil_users -= 1
            if _pil_users == 0:
                Image.MAX_IMAGE_PIXELS = _pil_saved


def list_images(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Image files inside ``folder``, sorted by path.

    Files and folders whose name starts with ``.`` are skipped (macOS ``._photo.png``, srlib's own
    ``.NAME.*.tmp`` temporary files), and hidden folders are never entered. The walk is
    :func:`srlib._fs.walk_files`: loop-safe, no folder is entered twice (a symbolic link to a folder
    already listed, or above it, is skipped and counted in one warning), so each file is listed once.

    Args:
        folder: the folder to list.
        recursive: also list the images of its sub-folders (default: only the files directly inside).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no image files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder {folder} does not exist (or is not a folder).")
    paths = walk_files(folder, recursive=recursive, suffixes=IMAGE_EXTENSIONS)
    if not paths:
        raise ValueError(
            f"Image folder {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}"
            f"{' in it and its sub-folders' if recursive else ''}; names starting with '.' are skipped). "
            "Point the dataset at the folder that directly contains the image files."
        )
    return paths


def read_headers(
    paths: Iterable[Path], *, max_pixels: int | None = None
) -> tuple[list[ImageHeader], list[str]]:
    """Headers of the readable files, and one problem line for every bad file.

    Reads headers only; a PNG is also checked for its final ``IEND`` chunk (a cheap read of the
    file's tail), so truncated PNGs are found here rather than when they are decoded. An image over the
    pixel limit (``max_pixels``, see :func:`max_image_pixels`) is a problem line too.
    """
    limit = max_image_pixels(max_pixels)
    headers, problems = [], []
    for path in paths:
        try:
            with checking_image_size(), Image.open(path) as img:
                header = ImageHeader(Path(path), img.width, img.height, img.mode)
                fmt = img.format
        except (UnidentifiedImageError, OSError, ValueError) as err:
            problems.append(f"  {path}: not a readable image ({err})")
            continue
        if header.width * header.height > limit:
            problems.append(f"  {ImageTooLargeError(path, header.width, header.height, limit)}")
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


def scan_images(
    paths: Iterable[Path], *, min_size: int = 0, max_pixels: int | None = None
) -> list[ImageHeader]:
    """Read every file's header (fast, no decoding) and report all bad files in one error.

    Args:
        paths: image files.
        min_size: smallest allowed side in pixels (e.g. the HR patch size).
        max_pixels: pixel limit per image (default: :func:`max_image_pixels`).

    Raises:
        ValueError: listing each unreadable or truncated file, each image over the pixel limit and each
            image smaller than ``min_size``.
    """
    headers, problems = read_headers(paths, max_pixels=max_pixels)
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


def read_image(path: str | os.PathLike, *, channels: str = "rgb", max_pixels: int | None = None) -> Tensor:
    """Decode an image file to a ``uint8`` tensor.

    The size is checked from the header first: an image over the pixel limit is never decoded.

    Args:
        path: image file.
        channels: ``"rgb"`` (always 3 channels) or ``"keep"`` (1 for gray images, else 3).
        max_pixels: pixel limit (default: ``$SRLIB_MAX_IMAGE_PIXELS``, else 100 megapixels).

    Returns:
        ``(C, H, W)`` uint8 tensor.

    Raises:
        FileNotFoundError: the file does not exist.
        IsADirectoryError: the path is a folder.
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels (a ``ValueError``).
        ValueError: the file is corrupt, truncated or not an image.
        OSError: the file cannot be read (permission denied, ...).
    """
    path = Path(path)
    if channels not in ("rgb", "keep"):
        raise ValueError(f"channels must be 'rgb' or 'keep', got {channels!r}.")
    limit = max_image_pixels(max_pixels)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not an image file; give the path of an image.")
    if not path.is_file():
        raise FileNotFoundError(f"Image file {path} does not exist.")
    try:
        with checking_image_size(), Image.open(path) as img:
            check_image_size(path, img.width, img.height, limit)
            img.load()
            array = _to_uint8_array(img, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise  # not a decoding problem: permission denied, I/O error, ...
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
    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    return atomic_write(path, lambda f: pil.save(f, format=image_format))
