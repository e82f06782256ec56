"""Image files for upscaling, kept whole: 8 and 16 bits, gray, and alpha.

Training reads images as 8-bit RGB (:func:`srlib.data.read_image`); upscaling must give back what it
was given. :func:`read_picture` keeps the bit depth (16-bit PNG through FFmpeg's PNG decoder in PyAV,
16-bit TIFF through tifffile, 16-bit gray through Pillow), the gray/colour nature and the alpha
channel; :func:`write_picture` writes them back (a 16-bit PNG is encoded here: unfiltered rows,
zlib-compressed, as the PNG specification allows), atomically. A format that cannot hold what the
image has (alpha in JPEG or BMP) is an error naming a format that can, never a silent loss.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from srlib._fs import atomic_write
from srlib.io.images import check_image_size, checking_image_size, max_image_pixels

__all__ = ["Picture", "picture_from_pil", "png16_bytes", "read_picture", "write_picture"]

log = logging.getLogger(__name__)

#: Suffixes srlib upscales, and whether each format keeps alpha / 16 bits.
FORMATS: dict[str, tuple[bool, bool]] = {
    ".png": (True, True),
    ".tif": (True, True),
    ".tiff": (True, True),
    ".webp": (True, False),
    ".jpg": (False, False),
    ".jpeg": (False, False),
    ".bmp": (False, False),
}


@dataclass
class Picture:
    """An image as upscaling sees it.

    Attributes:
        rgb: ``(3, H, W)`` float32 in [0, 1] (gray replicated to three channels).
        alpha: ``(1, H, W)`` float32 in [0, 1], or ``None``.
        bits: 8 or 16 (per channel, as stored).
        gray: whether the file was gray (written back as gray).
    """

    rgb: Tensor
    alpha: Tensor | None = None
    bits: int = 8
    gray: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])


def _from_array(array: np.ndarray, bits: int) -> Picture:
    """``(H, W)`` or ``(H, W, C)`` integer array (C = 1..4) -> :class:`Picture`."""
    if array.ndim == 2:
        array = array[:, :, None]
    top = float(2**bits - 1)
    x = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)).astype(np.float32)) / top
    channels = x.shape[0]
    gray = channels in (1, 2)
    rgb = x[:1].expand(3, -1, -1).clone() if gray else x[:3]
    alpha = x[-1:].clone() if channels in (2, 4) else None
    return Picture(rgb=rgb.contiguous(), alpha=alpha, bits=bits, gray=gray)


def picture_from_pil(img: Image.Image, source: str | os.PathLike = "<PIL image>") -> Picture:
    """A decoded Pillow image as a :class:`Picture` (16-bit gray stays 16-bit; alpha and gray are kept).

    Raises:
        ValueError: a pixel mode srlib does not read.
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return _from_array(np.asarray(img, dtype=np.uint16), 16)
    if mode in ("1", "L", "P", "LA", "PA", "RGBA", "RGB", "CMYK", "YCbCr", "RGBX", "La", "RGBa"):
        has_alpha = "A" in mode or "a" in mode or (mode == "P" and "transparency" in img.info)
        gray = mode in ("1", "L", "LA", "La")
        target = ("LA" if gray else "RGBA") if has_alpha else ("L" if gray else "RGB")
        return _from_array(np.asarray(img.convert(target), dtype=np.uint8), 8)
    raise ValueError(
        f"Image {source} has the pixel mode {mode!r}, which srlib does not read; convert it to PNG."
    )


def _png_bit_depth(path: Path) -> int:
    with path.open("rb") as f:
        head = f.read(26)
    return head[24] if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 25 else 8


