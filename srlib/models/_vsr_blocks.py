"""What srlib's video models share: the conv body, the bicubic base, clip/frame checks, time padding.

``vsr_frame`` (per-frame), ``vsr_window`` (sliding window) and ``vsr_recurrent`` (unidirectional
recurrent) are one kind of network, so that comparing them measures what time adds and nothing else:

* a **head**: one 3x3 convolution + PReLU from the input channels (3 for one frame, ``3(2k+1)`` for an
  early-fused window, frame + previous frame + previous output + hidden state for a recurrent step)
  to ``num_feat`` channels;
* a **body**: ``num_conv`` x (3x3 convolution ``num_feat→num_feat`` + PReLU) with a residual skip
  over it (SRVGGNetCompact's plain stack, Real-ESRGAN; SPAN's long skip);
* a **tail**: a 3x3 convolution to ``3·s²`` channels and a pixel shuffle: a residual over the
  bicubic upsampled (centre/current) frame, so an untrained network already starts near bicubic.

All convolutions run at low resolution; the network is local (every output pixel depends on a fixed
neighbourhood of LR pixels), needs no size multiple, and exports to ONNX with standard operators.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.models._contract import float32_region
from srlib.models._layers import PReLU

__all__ = [
    "SCALES",
    "ConvAct",
    "VideoSRBody",
    "bicubic_base",
    "body_layout",
    "check_clip",
    "check_frame",
    "check_sizes",
    "only_keys",
    "reflect_index",
    "reflect_indices",
]

#: Scales of the video models (pixel shuffle x2, x3, x4).
SCALES = (2, 3, 4)
#: The tail's initial weights are scaled by this, so the residual starts small (output near bicubic).
TAIL_INIT_GAIN = 0.1
_BODY_CONV = re.compile(r"^body\.(\d+)\.conv\.weight$")


class ConvAct(nn.Module):
    """3x3 convolution + per-channel PReLU (keys ``conv.weight``/``conv.bias``, ``act.weight``).

    Shape:
        - Input: ``(B, in_ch, h, w)``; output ``(B, out_ch, h, w)``.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.act = PReLU(num_parameters=out_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class VideoSRBody(nn.Module):
    """Base of the video models: head, residual body and tail (keys ``head.*``, ``body.{i}.*``, ``tail.*``).

    Subclasses call :meth:`build_body` in ``__init__``; ``features(x)`` is the body's output
    (``num_feat`` channels: a recurrent model reads its next state from it) and ``residual(feat)``
    the tail's ``(B, 3, s·h, s·w)`` residual over the bicubic base.

    Shape:
        - ``features``: ``(B, in_ch, h, w) → (B, num_feat, h, w)``; ``residual``:
          ``(B, num_feat, h, w) → (B, 3, s·h, s·w)``.
    """

    scale: int

    def build_body(self, *, in_ch: int, num_feat: int, num_conv: int) -> None:
        self.head = ConvAct(in_ch, num_feat)
        self.body = nn.Sequential(*(ConvAct(num_feat, num_feat) for _ in range(num_conv)))
        self.tail = nn.Conv2d(num_feat, 3 * self.scale * self.scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(self.scale)
        with torch.no_grad():
            self.tail.weight.mul_(TAIL_INIT_GAIN)
            self.tail.bias.zero_()

    def features(self, x: Tensor) -> Tensor:
        feat = self.head(x)
        return self.body(feat) + feat

    def residual(self, feat: Tensor) -> Tensor:
        return self.shuffle(self.tail(feat))


def body_layout(state: Mapping[str, Tensor]) -> tuple[int, int, int, int] | None:
    """``(in_ch, num_feat, num_conv, scale)`` of a :class:`VideoSRBody` state dict, or ``None`` when
    its head/body/tail keys or shapes are not that layout (other keys are the caller's to check)."""
    head, tail = state.get("head.conv.weight"), state.get("tail.weight")
    if head is None or tail is None or head.ndim != 4 or tail.ndim != 4 or "tail.bias" not in state:
        return None
    num_feat = int(head.shape[0])
    convs = sorted(int(m.group(1)) for k in state if (m := _BODY_CONV.match(k)))
    if convs != list(range(len(convs))) or tail.shape[1] != num_feat:
        return None
    acts = ["head.act.weight"] + [f"body.{i}.act.weight" for i in convs]
    if any(key not in state or tuple(state[key].shape) != (num_feat,) for key in acts):
        return None
    if any(tuple(state[f"body.{i}.conv.weight"].shape) != (num_feat, num_feat, 3, 3) for i in convs):
        return None
    scale = math.isqrt(int(tail.shape[0]) // 3)
    if 3 * scale * scale != tail.shape[0] or scale not in SCALES:
        return None
    return int(head.shape[1]), num_feat, len(convs), scale


def only_keys(state: Mapping[str, Tensor], *modules: str) -> bool:
    """Whether every key of ``state`` belongs to one of the top-level ``modules``."""
    return all(k.split(".")[0] in modules for k in state)


def bicubic_base(frame: Tensor, scale: int) -> Tensor:
    """``frame`` upsampled ``scale`` times by bicubic interpolation, computed in float32.

    The base the networks learn a residual over; float32 so that bf16 runs keep the input's
    precision (the residual, not the base, is what the network computes in low precision).
    """
    with float32_region(frame):
        return F.interpolate(frame.float(), scale_factor=scale, mode="bicubic", align_corners=False)


def check_sizes(name: str, *, scale: int, num_feat: int, num_conv: int) -> None:
    """Raise one clear ``ValueError`` for an unsupported scale or a non-positive width/depth."""
    if scale not in SCALES:
        raise ValueError(f"{name} supports scale 2, 3 or 4, got {scale!r}.")
    if num_feat < 1 or num_conv < 0:
        raise ValueError(f"{name} needs num_feat >= 1 and num_conv >= 0, got {num_feat} and {num_conv}.")


def _check_float_rgb(x: Tensor, channel_dim: int, name: str, layout: str) -> None:
    if x.shape[channel_dim] != 3:
        raise ValueError(
            f"{name} expects RGB frames with 3 channels {layout}, got {x.shape[channel_dim]} "
            f"(shape {tuple(x.shape)})."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} expects float frames in [0, 1], got {x.dtype}. Use x.float() / 255 for uint8 frames."
        )


def check_clip(x: Tensor, name: str, single: str) -> None:
    """Raise a clear error unless ``x`` is a float ``(B, T, 3, h, w)`` clip with ``T >= 1``.

    ``single`` says what to use for one image instead (named in the 4-D error). Skipped while
    ``torch.jit`` traces (the ONNX export): the trace would record the sizes as constants.
    """
    if torch.jit.is_tracing():
        return
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a torch.Tensor clip, got {type(x).__name__}.")
    if x.ndim != 5:
        got = "a 4-D image batch" if x.ndim == 4 else f"a {x.ndim}-D tensor"
        raise ValueError(
            f"{name} is a video model: it needs (B, T, 3, h, w) clips, got {got} of shape "
            f"{tuple(x.shape)}. {single}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"{name} got a clip with no frames (T=0, shape {tuple(x.shape)}); T must be >= 1.")
    _check_float_rgb(x, 2, name, "in (B, T, 3, h, w)")


def check_frame(x: Tensor, name: str, what: str) -> None:
    """Raise a clear error unless ``x`` is one float ``(B, 3, h, w)`` frame (``what`` names the call).

    Skipped while ``torch.jit`` traces, as :func:`check_clip`.
    """
    if torch.jit.is_tracing():
        return
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}.{what} expects a torch.Tensor frame, got {type(x).__name__}.")
    if x.ndim != 4:
        raise ValueError(f"{name}.{what} expects one (B, 3, h, w) frame, got shape {tuple(x.shape)}.")
    _check_float_rgb(x, 1, f"{name}.{what}", "in (B, 3, h, w)")


def reflect_index(index: int, length: int) -> int:
    """``index`` reflected into ``[0, length)``, the edge not repeated (``-1 → 1``, ``length → length-2``).

    Repeated for indices beyond one length (short clips); a one-frame clip maps everything to 0.

    Example:
        >>> [reflect_index(i, 4) for i in range(-2, 6)]
        [2, 1, 0, 1, 2, 3, 2, 1]
    """
    if length == 1:
        return 0
    period = 2 * (length - 1)
    index %= period
    return index if index < length else period - index


def reflect_indices(length: int, radius: int) -> list[list[int]]:
    """The frame indices of every window ``t-radius .. t+radius`` of a clip of ``length`` frames,
    the clip's ends padded by reflection in time."""
    return [[reflect_index(t + d, length) for d in range(-radius, radius + 1)] for t in range(length)]
