"""A classical pixelation detector with no learned weights: the block period and the off-grid energy.

A nearest-neighbour up-sampling by a block size ``p`` is constant inside each ``p x p`` block, so the
differences between neighbouring columns (rows) vanish everywhere except on the block boundaries, which
repeat every ``p`` pixels. For each period ``p`` (2-16) and phase, the detector compares the mean
absolute difference on the grid lines with the mean off them (in both directions), and takes the best
period whose grid holds in both directions. The ratio ``on / off`` is about 1 for a natural image and
large for a pixelated one; its log is mapped to a logit by ``(log ratio - center) * gain``. ``center``
was chosen on the validation split (see docs/detect.md). It is the honest reference the learned
detector must beat: no weights, explainable, and blind to what it was not designed for (a pixelated
region in a large image, a heavy blur on top of the blocks).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BlockPeriodDetector"]


def _phase_means(profile: Tensor, period: int) -> Tensor:
    """``(B, L)`` -> ``(B, period)``: the mean of the profile at each phase of ``period``."""
    n = profile.shape[-1] // period * period
    return profile[:, :n].reshape(profile.shape[0], -1, period).mean(dim=1)


class BlockPeriodDetector(nn.Module):
    """Classical pixelation detector: grid-line vs off-grid gradient energy at the best block period.

    Args:
        periods: the block periods tested (inclusive range).
        center: log on/off ratio at which the probability is 0.5.
        gain: slope of the logit per unit of log ratio.

    Shape:
        - input: ``(B, 3, H, W)`` RGB in [0, 1] (H, W >= 2 * the largest period); output: ``(B,)`` logits.

    Example:
        >>> x = torch.rand(1, 3, 8, 8).repeat_interleave(8, -1).repeat_interleave(8, -2)
        >>> det = BlockPeriodDetector()
        >>> bool(det(x) > 0), bool(det(torch.rand(1, 3, 64, 64)) < 0)
        (True, True)
    """

    threshold: float = 0.5
    srlib_kind = "detector"  #: what ``srlib.save_model`` writes it as

    def __init__(self, *, periods: tuple[int, int] = (2, 16), center: float = 0.4, gain: float = 4.0) -> None:
        super().__init__()
        self.periods = (int(periods[0]), int(periods[1]))
        self.center, self.gain = float(center), float(gain)

    @property
    def srlib_config(self) -> dict[str, object]:
        """The keyword arguments that rebuild this detector."""
        return {"periods": list(self.periods), "center": self.center, "gain": self.gain}

    def log_ratio(self, x: Tensor) -> Tensor:
        """``(B,)`` log(on-grid / off-grid) mean absolute difference at the best common period."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"BlockPeriodDetector takes (B, 3, H, W) RGB; got shape {tuple(x.shape)}.")
        gray = x.float().mean(dim=1)
        eps = 1.0 / 255.0
        cols = (gray[:, :, 1:] - gray[:, :, :-1]).abs().mean(dim=1)  # (B, W-1): between column k and k+1
        rows = (gray[:, 1:, :] - gray[:, :-1, :]).abs().mean(dim=2)  # (B, H-1)
        best = torch.full((x.shape[0],), -10.0, device=x.device)
        for period in range(self.periods[0], self.periods[1] + 1):
            per_axis = []
            for profile in (cols, rows):
                if profile.shape[-1] < 2 * period:
                    break
                means = _phase_means(profile, period)  # (B, period)
                on = means.max(dim=1).values
                off = (means.sum(dim=1) - on) / (period - 1)
                per_axis.append(torch.log((on + eps) / (off + eps)))
            if len(per_axis) == 2:
                best = torch.maximum(best, torch.minimum(per_axis[0], per_axis[1]))
        return best

    def forward(self, x: Tensor) -> Tensor:
        return (self.log_ratio(x) - self.center) * self.gain