def _read_png16(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        name = frame.format.name
        fmt = {"rgb48be": "rgb48le", "rgba64be": "rgba64le", "gray16be": "gray16le", "ya16be": "rgba64le"}
        array = frame.to_ndarray(format=fmt.get(name, "rgba64le"))
    if name == "ya16be":  # gray + alpha: keep one gray channel and the alpha
        array = array[:, :, [0, 3]]
    return array


def _read_tiff(path: Path, limit: int) -> Picture:
    """8/16-bit TIFF (gray, gray+alpha, RGB, RGBA) through tifffile; the size is checked first."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            check_image_size(path, page.imagewidth, page.imagelength, limit)
            array = page.asarray()
    except (tifffile.TiffFileError, ValueError, EOFError) as err:
        if isinstance(err, ValueError) and "megapixels" in str(err):
            raise
        raise _decode_error(path, err) from err
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"TIFF {path} has pixel type {array.dtype}; srlib reads 8 or 16-bit integer images.")
    return _from_array(array, 16 if array.dtype == np.uint16 else 8)


def _decode_error(path: Path, err: Exception) -> ValueError:
    return ValueError(
        f"Could not decode image {path} ({err}); the file is corrupt, truncated or not an image. "
        "Re-export it or remove it from the folder."
    )


def read_picture(path: str | os.PathLike, *, max_pixels: int | None = None) -> Picture:
    """Read an image file with its bit depth, gray/colour nature and alpha channel.

    The size is checked from the header before decoding (see :func:`srlib.data.check_image_size`).

    Raises:
        FileNotFoundError: no such file.
        IsADirectoryError: a folder.
        ImageTooLargeError: over the pixel limit (a ``ValueError``).
        ValueError: corrupt, truncated, empty or not an image.
    """
    path = Path(path)
    limit = max_image_pixels(max_pixels)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not an image file; give the path of an image.")
    if not path.is_file():
        raise FileNotFoundError(f"Image file {path} does not exist.")
    if path.stat().st_size == 0:
        raise ValueError(f"Image file {path} is empty (0 bytes); re-export it or remove it.")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path, limit)
    try:
        with checking_image_size(), Image.open(path) as img:
            check_image_size(path, img.width, img.height, limit)
            if img.format == "PNG" and _png_bit_depth(path) == 16:
                return _from_array(_read_png16(path), 16)
            img.load()
            return picture_from_pil(img, path)
    except (UnidentifiedImageError, SyntaxError, EOFError) as err:
        raise _decode_error(path, err) from err
    except OSError as err:
        if err.errno is not None:
            raise
        raise _decode_error(path, err) from err


def png16_bytes(array: np.ndarray) -> bytes:
    """A 16-bit PNG of an ``(H, W, C)`` uint16 array (C: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA)."""
    h, w, c = array.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(array.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(raw, 6)),
            chunk(b"IEND", b""),
        ]
    )


def write_picture(path: str | os.PathLike, picture: Picture, *, quality: int = 95) -> Path:
    """Write a :class:`Picture` in the format of ``path``'s suffix, atomically.

    16 bits are kept by PNG and TIFF (other formats get 8 bits, with a warning); alpha by PNG, TIFF
    and WebP.

    Raises:
        ValueError: an unknown suffix, or alpha into a format without alpha (names those that have it).

    Example:
        >>> import tempfile
        >>> pic = Picture(torch.rand(3, 4, 5), alpha=torch.rand(1, 4, 5), bits=16)
        >>> back = read_picture(write_picture(tempfile.mkdtemp() + "/a.png", pic))
        >>> back.bits, back.alpha is not None, float((back.rgb - pic.rgb).abs().max()) < 1e-4
        (16, True, True)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"Cannot write {path}: unknown image format {suffix!r}; use one of {sorted(FORMATS)}."
        )
    keeps_alpha, keeps_16 = FORMATS[suffix]
    if picture.alpha is not None and not keeps_alpha:
        raise ValueError(
            f"{path}: the image has an alpha channel, which {suffix} cannot store; write .png, .webp or "
            ".tiff instead, so the transparency is not lost."
        )
    bits = picture.bits if keeps_16 else 8
    if picture.bits == 16 and bits == 8:
        log.warning("%s: %s holds 8 bits per channel; the 16-bit result is reduced to 8 bits", path, suffix)
    planes = [picture.rgb[:1] if picture.gray else picture.rgb]
    if picture.alpha is not None:
        planes.append(picture.alpha)
    top = 2**bits - 1
    array = (torch.cat(planes).clamp(0, 1) * top).round().numpy().transpose(1, 2, 0)
    array = array.astype(np.uint16 if bits == 16 else np.uint8)
    if suffix in (".tif", ".tiff"):
        import tifffile

        buffer = io.BytesIO()  # tifffile wants a named file or a buffer, not a bare descriptor
        tifffile.imwrite(
            buffer,
            array if array.shape[2] > 1 else array[:, :, 0],
            photometric="minisblack" if picture.gray else "rgb",
            extrasamples=["unassalpha"] if picture.alpha is not None else None,
        )
        return atomic_write(path, lambda f: f.write(buffer.getvalue()))
    if bits == 16:
        data = png16_bytes(array)
        return atomic_write(path, lambda f: f.write(data))
    channels = array.shape[2]
    pil = Image.fromarray(array[:, :, 0] if channels == 1 else array)
    image_format = Image.registered_extensions()[suffix]
    options = {"quality": quality} if suffix in (".jpg", ".jpeg", ".webp") else {}
    return atomic_write(path, lambda f: pil.save(f, format=image_format, **options))
