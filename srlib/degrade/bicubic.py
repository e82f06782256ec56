"""Bicubic degradation: the classic SR setting (MATLAB-style antialiased bicubic, then 8-bit)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from srlib.ops import imresize

__all__ = ["BicubicDegradation", "BicubicDegradationConfig", "quantize_8bit"]


def quantize_8bit(x: Tensor) -> Tensor:
    """Round a [0, 1] float tensor to the nearest 8-bit level (kept as float in [0, 1])."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


@dataclass(frozen=True)
class BicubicDegradationConfig:
    """Settings of :class:`BicubicDegradation`.

    Attributes:
        scale: downscaling factor (1 keeps the size, for restoration tasks).
        quantize: round the LR image to 8 bit, as a saved LR image would be.
    """

    scale: int = 4
    quantize: bool = True


class BicubicDegradation(nn.Module):
    """HR → LR by MATLAB-compatible bicubic downscaling (:func:`srlib.ops.imresize`).

    Called on a batch on its device; returns ``(lr, hr)`` like every srlib degradation (the HR
    target passes through unchanged here).

    Args:
        scale: downscaling factor.
        quantize: round the LR to 8 bit.
        clip_consistent: check for and degrade clips ``(B, T, C, H, W)`` frame by frame, as the random
            degradations do with this flag (bicubic has no random parameters, so every frame of a clip is
            degraded alike anyway); 4-D batches are images either way.

    Shape:
        - hr: ``(B, C, H, W)`` float in [0, 1] with ``H, W`` divisible by ``scale``; with ``clip_consistent``
          also ``(B, T, C, H, W)``.
        - lr: ``(B, C, H/scale, W/scale)`` (``(B, T, C, H/scale, W/scale)`` for clips).

    Example:
        >>> lr, hr = BicubicDegradation(scale=2)(torch.rand(2, 3, 16, 16))
        >>> lr.shape
        torch.Size([2, 3, 8, 8])
        >>> BicubicDegradation(scale=2, clip_consistent=True)(torch.rand(2, 5, 3, 16, 16))[0].shape
        torch.Size([2, 5, 3, 8, 8])
    """

    def __init__(self, scale: int = 4, quantize: bool = True, *, clip_consistent: bool = False) -> None:
        super().__init__()
        self.config = BicubicDegradationConfig(scale=int(scale), quantize=quantize)
        self.clip_consistent = bool(clip_consistent)

    @property
    def scale(self) -> int:
        return self.config.scale

    @torch.no_grad()
    def forward(self, hr: Tensor) -> tuple[Tensor, Tensor]:
        s = self.config.scale
        if hr.shape[-1] % s or hr.shape[-2] % s:
            raise ValueError(
                f"HR size {tuple(hr.shape[-2:])} is not divisible by scale {s}; crop it first "
                "(datasets crop HR patches to a multiple of the scale)."
            )
        if self.clip_consistent:
            if hr.ndim not in (4, 5) or hr.shape[-3] not in (1, 3):
                raise ValueError(
                    "BicubicDegradation expects (B, C, H, W) images or (B, T, C, H, W) clips, C = 1 or 3; "
                    f"got shape {tuple(hr.shape)}."
                )
            if hr.ndim == 5:
                b, t = hr.shape[:2]
                lr = self._downscale(hr.reshape(b * t, *hr.shape[2:]))
                return lr.view(b, t, *lr.shape[1:]), hr
        return self._downscale(hr), hr

    def _downscale(self, hr: Tensor) -> Tensor:
        s = self.config.scale
        lr = hr if s == 1 else imresize(hr.float(), 1.0 / s)
        return quantize_8bit(lr) if self.config.quantize else lr.clamp(0.0, 1.0)
