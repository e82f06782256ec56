"""vsr_recurrent: unidirectional recurrent video SR, frame in / frame out, constant memory.

Each step reads the current LR frame, the previous LR frame, a hidden state and the previous HR
output pixel-unshuffled to LR size (the recurrent latent space propagation of RLSP, Fuoli, Gu,
Timofte, ICCVW 2019, and the recurrent cell of AnimeSR's ``MSRSWVSR``, Wu et al., NeurIPS 2022,
``TencentARC/AnimeSR animesr/archs/vsr_arch.py``); it returns the HR frame and the next state. Only
the current and earlier frames are read (no look-ahead, no latency) and nothing grows with the
clip's length. The body is the residual PReLU stack, pixel-shuffle tail and bicubic base of
``vsr_frame`` (:mod:`srlib.models._vsr_blocks`); one more 3x3 convolution (``to_state``) gives the
next hidden state, squashed by ``tanh`` so that it stays bounded over thousands of frames.

**The state is one tensor** ``(B, num_state + 3·s² + 3, h, w)``: the hidden features, the previous
output (clamped to [0, 1], pixel-unshuffled) and the previous LR frame, concatenated in that order.
``init_state(frame)`` gives its zeros (the start of a video or of a scene), so ``step(frame, state)``
is a plain function of two tensors: it exports to ONNX and is carried between calls as is.

Cost at x4 (defaults: 48 channels, 2 body convs, 32 state channels): 113,184 multiply-adds per LR
pixel, 4.17 GMAC per 256x144 output frame (``vsr_frame``: 104,976; ``vsr_window``: 110,160);
113,552 parameters. The wide head (3 + 3 + 48 + 32 input channels) costs almost what two body
convolutions do, so the recurrent body is shallower at the same FLOPs; the state carries what depth
would have added.

**Tiles.** The state is per-pixel local: a step's output at a pixel depends on the frame and the
state within the step's receptive field (4 convolutions: ±4 LR pixels), so after ``n`` frames it
depends on the frames within ±4n pixels. Spatial tiles, each carrying its own state, are therefore consistent
only when the same tile grid is used for every frame of a scene (a state belongs to its tile);
then an output pixel farther than 4n pixels from its tile's border after ``n`` frames equals the
whole-frame output, and nearer the border it differs by what the overlap never brings in (blended
away by overlapping tiles). ``supports_tiling`` is set for that use: one grid and one state per
tile for a scene; a new grid needs ``init_state`` again.

Key names (srlib's own): ``head``, ``body.{i}``, ``tail`` as the other video models, plus
``to_state``; recognised by :func:`_detect`. AnimeSR's published ``MSRSWVSR`` checkpoint is a
different network (multi-scale cell, the *next* frame as input, about 0.86M multiply-adds per LR
pixel), so these keys are not made compatible with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._registry import register_model
from srlib.models._vsr_blocks import (
    SCALES,
    VideoSRBody,
    bicubic_base,
    body_layout,
    check_clip,
    check_frame,
    check_sizes,
    only_keys,
)

__all__ = ["VSRRecurrent"]

_NAME = "vsr_recurrent (VSRRecurrent)"


class VSRRecurrent(VideoSRBody):
    """Unidirectional recurrent video SR (hidden state + previous output fed back, no optical flow).

    Args:
        scale: 2, 3 or 4.
        num_feat: width of every convolution.
        num_conv: ``num_feat→num_feat`` convolutions between the head and the tail.
        num_state: channels of the hidden state carried between frames.

    Shape:
        - ``forward``: ``(B, T, 3, h, w)`` clip in [0, 1] → ``(B, T, 3, h*scale, w*scale)``, run
          forward in time from the zero state.
        - ``init_state``: ``(B, 3, h, w)`` frame → ``(B, state_channels, h, w)`` zeros.
        - ``step``: ``(B, 3, h, w)`` frame and state → ``(B, 3, h*scale, w*scale)`` and the next state.
        Outputs are clamped to [0, 1] in eval mode.

    Example:
        >>> net = VSRRecurrent(scale=2, num_feat=8, num_conv=1, num_state=4).eval()
        >>> frame = torch.rand(1, 3, 8, 8)
        >>> out, state = net.step(frame, net.init_state(frame))
        >>> tuple(out.shape), tuple(state.shape)
        ((1, 3, 16, 16), (1, 19, 8, 8))
        >>> net(torch.rand(1, 5, 3, 8, 8)).shape
        torch.Size([1, 5, 3, 16, 16])
    """

    def __init__(self, *, scale: int = 4, num_feat: int = 48, num_conv: int = 2, num_state: int = 32) -> None:
        super().__init__()
        check_sizes("VSRRecurrent", scale=scale, num_feat=num_feat, num_conv=num_conv)
        if num_state < 1:
            raise ValueError(f"VSRRecurrent needs num_state >= 1, got {num_state}.")
        self.scale = int(scale)
        self.num_state = num_state
        self.build_body(in_ch=3 + 3 + 3 * self.scale**2 + num_state, num_feat=num_feat, num_conv=num_conv)
        self.to_state = nn.Conv2d(num_feat, num_state, 3, padding=1)

    @property
    def state_channels(self) -> int:
        """Channels of the state tensor: hidden features, unshuffled previous output, previous frame."""
        return self.num_state + 3 * self.scale**2 + 3

    def init_state(self, frame: Tensor) -> Tensor:
        """The zero state for a video (or scene) starting with ``frame`` (its batch, size, dtype, device).

        Shape:
            - Input: ``(B, 3, h, w)``; output ``(B, state_channels, h, w)``.
        """
        check_frame(frame, _NAME, "init_state")
        b, _, h, w = frame.shape
        return frame.new_zeros(b, self.state_channels, h, w)

    def step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One frame in, one HR frame and the next state out.

        Shape:
            - ``frame``: ``(B, 3, h, w)``; ``state``: ``(B, state_channels, h, w)`` (from
              :meth:`init_state` or the previous step).
            - Returns ``(B, 3, h*scale, w*scale)`` and ``(B, state_channels, h, w)``.
        """
        check_frame(frame, _NAME, "step")
        if torch.jit.is_tracing():  # the ONNX export: sizes must not become constants of the graph
            return self._step(frame, state)
        expected = (frame.shape[0], self.state_channels, *frame.shape[2:])
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(
                f"{_NAME}.step got a state of shape {got}, expected {expected} for this frame; start "
                "with model.init_state(frame) and pass back the state each step returns."
            )
        return self._step(frame, state)

    def _step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        s = self.scale
        hidden, previous_out, previous_frame = torch.split(state, [self.num_state, 3 * s * s, 3], dim=1)
        x = torch.cat(
            [frame, previous_frame.to(frame.dtype), previous_out.to(frame.dtype), hidden.to(frame.dtype)], 1
        )
        feat = self.features(x)
        out = self.residual(feat) + bicubic_base(frame, s)
        shown = out.clamp(0.0, 1.0)
        fed_back = F.pixel_unshuffle(shown, s)
        new_hidden = torch.tanh(self.to_state(feat))
        dtype = torch.promote_types(new_hidden.dtype, fed_back.dtype)
        new_state = torch.cat([new_hidden.to(dtype), fed_back.to(dtype), frame.to(dtype)], 1)
        return (out if self.training else shown), new_state

    def forward(self, clip: Tensor) -> Tensor:
        """Every frame's output, run forward in time from the zero state (a loop of :meth:`step`).

        Shape:
            - Input: ``(B, T, 3, h, w)``, any ``T >= 1``; output ``(B, T, 3, h*scale, w*scale)``.
        """
        check_clip(
            clip,
            _NAME,
            "For one image use a per-frame model such as vsr_frame; for streaming call "
            "init_state(frame) once and step(frame, state) per frame.",
        )
        state = self.init_state(clip[:, 0])
        outputs = []
        for t in range(clip.shape[1]):  # time is sequential: each step needs the previous state
            out, state = self._step(clip[:, t], state)
            outputs.append(out)
        return torch.stack(outputs, dim=1)


