"""Tensor functions shared by models, degradations and metrics (no learnable state)."""

from srlib.ops.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from srlib.ops.resize import imresize

__all__ = ["imresize", "rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]
