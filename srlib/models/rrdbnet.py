"""RRDBNet: the ESRGAN / Real-ESRGAN generator (Residual-in-Residual Dense Blocks).

Wang et al., 'ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks', ECCV Workshops
2018 (https://arxiv.org/abs/1809.00219); the ×2/×1 pixel-unshuffle extension is from Real-ESRGAN
(Wang, Xie, Dong, Shan, ICCVW 2021, https://arxiv.org/abs/2107.10833).

``conv_first`` → ``num_block`` RRDBs (each three 5-conv residual dense blocks, growth ``num_grow_ch``,
residuals scaled by 0.2) → ``conv_body`` + long skip → two (nearest ×2 → conv → LeakyReLU 0.2)
stages → ``conv_hr`` → LeakyReLU → ``conv_last``. The trunk always upsamples ×4; for ×2 (×1) the
input is pixel-unshuffled by 2 (4) first, so ``conv_first`` sees 12 (48) channels — Real-ESRGAN's
``RealESRGAN_x2plus`` layout. Inputs whose size is not a multiple of the unshuffle factor are
reflect-padded at the bottom/right and the output cropped, as Real-ESRGAN's inference does.

Parameters at ×4 with the defaults (64 features, 23 blocks, growth 32): 16,697,987.

Key names are BasicSR's (``conv_first``, ``body.{i}.rdb{1,2,3}.conv{1..5}``, ``conv_body``,
``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``), so ``RealESRGAN_x4plus.pth`` and friends
(weights under ``params_ema``) load unchanged. :func:`checkpoint_filter_fn` also maps the two older
ESRGAN layouts (xinntao/ESRGAN): ``RRDB_trunk.{i}.RDB1.conv1`` / ``trunk_conv`` / ``upconv1`` /
``HRconv``, and the original sequential ``model.0`` / ``model.1.sub.{i}.RDB1.conv1.0`` /
``model.1.sub.{num_block}`` / ``model.3`` / ``model.6`` / ``model.8`` / ``model.10`` (×4 only; the
mapping follows ESRGAN's ``transer_RRDB_models.py``). Input is RGB in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, to_network
from srlib.models._registry import register_model

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock", "checkpoint_filter_fn"]

# Unshuffle factor applied to the input for each supported scale (the trunk itself is always ×4).
_UNSHUFFLE = {4: 1, 2: 2, 1: 4}


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; the last one's output, scaled by 0.2, is added to the input.

    Shape:
        - Input/Output: ``(B, num_feat, H, W)``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, padding=1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, padding=1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, padding=1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, padding=1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks in a row, residual scaled by 0.2.

    Shape:
        - Input/Output: ``(B, num_feat, H, W)``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN / Real-ESRGAN generator.

    Args:
        scale: 4 (plain ESRGAN), 2 or 1 (input pixel-unshuffled by 2 or 4 first, as Real-ESRGAN).
        num_feat: trunk width.
        num_block: number of RRDBs (23 in ESRGAN / RealESRGAN_x4plus, 6 in the anime_6B model).
        num_grow_ch: growth channels of every dense block.

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1] (any size: padded internally for ×2/×1).
        - Output: ``(B, 3, H*scale, W*scale)``, clamped to [0, 1] in eval mode.

    Example:
        >>> net = RRDBNet(scale=2, num_block=1, num_feat=8, num_grow_ch=4).eval()
        >>> net(torch.rand(1, 3, 7, 9)).shape
        torch.Size([1, 3, 14, 18])
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ) -> None:
        super().__init__()
        if int(scale) not in _UNSHUFFLE:
            raise ValueError(
                f"RRDBNet supports scale 1, 2 or 4 (a fixed x4 trunk, input pixel-unshuffled), got {scale}."
            )
        if num_block < 0 or num_feat < 1 or num_grow_ch < 1:
            raise ValueError(
                f"RRDBNet needs num_block >= 0, num_feat >= 1, num_grow_ch >= 1; got num_block={num_block}, "
                f"num_feat={num_feat}, num_grow_ch={num_grow_ch}."
            )
        self.scale = int(scale)
        self.unshuffle = _UNSHUFFLE[self.scale]
        self.conv_first = nn.Conv2d(3 * self.unshuffle**2, num_feat, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """BasicSR's init: dense-block convs Kaiming-normal scaled by 0.1 with zero bias; the other
        convs keep PyTorch's default init."""
        for m in self.body.modules():
            if isinstance(m, nn.Conv2d):
                # kaiming_normal_ (gain sqrt(2), fan_in) times 0.1, drawn in one op.
                fan_in = m.weight[0].numel()
                nn.init.normal_(m.weight, 0.0, 0.1 * math.sqrt(2.0 / fan_in))
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "RRDBNet")
        h, w = x.shape[-2:]
        feat = x
        if self.unshuffle > 1:
            r = self.unshuffle
            pad_h, pad_w = (-h) % r, (-w) % r
            if pad_h or pad_w:
                # Reflect needs the pad to be smaller than the side; replicate covers tiny inputs.
                mode = "reflect" if pad_h < h and pad_w < w else "replicate"
                feat = F.pad(feat, (0, pad_w, 0, pad_h), mode=mode)
            feat = F.pixel_unshuffle(feat, r)
        feat = self.conv_first(to_network(feat, self.conv_first))
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        out = out[..., : h * self.scale, : w * self.scale]
        return out if self.training else out.clamp(0.0, 1.0)


