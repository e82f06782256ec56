"""Tensor functions shared by models, degradations, data and metrics (no learnable state)."""

from srlib.ops.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from srlib.ops.resize import FILTER_ALIASES, FILTERS, imresize, resize, resolve_filter

__all__ = [
    "FILTERS",
    "FILTER_ALIASES",
    "imresize",
    "resize",
    "resolve_filter",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
]
