"""The size policy: how LR/HR frames that are not exactly ``scale`` apart become training pairs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from srlib.data.video._fields import settings_from
from srlib.ops.resize import FACTOR_FILTERS, resize, resolve_filter

SIZE_POLICIES = ("none", "resize_lr", "resize_hr")
#: The resize filters a policy can use: those of :data:`srlib.ops.FILTERS` that resample by an exact factor.
FILTERS = FACTOR_FILTERS


@dataclass(frozen=True)
class FramePairPolicy:
    """How LR/HR frames whose size ratio is not exactly ``scale`` become training pairs (and how the
    same choice is repeated at inference).

    Policies (chosen explicitly; nothing is resized silently):

    - ``"none"``: the HR frame must be exactly ``scale`` times the LR frame, else an error.
    - ``"resize_lr"``: the HR frame is cropped at its bottom/right to a multiple of ``scale`` (fewer
      than ``scale`` pixels) and the LR frame is resampled to ``HR / scale`` with the named filter,
      using the clip's exact per-axis ratio so the two stay aligned to the pixel. The network learns
      the true HR frames; at inference :meth:`prepare_lr_for_inference` resamples a new LR frame by the
      same factor ``ratio / scale`` before the network.
    - ``"resize_hr"``: the HR frame is resampled to ``LR * scale``. The network learns a
      lower-resolution target; :meth:`finish_output` can resample its output to the native HR size.

    Frames exactly ``scale`` apart are never resized, whatever the policy. With a policy other than
    ``"none"``, a ratio (per axis) more than ``max_ratio_deviation`` (relative) away from ``scale`` is
    an error naming the clip and both sizes: ×3.33 (144p→480p) passes for ``scale=3`` or ``4`` with
    the default 0.25, not for ``scale=2``.

    Filters (srlib's resampling vocabulary, :mod:`srlib.ops.resize`; the alias ``"matlab"`` is
    ``"bicubic"``): ``"bicubic"`` = MATLAB-compatible bicubic (:func:`srlib.ops.imresize`, antialiased
    when shrinking); ``"bilinear"`` = triangle filter (antialiased when shrinking, as
    ``F.interpolate(..., antialias=True)``); ``"area"`` = exact pixel-area averaging.

    Args:
        scale: the network's integer upscaling factor.
        size_policy: ``"none"``, ``"resize_lr"`` or ``"resize_hr"``.
        filter: ``"bicubic"``, ``"bilinear"`` or ``"area"``.
        max_ratio_deviation: largest allowed ``|ratio / scale - 1|`` per axis.
        ratio: the data's native ``(H_hr / H_lr, W_hr / W_lr)``, needed at inference by
            ``"resize_lr"`` (and by :meth:`finish_output`); :class:`VideoFramePairDataset` fills it in
            from the clips (``dataset.policy``). Not part of the training cache key.

    Shape:
        - apply: lr ``(..., C, h, w)``, hr ``(..., C, H, W)`` -> lr ``(..., C, h', w')``,
          hr ``(..., C, h' * scale, w' * scale)``; uint8 or float, dtype kept.

    Example:
        >>> policy = FramePairPolicy(scale=3, size_policy="resize_lr", filter="bicubic")
        >>> lr, hr = torch.rand(3, 144, 256), torch.rand(3, 480, 854)
        >>> lr2, hr2 = policy.apply(lr, hr)
        >>> tuple(lr2.shape), tuple(hr2.shape)
        ((3, 160, 284), (3, 480, 852))
        >>> infer = FramePairPolicy(scale=3, size_policy="resize_lr", ratio=(480 / 144, 854 / 256))
        >>> infer.prepare_lr_for_inference(lr).shape
        torch.Size([3, 160, 284])
    """

    scale: int
    size_policy: str = "none"
    filter: str = "bicubic"
    max_ratio_deviation: float = 0.25
    ratio: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if int(self.scale) != self.scale or self.scale < 1:
            raise ValueError(f"FramePairPolicy scale must be a positive integer, got {self.scale!r}.")
        object.__setattr__(self, "scale", int(self.scale))
        if self.size_policy not in SIZE_POLICIES:
            raise ValueError(
                f"Unknown size_policy {self.size_policy!r}; choose one of {', '.join(SIZE_POLICIES)}."
            )
        object.__setattr__(
            self, "filter", resolve_filter(self.filter, allowed=FILTERS, where="FramePairPolicy.filter")
        )
        if not self.max_ratio_deviation >= 0:
            raise ValueError(f"max_ratio_deviation must be >= 0, got {self.max_ratio_deviation!r}.")
        if self.ratio is not None:
            ratio = tuple(float(r) for r in self.ratio)
            if len(ratio) != 2 or min(ratio) <= 0:
                raise ValueError(
                    f"ratio must be two positive numbers (H_hr/H_lr, W_hr/W_lr), got {self.ratio!r}."
                )
            object.__setattr__(self, "ratio", ratio)

    def cache_fields(self) -> dict[str, Any]:
        """The fields that change the training pairs (everything but ``ratio``)."""
        return {
            "scale": self.scale,
            "size_policy": self.size_policy,
            "filter": self.filter,
            "max_ratio_deviation": self.max_ratio_deviation,
        }

    def check(
        self, lr_size: Sequence[int], hr_size: Sequence[int], name: str = "clip"
    ) -> tuple[float, float]:
        """Validate the sizes ``(h, w)`` / ``(H, W)`` of one pair; returns the ``(H/h, W/w)`` ratio.

        Raises:
            ValueError: sizes not exactly ``scale`` apart under ``"none"``, a ratio beyond
                ``max_ratio_deviation``, or an HR frame too small for one LR pixel.
        """
        (h, w), (H, W), s = (int(v) for v in lr_size), (int(v) for v in hr_size), self.scale
        if min(h, w, H, W) < 1:
            raise ValueError(f"{name}: empty frame (LR {w}x{h}, HR {W}x{H}).")
        ratio = (H / h, W / w)
        if (h * s, w * s) == (H, W):
            return ratio
        sizes = f"LR {w}x{h}, HR {W}x{H} (ratio x{ratio[1]:.3f} wide, x{ratio[0]:.3f} high)"
        if self.size_policy == "none":
            raise ValueError(
                f"{name}: {sizes} are not exactly x{s} apart. Choose an explicit size policy: "
                "size_policy='resize_lr' (resample LR to HR/scale) or 'resize_hr' (resample HR to LR*scale), "
                "with filter='bicubic'|'bilinear'|'area'."
            )
        deviation = max(abs(r / s - 1.0) for r in ratio)
        if deviation > self.max_ratio_deviation:
            raise ValueError(
                f"{name}: {sizes} differ from scale x{s} by {deviation:.1%}, more than "
                f"max_ratio_deviation={self.max_ratio_deviation:g} allows. Use a scale closer to the ratio "
                "or raise max_ratio_deviation."
            )
        if min(H, W) < s:
            raise ValueError(f"{name}: HR frame {W}x{H} is smaller than scale x{s}.")
        return ratio

    def apply(self, lr: Tensor, hr: Tensor, name: str = "clip") -> tuple[Tensor, Tensor]:
        """Turn one LR/HR frame pair (or batch of pairs) into an exact ``scale`` pair.

        Shape:
            - lr: ``(..., C, h, w)``; hr: ``(..., C, H, W)``.
            - output: ``(..., C, h', w')`` and ``(..., C, h' * scale, w' * scale)``.
        """
        (h, w), (H, W), s = lr.shape[-2:], hr.shape[-2:], self.scale
        ratio = self.check((h, w), (H, W), name)
        if (h * s, w * s) == (H, W):
            return lr, hr
        if self.size_policy == "resize_lr":
            out_h, out_w = H // s, W // s
            hr = hr[..., : out_h * s, : out_w * s]
            lr = resize(lr, (out_h, out_w), scale=(ratio[0] / s, ratio[1] / s), filter=self.filter)
            return lr, hr
        return lr, resize(hr, (h * s, w * s), filter=self.filter)

    def _need_ratio(self, what: str) -> tuple[float, float]:
        if self.ratio is None:
            raise ValueError(
                f"FramePairPolicy.{what} needs the data's native size ratio: pass "
                "ratio=(H_hr/H_lr, W_hr/W_lr), e.g. the `policy` of the VideoFramePairDataset you "
                "trained on (it fills ratio in)."
            )
        return self.ratio

    def prepare_lr_for_inference(self, lr: Tensor) -> Tensor:
        """Bring a native LR frame to what the network saw in training (the same policy and filter).

        ``"resize_lr"`` resamples by ``ratio / scale`` per axis (e.g. 256x144 -> 284x160 for a
        144p->480p ×3 model; the same pixels as the training LR frames); the other policies return
        ``lr`` unchanged.

        Shape:
            - lr: ``(..., C, h, w)``.
            - output: ``(..., C, floor(h * ratio_h / scale), floor(w * ratio_w / scale))``.
        """
        if self.size_policy != "resize_lr":
            return lr
        rh, rw = self._need_ratio("prepare_lr_for_inference")
        h, w = lr.shape[-2:]
        fh, fw = rh / self.scale, rw / self.scale
        # floor, as in training (LR frames are resampled to floor(H / scale) there).
        out = (max(1, math.floor(h * fh + 1e-6)), max(1, math.floor(w * fw + 1e-6)))
        if abs(fh - 1) < 1e-12 and abs(fw - 1) < 1e-12:
            return lr
        return resize(lr, out, scale=(fh, fw), filter=self.filter)

    def finish_output(self, sr: Tensor, lr_size: Sequence[int]) -> Tensor:
        """Resample a network output to the native HR size of an LR frame of size ``lr_size``.

        Only ``"resize_hr"`` changes anything (its network outputs ``LR * scale``, not the native
        HR size); with ``"resize_lr"``/``"none"`` the output already has the trained geometry.

        Shape:
            - sr: ``(..., C, h * scale, w * scale)``.
            - output: ``(..., C, round(h * ratio_h), round(w * ratio_w))``.
        """
        if self.size_policy != "resize_hr":
            return sr
        rh, rw = self._need_ratio("finish_output")
        h, w = (int(v) for v in lr_size)
        return resize(sr, (max(1, round(h * rh)), max(1, round(w * rw))), filter=self.filter)


def as_policy(value: FramePairPolicy | Mapping[str, Any] | None, *, scale: int) -> FramePairPolicy:
    """A :class:`FramePairPolicy` for ``scale`` from itself, a mapping of its fields (``scale`` may be left
    out) or ``None`` (``size_policy="none"``).

    Raises:
        ValueError: the policy's scale differs from ``scale``, or an unknown field.

    Example:
        >>> policy = as_policy({"size_policy": "resize_lr"}, scale=3)
        >>> policy.scale, policy.size_policy, policy.filter
        (3, 'resize_lr', 'bicubic')
    """
    policy = settings_from(FramePairPolicy, value, "policy", scale=scale)
    if policy.scale != int(scale):
        raise ValueError(f"The FramePairPolicy's scale {policy.scale} differs from scale={scale}.")
    return policy
