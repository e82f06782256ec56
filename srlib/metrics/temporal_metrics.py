"""torchmetrics ``Metric`` twins of the temporal metrics (mean over clips, DDP-reducible sums).

See :mod:`srlib.metrics.temporal` for what each score measures; to score a long video without holding
it, use :class:`~srlib.metrics.TemporalScores`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from srlib.metrics.image_metrics import _PerImageMean
from srlib.metrics.temporal import clip_psnr, clip_ssim, tdiff_psnr

__all__ = ["ClipPSNR", "ClipSSIM", "TDiffPSNR"]


class _PerClipMean(_PerImageMean):
    """Mean of a per-clip score (clips ``(B, T, C, H, W)`` or one ``(T, C, H, W)``); sums as states."""

    higher_is_better = True
    _score_kwargs: ClassVar[dict[str, Any]] = {}  # the clip scores return one value per clip


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
