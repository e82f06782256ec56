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

    Shape:
        - hr: ``(B, C, H, W)`` float in [0, 1] with ``H, W`` divisible by ``scale``.
        - lr: ``(B, C, H/scale, W/scale)``.

    Example:
        >>> lr, hr = BicubicDegradation(scale=2)(torch.rand(2, 3, 16, 16))
        >>> lr.shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(self, scale: int = 4, quantize: bool = True) -> None:
        super().__init__()
        self.config = BicubicDegradationConfig(scale=int(scale), quantize=quantize)

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
        lr = hr if s == 1 else imresize(hr.float(), 1.0 / s)
        return (quantize_8bit(lr) if self.config.quantize else lr.clamp(0.0, 1.0)), hr
