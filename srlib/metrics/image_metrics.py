"""torchmetrics ``Metric`` wrappers of the SR-protocol PSNR/SSIM (mean over images, DDP-reducible)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torchmetrics import Metric

from srlib.metrics.functional import psnr, ssim

__all__ = ["PSNR", "SSIM"]


class _PerImageMean(Metric):
    """Mean of a per-image score; states are sums, so DDP reduces them by summation."""

    is_differentiable = False
    full_state_update = False
    _score_fn: Callable[..., Tensor]
    _score_kwargs: ClassVar[dict[str, Any]] = {"reduction": "none"}  # one score per image

    def __init__(self, *, crop_border: int = 0, y_channel: bool = True, quantize: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.crop_border, self.y_channel, self.quantize = int(crop_border), y_channel, quantize
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, sr: Tensor, hr: Tensor) -> None:
        values = type(self)._score_fn(
            sr,
            hr,
            crop_border=self.crop_border,
            y_channel=self.y_channel,
            quantize=self.quantize,
            **self._score_kwargs,
        )
        self.total += values.to(torch.float64).sum()
        self.count += values.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()


class PSNR(_PerImageMean):
    """Mean per-image PSNR (dB) under the SR protocol; see :func:`srlib.metrics.psnr`.

    Example:
        >>> metric = PSNR(crop_border=2)
        >>> metric.update(torch.full((2, 3, 16, 16), 0.5), torch.full((2, 3, 16, 16), 0.5))
        >>> float(metric.compute()) > 90
        True
    """

    higher_is_better = True
    _score_fn = staticmethod(psnr)


class SSIM(_PerImageMean):
    """Mean per-image SSIM under the SR protocol; see :func:`srlib.metrics.ssim`."""

    higher_is_better = True
    _score_fn = staticmethod(ssim)
