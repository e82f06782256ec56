"""SRVGGNetCompact: Real-ESRGAN's compact VGG-style SR network.

Wang, Xie, Dong, Shan, 'Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
Data', ICCVW 2021 (https://arxiv.org/abs/2107.10833); the compact network ships with Real-ESRGAN
v0.2.5 (https://github.com/xinntao/Real-ESRGAN, ``realesrgan/archs/srvgg_arch.py``).

A plain stack of 3x3 convolutions at low resolution: conv ``3→num_feat`` + activation, ``num_conv`` ×
(conv ``num_feat→num_feat`` + activation), conv ``num_feat→3·s²``, pixel shuffle ×s, plus the
nearest-neighbour upsampled input (the network learns a residual over it). No convolution runs on
the high-resolution grid, which makes it the fastest Real-ESRGAN model.

Published configurations (Real-ESRGAN ``inference_realesrgan.py``):

* ``realesr-animevideov3`` — ``num_conv=16``, ×4, PReLU ("XS size"): srlib's ``srvgg_compact``.
* ``realesr-general-x4v3`` / ``realesr-general-wdn-x4v3`` — ``num_conv=32``, ×4, PReLU ("S size"):
  srlib's ``srvgg_compact_general``.

Parameters at ×4 with PReLU: 621,424 (``num_conv=16``) and 1,213,296 (``num_conv=32``).

Key names are upstream's (``body.{i}.weight``/``.bias``: even indices are convolutions, odd indices
PReLU slopes), so the released ``.pth`` files (weights under ``params``) load unchanged, with no key
mapping, and srlib's weights load in Real-ESRGAN. ×1 (a restoration-only net) is supported too.
Input is RGB in [0, 1], as Real-ESRGAN feeds it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, to_network
from srlib.models._layers import PReLU
from srlib.models._registry import WeightTag, register_model

__all__ = ["SRVGGNetCompact"]

ActType = Literal["prelu", "relu", "leakyrelu"]
_ACT_TYPES = ("prelu", "relu", "leakyrelu")


def _make_act(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    # Upstream's leaky variant uses slope 0.1.
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact VGG-style network (all convolutions at low resolution).

    Args:
        scale: upscaling factor (the pixel-shuffle factor of the tail).
        num_feat: width of every hidden convolution.
        num_conv: number of ``num_feat→num_feat`` convolutions between the first and the last one.
        act_type: ``"prelu"`` (one slope per channel, the released models), ``"relu"`` or
            ``"leakyrelu"`` (slope 0.1).

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1].
        - Output: ``(B, 3, H*scale, W*scale)``, clamped to [0, 1] in eval mode.

    Example:
        >>> import torch
        >>> net = SRVGGNetCompact(scale=2, num_conv=2).eval()
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feat: int = 64,
        num_conv: int = 16,
        act_type: ActType = "prelu",
    ) -> None:
        super().__init__()
        if act_type not in _ACT_TYPES:
            raise ValueError(f"SRVGGNetCompact act_type must be one of {list(_ACT_TYPES)}, got {act_type!r}.")
        if int(scale) < 1:
            raise ValueError(f"SRVGGNetCompact scale must be a positive integer, got {scale}.")
        if num_conv < 0 or num_feat < 1:
            raise ValueError(
                f"SRVGGNetCompact needs num_conv >= 0 and num_feat >= 1, got num_conv={num_conv}, "
                f"num_feat={num_feat}."
            )
        self.scale = int(scale)
        self.num_conv = num_conv
        self.act_type = act_type
        # One flat ModuleList, exactly as upstream, so the indices in the key names match:
        # body.0 conv, body.1 act, then (conv, act) pairs, then the last conv.
        layers: list[nn.Module] = [nn.Conv2d(3, num_feat, 3, padding=1), _make_act(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), _make_act(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, 3 * self.scale * self.scale, 3, padding=1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(self.scale)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "SRVGGNetCompact")
        out = to_network(x, self.body)
        for layer in self.body:  # a fixed stack of layers, not a loop over pixels
            out = layer(out)
        out = self.upsampler(out)
        # Nearest-neighbour base: exact copies of the input pixels, so no float32 region is needed.
        out = out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return out if self.training else out.clamp(0.0, 1.0)


_BODY_KEY = re.compile(r"^body\.(\d+)\.(weight|bias)$")


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise SRVGGNetCompact weights: only ``body.{i}.weight/bias`` keys, convs at even indices.

    ``num_conv`` comes from the number of convolutions, ``scale`` from the last conv's width
    (``3·s²`` channels before the pixel shuffle), ``num_feat`` from the first conv.
    """
    if not state or not all(_BODY_KEY.match(k) for k in state):
        return None
    indices = sorted({int(_BODY_KEY.match(k).group(1)) for k in state})  # type: ignore[union-attr]
    convs = [
        i
        for i in indices
        if state.get(f"body.{i}.weight") is not None and state[f"body.{i}.weight"].ndim == 4
    ]
    acts = [i for i in indices if i not in convs]
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)):
        return None
    first, last = state["body.0.weight"], state[f"body.{convs[-1]}.weight"]
    if first.shape[1] != 3 or last.shape[1] != first.shape[0]:
        return None
    scale = math.isqrt(int(last.shape[0]) // 3)
    if 3 * scale * scale != last.shape[0]:
        return None
    num_feat = int(first.shape[0])
    # PReLU slopes sit at the odd indices; ReLU/LeakyReLU leave no keys and cannot be told apart,
    # so only the released (PReLU) layout is recognised.
    if acts != list(range(1, 2 * len(convs) - 1, 2)):
        return None
    if any(state[f"body.{i}.weight"].shape != (num_feat,) for i in acts):
        return None
    return {"scale": scale, "num_feat": num_feat, "num_conv": len(convs) - 2, "act_type": "prelu"}


_PAPER = (
    "Wang, Xie, Dong, Shan, 'Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic "
    "Data', ICCVW 2021 (SRVGGNetCompact, Real-ESRGAN v0.2.5)"
)


@register_model(
    scales=(1, 2, 3, 4),
    default_scale=4,
    paper=_PAPER,
    detector=_detect,
    tags=(WeightTag("gan", "adversarial fine-tuning of the same generator (recipe realesrgan_x4)"),),
)
def srvgg_compact(*, num_conv: int = 16, **kwargs) -> SRVGGNetCompact:
    """Real-ESRGAN SRVGGNetCompact, 16 body convs (the realesr-animevideov3 "XS" layout)."""
    return SRVGGNetCompact(num_conv=num_conv, **kwargs)


@register_model(scales=(1, 2, 3, 4), default_scale=4, paper=_PAPER)
def srvgg_compact_general(*, num_conv: int = 32, **kwargs) -> SRVGGNetCompact:
    """Real-ESRGAN SRVGGNetCompact, 32 body convs (the realesr-general-x4v3 "S" layout)."""
    return SRVGGNetCompact(num_conv=num_conv, **kwargs)