def _detect(state: Mapping[str, Tensor]) -> dict | None:
    """Recognise VSRRecurrent weights: head/body/tail plus ``to_state``; the head reads
    ``6 + 3·s² + num_state`` channels (frame, previous frame, unshuffled previous output, state)."""
    layout = body_layout(state)
    to_state = state.get("to_state.weight")
    if layout is None or to_state is None or to_state.ndim != 4 or "to_state.bias" not in state:
        return None
    if not only_keys(state, "head", "body", "tail", "to_state"):
        return None
    in_ch, num_feat, num_conv, scale = layout
    num_state = int(to_state.shape[0])
    if to_state.shape[1] != num_feat or in_ch != 6 + 3 * scale * scale + num_state:
        return None
    return {"scale": scale, "num_feat": num_feat, "num_conv": num_conv, "num_state": num_state}


PAPER = (
    "srlib unidirectional recurrent VSR (after RLSP, Fuoli, Gu, Timofte, ICCVW 2019, and AnimeSR's "
    "recurrent cell, Wu et al., NeurIPS 2022), SRVGGNetCompact-style body (Real-ESRGAN, ICCVW 2021)"
)


@register_model(scales=SCALES, default_scale=4, paper=PAPER, detector=_detect, recurrent=True)
def vsr_recurrent(**kwargs) -> VSRRecurrent:
    """Unidirectional recurrent video SR: 48 channels, 2 body convs, 32 state channels."""
    return VSRRecurrent(**kwargs)
