"""torchmetrics ``Metric`` twins of the temporal metrics (mean over clips, DDP-reducible sums).

See :mod:`srlib.metrics.temporal` for what each score measures; to score a long video without holding
it, use :class:`~srlib.metrics.TemporalScores`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from srlib.metrics.temporal import clip_psnr, clip_ssim, tdiff_psnr

__all__ = ["ClipPSNR", "ClipSSIM", "TDiffPSNR"]


class _PerClipMean(Metric):
    """Mean of a per-clip score; states are sums, so DDP (and ``merge_state``) reduce them by summation."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    _score_fn: Callable[..., Tensor]

    def __init__(self, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.crop_border, self.y_channel, self.quantize = int(crop_border), y_channel, quantize
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, sr: Tensor, hr: Tensor) -> None:
        """Add clips ``(B, T, C, H, W)`` (or one clip ``(T, C, H, W)``)."""
        values = type(self)._score_fn(
            sr, hr, crop_border=self.crop_border, y_channel=self.y_channel, quantize=self.quantize
        )
        self.total += values.to(torch.float64).sum()
        self.count += values.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()


class ClipPSNR(_PerClipMean):
    """Mean over clips of :func:`~srlib.metrics.clip_psnr` (per-frame protocol PSNR, dB).

    Example:
        >>> metric = ClipPSNR(crop_border=2)
        >>> hr = torch.full((2, 3, 3, 16, 16), 128 / 255)
        >>> metric.update(hr + 1 / 255, hr)
        >>> round(float(metric.compute()), 2)
        48.13
    """

    _score_fn = staticmethod(clip_psnr)


class ClipSSIM(_PerClipMean):
    """Mean over clips of :func:`~srlib.metrics.clip_ssim` (per-frame protocol SSIM)."""

    _score_fn = staticmethod(clip_ssim)


class TDiffPSNR(_PerClipMean):
    """Mean over clips of :func:`~srlib.metrics.tdiff_psnr` (dB; higher = steadier).

    Example:
        >>> metric = TDiffPSNR()
        >>> hr = torch.rand(2, 4, 3, 8, 8)
        >>> metric.update(hr, hr)
        >>> float(metric.compute()) > 100
        True
    """

    _score_fn = staticmethod(tdiff_psnr)
