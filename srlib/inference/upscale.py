"""Upscale images with any srlib model: tensors, PIL images, files and whole folders.

Everything runs through one :class:`~srlib.inference.engine.Upscaler` (device, precision, padding,
tiles) and one :class:`~srlib.inference.output_size.OutputSize` (the final size). Gray images stay
gray; an alpha channel is upscaled on its own (by the model, or by bicubic with ``alpha="bicubic"``)
and re-attached; 16-bit files give 16-bit files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from srlib._fs import walk_files
from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.io.images import IMAGE_EXTENSIONS, check_image_size
from srlib.io.pictures import FORMATS, Picture, picture_from_pil, read_picture, write_picture
from srlib.ops import imresize

__all__ = ["FolderReport", "upscale", "upscale_file", "upscale_folder", "upscale_picture"]

log = logging.getLogger(__name__)

ALPHA_MODES = ("model", "bicubic")


def _as_upscaler(model: nn.Module | Upscaler, **options) -> Upscaler:
    if isinstance(model, Upscaler):
        return model
    return Upscaler(model, **options)


def upscale_picture(
    picture: Picture, upscaler: Upscaler, *, output: OutputSize | None = None, alpha: str = "model"
) -> Picture:
    """Upscale a :class:`Picture`: colour through the model, alpha by ``alpha`` (``"model"`` or
    ``"bicubic"``), both to the same final size."""
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {ALPHA_MODES}, got {alpha!r}.")
    output = output or OutputSize()
    rgb = output.run(picture.rgb[None], upscaler)[0]
    if picture.gray:
        rgb = rgb.mean(dim=0, keepdim=True).expand(3, -1, -1).contiguous()
    out_alpha = None
    if picture.alpha is not None:
        a = picture.alpha[None]
        if alpha == "model":
            out_alpha = output.run(a.expand(-1, 3, -1, -1), upscaler)[0].mean(dim=0, keepdim=True)
        else:
            out_alpha = imresize(a, size=rgb.shape[-2:]).clamp(0, 1)[0]
    return Picture(rgb=rgb, alpha=out_alpha, bits=picture.bits, gray=picture.gray)


def _to_float(image: Tensor) -> tuple[Tensor, int]:
    """uint8 (/255), integers holding 16-bit values (/65535) or float -> float32, and the bit depth."""
    if image.dtype == torch.uint8:
        return image.float() / 255.0, 8
    if not image.is_floating_point():
        return image.to(torch.int64).float() / 65535.0, 16
    return image.float(), 8


def _from_float(x: Tensor, dtype: torch.dtype) -> Tensor:
    if dtype == torch.uint8:
        return (x * 255.0).round().to(torch.uint8)
    if not dtype.is_floating_point:
        return (x * 65535.0).round().to(dtype)
    return x.to(dtype)


def _tensor_picture(image: Tensor) -> Picture:
    """``(C, H, W)`` with C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA -> :class:`Picture`."""
    x, bits = _to_float(image)
    c = x.shape[0]
    if c not in (1, 2, 3, 4):
        raise ValueError(f"upscale takes 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels; got {c}.")
    gray = c in (1, 2)
    rgb = x[:1].expand(3, -1, -1) if gray else x[:3]
    return Picture(rgb=rgb.contiguous(), alpha=x[-1:] if c in (2, 4) else None, bits=bits, gray=gray)


def _picture_tensor(picture: Picture) -> Tensor:
    """The planes of a :class:`Picture` as one float ``(C, H, W)`` tensor (gray as one channel)."""
    planes = [picture.rgb[:1] if picture.gray else picture.rgb]
    if picture.alpha is not None:
        planes.append(picture.alpha)
    return torch.cat(planes)


def _picture_pil(picture: Picture) -> Image.Image:
    if picture.bits == 16 and picture.gray and picture.alpha is None:
        array = (picture.rgb[0] * 65535).round().numpy().astype(np.uint16)
        return Image.fromarray(array)
    array = _from_float(_picture_tensor(picture), torch.uint8).numpy().transpose(1, 2, 0)
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def upscale(
    image: Tensor | Image.Image | str | os.PathLike,
    model: nn.Module | Upscaler,
    *,
    dtype: str | torch.dtype | None = "auto",
    device: str | torch.device | None = None,
    tile: int | None = None,
    tile_overlap: int = 16,
    output: OutputSize | None = None,
    alpha: str = "model",
    max_pixels: int | None = None,
) -> Tensor | Image.Image:
    """Super-resolve one image (or a batch of tensors).

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)`` tensor (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; float
            in [0, 1], uint8, or integers holding 16-bit values), a PIL image, or an image file path.
        model: any srlib-contract model, or a prepared :class:`Upscaler` (then ``dtype``, ``device``
            and the tile options are its own).
        dtype: ``"auto"`` (default: bf16/fp16 only where the device computes it natively, and only for
            models that support it), ``"bf16"``, ``"fp16"``, ``"fp32"``, a ``torch.dtype`` or ``None``.
        device: where to run (default: the model's device).
        tile, tile_overlap: run in tiles of ``tile`` input pixels sharing ``tile_overlap`` (bounded
            memory; blended seams).
        output: the final size (:class:`OutputSize`: ``outscale``, ``size``, ``height``, ``filter``,
            ``policy``); default: the model's scale.
        alpha: how an alpha channel is upscaled: ``"model"`` or ``"bicubic"``.
        max_pixels: pixel limit for a file or PIL input (default ``$SRLIB_MAX_IMAGE_PIXELS`` or 100 MP).

    Returns:
        The same kind as the input: a tensor of the input's dtype, rank and channel count, or a PIL
        image (RGBA stays RGBA, 16-bit gray stays 16-bit); a path gives a tensor (uint8, or int32 holding
        16-bit values).

    Raises:
        ImageTooLargeError: a file or PIL image over the pixel limit (a ``ValueError``).
        ValueError: a bad shape, channel count, tile or precision for this model.

    Shape:
        - image: ``(C, H, W)`` or ``(B, C, H, W)``; output ``(C, H', W')`` or ``(B, C, H', W')``.

    Example:
        >>> import srlib
        >>> upscale(torch.rand(3, 8, 8), srlib.create_model("bicubic", scale=2)).shape
        torch.Size([3, 16, 16])
        >>> upscale(torch.rand(4, 8, 8), srlib.create_model("bicubic", scale=2)).shape  # RGBA
        torch.Size([4, 16, 16])
    """
    upscaler = _as_upscaler(model, dtype=dtype, device=device, tile=tile, tile_overlap=tile_overlap)
    if isinstance(image, (str, os.PathLike)):
        picture = read_picture(image, max_pixels=max_pixels)
        sr = _picture_tensor(upscale_picture(picture, upscaler, output=output, alpha=alpha))
        return _from_float(sr, torch.uint8 if picture.bits == 8 else torch.int32)
    if isinstance(image, Image.Image):
        check_image_size(getattr(image, "filename", "") or "<PIL image>", *image.size, max_pixels)
        return _picture_pil(upscale_picture(picture_from_pil(image), upscaler, output=output, alpha=alpha))
    if not isinstance(image, Tensor):
        raise TypeError(f"upscale takes a tensor, a PIL image or a path; got {type(image).__name__}.")
    if image.ndim not in (3, 4):
        raise ValueError(f"upscale expects (C, H, W) or (B, C, H, W); got shape {tuple(image.shape)}.")
    batch = image if image.ndim == 4 else image[None]
    if batch.shape[1] == 3 and output is None:  # plain RGB: the whole batch in one call
        out = _from_float(upscaler(_to_float(batch)[0]), image.dtype)
    else:
        out = torch.stack(
            [
                _from_float(
                    _picture_tensor(
                        upscale_picture(_tensor_picture(item), upscaler, output=output, alpha=alpha)
                    ),
                    image.dtype,
                )
                for item in batch
            ]
        )
    return out if image.ndim == 4 else out[0]


def upscale_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model: nn.Module | Upscaler,
    *,
    output: OutputSize | None = None,
    alpha: str = "model",
    max_pixels: int | None = None,
    overwrite: bool = False,
    video_options: dict | None = None,
) -> Path:
    """Read ``src``, upscale it and write ``dst`` atomically (its suffix picks the format).

    A video file goes through :func:`srlib.inference.upscale_video` (``video_options``: ``batch_size``,
    ``codec``, ``crf``, ``preset``).

    Raises:
        ValueError: ``dst`` is ``src``, exists without ``overwrite``, or cannot hold the image (alpha
            into JPEG); or any reading/upscaling problem (named).
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"{dst} is the input file; choose another output path so the original is kept.")
    if dst.exists() and not overwrite:
        raise ValueError(f"{dst} exists; pass --overwrite (overwrite=True) to replace it.")
    upscaler = _as_upscaler(model)
    from srlib.io.video import VIDEO_EXTENSIONS

    if src.suffix.lower() in VIDEO_EXTENSIONS:
        from srlib.inference.video import upscale_video

        options = {"progress": False, **(video_options or {})}
        options.setdefault("max_pixels", max_pixels)
        return upscale_video(src, dst, upscaler, output=output, overwrite=overwrite, **options).dst
    picture = upscale_picture(read_picture(src, max_pixels=max_pixels), upscaler, output=output, alpha=alpha)
    return write_picture(dst, picture)


