"""MobileSR: the DeepClarity (snehilchatterjee/intelAI) Fast-SRGAN-style mobile generator.

Architecture of ``Generator(in_channels=3, num_residual_blocks=6, gf=32)`` in intelAI's ``app.py``,
itself after Fast-SRGAN (https://github.com/HasnainRaz/Fast-SRGAN), whose body is made of MobileNetV2
inverted-residual blocks (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018, https://arxiv.org/abs/1801.04381):

* stem ``conv1`` 3x3 3→32 → ``bn1`` → ``prelu1`` (one slope);
* 6 × ``residual_blocks.i``: 1x1 32→192 → BN → ReLU → depthwise 3x3 → BN → ReLU → 1x1 192→32 → BN,
  identity skip;
* ``conv2`` 3x3 → ``bn2``, plus a long skip from the stem;
* per ×2 stage ``upsampleK``: bilinear upsampling (``align_corners=True``) → 3x3 conv → PReLU;
* ``conv3`` 3x3 32→3 → tanh.

121,222 parameters at ×4. The published input is RGB in [0, 1] and the output tanh in [-1, 1]; this
module maps that output to [0, 1] so it keeps srlib's contract. ×4 (two ×2 stages) is the published
configuration; ×2 uses one ×2 stage and ×3 one ×3 stage (same layers, no new parameters).

Key names are the published ones, so ``mobile_sr.pt`` / ``mobile_sr.safetensors`` load strictly and
weights saved here load back into the original code. The published weights score below bicubic in
PSNR (their authors' table shows it too): they were trained for perceptual quality.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, float32_region, to_network
from srlib.models._layers import PReLU
from srlib.models._registry import register_model

__all__ = ["InvertedResidual", "MobileSR"]

log = logging.getLogger(__name__)


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual block, stride 1, with an identity skip.

    Args:
        num_feat: input/output channels.
        expansion: width multiplier of the hidden (depthwise) layer.

    Shape:
        - Input: ``(B, num_feat, H, W)``; output: same shape.
    """

    def __init__(self, num_feat: int, expansion: int) -> None:
        super().__init__()
        hidden = num_feat * expansion
        self.conv1 = nn.Conv2d(num_feat, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, num_feat, 1)
        self.bn3 = nn.BatchNorm2d(num_feat)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        return x + self.bn3(self.conv3(out))


def _upsample_stage(num_feat: int, factor: int) -> nn.Sequential:
    # Indices fixed by the published keys: 0 = Upsample (no params), 1 = conv, 2 = PReLU.
    return nn.Sequential(
        nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=True),
        nn.Conv2d(num_feat, num_feat, 3, padding=1),
        PReLU(),
    )


class MobileSR(nn.Module):
    """The DeepClarity MobileSR generator (Fast-SRGAN style, MobileNetV2 body).

    Args:
        scale: 4 (published: two ×2 bilinear stages), 2 (one ×2 stage) or 3 (one ×3 stage).
        num_feat: channels of the trunk (``gf``, 32 published).
        num_blocks: number of inverted-residual blocks (6 published).
        expansion: hidden-width multiplier of each block (6 published: 32→192).

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1]; output ``(B, 3, H*scale, W*scale)`` in [0, 1].

    Example:
        >>> net = MobileSR(scale=4).eval()
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 32, 32])
        >>> sum(p.numel() for p in net.parameters())
        121222
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feat: int = 32,
        num_blocks: int = 6,
        expansion: int = 6,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"MobileSR supports scale 2, 3 or 4, got {scale}.")
        if num_feat < 1 or num_blocks < 0 or expansion < 1:
            raise ValueError(
                f"MobileSR needs num_feat >= 1, num_blocks >= 0 and expansion >= 1; "
                f"got num_feat={num_feat}, num_blocks={num_blocks}, expansion={expansion}."
            )
        self.scale = int(scale)
        self.conv1 = nn.Conv2d(3, num_feat, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.prelu1 = PReLU()
        self.residual_blocks = nn.Sequential(
            *(InvertedResidual(num_feat, expansion) for _ in range(num_blocks))
        )
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(num_feat)
        if self.scale == 4:
            self.upsample1 = _upsample_stage(num_feat, 2)
            self.upsample2 = _upsample_stage(num_feat, 2)
        else:
            self.upsample1 = _upsample_stage(num_feat, self.scale)
        self.conv3 = nn.Conv2d(num_feat, 3, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "MobileSR")
        stem = self.prelu1(self.bn1(self.conv1(to_network(x, self.conv1))))
        feat = self.bn2(self.conv2(self.residual_blocks(stem))) + stem
        feat = self.upsample1(feat)
        if self.scale == 4:
            feat = self.upsample2(feat)
        out = torch.tanh(self.conv3(feat))
        with float32_region(x):
            # Published output is tanh in [-1, 1]; the contract is [0, 1].
            out = (out.float() + 1.0) * 0.5
        return out if self.training else out.clamp(0.0, 1.0)


_BLOCK_KEY = re.compile(r"^residual_blocks\.(\d+)\.conv1\.weight$")


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise MobileSR weights; infer width, depth, expansion and scale (×4 when two stages)."""
    needed = ("conv1.weight", "prelu1.weight", "conv3.weight", "upsample1.1.weight")
    if not all(k in state for k in needed):
        return None
    blocks = sorted(int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k)))
    if not blocks:
        return None
    num_feat = int(state["conv1.weight"].shape[0])
    expansion = int(state[f"residual_blocks.{blocks[0]}.conv1.weight"].shape[0]) // num_feat
    if "upsample2.1.weight" in state:
        scale = 4
    else:
        # Bilinear stages carry no weights, so a one-stage file does not say ×2 or ×3.
        scale = 2
        log.warning("MobileSR checkpoint with one upsampling stage: assuming x2 (pass scale=3 if it is x3).")
    return {"scale": scale, "num_feat": num_feat, "num_blocks": len(blocks), "expansion": expansion}


_PAPER = (
    "DeepClarity MobileSR (snehilchatterjee/intelAI, 2024), after Fast-SRGAN (H. Raza) with MobileNetV2 "
    "blocks (Sandler et al., CVPR 2018)"
)


@register_model(
    scales=(2, 3, 4),
    default_scale=4,
    paper=_PAPER,
    detector=_detect,
    # Its bilinear upsampling uses align_corners=True, whose sampling grid depends on the input size:
    # a tile is resampled on another grid than the whole image (up to 45/255 apart with the published
    # weights), so tiles cannot stand in for the whole.
    supports_tiling=False,
)
def mobilesr(**kwargs) -> MobileSR:
    """MobileSR: Fast-SRGAN-style mobile generator, 121k params at x4 (published weights: x4)."""
    return MobileSR(**kwargs)
