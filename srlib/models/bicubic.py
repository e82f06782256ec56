"""Bicubic interpolation as a model: the baseline every SR table starts from.

Uses the MATLAB-compatible antialiased kernel (:func:`srlib.ops.imresize`), the same resize the
degradations and the evaluation protocol use, so its scores match the published bicubic rows.
"""

from __future__ import annotations

from torch import Tensor, nn

from srlib.models._contract import check_lr_input, float32_region
from srlib.models._registry import register_model
from srlib.ops import imresize

__all__ = ["Bicubic"]


class Bicubic(nn.Module):
    """Parameter-free MATLAB-style bicubic upscaler.

    Shape:
        - Input: ``(B, 3, H, W)`` in [0, 1]; output ``(B, 3, H*scale, W*scale)`` in [0, 1].
    """

    def __init__(self, *, scale: int = 4) -> None:
        super().__init__()
        self.scale = int(scale)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "bicubic")
        with float32_region(x):
            return imresize(x.float(), float(self.scale)).clamp(0.0, 1.0)


@register_model(
    scales=(1, 2, 3, 4, 6, 8),
    default_scale=4,
    paper="Keys, IEEE TASSP 1981 (MATLAB imresize)",
    any_scale_weights=True,  # no weights at all
)
def bicubic(**kwargs) -> Bicubic:
    """MATLAB-compatible antialiased bicubic interpolation (no parameters)."""
    return Bicubic(**kwargs)
