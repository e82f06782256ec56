"""PSNR and SSIM under the standard SR evaluation protocol (functional form).

The published SR tables were computed in MATLAB, so the details below are part of the metric:

* images are 8-bit: outputs are clamped and rounded to ``uint8`` levels (``quantize=True``);
* colour images are compared on BT.601 studio-range Y (16-235) rounded to integers, as
  MATLAB's ``rgb2ycbcr`` returns for ``uint8`` input;
* a grayscale ground truth (one channel, e.g. Set14's bridge) is compared on its own gray values,
  the output reduced to gray by averaging its channels;
* ``crop_border`` pixels (the scale, by convention) are ignored at each border;
* SSIM is Wang et al.'s: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid filtering, on
  the 0-255 range.

Inputs are float tensors in [0, 1] of shape ``(B, C, H, W)``; results are per image (``B``,) or
their mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["prepare_for_protocol", "psnr", "psnr_prepared", "ssim", "ssim_prepared"]

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def _check_pair(sr: Tensor, hr: Tensor) -> None:
    if sr.ndim != 4 or hr.ndim != 4:
        raise ValueError(
            f"Metrics expect (B, C, H, W) tensors; got sr {tuple(sr.shape)} and hr {tuple(hr.shape)}."
        )
    if sr.shape[0] != hr.shape[0] or sr.shape[-2:] != hr.shape[-2:]:
        raise ValueError(
            f"Output and ground truth differ in batch or size: sr {tuple(sr.shape)} vs hr {tuple(hr.shape)}. "
            "Modcrop the ground truth to a multiple of the scale before making the LR input."
        )
    if sr.shape[1] not in (1, 3) or hr.shape[1] not in (1, 3):
        raise ValueError(f"Metrics expect 1 or 3 channels; got sr {sr.shape[1]} and hr {hr.shape[1]}.")


def _to_8bit(x: Tensor, quantize: bool) -> Tensor:
    x = x.detach().to(torch.float64).clamp(0.0, 1.0) * 255.0
    return x.round() if quantize else x


def _luma(x255: Tensor, quantize: bool) -> Tensor:
    w = torch.tensor(_Y_WEIGHTS, dtype=x255.dtype, device=x255.device).view(1, 3, 1, 1)
    y = 16.0 + (x255 * w).sum(dim=1, keepdim=True) / 255.0
    return y.round() if quantize else y


def prepare_for_protocol(
    sr: Tensor, hr: Tensor, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True
) -> tuple[Tensor, Tensor]:
    """Bring an output/ground-truth pair to what the protocol compares (float64, 0-255 range).

    Returns:
        ``(sr, hr)`` with 1 channel (Y or gray) when ``y_channel`` or a gray ground truth, else
        3 channels; ``crop_border`` pixels removed at each side.
    """
    _check_pair(sr, hr)
    sr8, hr8 = _to_8bit(sr, quantize), _to_8bit(hr, quantize)
    if hr8.shape[1] == 1:
        if sr8.shape[1] == 3:
            sr8 = sr8.mean(dim=1, keepdim=True)
            sr8 = sr8.round() if quantize else sr8
    elif sr8.shape[1] == 1:
        raise ValueError("A 1-channel output cannot be scored against an RGB ground truth.")
    elif y_channel:
        sr8, hr8 = _luma(sr8, quantize), _luma(hr8, quantize)
    if crop_border > 0:
        c = int(crop_border)
        if sr8.shape[-1] <= 2 * c or sr8.shape[-2] <= 2 * c:
            raise ValueError(f"Image of size {tuple(sr8.shape[-2:])} is too small to crop {c} border pixels.")
        sr8, hr8 = sr8[..., c:-c, c:-c], hr8[..., c:-c, c:-c]
    return sr8, hr8


def psnr(
    sr: Tensor,
    hr: Tensor,
    *,
    crop_border: int = 0,
    y_channel: bool = True,
    quantize: bool = True,
    reduction: str = "mean",
) -> Tensor:
    """Peak signal-to-noise ratio in dB under the SR protocol.

    Args:
        sr: model output, float in [0, 1].
        hr: ground truth, float in [0, 1] (1 channel for a grayscale image).
        crop_border: pixels ignored at each border (use the scale).
        y_channel: compare on BT.601 studio-range Y (ignored for gray ground truth).
        quantize: round both images to 8-bit levels first (the protocol does).
        reduction: ``"mean"`` over the batch or ``"none"`` for per-image values.

    Shape:
        - sr: ``(B, 3 or 1, H, W)``; hr: ``(B, 3 or 1, H, W)``; output: scalar or ``(B,)``.

    Example:
        >>> hr = torch.full((1, 3, 8, 8), 128 / 255)  # exactly on an 8-bit level
        >>> round(float(psnr(hr + 1 / 255, hr)), 2)  # one level off everywhere: 20 log10(255)
        48.13
    """
    a, b = prepare_for_protocol(sr, hr, crop_border=crop_border, y_channel=y_channel, quantize=quantize)
    return _reduce(psnr_prepared(a, b), reduction)


def psnr_prepared(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR of a pair already passed through :func:`prepare_for_protocol`."""
    mse = ((a - b) ** 2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).float()


def _gaussian_1d(device: torch.device, size: int = 11, sigma: float = 1.5) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    sr: Tensor,
    hr: Tensor,
    *,
    crop_border: int = 0,
    y_channel: bool = True,
    quantize: bool = True,
    reduction: str = "mean",
) -> Tensor:
    """Structural similarity (Wang et al. 2004) under the SR protocol; arguments as :func:`psnr`.

    For 3-channel comparisons (``y_channel=False``) the per-channel SSIMs are averaged.

    Shape:
        - sr, hr: ``(B, C, H, W)``; output: scalar or ``(B,)``.

    Example:
        >>> x = torch.rand(1, 3, 32, 32)
        >>> float(ssim(x, x))
        1.0
    """
    a, b = prepare_for_protocol(sr, hr, crop_border=crop_border, y_channel=y_channel, quantize=quantize)
    return _reduce(ssim_prepared(a, b), reduction)


def ssim_prepared(a: Tensor, b: Tensor) -> Tensor:
    """Per-image SSIM of a pair already passed through :func:`prepare_for_protocol`."""
    if a.shape[-1] < 11 or a.shape[-2] < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after cropping; got {tuple(a.shape[-2:])}.")
    channels = a.shape[1]
    g = _gaussian_1d(a.device)
    # The 11x11 Gaussian is separable: two 1-D valid convolutions give the same result, faster.
    rows, cols = (
        g.view(1, 1, 11, 1).expand(channels, 1, 11, 1),
        g.view(1, 1, 1, 11).expand(channels, 1, 1, 11),
    )
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(x, rows, groups=channels), cols, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(dim=1).float()


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}.")
