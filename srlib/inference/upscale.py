"""Upscale images with any srlib model (tensor, PIL image or file in; the same kind out)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from srlib.data.image_io import check_image_size, read_image
from srlib.precision import resolve_dtype

__all__ = ["upscale"]


def _device_of(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def _run(model: nn.Module, batch: Tensor, dtype: str | torch.dtype | None) -> Tensor:
    device = _device_of(model)
    run_dtype = resolve_dtype(dtype, device)
    amp = run_dtype in (torch.bfloat16, torch.float16)
    ctx = torch.autocast(device.type, dtype=run_dtype) if amp else nullcontext()
    with torch.inference_mode(), ctx:
        return model(batch.to(device)).float().clamp(0.0, 1.0)


def upscale(
    image: Tensor | Image.Image | str | os.PathLike,
    model: nn.Module,
    *,
    dtype: str | torch.dtype | None = "auto",
    max_pixels: int | None = None,
) -> Tensor | Image.Image:
    """Super-resolve one image (or a batch of tensors) with ``model`` in eval mode.

    Args:
        image: ``(3, H, W)`` or ``(B, 3, H, W)`` tensor (float in [0, 1] or uint8; 1 channel is
            treated as gray), a PIL image, or an image file path.
        model: any srlib-contract model.
        dtype: ``"auto"`` (default: bf16/fp16 autocast only where the model's device computes it
            natively, see :mod:`srlib.precision`), ``"bf16"``, ``"fp16"``, ``"fp32"``, a
            ``torch.dtype``, or ``None`` (float32).
        max_pixels: pixel limit for a file or PIL image input, checked before decoding (default:
            ``$SRLIB_MAX_IMAGE_PIXELS``, else 100 megapixels); see :func:`srlib.data.read_image`.

    Returns:
        A tensor of the input's dtype and rank for tensor input, else a PIL image.

    Raises:
        ImageTooLargeError: a file or PIL image over the pixel limit (a ``ValueError``).

    Shape:
        - image: ``(C, H, W)`` or ``(B, C, H, W)``; output ``(C, H*s, W*s)`` or ``(B, 3, H*s, W*s)``.

    Example:
        >>> import srlib
        >>> upscale(torch.rand(3, 8, 8), srlib.create_model("bicubic", scale=2)).shape
        torch.Size([3, 16, 16])
    """
    model.eval()
    if isinstance(image, (str, os.PathLike)):
        image = read_image(Path(image), max_pixels=max_pixels)
    if isinstance(image, Image.Image):
        check_image_size(getattr(image, "filename", "") or "<PIL image>", *image.size, max_pixels)
        array = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
        sr = upscale(torch.from_numpy(array).permute(2, 0, 1), model, dtype=dtype)
        return Image.fromarray(sr.permute(1, 2, 0).numpy())
    if not isinstance(image, Tensor):
        raise TypeError(f"upscale takes a tensor, a PIL image or a path; got {type(image).__name__}.")
    if image.ndim not in (3, 4):
        raise ValueError(f"upscale expects (C, H, W) or (B, C, H, W); got shape {tuple(image.shape)}.")
    batch = image if image.ndim == 4 else image[None]
    gray = batch.shape[1] == 1
    x = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
    if gray:
        x = x.repeat(1, 3, 1, 1)
    sr = _run(model, x, dtype).cpu()
    if gray:
        sr = sr.mean(dim=1, keepdim=True)
    if image.dtype == torch.uint8:
        sr = (sr * 255.0).round().to(torch.uint8)
    else:
        sr = sr.to(image.dtype)
    return sr if image.ndim == 4 else sr[0]
