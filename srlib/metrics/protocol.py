"""The standard SR test-time degradation: modcrop the 8-bit ground truth, MATLAB-bicubic it down."""

from __future__ import annotations

from torch import Tensor

from srlib.ops import imresize

__all__ = ["make_lr", "modcrop"]


def modcrop(image: Tensor, scale: int) -> Tensor:
    """Crop bottom/right so height and width are multiples of ``scale``.

    Shape:
        - image: ``(..., H, W)``; output ``(..., H - H % scale, W - W % scale)``.
    """
    h, w = image.shape[-2:]
    if h < scale or w < scale:
        raise ValueError(f"Image of size {h}x{w} is smaller than the scale {scale}.")
    return image[..., : h - h % scale, : w - w % scale]


def make_lr(hr_uint8: Tensor, scale: int) -> Tensor:
    """LR test input as the literature makes it: ``imresize(HR, 1/scale, 'bicubic')`` on uint8.

    Args:
        hr_uint8: modcropped ``uint8`` ground truth ``(..., C, H, W)``.
        scale: downscaling factor.

    Returns:
        ``uint8`` LR image ``(..., C, H/scale, W/scale)``, rounded after each pass as MATLAB does.
    """
    if hr_uint8.dtype.is_floating_point:
        raise ValueError("make_lr expects the 8-bit ground truth (uint8), not a float tensor.")
    h, w = hr_uint8.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"Ground truth {h}x{w} is not a multiple of scale {scale}; modcrop it first.")
    return imresize(hr_uint8, 1.0 / scale)
