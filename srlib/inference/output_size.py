"""The final size of an upscaled image or video frame: the model runs at its scale, then one resize.

:class:`OutputSize` is shared by ``upscale`` and ``upscale_video``:

1. an optional :class:`~srlib.data.FramePairPolicy` first brings the input to the geometry the model
   was trained on (``"resize_lr"``: LR resampled by ``ratio / scale``; ``"resize_hr"``: the output
   resampled to the native HR size) - the same object ``VideoPairDataModule`` trains with, so a
   144p->480p model upscales 144p video to 480p exactly as it learned;
2. the model runs at its own scale;
3. the result is resized once, with a named filter from :data:`srlib.ops.FILTERS`, to
   ``outscale`` x the input size, to ``size=(width, height)``, or to ``height`` (width keeping the
   aspect ratio, rounded to an even number for video codecs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from srlib.ops import resize
from srlib.ops.resize import resolve_filter

__all__ = ["OutputSize"]


@dataclass(frozen=True)
class OutputSize:
    """How big the output should be, and how to get there.

    Args:
        outscale: final size = input size x ``outscale`` (may differ from the model's scale: 3.5, 2).
        size: final ``(width, height)`` in pixels.
        height: final height; the width follows the input's aspect ratio (even, for video codecs).
        filter: the resize filter for the last step (``"bicubic"`` = MATLAB, ``"bilinear"``, ``"area"``,
            ``"torch_*"``).
        policy: a ``FramePairPolicy`` (or ``None``) applied around the model.

    Raises:
        ValueError: more than one of ``outscale`` / ``size`` / ``height``, non-positive values, or an
            unknown filter.

    Example:
        >>> import torch
        >>> spec = OutputSize(height=480)
        >>> spec.target(144, 256)
        (480, 854)
        >>> x4 = lambda x: x.repeat_interleave(4, -1).repeat_interleave(4, -2)  # a stand-in x4 model
        >>> spec.run(torch.rand(1, 3, 144, 256), x4).shape
        torch.Size([1, 3, 480, 854])
    """

    outscale: float | None = None
    size: tuple[int, int] | None = None
    height: int | None = None
    filter: str = "bicubic"
    policy: Any = None

    def __post_init__(self) -> None:
        given = [n for n in ("outscale", "size", "height") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"Give one of outscale, size or height, not {' and '.join(given)}.")
        if self.outscale is not None and not float(self.outscale) > 0:
            raise ValueError(f"outscale must be positive, got {self.outscale!r}.")
        if self.size is not None and (len(self.size) != 2 or min(int(v) for v in self.size) < 1):
            raise ValueError(f"size must be (width, height) in pixels, got {self.size!r}.")
        if self.height is not None and int(self.height) < 1:
            raise ValueError(f"height must be a positive number of pixels, got {self.height!r}.")
        object.__setattr__(self, "filter", resolve_filter(self.filter, where="output filter"))

    def target(self, h: int, w: int) -> tuple[int, int] | None:
        """The final ``(height, width)`` for an input of ``h x w``, or ``None`` to keep the model's."""
        if self.outscale is not None:
            return max(1, round(h * float(self.outscale))), max(1, round(w * float(self.outscale)))
        if self.size is not None:
            return int(self.size[1]), int(self.size[0])
        if self.height is not None:
            width = round(w * int(self.height) / h / 2) * 2
            return int(self.height), max(2, width)
        return None

    def run(self, x: Tensor, model: Callable[[Tensor], Tensor]) -> Tensor:
        """``x`` (``(..., h, w)``, float) through the policy, the model and the final resize."""
        lr = self.prepare(x)
        return self.finish(model(lr), lr.shape[-2:], x.shape[-2:])

    def prepare(self, x: Tensor) -> Tensor:
        """The model's input for ``x``: the policy's LR preparation (``x`` itself without a policy)."""
        return self.policy.prepare_lr_for_inference(x) if self.policy is not None else x

    def finish(self, sr: Tensor, lr_size: tuple[int, int], in_size: tuple[int, int]) -> Tensor:
        """The model's output ``sr`` for an LR of ``lr_size`` (an input of ``in_size``) at the final size."""
        if self.policy is not None:
            sr = self.policy.finish_output(sr, tuple(lr_size))
        target = self.target(*in_size)
        if target is not None and tuple(sr.shape[-2:]) != target:
            sr = resize(sr, target, filter=self.filter).clamp_(0.0, 1.0)
        return sr
