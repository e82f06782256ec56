"""The standard SR test protocol in one place: the LR input and the scores.

Every path that reports protocol numbers (``python -m srlib.evaluate``, ``SRModule.test_step``
through the DataModule's LR, the training's final evaluation) goes through these helpers, so
their numbers cannot drift apart:

* :func:`protocol_pair`: modcrop the 8-bit ground truth and make the LR input with
  MATLAB-compatible bicubic on ``uint8`` (:func:`make_lr`), as float tensors in [0, 1];
* :func:`protocol_scores`: per-image PSNR and SSIM of an output against its ground truth
  (8-bit quantised, BT.601 Y or gray, ``crop_border`` pixels ignored).
"""

from __future__ import annotations

from torch import Tensor

from srlib.metrics.functional import prepare_for_protocol, psnr_prepared, ssim_prepared
from srlib.ops import imresize

__all__ = ["make_lr", "modcrop", "protocol_lr", "protocol_pair", "protocol_scores"]


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


def protocol_lr(hr_uint8: Tensor, scale: int) -> Tensor:
    """The protocol's LR input as a model takes it: :func:`make_lr`, float RGB in [0, 1].

    A gray ground truth gives a gray LR repeated to three channels (the model contract is RGB).

    Args:
        hr_uint8: modcropped ``uint8`` ground truth.
        scale: downscaling factor.

    Shape:
        - hr_uint8: ``(..., C, H, W)`` with ``C`` 1 or 3; output ``(..., 3, H/scale, W/scale)`` float32.

    Example:
        >>> hr = torch.full((1, 8, 8), 200, dtype=torch.uint8)
        >>> lr = protocol_lr(hr, 2)
        >>> tuple(lr.shape), round(float(lr.max() * 255))
        ((3, 4, 4), 200)
    """
    lr = make_lr(hr_uint8, scale).float().div_(255.0)
    if lr.shape[-3] == 1:
        lr = lr.repeat_interleave(3, dim=-3)
    return lr


def protocol_pair(image_uint8: Tensor, scale: int) -> tuple[Tensor, Tensor]:
    """``(lr, hr)`` of one 8-bit ground truth: modcrop it, then :func:`protocol_lr`; floats in [0, 1].

    The ground truth keeps its channels (1 for a gray image: the metrics compare gray values).

    Shape:
        - image_uint8: ``(..., C, H, W)`` uint8.
        - lr: ``(..., 3, H'/scale, W'/scale)``; hr: ``(..., C, H', W')`` with ``H' = H - H % scale``.

    Example:
        >>> lr, hr = protocol_pair(torch.zeros(3, 10, 9, dtype=torch.uint8), 4)
        >>> tuple(lr.shape), tuple(hr.shape)
        ((3, 2, 2), (3, 8, 8))
    """
    hr = modcrop(image_uint8, scale)
    return protocol_lr(hr, scale), hr.float().div(255.0)


def protocol_scores(sr: Tensor, hr: Tensor, *, crop_border: int) -> tuple[Tensor, Tensor]:
    """Per-image PSNR (dB) and SSIM of ``sr`` against ``hr`` under the protocol.

    Both are quantised to 8 bit, compared on BT.601 studio-range Y (a gray ground truth on its gray
    values) with ``crop_border`` pixels (the scale, by convention) ignored at each border.

    Shape:
        - sr: ``(B, 3, H, W)``, hr: ``(B, 3 or 1, H, W)``, float in [0, 1]; outputs ``(B,)`` each.

    Example:
        >>> hr = torch.full((2, 3, 16, 16), 128 / 255)
        >>> psnr, ssim = protocol_scores(hr + 1 / 255, hr, crop_border=2)
        >>> [round(float(v), 2) for v in psnr], [round(float(v), 3) for v in ssim]
        ([48.13, 48.13], [1.0, 1.0])
    """
    a, b = prepare_for_protocol(sr, hr, crop_border=crop_border)
    return psnr_prepared(a, b), ssim_prepared(a, b)
