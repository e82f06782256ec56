"""MiniSRResNet / MiniSRGAN / TinySRGAN: the DeepClarity (snehilchatterjee/intelAI) SRResNet generators.

A reduced SRResNet (Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, https://arxiv.org/abs/1609.04802) as ``MiniSRGAN(img_feat=3,
n_feats=64, kernel_size=3, num_block=8, act=nn.PReLU(), scale=4)`` in intelAI's ``correct_app.py``:

* ``conv01``: 9x9 conv 3→C → PReLU;
* ``body.i`` (8 blocks): conv3x3 → BN → PReLU → conv3x3 → BN, identity skip;
* ``conv02``: conv3x3 → BN, plus a long skip from ``conv01``;
* ``tail.j``: conv3x3 C→4C → pixel shuffle ×2 → PReLU (two stages at ×4);
* ``last_conv``: conv3x3 C→3 → tanh.

The published network feeds RGB in [-1, 1] and returns tanh in [-1, 1]; this module maps [0, 1] in
and out, so it keeps srlib's contract.

**The shared PReLU.** The original passes one ``nn.PReLU()`` object (a default argument) to every
layer, so a single slope is shared by ``conv01``, the first conv of every block and both upsampling
stages; its state dict lists that tensor under 11 keys (9 for TinySRGAN). ``shared_prelu=True``
rebuilds exactly that (942,724 parameters at 64 channels / 8 blocks; 203,716 at 32 / 6) and loads
the published files strictly. The default gives every layer its own PReLU (942,734 / 203,724),
same key names, so weights move between the two forms when the slopes agree.

``minisrresnet`` is the generator; its weight tags name how the published weights were trained:
``minisrresnet.l2`` (L2 pre-training) and ``minisrresnet.gan`` (adversarial fine-tuning, also
reachable under its old name ``minisrgan``). ``tinysrgan`` is the 32-channel, 6-block
configuration. ×2 and ×3 use one pixel-shuffle stage (conv C→4C or C→9C).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, float32_region, to_network
from srlib.models._layers import PReLU
from srlib.models._registry import WeightTag, register_model

__all__ = ["MiniSRResNet", "checkpoint_filter_fn", "prelu_keys"]

log = logging.getLogger(__name__)


class _Wrapped(nn.Module):
    """The original's ``conv`` wrapper: a ``body`` Sequential (conv [, BN] [, act]); keeps key names."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def _conv(in_ch: int, out_ch: int, kernel: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)


