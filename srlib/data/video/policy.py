"""The size policy: how LR/HR frames that are not exactly ``scale`` apart become training pairs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from srlib.data.video._fields import settings_from
from srlib.ops import imresize

SIZE_POLICIES = ("none", "resize_lr", "resize_hr")
FILTERS = ("bicubic", "bilinear", "area")


# ----------------------------------------------------------------------------------------------------
# Resizing helpers (exact per-axis factors, so cropped HR frames and resized LR frames stay aligned)
# ----------------------------------------------------------------------------------------------------


def _linear_matrix(in_len: int, out_len: int, factor: float, kind: str) -> Tensor:
    """``(out_len, in_len)`` float64 resampling matrix; output pixel ``j`` is centred on input
    coordinate ``(j + 0.5) / factor - 0.5`` (pixel centres, 0-based), i.e. the output grid starts at
    the input's left edge and advances ``1 / factor`` input pixels per output pixel."""
    src = torch.arange(in_len, dtype=torch.float64)
    dst = torch.arange(out_len, dtype=torch.float64)
    if kind == "area":
        # Output pixel j covers [j/f, (j+1)/f) in edge coordinates; weight = overlap with [i, i+1).
        lo, hi = dst / factor, (dst + 1) / factor
        overlap = torch.minimum(hi[:, None], src[None, :] + 1) - torch.maximum(lo[:, None], src[None, :])
        weights = overlap.clamp(min=0)
    elif kind == "bilinear":
        # Triangle filter, stretched by 1/f when shrinking (antialiasing, as torch's antialias=True);
        # taps outside the image are dropped and the rest renormalised.
        stretch = max(1.0 / factor, 1.0)
        centre = (dst + 0.5) / factor - 0.5
        weights = (1.0 - (src[None, :] - centre[:, None]).abs() / stretch).clamp(min=0)
    else:  # pragma: no cover - guarded by the callers
        raise ValueError(f"Unknown filter {kind!r}.")
    total = weights.sum(dim=1, keepdim=True)
    if bool((total <= 0).any()):
        # An output pixel beyond the input's far edge (only when cropping to more than exists): use the
        # nearest input pixel.
        nearest = ((dst + 0.5) / factor - 0.5).round().clamp(0, in_len - 1).long()
        fallback = torch.zeros_like(weights).scatter_(1, nearest[:, None], 1.0)
        weights = torch.where(total > 0, weights, fallback)
        total = weights.sum(dim=1, keepdim=True)
    return weights / total


def _imresize_axis(x: Tensor, factor: float, axis: int) -> Tensor:
    """MATLAB bicubic along one axis (``-2`` rows, ``-1`` columns) by an exact factor.

    :func:`srlib.ops.imresize` takes one scale for both axes; resizing an image whose other axis is
    moved out of the way (a width-1 column, which the kernel leaves unchanged) gives per-axis factors
    without touching its arithmetic. The output length is ``ceil(length * factor)``.
    """
    if axis == -2:
        y = imresize(x.transpose(-1, -2).unsqueeze(-1), factor)
        return y[..., 0].transpose(-1, -2)
    return imresize(x.unsqueeze(-1), factor)[..., 0]


def _resize_by_factor(
    x: Tensor, factors: tuple[float, float], out_size: tuple[int, int], filter: str
) -> Tensor:
    """Resample ``x`` with exact per-axis ``factors`` and keep the top-left ``out_size``.

    Unlike resizing to a size, the factor fixes the geometry: output pixel ``j`` sits at input
    position ``(j + 0.5) / factor - 0.5``, whatever ``out_size`` is.
    """
    is_uint8 = x.dtype == torch.uint8
    y = x.float() if is_uint8 or x.dtype in (torch.float16, torch.bfloat16) else x
    in_h, in_w = y.shape[-2:]
    out_h, out_w = out_size
    # MATLAB's order: the axis with the smaller factor first (rows on a tie).
    axes = (-2, -1) if factors[0] <= factors[1] else (-1, -2)
    for axis in axes:
        f = factors[0] if axis == -2 else factors[1]
        in_len, out_len = (in_h, out_h) if axis == -2 else (in_w, out_w)
        if f == 1.0 and out_len == in_len:
            continue
        if filter == "bicubic":
            y = _imresize_axis(y, f, axis)
            if is_uint8:  # MATLAB rounds to uint8 after each pass
                y = y.round().clamp(0, 255)
            if y.shape[axis] < out_len:  # float rounding in ceil(); repeat the last line
                pad = out_len - y.shape[axis]
                last = y.narrow(axis, y.shape[axis] - 1, 1)
                y = torch.cat([y, *([last] * pad)], dim=axis)
            y = y.narrow(axis, 0, out_len)
        else:
            m = _linear_matrix(in_len, out_len, f, filter).to(device=y.device, dtype=y.dtype)
            y = torch.matmul(m, y) if axis == -2 else torch.matmul(y, m.T)
    if is_uint8:
        return y.round().clamp(0, 255).to(torch.uint8)
    return y.to(x.dtype)


def _resize_to(x: Tensor, size: tuple[int, int], filter: str) -> Tensor:
    """Resize the whole of ``x`` (edge to edge) to ``size`` with the named filter."""
    in_h, in_w = x.shape[-2:]
    if (in_h, in_w) == tuple(size):
        return x
    if filter == "bicubic":
        return imresize(x, size=size)
    return _resize_by_factor(x, (size[0] / in_h, size[1] / in_w), size, filter)


# ----------------------------------------------------------------------------------------------------
# Size policy
# ----------------------------------------------------------------------------------------------------


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

    Filters: ``"bicubic"`` = MATLAB-compatible bicubic (:func:`srlib.ops.imresize`, antialiased when
    shrinking); ``"bilinear"`` = torch-style triangle filter (antialiased when shrinking, as
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
        if self.filter not in FILTERS:
            raise ValueError(f"Unknown resize filter {self.filter!r}; choose one of {', '.join(FILTERS)}.")
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
            lr = _resize_by_factor(lr, (ratio[0] / s, ratio[1] / s), (out_h, out_w), self.filter)
            return lr, hr
        return lr, _resize_to(hr, (h * s, w * s), self.filter)

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
        return _resize_by_factor(lr, (fh, fw), out, self.filter)

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
        return _resize_to(sr, (max(1, round(h * rh)), max(1, round(w * rw))), self.filter)


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
