"""The one model contract: RGB ``(B, 3, h, w)`` float in [0, 1] in, ``(B, 3, h*s, w*s)`` in [0, 1] out."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["check_lr_input", "float32_region", "to_network"]


def check_lr_input(x: Tensor, model_name: str) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is a float ``(B, 3, H, W)`` tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{model_name} expects a torch.Tensor, got {type(x).__name__}.")
    if x.ndim != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.ndim == 3 else ""
        raise ValueError(f"{model_name} expects a 4-D (B, 3, H, W) tensor, got shape {tuple(x.shape)}.{hint}")
    if x.shape[1] != 3:
        raise ValueError(
            f"{model_name} expects RGB input with 3 channels, got {x.shape[1]} (shape {tuple(x.shape)}). "
            "Convert grayscale with x.repeat(1, 3, 1, 1) and drop alpha with x[:, :3]."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{model_name} expects a float tensor in [0, 1], got {x.dtype}. "
            "Use x.float() / 255 for uint8 images."
        )


def float32_region(x: Tensor) -> torch.autocast:
    """Context that disables autocast, for resizing and colour maths that bf16 would round away."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def to_network(x: Tensor, layer: nn.Module) -> Tensor:
    """``x`` in the dtype of ``layer``'s weights: the explicit cast where a float32 input or region meets
    a network held in pure bf16/fp16 (a no-op in float32 and under autocast, which casts by itself)."""
    weight = next(layer.parameters(), None)
    return x if weight is None or x.dtype == weight.dtype else x.to(weight.dtype)
