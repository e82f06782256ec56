"""FSRCNN: Fast Super-Resolution CNN (Dong, Loy, Tang, ECCV 2016, https://arxiv.org/abs/1608.00367).

Feature extraction conv5x5 C→d + PReLU(d); shrinking conv1x1 d→s + PReLU(s); ``m`` mapping layers
conv3x3 s→s + PReLU(s); expanding conv1x1 s→d + PReLU(d); and a 9x9 transposed convolution with
stride ``scale`` (padding 4, output padding ``scale - 1``) that produces the HR image directly from
the LR features. The paper's FSRCNN is d=56, s=12, m=4 (12,809 parameters on one channel, any
scale: only the stride of the last layer changes with the scale).

Key names and initialisation follow yjn870/FSRCNN-pytorch (``first_part``, ``mid_part``,
``last_part``), the source of the DeepClarity ``fsrcnn_x4`` weights, so those files load strictly.
``in_chans=1`` (the default, as published) runs the network on the BT.601 studio-range Y channel
of the LR image and takes Cb/Cr from MATLAB-bicubic upsampling; ``in_chans=3`` runs it on RGB.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from srlib.models._contract import check_lr_input, float32_region, to_network
from srlib.models._layers import PReLU
from srlib.models._registry import register_model
from srlib.ops import imresize, rgb_to_ycbcr, ycbcr_to_rgb

__all__ = ["FSRCNN"]

log = logging.getLogger(__name__)


class FSRCNN(nn.Module):
    """FSRCNN with a transposed-convolution tail.

    Args:
        scale: upscaling factor (the stride of the transposed convolution).
        in_chans: 1 = Y-channel model (published), 3 = RGB model.
        d: feature width (56 in the paper).
        s: shrunk width of the mapping layers (12 in the paper).
        m: number of 3x3 mapping layers (4 in the paper).

    Shape:
        - Input: ``(B, 3, H, W)`` RGB in [0, 1]; output ``(B, 3, H*scale, W*scale)`` in [0, 1].

    Example:
        >>> net = FSRCNN(scale=4).eval()
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 32, 32])
        >>> sum(p.numel() for p in net.parameters())
        12809
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        in_chans: Literal[1, 3] = 1,
        d: int = 56,
        s: int = 12,
        m: int = 4,
    ) -> None:
        super().__init__()
        if in_chans not in (1, 3):
            raise ValueError(f"FSRCNN in_chans must be 1 (Y channel) or 3 (RGB), got {in_chans}.")
        if scale < 1:
            raise ValueError(f"FSRCNN scale must be a positive integer, got {scale}.")
        if d < 1 or s < 1 or m < 0:
            raise ValueError(f"FSRCNN needs d >= 1, s >= 1 and m >= 0; got d={d}, s={s}, m={m}.")
        self.scale = int(scale)
        self.in_chans = in_chans
        self.first_part = nn.Sequential(nn.Conv2d(in_chans, d, 5, padding=2), PReLU(d))
        mid: list[nn.Module] = [nn.Conv2d(d, s, 1), PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        # Output size (H-1)*scale - 2*4 + 9 + (scale-1) = H*scale.
        self.last_part = nn.ConvTranspose2d(
            d, in_chans, 9, stride=self.scale, padding=4, output_padding=self.scale - 1
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """yjn870's init: convs He-normal over fan-out (std sqrt(2/(out*k*k))), zero bias; tail std 1e-3."""
        for layer in (*self.first_part, *self.mid_part):
            if isinstance(layer, nn.Conv2d):
                fan_out = layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1]
                nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / fan_out))
                nn.init.zeros_(layer.bias)
        nn.init.normal_(self.last_part.weight, 0.0, 1e-3)
        nn.init.zeros_(self.last_part.bias)

    def features(self, x: Tensor) -> Tensor:
        """The bare network on ``(B, in_chans, H, W)``: returns ``(B, in_chans, H*scale, W*scale)``."""
        return self.last_part(self.mid_part(self.first_part(x)))

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "FSRCNN")
        if self.in_chans == 3:
            out = self.features(to_network(x, self.first_part)).float()
        else:
            with float32_region(x):
                ycbcr = rgb_to_ycbcr(x.float())
                y_lr = ycbcr[:, :1]
                # Chroma is not learned: MATLAB-bicubic upsampled Cb/Cr, as the reference evaluation.
                # (The colour transform is affine and the resize's weights sum to 1, so resizing Cb/Cr
                # equals converting the resized RGB, with a third less resizing.)
                cbcr = imresize(ycbcr[:, 1:], float(self.scale))
            y_hr = self.features(to_network(y_lr, self.first_part))
            with float32_region(x):
                out = ycbcr_to_rgb(torch.cat([y_hr.float(), cbcr], dim=1))
        return out if self.training else out.clamp(0.0, 1.0)


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise yjn870-layout FSRCNN weights; infer channels, d, s and m from shapes.

    The transposed-conv weight has the same shape at every scale, so the scale cannot be read from
    the file: ×4 is assumed (pass ``scale=`` to ``srlib.load_model`` for other files).
    """
    first, last = state.get("first_part.0.weight"), state.get("last_part.weight")
    shrink = state.get("mid_part.0.weight")
    if first is None or last is None or shrink is None or first.ndim != 4 or last.ndim != 4:
        return None
    convs = [k for k in state if k.startswith("mid_part.") and k.endswith(".weight") and state[k].ndim == 4]
    log.info("FSRCNN checkpoints do not record their scale; assuming x4 (pass scale=2 or 3 to override).")
    return {
        "scale": 4,
        "in_chans": int(first.shape[1]),
        "d": int(first.shape[0]),
        "s": int(shrink.shape[0]),
        "m": len(convs) - 2,
    }


_PAPER = "Dong, Loy, Tang, 'Accelerating the Super-Resolution Convolutional Neural Network', ECCV 2016"


@register_model(scales=(2, 3, 4), default_scale=4, paper=_PAPER, detector=_detect)
def fsrcnn(**kwargs) -> FSRCNN:
    """FSRCNN (d=56, s=12, m=4), Y-channel as published (``in_chans=3`` for RGB), 12.8k params."""
    return FSRCNN(**kwargs)