class _ResBlock(nn.Module):
    """conv-BN-PReLU-conv-BN with an identity skip (keys ``body.0.body.*``, ``body.1.body.*``)."""

    def __init__(self, num_feat: int, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _Wrapped(_conv(num_feat, num_feat, 3), nn.BatchNorm2d(num_feat), act),
            _Wrapped(_conv(num_feat, num_feat, 3), nn.BatchNorm2d(num_feat)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class _UpStage(nn.Module):
    """conv C→f²C → pixel shuffle ×f → PReLU (keys ``body.0.body.0``, ``body.2``)."""

    def __init__(self, num_feat: int, factor: int, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _Wrapped(_conv(num_feat, num_feat * factor**2, 3)), nn.PixelShuffle(factor), act
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class MiniSRResNet(nn.Module):
    """SRResNet-style generator of MiniSRResNet / MiniSRGAN / TinySRGAN.

    Args:
        scale: 4 (published, two ×2 pixel-shuffle stages), 2 or 3 (one stage).
        num_feat: trunk channels (64 for MiniSRGAN, 32 for TinySRGAN).
        num_blocks: residual blocks (8 for MiniSRGAN, 6 for TinySRGAN).
        shared_prelu: one PReLU slope shared by every activation, as the published weights.

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1]; output ``(B, 3, H*scale, W*scale)`` in [0, 1].

    Example:
        >>> net = MiniSRResNet(scale=4, shared_prelu=True).eval()
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 32, 32])
        >>> sum(p.numel() for p in net.parameters())
        942724
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feat: int = 64,
        num_blocks: int = 8,
        shared_prelu: bool = False,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"MiniSRResNet supports scale 2, 3 or 4, got {scale}.")
        if num_feat < 1 or num_blocks < 0:
            raise ValueError(
                f"MiniSRResNet needs num_feat >= 1 and num_blocks >= 0; got {num_feat} and {num_blocks}."
            )
        self.scale = int(scale)
        self.shared_prelu = bool(shared_prelu)
        shared = PReLU() if shared_prelu else None

        def act() -> nn.Module:
            # The same module object everywhere reproduces the original's aliased PReLU.
            return shared if shared is not None else PReLU()

        self.conv01 = _Wrapped(_conv(3, num_feat, 9), act())
        self.body = nn.Sequential(*(_ResBlock(num_feat, act()) for _ in range(num_blocks)))
        self.conv02 = _Wrapped(_conv(num_feat, num_feat, 3), nn.BatchNorm2d(num_feat))
        factors = (2, 2) if self.scale == 4 else (self.scale,)
        self.tail = nn.Sequential(*(_UpStage(num_feat, f, act()) for f in factors))
        self.last_conv = _Wrapped(_conv(num_feat, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "MiniSRResNet")
        with float32_region(x):
            x_in = x.float() * 2.0 - 1.0  # the published network reads RGB in [-1, 1]
        feat = self.conv01(to_network(x_in, self.conv01))
        out = self.conv02(self.body(feat)) + feat
        out = torch.tanh(self.last_conv(self.tail(out)))
        with float32_region(x):
            out = (out.float() + 1.0) * 0.5
        return out if self.training else out.clamp(0.0, 1.0)


def prelu_keys(state: Mapping[str, Tensor]) -> list[str]:
    """The state-dict keys of the generator's PReLU slopes (aliases of one tensor when shared)."""
    return [k for k in state if _PRELU_KEY.match(k)]


_PRELU_KEY = re.compile(r"^(conv01\.body\.1|body\.\d+\.body\.0\.body\.2|tail\.\d+\.body\.2)\.weight$")
_BLOCK_KEY = re.compile(r"^body\.(\d+)\.body\.0\.body\.0\.weight$")
_TAIL_KEY = re.compile(r"^tail\.(\d+)\.body\.0\.body\.0\.weight$")


def checkpoint_filter_fn(state: Mapping[str, Tensor], model: nn.Module | None = None) -> dict[str, Tensor]:
    """Check the aliased PReLU keys agree when loading into a shared-PReLU model.

    The key names are the published ones already. A shared-PReLU model would silently keep only the
    last of several differing slopes, so that case raises instead.

    Raises:
        ValueError: ``model`` shares one PReLU but the file's PReLU slopes differ.
    """
    out = dict(state)
    if model is not None and getattr(model, "shared_prelu", False):
        values = [out[k] for k in prelu_keys(out)]
        if values and not all(v.shape == values[0].shape and torch.equal(v, values[0]) for v in values):
            raise ValueError(
                "These weights have a different PReLU slope per layer, but the model shares one PReLU. "
                "Build it with shared_prelu=False (or let srlib.load_model detect it)."
            )
    return out


def _detect_config(state: Mapping[str, Tensor]) -> dict | None:
    head, last = state.get("conv01.body.0.weight"), state.get("last_conv.body.0.weight")
    if head is None or last is None or head.ndim != 4 or tuple(head.shape[1:]) != (3, 9, 9):
        return None
    num_feat = int(head.shape[0])
    blocks = {int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k))}
    tails = sorted(int(m.group(1)) for k in state if (m := _TAIL_KEY.match(k)))
    if not tails:
        return None
    if len(tails) == 2:
        scale = 4
    else:
        ratio = int(state[f"tail.{tails[0]}.body.0.body.0.weight"].shape[0]) // num_feat
        scale = {4: 2, 9: 3}.get(ratio)
        if scale is None:
            return None
    slopes = [state[k] for k in prelu_keys(state)]
    shared = bool(slopes) and all(v.numel() == 1 and torch.equal(v, slopes[0]) for v in slopes)
    return {"scale": scale, "num_feat": num_feat, "num_blocks": len(blocks), "shared_prelu": shared}


def _detect_tiny(state: Mapping[str, Tensor]) -> dict | None:
    """TinySRGAN: the 32-channel, 6-block configuration of the generator."""
    config = _detect_config(state)
    if config is None or (config["num_feat"], config["num_blocks"]) != (32, 6):
        return None
    return config


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Any other width/depth (MiniSRResNet and MiniSRGAN files are the same generator)."""
    return _detect_config(state)


_PAPER = (
    "DeepClarity MiniSRGAN (snehilchatterjee/intelAI, 2024), after SRResNet/SRGAN (Ledig et al., CVPR 2017)"
)


_TAGS = (
    WeightTag("l2", "MiniSRResNet: L2 (pixel-loss) pre-training"),
    WeightTag(
        "gan", "MiniSRGAN: adversarial + perceptual fine-tuning of the same generator", alias="minisrgan"
    ),
)


@register_model(
    scales=(2, 3, 4),
    default_scale=4,
    paper=_PAPER,
    checkpoint_filter_fn=checkpoint_filter_fn,
    detector=_detect,
    tags=_TAGS,
)
def minisrresnet(**kwargs) -> MiniSRResNet:
    """MiniSRResNet: 64-ch, 8-block SRResNet generator (tags ``l2`` and ``gan``), 0.94M params."""
    return MiniSRResNet(**kwargs)


@register_model(
    scales=(2, 3, 4),
    default_scale=4,
    paper=_PAPER,
    checkpoint_filter_fn=checkpoint_filter_fn,
    detector=_detect_tiny,
    detect_before=("minisrresnet",),  # its files also fit the general detector
)
def tinysrgan(num_feat: int = 32, num_blocks: int = 6, **kwargs) -> MiniSRResNet:
    """TinySRGAN: 32-ch, 6-block variant of the MiniSRGAN generator, 0.20M params."""
    return MiniSRResNet(num_feat=num_feat, num_blocks=num_blocks, **kwargs)
