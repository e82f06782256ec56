"""VDSR: Very Deep Super-Resolution (Kim, Lee, Lee, CVPR 2016, https://arxiv.org/abs/1511.04587).

Twenty 3x3 conv layers (C→64, ``depth`` × 64→64 with ReLU, 64→C), no biases, He-normal init, and a
global residual over the bicubic-upsampled input. The net upsamples inside ``forward`` so it keeps
srlib's contract. ``in_chans=1`` is the reference Y-channel model (BT.601 studio-range Y through the
net, Cb/Cr from bicubic); ``in_chans=3`` works on RGB directly.

The ablation knobs of VDSR_API: ``depth`` (middle layers), ``norm="bn"`` (Conv→BN→ReLU) and
``block_residual=True`` (identity skip around each middle unit).

Reference weights (twtygqyy/pytorch-vdsr, one multi-scale Y model) use the keys ``input.weight``,
``residual_layer.{i}.conv.weight`` and ``output.weight``; :func:`checkpoint_filter_fn` maps them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, float32_region, to_network
from srlib.models._registry import register_model
from srlib.ops import imresize, rgb_to_ycbcr, ycbcr_to_rgb

__all__ = ["VDSR", "checkpoint_filter_fn"]


class VDSRUnit(nn.Module):
    """One middle layer: conv3x3 (→ BN) → ReLU, optionally with an identity skip around it."""

    def __init__(self, num_feat: int, norm: str | None, block_residual: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(num_feat) if norm == "bn" else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.block_residual = block_residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.norm(self.conv(x)))
        return out + x if self.block_residual else out


class VDSR(nn.Module):
    """VDSR with its depth / BatchNorm / residual-block ablations.

    Args:
        scale: upscaling factor (the network itself is scale-agnostic).
        in_chans: 1 = Y-channel model (the reference), 3 = RGB model.
        depth: number of middle 64→64 layers (18 gives the 20-layer reference).
        num_feat: width of the hidden layers.
        norm: ``None`` or ``"bn"`` (BatchNorm after every middle conv).
        block_residual: identity skip around every middle unit.

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1]; output ``(B, 3, H*scale, W*scale)``.

    Example:
        >>> net = VDSR(scale=2, depth=4)
        >>> net.eval()(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        *,
        scale: int = 2,
        in_chans: Literal[1, 3] = 1,
        depth: int = 18,
        num_feat: int = 64,
        norm: Literal["bn"] | None = None,
        block_residual: bool = False,
    ) -> None:
        super().__init__()
        if in_chans not in (1, 3):
            raise ValueError(f"VDSR in_chans must be 1 (Y channel) or 3 (RGB), got {in_chans}.")
        if norm not in (None, "bn", "none"):
            raise ValueError(f"VDSR norm must be None or 'bn', got {norm!r}.")
        if depth < 0:
            raise ValueError(f"VDSR depth must be >= 0, got {depth}.")
        self.scale = int(scale)
        self.in_chans = in_chans
        norm = None if norm == "none" else norm
        self.head = nn.Conv2d(in_chans, num_feat, 3, padding=1, bias=False)
        self.body = nn.Sequential(*(VDSRUnit(num_feat, norm, block_residual) for _ in range(depth)))
        self.tail = nn.Conv2d(num_feat, in_chans, 3, padding=1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal init (fan-out, as the reference: std = sqrt(2 / (k*k*out_channels))).

        The ablation variants start stable as well: with residual units, each unit's branch is scaled
        by ``1/sqrt(depth)`` at init (the BN scale, or the conv's std without BN), so the skips do not add
        up the variance of ``depth`` He-initialised branches (``2**depth`` for the plain sum); with
        residual units or BatchNorm (which resets every activation to unit variance), the last conv starts
        at zero, so the network starts as bicubic and its first losses are the plain VDSR's order.
        The plain network keeps the reference init exactly.
        """
        units = [m for m in self.body if isinstance(m, VDSRUnit)]
        residual = any(u.block_residual for u in units)
        normed = any(isinstance(u.norm, nn.BatchNorm2d) for u in units)
        branch = 1.0 / math.sqrt(max(len(units), 1)) if residual else 1.0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
        for unit in units:
            if isinstance(unit.norm, nn.BatchNorm2d):
                nn.init.constant_(unit.norm.weight, branch)
                nn.init.zeros_(unit.norm.bias)
            elif residual:
                unit.conv.weight.data.mul_(branch)
        if residual or normed:
            nn.init.zeros_(self.tail.weight)

    def residual(self, x: Tensor) -> Tensor:
        """The learned residual for an already upsampled ``(B, in_chans, H, W)`` input."""
        return self.tail(self.body(torch.relu(self.head(x))))

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "VDSR")
        with float32_region(x):
            up = imresize(x.float(), float(self.scale))
            if self.in_chans == 1:
                up = rgb_to_ycbcr(up)
        net_in = up[:, :1] if self.in_chans == 1 else up
        res = self.residual(to_network(net_in, self.head))
        with float32_region(x):
            if self.in_chans == 1:
                out = ycbcr_to_rgb(torch.cat([up[:, :1] + res.float(), up[:, 1:]], dim=1))
            else:
                out = up + res.float()
        return out if self.training else out.clamp(0.0, 1.0)


_REFERENCE_KEY = re.compile(r"^residual_layer\.(\d+)\.conv\.weight$")


def checkpoint_filter_fn(state: Mapping[str, Tensor], model: nn.Module | None = None) -> dict[str, Tensor]:
    """Map the reference implementation's key names (twtygqyy/pytorch-vdsr) onto srlib's."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key == "input.weight":
            key = "head.weight"
        elif key == "output.weight":
            key = "tail.weight"
        elif m := _REFERENCE_KEY.match(key):
            key = f"body.{m.group(1)}.conv.weight"
        out[key] = value
    return out


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise reference or srlib-named VDSR weights and infer depth, channels and norm."""
    state = checkpoint_filter_fn(state)
    head, tail = state.get("head.weight"), state.get("tail.weight")
    if head is None or tail is None or head.ndim != 4 or head.shape[-1] != 3:
        return None
    if not any(k.startswith("body.") and k.endswith(".conv.weight") for k in state):
        return None
    depth = len({k.split(".")[1] for k in state if k.startswith("body.") and k.endswith(".conv.weight")})
    norm = "bn" if any(k.endswith(".norm.weight") for k in state) else None
    return {"in_chans": int(head.shape[1]), "num_feat": int(head.shape[0]), "depth": depth, "norm": norm}


_PAPER = "Kim, Lee, Lee, 'Accurate Image Super-Resolution Using Very Deep Convolutional Networks', CVPR 2016"


@register_model(
    scales=(2, 3, 4),
    default_scale=2,
    paper=_PAPER,
    checkpoint_filter_fn=checkpoint_filter_fn,
    detector=_detect,
    any_scale_weights=True,  # pre-upsampling: one set of weights serves x2, x3 and x4 (the paper's)
)
def vdsr(**kwargs) -> VDSR:
    """VDSR, 20 layers; Y-channel reference model by default (``in_chans=3`` for RGB)."""
    return VDSR(**kwargs)
