"""The module tier: what every random srlib degradation shares.

A degradation is an ``nn.Module`` called as ``lr, hr = degradation(hr)`` on a float batch in [0, 1] on
any device. Like a kornia augmentation it separates drawing the random parameters
(:meth:`RandomDegradation.forward_parameters`) from applying them, keeps the last parameters
(:attr:`RandomDegradation.last_params`) and accepts parameters back (``degradation(hr, params=...)``) to
replay a batch exactly, noise included. Randomness comes from a seedable CPU ``torch.Generator`` (or torch's
default generator when no seed is given, which Lightning's ``seed_everything`` seeds).

Clips. Built with ``clip_consistent=True``, a degradation also takes a clip batch ``(B, T, C, H, W)``: it
draws one parameter set per clip, repeats it over the clip's ``T`` frames
(:func:`~srlib.degrade.params.repeat_frames`), adds the small per-frame variation of the config's
:class:`~srlib.degrade.ClipConfig` (JPEG quality, noise level: :func:`~srlib.degrade.params.jitter_frames`),
then degrades the ``B·T`` frames as one batch and returns ``(B, T, ...)`` tensors. :attr:`last_params` then
holds the per-frame parameters (``B·T`` rows, frame ``t`` of clip ``b`` at row ``b·T + t``), jitter
included, and passing them back replays the clip batch exactly. A 4-D batch is degraded as images either way.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor, nn

from srlib.degrade.bicubic import quantize_8bit
from srlib.degrade.config import ClipConfig
from srlib.degrade.params import jitter_frames, repeat_frames

__all__ = ["RandomDegradation"]

logger = logging.getLogger(__name__)

P = TypeVar("P")


def _batch_size(params: Any) -> int:
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        if isinstance(v, Tensor) and v.ndim >= 1:
            return int(v.shape[0])
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return _batch_size(v)
    raise ValueError(f"{type(params).__name__} holds no per-sample tensors.")


class RandomDegradation(nn.Module, Generic[P]):
    """Base of the random degradations: input checks, seeding, parameter replay, float32 maths, 8-bit output.

    Subclasses set ``self.config`` (a dataclass with ``scale`` and ``quantize``) and implement
    :meth:`sample_parameters` and :meth:`apply_parameters`.

    Args:
        seed: seed of this module's own CPU generator; ``None`` uses torch's default generator.
        generator: a CPU ``torch.Generator`` to draw from instead (overrides ``seed``).
        clip_consistent: also accept clips ``(B, T, C, H, W)``, one parameter set per clip (module docstring).

    Shape:
        - hr: ``(B, C, H, W)`` float in [0, 1], ``C`` = 1 or 3, ``H, W`` divisible by ``scale``; with
          ``clip_consistent`` also ``(B, T, C, H, W)``.
        - lr: ``(B, C, H/scale, W/scale)`` (``(B, T, C, H/scale, W/scale)`` for clips), same dtype and
          device, rounded to 8-bit levels if ``quantize``.
    """

    config: Any

    def __init__(
        self,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        clip_consistent: bool = False,
    ) -> None:
        super().__init__()
        self.clip_consistent = bool(clip_consistent)
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(
                f"Degradation parameters are drawn on the CPU; pass a CPU torch.Generator, got one on "
                f"{generator.device}."
            )
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        self.generator = generator
        self.last_params: P | None = None

    @property
    def scale(self) -> int:
        """Downscaling factor (1 = same size, for restoration)."""
        return int(self.config.scale)

    def manual_seed(self, seed: int) -> RandomDegradation[P]:
        """Restart this module's random stream from ``seed`` (creates its own generator if it had none)."""
        self.generator = torch.Generator().manual_seed(int(seed))
        return self

    def sample_parameters(self, batch_size: int, height: int, width: int) -> P:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply_parameters(self, hr: Tensor, params: P) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def clip_config(self) -> ClipConfig:
        """Per-frame variation of clips: the config's ``clip`` field, else :class:`ClipConfig` defaults."""
        clip = getattr(self.config, "clip", None)
        return clip if isinstance(clip, ClipConfig) else ClipConfig()

    def forward_parameters(self, batch_shape: torch.Size | tuple[int, ...]) -> P:
        """Draw the parameters for a batch of this shape without degrading anything.

        A clip shape ``(B, T, C, H, W)`` (with ``clip_consistent``) gives the ``B·T`` per-frame parameters.
        """
        if len(batch_shape) == 5 and self.clip_consistent:
            b, t, _, h, w = (int(v) for v in batch_shape)
            frames = repeat_frames(self.sample_parameters(b, h, w), b, t)
            return jitter_frames(frames, self.clip_config, self.config, self.generator)
        if len(batch_shape) != 4:
            clips = " or (B, T, C, H, W)" if self.clip_consistent else ""
            raise ValueError(f"batch_shape must be (B, C, H, W){clips}, got {tuple(batch_shape)}.")
        return self.sample_parameters(int(batch_shape[0]), int(batch_shape[2]), int(batch_shape[3]))

    def _check_input(self, hr: Tensor) -> None:
        name = type(self).__name__
        if not isinstance(hr, Tensor):
            raise TypeError(f"{name} expects a torch.Tensor, got {type(hr).__name__}.")
        if hr.ndim == 5 and not self.clip_consistent:
            raise ValueError(
                f"{name} got a clip batch of shape {tuple(hr.shape)}; build it with clip_consistent=True to "
                "degrade (B, T, C, H, W) clips with one parameter set per clip."
            )
        if hr.ndim not in (4, 5) or hr.shape[-3] not in (1, 3):
            clips = " (or (B, T, 3, H, W) clips)" if self.clip_consistent else ""
            raise ValueError(
                f"{name} expects a (B, 3, H, W) or (B, 1, H, W) batch{clips}, got shape {tuple(hr.shape)}."
                + (" Add a batch dimension with hr.unsqueeze(0)." if hr.ndim == 3 else "")
            )
        if not hr.is_floating_point():
            raise ValueError(f"{name} expects float images in [0, 1], got {hr.dtype}; use hr.float() / 255.")
        s = self.scale
        if hr.shape[-1] % s or hr.shape[-2] % s:
            raise ValueError(
                f"HR size {tuple(hr.shape[-2:])} is not divisible by scale {s}; crop it first "
                "(datasets crop HR patches to a multiple of the scale)."
            )

    @torch.no_grad()
    def forward(self, hr: Tensor, params: P | None = None) -> tuple[Tensor, Tensor]:
        """Degrade ``hr``; with ``params`` (e.g. an earlier :attr:`last_params`) replay those exactly.

        Returns:
            ``(lr, hr)``: the degraded batch and the training target (``hr`` itself, or its sharpened
            version where the pipeline sharpens targets); ``(B, T, ...)`` each for a clip batch.
        """
        self._check_input(hr)
        if params is None:
            params = self.forward_parameters(hr.shape)
        if hr.ndim == 5:
            b, t = hr.shape[:2]
            if _batch_size(params) != b * t:
                raise ValueError(
                    f"The replayed parameters are for {_batch_size(params)} frames, the clip batch has "
                    f"{b} x {t} = {b * t}; replay a clip batch with its per-frame last_params."
                )
            lr, target = self._degrade(hr.reshape(b * t, *hr.shape[2:]), params)
            # The target passes through as the caller's own tensor when the pipeline leaves it alone.
            same = target.data_ptr() == hr.data_ptr() and target.dtype == hr.dtype and hr.is_contiguous()
            return lr.view(b, t, *lr.shape[1:]), hr if same else target.view(b, t, *target.shape[1:])
        if _batch_size(params) != hr.shape[0]:
            raise ValueError(
                f"The replayed parameters are for a batch of {_batch_size(params)}, "
                f"the input has {hr.shape[0]}."
            )
        return self._degrade(hr, params)

    def _degrade(self, hr: Tensor, params: P) -> tuple[Tensor, Tensor]:
        """Apply ``params`` to a 4-D batch: float32 maths (float64 kept), 8-bit levels, the input's dtype."""
        self.last_params = params
        out_dtype = hr.dtype
        work = torch.float64 if hr.dtype == torch.float64 else torch.float32
        # Resizing, noise and JPEG maths stay in float32 under a caller's autocast.
        with torch.autocast(device_type=hr.device.type, enabled=False):
            lr, target = self.apply_parameters(hr.to(work).contiguous(), params)
            lr = quantize_8bit(lr) if self.config.quantize else lr.clamp(0.0, 1.0)
        return lr.to(out_dtype), target.to(out_dtype)

    def extra_repr(self) -> str:
        return repr(self.config)