@dataclass
class FolderReport:
    """What :func:`upscale_folder` did with each file."""

    written: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: counts and time."""
        return (
            f"{len(self.written)} written, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s"
        )


def folder_pairs(
    src: str | os.PathLike, dst: str | os.PathLike, *, suffix: str | None = None, recursive: bool = False
) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs for every image and video of ``src``, mirrored under ``dst``.

    ``suffix`` sets the images' output format (videos keep theirs); hidden files and folders are skipped.
    ``src`` is walked once by :func:`srlib._fs.walk_files` (loop-safe: a folder reached again through a
    symbolic link is skipped and counted), so every input is paired once.

    Raises:
        ValueError: ``dst`` is ``src`` itself, an unknown output suffix, or nothing to upscale in ``src``.
    """
    from srlib.io.video import VIDEO_EXTENSIONS

    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ValueError(f"OUT {dst} is the input folder; choose another folder so the originals are kept.")
    if suffix is not None:
        suffix = suffix if suffix.startswith(".") else f".{suffix}"
        if suffix.lower() not in FORMATS:
            raise ValueError(f"Unknown output format {suffix!r}; use one of {sorted(FORMATS)}.")
    image_suffixes = tuple(s for s in IMAGE_EXTENSIONS if s in FORMATS)
    files = walk_files(src, recursive=recursive, suffixes=image_suffixes + tuple(VIDEO_EXTENSIONS))
    images = [p for p in files if p.suffix.lower() in image_suffixes]
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    if not images and not videos:
        kinds = ", ".join(sorted(FORMATS) + list(VIDEO_EXTENSIONS))
        raise ValueError(f"{src} holds no images or videos srlib can upscale ({kinds}).")
    pairs = [(v, dst / v.relative_to(src)) for v in videos]
    for image in images:
        out = dst / image.relative_to(src)
        pairs.append((image, out.with_suffix(suffix) if suffix else out))
    return sorted(pairs)


