"""Pixel losses: L1, MSE and Charbonnier (a smooth L1), as functions and as modules.

All reduce to the mean over every element and compute in the inputs' dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.losses._checks import check_pair

__all__ = ["CharbonnierLoss", "L1Loss", "MSELoss", "charbonnier_loss", "l1_loss", "mse_loss"]


def l1_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean absolute error.

    Args:
        sr: the network output.
        hr: the target, same shape as ``sr``.

    Returns:
        A scalar tensor.

    Shape:
        - sr, hr: any shape, the same for both (usually ``(B, C, H, W)``).
        - output: ``()``.

    Example:
        >>> float(l1_loss(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)))
        0.5
    """
    check_pair(sr, hr, "l1 loss")
    return F.l1_loss(sr, hr)


def mse_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean squared error; arguments, result and shapes as :func:`l1_loss`.

    Example:
        >>> float(mse_loss(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)))
        0.25
    """
    check_pair(sr, hr, "mse loss")
    return F.mse_loss(sr, hr)


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"charbonnier eps must be a positive finite number (1e-3 is usual), got {eps!r}.")
    return float(eps)


def charbonnier_loss(sr: Tensor, hr: Tensor, eps: float = 1e-3) -> Tensor:
    """Charbonnier loss ``mean(sqrt((sr - hr)^2 + eps^2))``: L1 away from zero, smooth at zero.

    ``sr``, ``hr``, the result and shapes as :func:`l1_loss`; ``eps`` is the smoothing constant (> 0):
    the loss of identical inputs is ``eps``.

    Example:
        >>> x = torch.rand(1, 3, 4, 4)
        >>> round(float(charbonnier_loss(x, x)), 6)
        0.001
    """
    check_pair(sr, hr, "charbonnier loss")
    eps = _check_eps(eps)
    return torch.sqrt((sr - hr).square() + eps * eps).mean()


class L1Loss(nn.Module):
    """Module form of :func:`l1_loss`.

    Shape:
        - sr, hr: any shape, the same for both.
        - output: ``()``.

    Example:
        >>> float(L1Loss()(torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)))
        1.0
    """

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return l1_loss(sr, hr)


class MSELoss(nn.Module):
    """Module form of :func:`mse_loss`.

    Shape:
        - sr, hr: any shape, the same for both.
        - output: ``()``.

    Example:
        >>> float(MSELoss()(torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 2.0)))
        4.0
    """

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return mse_loss(sr, hr)


class CharbonnierLoss(nn.Module):
    """Module form of :func:`charbonnier_loss`.

    Args:
        eps: smoothing constant (> 0).

    Shape:
        - sr, hr: any shape, the same for both.
        - output: ``()``.

    Example:
        >>> loss = CharbonnierLoss(eps=1e-3)
        >>> round(float(loss(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4))), 4)
        1.0
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = _check_eps(eps)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        return charbonnier_loss(sr, hr, self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
