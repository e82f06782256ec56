"""MATLAB-compatible bicubic resizing (``imresize(x, s, 'bicubic')``, antialiased when shrinking).

The SR literature makes low-resolution inputs and computes its bicubic baselines with MATLAB's
``imresize``: Keys' cubic kernel with ``a = -0.5``, the kernel stretched by ``1/s`` when
downscaling (antialiasing), symmetric (mirror) padding at the borders, and for ``uint8`` images a
rounding back to ``uint8`` after each of the two 1-D passes (rows first when both scales are equal).
This module reproduces all of that, on any device, as two small matrix products per image.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["imresize"]


def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (the one MATLAB uses)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def _weights_cpu(in_len: int, out_len: int, scale: float, antialias: bool) -> Tensor:
    """``(out_len, in_len)`` float64 matrix mapping one image line to its resized line."""
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    out_pos = torch.arange(1, out_len + 1, dtype=torch.float64)
    # Centre of each output pixel in input coordinates (1-based, as in MATLAB).
    centre = out_pos / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(centre - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = centre[:, None] - idx
    weights = scale * _cubic(scale * dist) if shrink else _cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Mirror out-of-range taps: MATLAB indexes [1..n, n..1] periodically.
    zero_based = (idx - 1).long() % (2 * in_len)
    zero_based = torch.where(zero_based >= in_len, 2 * in_len - 1 - zero_based, zero_based)
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, zero_based, weights)
    return matrix


def _weights(in_len: int, out_len: int, scale: float, antialias: bool, like: Tensor) -> Tensor:
    dtype = like.dtype if like.is_floating_point() and like.dtype != torch.float16 else torch.float32
    if like.dtype == torch.float64:
        dtype = torch.float64
    return _weights_cpu(in_len, out_len, scale, antialias).to(device=like.device, dtype=dtype)


def imresize(
    image: Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> Tensor:
    """Resize like MATLAB's ``imresize(image, scale, 'bicubic')``.

    Args:
        image: ``(..., H, W)`` tensor; float (any range) or ``uint8``. ``uint8`` input is rounded and
            clamped to ``uint8`` after each 1-D pass, exactly as MATLAB does.
        scale: factor for both sides (``0.5`` halves); output size is ``ceil(H * scale)``.
        size: explicit output ``(height, width)`` instead of ``scale``.
        antialias: stretch the kernel when shrinking (MATLAB's default).

    Returns:
        The resized tensor, same dtype and device.

    Shape:
        - image: ``(..., H, W)``
        - output: ``(..., ceil(H*scale), ceil(W*scale))``

    Example:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> imresize(x, 0.5).shape
        torch.Size([2, 3, 4, 4])
        >>> torch.allclose(imresize(torch.ones(1, 6, 6), 2.0), torch.ones(1, 12, 12))
        True
    """
    if image.ndim < 2:
        raise ValueError(f"imresize needs a tensor of shape (..., H, W); got shape {tuple(image.shape)}.")
    in_h, in_w = image.shape[-2:]
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        scale_h, scale_w = out_h / in_h, out_w / in_w
    elif scale is not None:
        if scale <= 0:
            raise ValueError(f"imresize scale must be positive, got {scale}.")
        scale_h = scale_w = float(scale)
        out_h, out_w = math.ceil(in_h * scale_h - 1e-9), math.ceil(in_w * scale_w - 1e-9)
    else:
        raise ValueError("imresize needs either scale or size.")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"imresize of a {in_h}x{in_w} image by {scale_h:g} gives an empty image.")

    is_uint8 = image.dtype == torch.uint8
    x = image.float() if is_uint8 or image.dtype in (torch.float16, torch.bfloat16) else image
    # MATLAB resizes the dimension with the smaller scale first (rows on a tie).
    order = ("h", "w") if scale_h <= scale_w else ("w", "h")
    for dim in order:
        if dim == "h":
            matrix = _weights(in_h, out_h, scale_h, antialias, x)
            x = torch.matmul(matrix, x)
        else:
            matrix = _weights(in_w, out_w, scale_w, antialias, x)
            x = torch.matmul(x, matrix.T)
        if is_uint8:
            x = x.round().clamp_(0, 255)
    if is_uint8:
        return x.to(torch.uint8)
    return x.to(image.dtype)
