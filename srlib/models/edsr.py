"""EDSR: Enhanced Deep Residual Networks (Lim, Son, Kim, Nah, Lee, CVPRW 2017, https://arxiv.org/abs/1707.02921).

The baseline model of the paper: mean shift by the DIV2K RGB mean, conv3x3 3→64 head; 16 residual
blocks conv3x3 → ReLU → conv3x3 (no BatchNorm, residual scaling 1); conv3x3 and a long skip; a
pixel-shuffle upsampler (conv C→4C + shuffle ×2, once at ×2 and twice at ×4; conv C→9C + shuffle ×3
at ×3) and a conv3x3 C→3 tail; mean added back. 1,369,859 / 1,554,499 / 1,517,571 parameters at
×2 / ×3 / ×4.

Key names follow sanghyun-son/EDSR-PyTorch (``sub_mean``, ``head.0``, ``body.N.body.0/2``,
``body.16``, ``tail.0.0`` (``tail.0.2`` at ×4), ``tail.1``, ``add_mean``), so its released
``edsr_baseline_x*.pt`` files load strictly and ours load there. BasicSR's EDSR names
(``conv_first``, ``body.N.conv1/2``, ``conv_after_body``, ``upsample.K``, ``conv_last``) are mapped by
:func:`checkpoint_filter_fn`. The mean shifts are fixed 1x1 convolutions upstream (frozen
parameters); here they are buffers under the same keys, so they are not counted as parameters (the
paper's counts exclude them) and no optimizer touches them. Like upstream, the network works on pixel
values scaled by ``rgb_range`` (255), so this module multiplies its [0, 1] input by ``rgb_range`` and
divides the output by it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, float32_region, to_network
from srlib.models._registry import register_model

__all__ = ["DIV2K_RGB_MEAN", "EDSR", "MeanShift", "ResBlock", "checkpoint_filter_fn"]

log = logging.getLogger(__name__)

#: Mean RGB of the DIV2K training set, as used by EDSR-PyTorch's ``MeanShift``.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Module):
    """Fixed per-channel shift stored like EDSR-PyTorch's 1x1 ``MeanShift`` conv (``weight``, ``bias``).

    ``weight`` is the identity ``(3, 3, 1, 1)`` and ``bias`` is ``sign * rgb_range * mean``; both are
    buffers (saved and loaded, never trained).

    Shape:
        - Input: ``(B, 3, H, W)``; output: same shape.
    """

    def __init__(
        self, rgb_range: float, sign: int, mean: tuple[float, float, float] = DIV2K_RGB_MEAN
    ) -> None:
        super().__init__()
        self.register_buffer("weight", torch.eye(3).view(3, 3, 1, 1))
        self.register_buffer("bias", sign * rgb_range * torch.tensor(mean, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        with float32_region(x):
            return F.conv2d(x.float(), self.weight.float(), self.bias.float())


class ResBlock(nn.Module):
    """conv3x3 → ReLU → conv3x3, scaled by ``res_scale``, plus identity (keys ``body.0``, ``body.2``).

    Shape:
        - Input: ``(B, num_feat, H, W)``; output: same shape.
    """

    def __init__(self, num_feat: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        res = self.body(x)
        if self.res_scale != 1:
            res = res * self.res_scale
        return x + res


def _upsampler(num_feat: int, scale: int) -> nn.Sequential:
    """EDSR's ``Upsampler``: (conv C→4C, shuffle ×2) per factor 2, or (conv C→9C, shuffle ×3)."""
    layers: list[nn.Module] = []
    if scale in (2, 4):
        for _ in range(scale // 2):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, padding=1), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, padding=1), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"EDSR supports scale 2, 3 or 4, got {scale}.")
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR (baseline by default: 16 blocks, 64 channels, res_scale 1).

    Args:
        scale: 2, 3 or 4.
        num_feat: channels of the trunk (64 baseline, 256 for the full EDSR).
        num_blocks: residual blocks (16 baseline, 32 for the full EDSR).
        res_scale: residual scaling inside each block (1 baseline, 0.1 for the full EDSR).
        rgb_range: pixel range the network works in (255 as upstream's released weights).

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1]; output ``(B, 3, H*scale, W*scale)`` in [0, 1].

    Example:
        >>> net = EDSR(scale=2).eval()
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
        >>> sum(p.numel() for p in net.parameters())
        1369859
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feat: int = 64,
        num_blocks: int = 16,
        res_scale: float = 1.0,
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"EDSR supports scale 2, 3 or 4, got {scale}.")
        if num_feat < 1 or num_blocks < 0:
            raise ValueError(
                f"EDSR needs num_feat >= 1 and num_blocks >= 0; got {num_feat} and {num_blocks}."
            )
        if rgb_range <= 0:
            raise ValueError(f"EDSR rgb_range must be positive (255 for upstream weights), got {rgb_range}.")
        self.scale = int(scale)
        self.rgb_range = float(rgb_range)
        self.sub_mean = MeanShift(self.rgb_range, sign=-1)
        self.head = nn.Sequential(nn.Conv2d(3, num_feat, 3, padding=1))
        self.body = nn.Sequential(
            *(ResBlock(num_feat, res_scale) for _ in range(num_blocks)),
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
        )
        self.tail = nn.Sequential(_upsampler(num_feat, self.scale), nn.Conv2d(num_feat, 3, 3, padding=1))
        self.add_mean = MeanShift(self.rgb_range, sign=1)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "EDSR")
        with float32_region(x):
            x = self.sub_mean(x.float() * self.rgb_range)
        feat = self.head(to_network(x, self.head))
        out = self.tail(self.body(feat) + feat)
        with float32_region(x):
            out = self.add_mean(out.float()) / self.rgb_range
        return out if self.training else out.clamp(0.0, 1.0)


