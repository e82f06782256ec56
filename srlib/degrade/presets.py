"""First-order degradations and their presets: bicubic + noise, bicubic + JPEG, and a UGC-video look.

A first-order pipeline is ``[blur] → downscale to H/s → [noise] → [JPEG] → 8-bit``, every step with
per-sample parameters (:class:`FirstOrderConfig`). The presets only change the defaults:

- :class:`BicubicNoiseDegradation`: MATLAB bicubic, then Gaussian noise σ ∈ [1, 30] 8-bit levels (colour).
- :class:`BicubicJPEGDegradation`: MATLAB bicubic, then JPEG at quality ∈ [30, 95].
- :class:`VideoDegradation`: for low-resolution user video (e.g. 144p uploads): mild Gaussian blur
  (p 0.7, σ ∈ [0.2, 1.6]), downscaling with a random F.interpolate area / bilinear / bicubic filter
  (``torch_area``, ``torch_bilinear``, ``torch_bicubic``), light Gaussian
  noise (p 0.5, σ ∈ [1, 10], luma-only half the time) and strong JPEG blocking (quality ∈ [15, 50]).

The noise and JPEG ranges of the first two follow Real-ESRGAN's first stage; the video settings are srlib's
choice (codec blocking and soft optics dominate such footage, sensor noise is mostly compressed away).
With ``scale=1`` the downscale is skipped (pure denoising / deblurring / JPEG-artifact removal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from srlib.degrade._steps import blur_step, jpeg_step, noise_generator, noise_step
from srlib.degrade.base import RandomDegradation
from srlib.degrade.config import BlurConfig, JPEGConfig, NoiseConfig, _resize_filters, build_config
from srlib.degrade.functional import RESIZE_FILTERS, resize
from srlib.degrade.params import (
    JPEGGenerator,
    JPEGParams,
    KernelGenerator,
    KernelParams,
    NoiseGenerator,
    NoiseParams,
)
from srlib.ops import imresize
from srlib.ops import resize as resize_to

__all__ = [
    "BicubicJPEGDegradation",
    "BicubicNoiseDegradation",
    "FirstOrderConfig",
    "FirstOrderDegradation",
    "FirstOrderParams",
    "VideoDegradation",
]

#: Downscaling filters of first-order pipelines by id (every filter of :data:`srlib.ops.FILTERS`). Ids 0-2
#: are the per-sample :func:`~srlib.degrade.functional.resize`'s, 3 MATLAB bicubic (ids kept from before
#: the names changed, so recorded parameters replay the same).
DOWNSCALE_MODES: tuple[str, ...] = (*RESIZE_FILTERS, "bicubic", "bilinear", "area")
_MATLAB = DOWNSCALE_MODES.index("bicubic")


@dataclass(frozen=True)
class FirstOrderConfig:
    """Settings of :class:`FirstOrderDegradation` (``None`` skips a step).

    Attributes:
        scale: output is ``H/scale × W/scale``.
        blur: random blur before downscaling.
        resize_modes: downscaling filters drawn uniformly per sample, any of :data:`srlib.ops.FILTERS`:
            ``"bicubic"`` (MATLAB-compatible, antialiased: :func:`srlib.ops.imresize`; also spelled
            ``"matlab"``), ``"bilinear"``, ``"area"`` (antialiased), or ``"torch_area"``,
            ``"torch_bilinear"``, ``"torch_bicubic"`` (F.interpolate's modes, as Real-ESRGAN uses them).
        noise: random noise after downscaling.
        jpeg: random JPEG compression last.
        quantize: round the LR to 8-bit levels.
    """

    scale: int = 4
    blur: BlurConfig | None = None
    resize_modes: tuple[str, ...] = ("bicubic",)
    noise: NoiseConfig | None = None
    jpeg: JPEGConfig | None = None
    quantize: bool = True

    def __post_init__(self) -> None:
        if int(self.scale) < 1:
            raise ValueError(f"FirstOrderConfig.scale must be a positive integer, got {self.scale}.")
        modes = _resize_filters("FirstOrderConfig", "resize_modes", self.resize_modes, DOWNSCALE_MODES)
        object.__setattr__(self, "resize_modes", modes)


@dataclass
class FirstOrderParams:
    """Random parameters of one first-order batch (``None`` for skipped steps)."""

    kernel: KernelParams | None
    mode: Tensor
    noise: NoiseParams | None
    jpeg: JPEGParams | None


class FirstOrderDegradation(RandomDegradation[FirstOrderParams]):
    """Blur → downscale → noise → JPEG → 8-bit, with per-sample parameters.

    Args:
        config: a :class:`FirstOrderConfig` (default: :meth:`default_config`).
        seed: seed of the module's own generator (``None``: torch's default generator).
        generator: a CPU ``torch.Generator`` to draw from instead.
        **overrides: fields of :class:`FirstOrderConfig` (nested ones may be mappings).

    Shape:
        - hr: ``(B, C, H, W)`` float in [0, 1], ``C`` ∈ {1, 3}; lr: ``(B, C, H/scale, W/scale)``.

    Example:
        >>> deg = FirstOrderDegradation(scale=2, jpeg={"quality": (40, 60)}, seed=0)
        >>> deg(torch.rand(2, 3, 16, 16))[0].shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(
        self,
        config: FirstOrderConfig | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(seed=seed, generator=generator)
        base = config if config is not None else self.default_config()
        self.config = build_config(FirstOrderConfig, base, **overrides)
        c = self.config
        self._kernel = KernelGenerator(c.blur) if c.blur is not None else None
        self._noise = NoiseGenerator(c.noise) if c.noise is not None else None
        self._jpeg = JPEGGenerator(c.jpeg) if c.jpeg is not None else None
        self._modes = torch.tensor([DOWNSCALE_MODES.index(m) for m in c.resize_modes])

    @classmethod
    def default_config(cls) -> FirstOrderConfig:
        """The settings used when no ``config`` is given."""
        return FirstOrderConfig()

    def sample_parameters(self, batch_size: int, height: int, width: int) -> FirstOrderParams:
        n, g = batch_size, self.generator
        return FirstOrderParams(
            kernel=self._kernel(n, g) if self._kernel is not None else None,
            mode=self._modes[torch.randint(0, len(self._modes), (n,), generator=g)],
            noise=self._noise(n, g) if self._noise is not None else None,
            jpeg=self._jpeg(n, g) if self._jpeg is not None else None,
        )

    def _downscale(self, x: Tensor, mode: Tensor) -> Tensor:
        """Every sample to ``H/s x W/s`` with its own filter: the ``torch_*`` ones in one per-sample
        :func:`~srlib.degrade.functional.resize`, each other filter in one :func:`srlib.ops.resize`."""
        s = self.scale
        b, c, height, width = x.shape
        h, w = height // s, width // s
        interpolate = mode < len(RESIZE_FILTERS)
        full = torch.tensor([[h, w]], dtype=torch.long).expand(b, 2)
        if bool(interpolate.all()):
            return resize(x, full, mode, canvas=(h, w))
        if bool((mode == _MATLAB).all()):
            return imresize(x, 1.0 / s)
        out = x.new_empty(b, c, h, w)
        if bool(interpolate.any()):
            idx = torch.nonzero(interpolate).flatten()
            out[idx.to(x.device)] = resize(x[idx.to(x.device)], full[idx], mode[idx], canvas=(h, w))
        for m in sorted(set(mode[~interpolate].tolist())):
            idx = torch.nonzero(mode == m).flatten().to(x.device)
            out[idx] = resize_to(x[idx], (h, w), scale=1.0 / s, filter=DOWNSCALE_MODES[m])
        return out

    def apply_parameters(self, hr: Tensor, params: FirstOrderParams) -> tuple[Tensor, Tensor]:
        x = hr
        if params.kernel is not None:
            x = blur_step(x, params.kernel)
        if self.scale > 1:
            x = self._downscale(x, params.mode)
        if params.noise is not None:
            x = noise_step(x, params.noise, noise_generator(x.device, params.noise.seed))
        if params.jpeg is not None:
            x = jpeg_step(x, params.jpeg)
        return x, hr


class BicubicNoiseDegradation(FirstOrderDegradation):
    """MATLAB bicubic downscaling, then Gaussian noise σ ∈ [1, 30] (8-bit levels) per sample.

    Example:
        >>> BicubicNoiseDegradation(scale=2, seed=0)(torch.rand(1, 3, 8, 8))[0].shape
        torch.Size([1, 3, 4, 4])
    """

    @classmethod
    def default_config(cls) -> FirstOrderConfig:
        return FirstOrderConfig(noise=NoiseConfig(gaussian_prob=1.0, sigma=(1.0, 30.0), gray_prob=0.0))


class BicubicJPEGDegradation(FirstOrderDegradation):
    """MATLAB bicubic downscaling, then JPEG compression at quality ∈ [30, 95] per sample.

    Example:
        >>> BicubicJPEGDegradation(scale=2, seed=0)(torch.rand(1, 3, 16, 16))[0].shape
        torch.Size([1, 3, 8, 8])
    """

    @classmethod
    def default_config(cls) -> FirstOrderConfig:
        return FirstOrderConfig(jpeg=JPEGConfig(quality=(30.0, 95.0)))


class VideoDegradation(FirstOrderDegradation):
    """A low-resolution user-video look: soft blur, random downscaling filter, light noise, JPEG blocking.

    Example:
        >>> VideoDegradation(scale=4, seed=0)(torch.rand(2, 3, 32, 32))[0].shape
        torch.Size([2, 3, 8, 8])
    """

    @classmethod
    def default_config(cls) -> FirstOrderConfig:
        return FirstOrderConfig(
            blur=BlurConfig(
                prob=0.7,
                kernel_types=("iso", "aniso"),
                kernel_probs=(0.6, 0.4),
                kernel_size=(7, 13),
                sigma=(0.2, 1.6),
                sinc_prob=0.0,
            ),
            resize_modes=RESIZE_FILTERS,
            noise=NoiseConfig(prob=0.5, gaussian_prob=1.0, sigma=(1.0, 10.0), gray_prob=0.5),
            jpeg=JPEGConfig(quality=(15.0, 50.0)),
        )
