"""ITU-R BT.601 studio-range colour conversion, as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb``.

Y lies in [16, 235] and Cb/Cr in [16, 240] (in 8-bit units); the SR protocol measures PSNR/SSIM on
this Y. kornia's ``rgb_to_ycbcr`` is full range (JPEG), which is a different conversion.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]

# Rows: Y, Cb, Cr; columns: R, G, B; for RGB in [0, 1] and output in 8-bit units.
_RGB_TO_YCBCR = torch.tensor(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=torch.float64,
)
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def _check_rgb(image: Tensor) -> None:
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ValueError(f"Expected an RGB tensor of shape (..., 3, H, W); got shape {tuple(image.shape)}.")


def _apply(matrix: Tensor, image: Tensor) -> Tensor:
    m = matrix.to(device=image.device, dtype=image.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, image)


def rgb_to_ycbcr(image: Tensor) -> Tensor:
    """RGB in [0, 1] to studio-range YCbCr scaled to [0, 1] (Y in [16/255, 235/255]).

    Shape:
        - image: ``(..., 3, H, W)``; output: same shape.

    Example:
        >>> ycc = rgb_to_ycbcr(torch.ones(1, 3, 2, 2))
        >>> round(float(ycc[0, 0, 0, 0]) * 255, 3)
        235.0
    """
    _check_rgb(image)
    offset = _OFFSET.to(device=image.device, dtype=image.dtype).view(3, 1, 1)
    return (_apply(_RGB_TO_YCBCR, image) + offset) / 255.0


def ycbcr_to_rgb(image: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clamping)."""
    _check_rgb(image)
    offset = _OFFSET.to(device=image.device, dtype=image.dtype).view(3, 1, 1)
    return _apply(_YCBCR_TO_RGB, image * 255.0 - offset)


def rgb_to_y(image: Tensor) -> Tensor:
    """Studio-range luma of RGB in [0, 1], scaled to [0, 1] (16/255 .. 235/255).

    Shape:
        - image: ``(..., 3, H, W)``; output: ``(..., 1, H, W)``.
    """
    _check_rgb(image)
    w = _RGB_TO_YCBCR[0].to(device=image.device, dtype=image.dtype)
    y = (image * w.view(3, 1, 1)).sum(dim=-3, keepdim=True)
    return (y + 16.0) / 255.0