# --- foreign key layouts -------------------------------------------------------------------------

# xinntao/ESRGAN RRDBNet_arch.py (2019+): module names -> BasicSR names.
_ESRGAN_RENAMES = (
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\."), r"body.\1.rdb\2."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv1\."), "conv_up1."),
    (re.compile(r"^upconv2\."), "conv_up2."),
    (re.compile(r"^HRconv\."), "conv_hr."),
)
# The original sequential ESRGAN layout (architecture.py / block.py), ×4 with two upconv stages;
# the loader may already have stripped the common ``model.`` prefix, so it is optional here.
_OLD_RDB = re.compile(r"^(?:model\.)?1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"^(?:model\.)?1\.sub\.(\d+)\.(weight|bias)$")
_OLD_PLAIN = re.compile(r"^(?:model\.)?(0|3|6|8|10)\.(weight|bias)$")
_OLD_NAMES = {"0": "conv_first", "3": "conv_up1", "6": "conv_up2", "8": "conv_hr", "10": "conv_last"}


def _is_old_layout(state: Mapping[str, Tensor]) -> bool:
    return any(_OLD_RDB.match(k) for k in state) and any(_OLD_PLAIN.match(k) for k in state)


def checkpoint_filter_fn(state: Mapping[str, Tensor], model: nn.Module | None = None) -> dict[str, Tensor]:
    """Map ESRGAN's older key layouts onto BasicSR/Real-ESRGAN's (which are srlib's); others pass.

    Example:
        >>> w = torch.zeros(1)
        >>> sorted(checkpoint_filter_fn({"RRDB_trunk.0.RDB2.conv3.bias": w, "HRconv.bias": w}))
        ['body.0.rdb2.conv3.bias', 'conv_hr.bias']
    """
    out: dict[str, Tensor] = {}
    if _is_old_layout(state):
        for key, value in state.items():
            if m := _OLD_RDB.match(key):
                key = f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"
            elif m := _OLD_TRUNK.match(key):
                key = f"conv_body.{m.group(2)}"
            elif m := _OLD_PLAIN.match(key):
                key = f"{_OLD_NAMES[m.group(1)]}.{m.group(2)}"
            out[key] = value
        return out
    for key, value in state.items():
        for pattern, repl in _ESRGAN_RENAMES:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


_BODY_BLOCK = re.compile(r"^body\.(\d+)\.rdb1\.conv1\.weight$")


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise RRDBNet weights (any of the three layouts) and infer scale and sizes from shapes.

    ``scale`` from ``conv_first``'s input channels (3 → ×4, 12 → ×2, 48 → ×1), ``num_block`` from the
    number of ``body.{i}`` blocks, ``num_feat``/``num_grow_ch`` from the first dense conv.
    """
    state = checkpoint_filter_fn(state)
    first, last = state.get("conv_first.weight"), state.get("conv_last.weight")
    if first is None or last is None or first.ndim != 4 or last.ndim != 4 or last.shape[0] != 3:
        return None
    if "conv_up2.weight" not in state or "conv_body.weight" not in state:
        return None
    blocks = [int(m.group(1)) for k in state if (m := _BODY_BLOCK.match(k))]
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        return None
    scales = {3 * r * r: s for s, r in _UNSHUFFLE.items()}
    if first.shape[1] not in scales:
        return None
    return {
        "scale": scales[int(first.shape[1])],
        "num_feat": int(first.shape[0]),
        "num_block": len(blocks),
        "num_grow_ch": int(state["body.0.rdb1.conv1.weight"].shape[0]),
    }


_PAPER = (
    "Wang et al., 'ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks', ECCVW 2018; "
    "x2/x1 pixel-unshuffle input from Real-ESRGAN, ICCVW 2021"
)


@register_model(
    scales=(1, 2, 4),
    default_scale=4,
    paper=_PAPER,
    checkpoint_filter_fn=checkpoint_filter_fn,
    detector=_detect,
)
def rrdbnet(**kwargs) -> RRDBNet:
    """ESRGAN / Real-ESRGAN RRDBNet: 23 RRDBs, 64 features, growth 32 (RealESRGAN_x4plus layout)."""
    return RRDBNet(**kwargs)
