"""Request parameters, image decoding and encoding for the service (no HTTP here: plain functions).

Every problem with what a client sent is a :class:`BadRequestError` (a ``ValueError`` with the HTTP status
to answer), raised before the model is involved: unknown or malformed parameters, a body that is not
an image or is truncated, an image whose header declares more pixels than the limit (checked before
decoding, by the same :func:`srlib.io.pictures.read_picture` as the upscale CLI), or an output
larger than ``max_output_pixels``.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image

from srlib.inference.output_size import OutputSize
from srlib.io.images import ImageTooLargeError
from srlib.io.pictures import Picture, png16_bytes, read_picture

__all__ = [
    "IMAGE_FORMATS",
    "BadRequestError",
    "ImageParams",
    "check_query",
    "decode_image",
    "encode_image",
    "output_size",
    "parse_image_params",
    "sniff_format",
]

#: Output formats of ``POST /v1/upscale`` and their media types.
IMAGE_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_ALIASES = {"jpg": "jpeg"}
_MAX_OUTSCALE = 16.0
#: Rows converted from float to integers at a time when encoding (bounds the temporary copies).
_BAND_ROWS = 256


class BadRequestError(ValueError):
    """A client error: the message goes back as ``{"error": ...}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_query(query: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """Refuse a query parameter this endpoint does not know (a typo must not be silently ignored).

    Example:
        >>> check_query({"outscale": "2"}, ("outscale", "format"))
        >>> try:
        ...     check_query({"outscal": "2"}, ("outscale",))
        ... except BadRequestError as err:
        ...     print(err)
        Unknown query parameter 'outscal'; this endpoint takes outscale.
    """
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        raise BadRequestError(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {names}; "
            f"this endpoint takes {', '.join(allowed)}."
        )


def _number(query: Mapping[str, str], name: str, kind: Callable, low: float, high: float):
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be a number, got {raw!r}.") from None
    if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        raise BadRequestError(f"{name} must be between {low:g} and {high:g}, got {raw!r}.")
    return value


def output_size(query: Mapping[str, str], policy=None) -> OutputSize:
    """The :class:`OutputSize` of ``outscale`` / ``width`` + ``height`` / ``height`` alone.

    Example:
        >>> output_size({"outscale": "2.5"}).outscale
        2.5
        >>> output_size({"width": "640", "height": "360"}).size
        (640, 360)
    """
    outscale = _number(query, "outscale", float, 1e-3, _MAX_OUTSCALE)
    width = _number(query, "width", int, 1, 65535)
    height = _number(query, "height", int, 1, 65535)
    if outscale is not None and (width is not None or height is not None):
        raise BadRequestError(
            "Give outscale, or width and height, or height alone; not outscale with a size."
        )
    if width is not None and height is None:
        raise BadRequestError("width needs height too (width alone cannot keep the aspect ratio); give both.")
    size = (width, height) if width is not None else None
    return OutputSize(outscale=outscale, size=size, height=height if size is None else None, policy=policy)


@dataclass(frozen=True)
class ImageParams:
    """What ``POST /v1/upscale`` was asked for."""

    output: OutputSize
    format: str | None
    tile: int | None
    alpha: str
    quality: int


IMAGE_QUERY = ("outscale", "width", "height", "format", "tile", "alpha", "quality")


def parse_image_params(query: Mapping[str, str], policy=None) -> ImageParams:
    """Validate the query of ``POST /v1/upscale``.

    Raises:
        BadRequestError: an unknown parameter, or a bad value (named, with the valid ones).

    Example:
        >>> parse_image_params({"format": "jpg", "tile": "64"}).format
        'jpeg'
    """
    check_query(query, IMAGE_QUERY)
    fmt = query.get("format")
    if fmt is not None:
        fmt = _ALIASES.get(fmt.lower(), fmt.lower())
        if fmt not in IMAGE_FORMATS:
            raise BadRequestError(
                f"Unknown format {query['format']!r}; use one of {', '.join(IMAGE_FORMATS)}."
            )
    alpha = query.get("alpha", "model")
    if alpha not in ("model", "bicubic"):
        raise BadRequestError(f"alpha must be 'model' or 'bicubic', got {alpha!r}.")
    tile = _number(query, "tile", int, 0, 8192)
    quality = _number(query, "quality", int, 1, 100)
    return ImageParams(output_size(query, policy), fmt, tile, alpha, 95 if quality is None else quality)


def sniff_format(data: bytes) -> str | None:
    """``png``, ``jpeg`` or ``webp`` from the first bytes, else ``None``.

    Example:
        >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_format(b"GIF89a")
        ('png', None)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _write_all(f: IO[bytes], data: bytes) -> None:
    f.write(data)


def decode_image(
    data: bytes,
    folder: str | os.PathLike,
    max_pixels: int | None,
    *,
    write: Callable[[IO[bytes], bytes], None] = _write_all,
) -> Picture:
    """Decode an uploaded image exactly as the upscale CLI reads a file (header size check first).

    The bytes go to a hidden temporary file in ``folder`` (removed at once) so that
    :func:`~srlib.io.pictures.read_picture` does every check and keeps 16 bits, gray and alpha.

    Args:
        data: the uploaded bytes.
        folder: where the temporary file goes (the worker's uploads folder).
        max_pixels: the pixel limit (``None``: ``$SRLIB_MAX_IMAGE_PIXELS`` or 100 MP).
        write: ``write(file, data)`` (the server passes its :meth:`WorkDir.write_chunk`).

    Raises:
        BadRequestError: empty, not an image, truncated or corrupt (400); over the pixel limit (413).
        OSError: the temporary file could not be written (a full disk: the server answers 507).
    """
    if not data:
        raise BadRequestError("The request has no image (the body is empty).")
    fd, name = tempfile.mkstemp(prefix=".upload.", suffix=".img", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f, data)
    except BaseException:  # a write error is the server's (507 for a full disk), not the client's
        Path(name).unlink(missing_ok=True)
        raise
    try:
        return read_picture(name, max_pixels=max_pixels)
    except ImageTooLargeError as err:
        raise BadRequestError(
            f"The uploaded image is {err.width}x{err.height} ({err.width * err.height / 1e6:.1f} MP), "
            f"over this server's limit of {err.limit:,} pixels (checked from its header, before decoding).",
            413,
        ) from None
    except (ValueError, OSError) as err:  # read_picture's decode errors, or a decoder's own I/O error
        reason = str(err.__cause__ or err).replace(name, "the upload")
        raise BadRequestError(
            f"Could not decode the uploaded image ({reason}); it is not a PNG, JPEG or WebP image, or it is "
            "truncated or corrupt."
        ) from None
    finally:
        Path(name).unlink(missing_ok=True)


def check_output_pixels(size: tuple[int, int], scale: int, output: OutputSize, limit: int) -> None:
    """Refuse an input whose model output or final output would be larger than ``limit`` pixels."""
    h, w = size
    target = output.target(h, w)
    sizes = [(h * scale, w * scale)] + ([target] if target is not None else [])
    for oh, ow in sizes:
        if oh * ow > limit:
            raise BadRequestError(
                f"The output would be {ow}x{oh} ({oh * ow / 1e6:.1f} megapixels), over this server's limit "
                f"of {limit:,} pixels (--max-output-pixels); send a smaller image or a smaller size.",
                413,
            )


def encode_image(picture: Picture, fmt: str, quality: int = 95) -> bytes:
    """A :class:`Picture` as PNG (8 or 16 bits), JPEG or WebP bytes.

    Raises:
        BadRequestError: alpha into JPEG (names the formats that keep it).
    """
    if picture.alpha is not None and fmt == "jpeg":
        raise BadRequestError(
            "The image has an alpha channel, which JPEG cannot store; ask for format=png or webp."
        )
    planes = [picture.rgb[:1] if picture.gray else picture.rgb]
    if picture.alpha is not None:
        planes.append(picture.alpha)
    if picture.bits == 16 and fmt == "png":
        return png16_bytes(_quantised(planes, 65535, np.uint16))
    array = _quantised(planes, 255, np.uint8)
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt in ("jpeg", "webp") else {"compress_level": 1}
    image.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def _quantised(planes: list[torch.Tensor], peak: int, dtype: type) -> np.ndarray:
    """The float planes ``(c, H, W)`` in [0, 1] as one ``(H, W, C)`` integer array, ``_BAND_ROWS`` rows at
    a time: the only full-size copy is the integer result (a whole-image float expression would make
    four float32 copies of the output, 48 bytes a pixel)."""
    h, w = planes[0].shape[-2:]
    channels = sum(p.shape[0] for p in planes)
    out = np.empty((h, w, channels), dtype)
    work = torch.int32 if peak > 255 else torch.uint8
    for top in range(0, h, _BAND_ROWS):
        rows = slice(top, min(top + _BAND_ROWS, h))
        band = torch.cat([p[:, rows] for p in planes]) if len(planes) > 1 else planes[0][:, rows]
        q = band.mul(peak).round_().clamp_(0, peak).to(work)
        out[rows] = q.numpy().transpose(1, 2, 0)
    return out
