"""vsr_window: sliding-window video SR with early fusion, no optical flow, no deformable convolution.

Output frame ``t`` is made from the ``2k+1`` LR frames ``t-k .. t+k`` stacked on the channel axis and
read by the first convolution (early fusion, the idea of TemporalSPAN in traiNNer-redux,
``traiNNer/archs/temporal_span_arch.py``, and of VESPCN's early-fusion variant, Caballero et al.,
CVPR 2017); then the residual PReLU body, pixel-shuffle tail and bicubic base of the centre frame
shared with ``vsr_frame`` (:mod:`srlib.models._vsr_blocks`). Without an alignment network, motion is
handled by the body's receptive field (6 convolutions: ±6 LR pixels), enough for the sub-pixel pans
and slow zooms of platform video; the neighbours add the samples a moving camera puts between the
centre frame's pixels.

**k = 2 (5 frames) by default.** Early fusion makes more frames nearly free: the head reads 15
channels instead of 9, +2.4% FLOPs over k=1, while a 5-frame window sees twice the sub-pixel
positions and is what TemporalSPAN, EDVR and TDAN use. The price is latency (outputs lag the input by
k frames in streaming) and a k-frame buffer, negligible at 144p. ``radius=1`` builds the 3-frame model.

Cost at x4 (defaults): 110,160 multiply-adds per LR pixel, 4.06 GMAC per 256x144 output frame (the
per-frame ``vsr_frame``: 104,976); 110,688 parameters.

Interfaces (the video models' contract):

* ``model(clip)`` with ``clip (B, T, 3, h, w)`` gives every frame's output ``(B, T, 3, s·h, s·w)``,
  the clip's ends padded by reflection in time (frame ``-1`` is frame 1, frame ``T`` is frame
  ``T-2``), as training clips are;
* ``model.forward_window(window (B, 2k+1, 3, h, w))`` gives the centre frame's output
  ``(B, 3, s·h, s·w)``: what a streaming runner calls once its buffer holds a window.

Key names (srlib's own): ``head.conv``/``head.act`` (its input ``3(2k+1)`` channels, frame-major:
frame 0's RGB first), ``body.{i}.conv``/``body.{i}.act``, ``tail``; recognised by :func:`_detect`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from srlib.models._registry import register_model
from srlib.models._vsr_blocks import (
    SCALES,
    VideoSRBody,
    bicubic_base,
    body_layout,
    check_clip,
    check_sizes,
    only_keys,
    reflect_indices,
)

__all__ = ["VSRWindow"]

_NAME = "vsr_window (VSRWindow)"


class VSRWindow(VideoSRBody):
    """Sliding-window video SR: ``2·radius+1`` frames fused at the first convolution, one output frame.

    Args:
        scale: 2, 3 or 4.
        radius: ``k``, the frames on each side of the centre (window of ``2k+1`` frames).
        num_feat: width of every convolution.
        num_conv: ``num_feat→num_feat`` convolutions between the head and the tail.

    Attributes:
        radius: ``k``; ``frames`` is ``2k+1``.

    Shape:
        - ``forward``: ``(B, T, 3, h, w)`` clip in [0, 1] → ``(B, T, 3, h*scale, w*scale)``.
        - ``forward_window``: ``(B, 2k+1, 3, h, w)`` → ``(B, 3, h*scale, w*scale)``.
        Outputs are clamped to [0, 1] in eval mode.

    Example:
        >>> net = VSRWindow(scale=2, radius=1, num_feat=8, num_conv=1).eval()
        >>> net(torch.rand(1, 4, 3, 8, 8)).shape
        torch.Size([1, 4, 3, 16, 16])
        >>> net.forward_window(torch.rand(1, 3, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, *, scale: int = 4, radius: int = 2, num_feat: int = 48, num_conv: int = 4) -> None:
        super().__init__()
        check_sizes("VSRWindow", scale=scale, num_feat=num_feat, num_conv=num_conv)
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
            raise ValueError(
                f"VSRWindow radius must be an integer >= 1 (window of 2*radius+1 frames), got {radius!r}; "
                "for one frame use vsr_frame."
            )
        self.scale = int(scale)
        self.radius = radius
        self.build_body(in_ch=3 * self.frames, num_feat=num_feat, num_conv=num_conv)

    @property
    def frames(self) -> int:
        """Input frames per output frame (``2·radius+1``)."""
        return 2 * self.radius + 1

    def _fused(self, windows: Tensor) -> Tensor:
        """Output of the centre frame of each ``(N, 2k+1, 3, h, w)`` window (inputs already checked)."""
        out = self.residual(self.features(windows.flatten(1, 2)))
        out = out + bicubic_base(windows[:, self.radius], self.scale)
        return out if self.training else out.clamp(0.0, 1.0)

    def forward_window(self, window: Tensor) -> Tensor:
        """The centre frame's output for one window of ``2k+1`` consecutive frames.

        Shape:
            - Input: ``(B, 2k+1, 3, h, w)``; output ``(B, 3, h*scale, w*scale)``.
        """
        check_clip(window, _NAME, self._single_hint)
        if not torch.jit.is_tracing() and window.shape[1] != self.frames:
            raise ValueError(
                f"{_NAME}.forward_window needs windows of 2*radius+1 = {self.frames} frames, got "
                f"{window.shape[1]} (shape {tuple(window.shape)}); use model(clip) for clips of any length."
            )
        return self._fused(window)

    def forward(self, clip: Tensor) -> Tensor:
        """Every frame's output for a clip, its ends padded by reflection in time.

        Shape:
            - Input: ``(B, T, 3, h, w)``, any ``T >= 1``; output ``(B, T, 3, h*scale, w*scale)``.
        """
        check_clip(clip, _NAME, self._single_hint)
        b, t = clip.shape[:2]
        index = torch.tensor(reflect_indices(t, self.radius), device=clip.device)  # (T, 2k+1)
        windows = clip[:, index].flatten(0, 1)  # (B*T, 2k+1, 3, h, w)
        out = self._fused(windows)
        return out.unflatten(0, (b, t))

    @property
    def _single_hint(self) -> str:
        return (
            f"For one image use a per-frame model such as vsr_frame; for one window of {self.frames} "
            "frames call forward_window((B, 2k+1, 3, h, w))."
        )


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise VSRWindow weights: the head/body/tail keys, the head fed ``3(2k+1)`` channels, k >= 1."""
    layout = body_layout(state)
    if layout is None or not only_keys(state, "head", "body", "tail"):
        return None
    in_ch, num_feat, num_conv, scale = layout
    if in_ch % 3 or (in_ch // 3) % 2 == 0 or in_ch < 9:
        return None
    return {"scale": scale, "radius": (in_ch // 3 - 1) // 2, "num_feat": num_feat, "num_conv": num_conv}


PAPER = (
    "srlib sliding-window VSR: early fusion of 2k+1 frames (after TemporalSPAN, traiNNer-redux, and "
    "VESPCN, Caballero et al., CVPR 2017) into an SRVGGNetCompact-style body (Real-ESRGAN, ICCVW 2021)"
)


@register_model(scales=SCALES, default_scale=4, paper=PAPER, detector=_detect, frames=5)
def vsr_window(**kwargs) -> VSRWindow:
    """Sliding-window video SR: 5 frames (radius 2) fused early, 48 channels, 4 body convs."""
    return VSRWindow(**kwargs)
