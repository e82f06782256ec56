"""vsr_frame: the per-frame counterpart of srlib's video models, an ordinary image SR network.

The same head / residual PReLU body / pixel-shuffle tail / bicubic base as ``vsr_window`` and
``vsr_recurrent`` (:mod:`srlib.models._vsr_blocks`: after SRVGGNetCompact, Wang et al., Real-ESRGAN,
ICCVW 2021, with SPAN's long residual), fed one frame. Its defaults (48 channels, 4 body convolutions)
give about the FLOPs per output frame of the two temporal models, so training it on the same frames
with the same budget measures what looking across time gains, at matched cost.

Cost at x4: 104,976 multiply-adds per LR pixel (3.87 GMAC for a 256x144 frame); 105,504 parameters.

Key names: ``head.conv``/``head.act``, ``body.{i}.conv``/``body.{i}.act``, ``tail`` (srlib's own; no
published checkpoint uses this layout). A state dict of them is recognised by :func:`_detect`.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from srlib.models._contract import check_lr_input, to_network
from srlib.models._registry import register_model
from srlib.models._vsr_blocks import SCALES, VideoSRBody, bicubic_base, body_layout, check_sizes, only_keys

__all__ = ["VSRFrame"]


class VSRFrame(VideoSRBody):
    """Per-frame SR with the body of srlib's video models (all convolutions at low resolution).

    Args:
        scale: 2, 3 or 4.
        num_feat: width of every convolution.
        num_conv: ``num_feat→num_feat`` convolutions between the head and the tail.

    Shape:
        - Input: ``(B, 3, h, w)`` RGB in [0, 1].
        - Output: ``(B, 3, h*scale, w*scale)``, clamped to [0, 1] in eval mode.

    Example:
        >>> import torch
        >>> net = VSRFrame(scale=2, num_feat=8, num_conv=1).eval()
        >>> net(torch.rand(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, *, scale: int = 4, num_feat: int = 48, num_conv: int = 4) -> None:
        super().__init__()
        check_sizes("VSRFrame", scale=scale, num_feat=num_feat, num_conv=num_conv)
        self.scale = int(scale)
        self.build_body(in_ch=3, num_feat=num_feat, num_conv=num_conv)

    def forward(self, x: Tensor) -> Tensor:
        check_lr_input(x, "VSRFrame")
        out = self.residual(self.features(to_network(x, self))) + bicubic_base(x, self.scale)
        return out if self.training else out.clamp(0.0, 1.0)


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise VSRFrame weights: only the head/body/tail keys, the head fed one RGB frame."""
    layout = body_layout(state)
    if layout is None or layout[0] != 3 or not only_keys(state, "head", "body", "tail"):
        return None
    _, num_feat, num_conv, scale = layout
    return {"scale": scale, "num_feat": num_feat, "num_conv": num_conv}


PAPER = (
    "srlib per-frame counterpart of its video models (SRVGGNetCompact-style body after Wang et al., "
    "Real-ESRGAN, ICCVW 2021; long skip after SPAN, Wan et al., CVPRW 2024)"
)


@register_model(scales=SCALES, default_scale=4, paper=PAPER, detector=_detect)
def vsr_frame(**kwargs) -> VSRFrame:
    """Per-frame SR of matched FLOPs to vsr_window/vsr_recurrent: 48 channels, 4 body convs."""
    return VSRFrame(**kwargs)