_BLOCK_KEY = re.compile(r"^body\.(\d+)\.body\.0\.weight$")
_TAIL_KEY = re.compile(r"^tail\.0\.(\d+)\.weight$")
_BASICSR_BLOCK = re.compile(r"^body\.(\d+)\.conv([12])\.(weight|bias)$")
_MEAN_KEYS = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")


def checkpoint_filter_fn(state: Mapping[str, Tensor], model: nn.Module | None = None) -> dict[str, Tensor]:
    """Map BasicSR's EDSR key names onto EDSR-PyTorch's and supply missing mean-shift buffers.

    BasicSR (``basicsr/archs/edsr_arch.py``) names the layers ``conv_first``, ``body.N.conv1/2``,
    ``conv_after_body``, ``upsample.K`` and ``conv_last`` and keeps the DIV2K mean outside the state
    dict; its maths ((x - mean) * 255 ... / 255 + mean) is the same as EDSR-PyTorch's mean shifts.
    """
    out: dict[str, Tensor] = {}
    if "conv_first.weight" in state and "conv_after_body.weight" in state:
        num_blocks = len({m.group(1) for k in state if (m := _BASICSR_BLOCK.match(k))})
        for key, value in state.items():
            if m := _BASICSR_BLOCK.match(key):
                key = f"body.{m.group(1)}.body.{0 if m.group(2) == '1' else 2}.{m.group(3)}"
            elif key.startswith("conv_first."):
                key = "head.0." + key[len("conv_first.") :]
            elif key.startswith("conv_after_body."):
                key = f"body.{num_blocks}." + key[len("conv_after_body.") :]
            elif key.startswith("upsample."):
                key = "tail.0." + key[len("upsample.") :]
            elif key.startswith("conv_last."):
                key = "tail.1." + key[len("conv_last.") :]
            out[key] = value
    else:
        out = dict(state)
    if model is not None and "head.0.weight" in out:
        own = model.state_dict()
        for key in _MEAN_KEYS:
            if key not in out and key in own:
                out[key] = own[key].clone()
    return out


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise EDSR-PyTorch or BasicSR EDSR weights; infer width, blocks, scale and ``rgb_range``."""
    state = checkpoint_filter_fn(state)
    head, last = state.get("head.0.weight"), state.get("tail.1.weight")
    if head is None or last is None or head.ndim != 4 or head.shape[1] != 3 or last.shape[0] != 3:
        return None
    blocks = sorted(int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k)))
    if (
        not blocks
        or f"body.{len(blocks)}.weight" not in state
        or f"body.{blocks[0]}.body.2.weight" not in state
    ):
        return None
    num_feat = int(head.shape[0])
    tail_convs = sorted(int(m.group(1)) for k in state if (m := _TAIL_KEY.match(k)))
    if not tail_convs:
        return None
    ratio = int(state[f"tail.0.{tail_convs[0]}.weight"].shape[0]) // num_feat
    if ratio == 9 and len(tail_convs) == 1:
        scale = 3
    elif ratio == 4 and len(tail_convs) in (1, 2):
        scale = 2 ** len(tail_convs)
    else:
        return None
    kwargs: dict = {"scale": scale, "num_feat": num_feat, "num_blocks": len(blocks)}
    if num_feat == 256:
        # Residual scaling leaves no trace in the weights; the paper's full EDSR uses 0.1.
        kwargs["res_scale"] = 0.1
        log.info("EDSR checkpoint with 256 channels: assuming the full EDSR's res_scale=0.1.")
    bias = state.get("sub_mean.bias")
    if bias is not None and bias.numel() == 3:
        rgb_range = -float(bias[0]) / DIV2K_RGB_MEAN[0]
        if rgb_range > 0:
            kwargs["rgb_range"] = round(rgb_range, 3)
    return kwargs


_PAPER = (
    "Lim, Son, Kim, Nah, Lee, 'Enhanced Deep Residual Networks for Single Image Super-Resolution', CVPRW 2017"
)


@register_model(
    scales=(2, 3, 4),
    default_scale=4,
    paper=_PAPER,
    checkpoint_filter_fn=checkpoint_filter_fn,
    detector=_detect,
)
def edsr_baseline(**kwargs) -> EDSR:
    """EDSR baseline: 16 residual blocks, 64 channels, res_scale 1 (1.37M/1.55M/1.52M params)."""
    return EDSR(**kwargs)