def upscale_folder(
    pairs: Sequence[tuple[Path, Path]],
    model: nn.Module | Upscaler,
    *,
    output: OutputSize | None = None,
    alpha: str = "model",
    max_pixels: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    video_options: dict | None = None,
    skip: Callable[[Path], str | None] | None = None,
) -> FolderReport:
    """Upscale every ``(src, dst)`` pair; a bad file is recorded and the others are still written.

    Existing outputs are skipped (a re-run continues where it stopped) unless ``overwrite``.
    ``skip(src)`` returns a reason to leave a file alone (listed in ``report.skipped``) or ``None`` to
    upscale it; an error it raises marks the file failed. ``python -m srlib.upscale --only-pixelated``
    passes ``srlib.detect.clean_image_check(...)`` (upscale only what a pixelation detector flags).
    """
    upscaler = _as_upscaler(model)
    report = FolderReport()
    start = time.perf_counter()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("upscaling", total=len(pairs))
        for src, dst in pairs:
            bar.update(task, description=f"upscaling {src.name}")
            if dst.exists() and not overwrite:
                report.skipped.append((src, f"{dst} exists"))
            else:
                try:
                    reason = skip(src) if skip is not None else None
                    if reason is not None:
                        report.skipped.append((src, reason))
                        bar.advance(task)
                        continue
                    upscale_file(
                        src,
                        dst,
                        upscaler,
                        output=output,
                        alpha=alpha,
                        max_pixels=max_pixels,
                        overwrite=True,
                        video_options=video_options,
                    )
                    report.written.append((src, dst))
                except (OSError, ValueError) as err:
                    log.debug("%s failed: %s", src, err)
                    report.failed.append((src, str(err)))
            bar.advance(task)
    report.seconds = time.perf_counter() - start
    return report
