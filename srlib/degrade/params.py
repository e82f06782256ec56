"""Random parameter generators (second tier) and the parameter records they return.

A generator turns a config into per-sample parameters for a batch of ``n`` samples, drawing every number
from the ``torch.Generator`` it is given (or torch's default CPU generator). Parameters are drawn on the CPU,
whatever the images' device: they are a few numbers per sample, the pipeline needs some of them on the host
anyway (output sizes, which samples take which branch), and CPU draws make a seed give the same
parameters on every device. Each generator draws a fixed amount of random numbers per call, so parameters
reproduce from a seed regardless of the values drawn.

Parameter records are dataclasses of ``(n,)`` CPU tensors: store them, edit them, and pass them back to a
degradation module to replay a batch exactly (:attr:`~srlib.degrade.RealESRGANDegradation.last_params`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor

from srlib.degrade.config import BlurConfig, ClipConfig, JPEGConfig, NoiseConfig, ResizeConfig
from srlib.degrade.functional import RESIZE_FILTERS
from srlib.degrade.kernels import KERNEL_TYPES, SINC, mixed_kernels

__all__ = [
    "JPEGGenerator",
    "JPEGParams",
    "KernelGenerator",
    "KernelParams",
    "NoiseGenerator",
    "NoiseParams",
    "ResizeGenerator",
    "ResizeParams",
    "SincGenerator",
    "jitter_frames",
    "repeat_frames",
    "select",
]

P = TypeVar("P")


def select(params: P, index: Tensor) -> P:
    """The parameters of the samples ``index`` (a CPU index tensor); non-tensor fields are kept.

    Works on any parameter record, nested ones included.
    """
    values = {}
    for f in dataclasses.fields(params):  # type: ignore[arg-type]
        v = getattr(params, f.name)
        if isinstance(v, Tensor) and v.ndim >= 1:
            v = v.index_select(0, index)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            v = select(v, index)
        values[f.name] = v
    return dataclasses.replace(params, **values)  # type: ignore[type-var]


def repeat_frames(params: P, clips: int, frames: int) -> P:
    """Per-frame parameters of ``clips`` clips of ``frames`` frames: each clip's record repeated.

    Row ``b * frames + t`` holds clip ``b``'s parameters (the order of ``clip.reshape(B * T, ...)``).
    Batch-wide fields (the noise seeds) are kept.

    Example:
        >>> p = repeat_frames(JPEGParams(torch.tensor([True, False]), torch.tensor([40.0, 80.0])), 2, 3)
        >>> p.quality.tolist()
        [40.0, 40.0, 40.0, 80.0, 80.0, 80.0]
    """
    return select(params, torch.arange(int(clips)).repeat_interleave(int(frames)))


def _signed(n: int, g: torch.Generator | None) -> Tensor:
    return 2.0 * torch.rand(n, generator=g, dtype=torch.float64) - 1.0


def jitter_frames(params: P, clip: ClipConfig, config: Any, generator: torch.Generator | None = None) -> P:
    """Add the per-frame variation of :class:`~srlib.degrade.ClipConfig` to repeated clip parameters.

    Every :class:`JPEGParams` field of the record gets its quality moved by up to
    ``±clip.jpeg_quality_jitter`` points and every :class:`NoiseParams` field its Gaussian σ and Poisson
    scale multiplied by ``1 ± clip.noise_level_jitter`` (one factor per frame for both), independently per
    frame, in the record's field order. The results are clamped to the range of the same-named field of
    ``config`` when it is a :class:`JPEGConfig` / :class:`NoiseConfig` (``jpeg1`` ↔ ``config.jpeg1``),
    else to quality [1, 100] and levels >= 0. A bare :class:`JPEGParams` / :class:`NoiseParams` is jittered
    itself, ``config`` then being its step's config (or ``None``). Everything else (which steps apply,
    kernels, sizes, filters, noise kind, seeds) is left as it is. A fixed count of numbers is drawn per
    frame and field.

    Example:
        >>> p = repeat_frames(JPEGParams(torch.tensor([True]), torch.tensor([50.0])), 1, 4)
        >>> q = jitter_frames(p, ClipConfig(jpeg_quality_jitter=3), None, torch.Generator().manual_seed(0))
        >>> bool(((q.quality - 50).abs() <= 3).all()), q.quality.unique().numel()
        (True, 4)
    """
    if isinstance(params, (JPEGParams, NoiseParams)):  # a bare step record; config is that step's
        return _jitter_step(params, config, clip, generator)  # type: ignore[return-value]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(params):  # type: ignore[arg-type]
        v = getattr(params, f.name)
        if isinstance(v, (JPEGParams, NoiseParams)):
            values[f.name] = _jitter_step(v, getattr(config, f.name, None), clip, generator)
    return dataclasses.replace(params, **values)  # type: ignore[type-var]


def _jitter_step(
    v: JPEGParams | NoiseParams, step: Any, clip: ClipConfig, generator: torch.Generator | None
) -> JPEGParams | NoiseParams:
    if isinstance(v, JPEGParams):
        lo, hi = step.quality if isinstance(step, JPEGConfig) else (1.0, 100.0)
        quality = v.quality + float(clip.jpeg_quality_jitter) * _signed(len(v), generator)
        return dataclasses.replace(v, quality=quality.clamp(float(lo), float(hi)))
    factor = 1.0 + float(clip.noise_level_jitter) * _signed(len(v), generator)
    sigma, scale = v.sigma * factor, v.scale * factor
    if isinstance(step, NoiseConfig):
        sigma = sigma.clamp(float(step.sigma[0]), float(step.sigma[1]))
        scale = scale.clamp(float(step.poisson_scale[0]), float(step.poisson_scale[1]))
    return dataclasses.replace(v, sigma=sigma.clamp(min=0.0), scale=scale.clamp(min=0.0))


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)


def _bernoulli(n: int, p: float, g: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64) < p


def _categorical(n: int, probs: tuple[float, ...], g: torch.Generator | None) -> Tensor:
    # Inverse-CDF draw: a fixed one number per sample, whatever the probabilities.
    cdf = torch.tensor(probs, dtype=torch.float64).cumsum(0)
    u = torch.rand(n, generator=g, dtype=torch.float64) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)


def _const(value: float) -> Tensor:
    return torch.tensor(float(value), dtype=torch.float64)


def _seed(g: torch.Generator | None) -> Tensor:
    return torch.randint(0, 2**62, (), generator=g, dtype=torch.int64)


@dataclass
class KernelParams:
    """Blur kernel of each sample.

    Attributes:
        apply: whether the sample is filtered at all.
        kind: family id, an index into :data:`~srlib.degrade.kernels.KERNEL_TYPES`.
        size: odd kernel size.
        sigma_x, sigma_y, theta: spreads and rotation (radians).
        beta: shape of generalized-Gaussian / plateau kernels.
        omega: cut-off of sinc kernels (radians).
    """

    apply: Tensor
    kind: Tensor
    size: Tensor
    sigma_x: Tensor
    sigma_y: Tensor
    theta: Tensor
    beta: Tensor
    omega: Tensor

    def __len__(self) -> int:
        return int(self.apply.shape[0])

    def kernels(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """The ``(n, K, K)`` kernels (``K`` = the largest size), built on ``device``."""
        return mixed_kernels(
            self.kind.to(device),
            self.size,
            self.sigma_x.to(dtype),
            self.sigma_y.to(dtype),
            self.theta.to(dtype),
            self.beta.to(dtype),
            self.omega.to(dtype),
            device=device,
            dtype=dtype,
        )


@dataclass
class ResizeParams:
    """Rescaling of each sample: ``scale`` factor and ``mode`` (index into ``RESIZE_FILTERS``)."""

    scale: Tensor
    mode: Tensor

    def __len__(self) -> int:
        return int(self.scale.shape[0])


@dataclass
class NoiseParams:
    """Noise of each sample.

    Attributes:
        apply: whether the sample gets noise.
        poisson: Poisson noise (else Gaussian).
        sigma: Gaussian standard deviation in 8-bit levels.
        scale: Poisson noise multiplier.
        gray: same noise in every channel.
        seed: seed of the noise images (one for the batch): replaying the parameters replays the noise.
    """

    apply: Tensor
    poisson: Tensor
    sigma: Tensor
    scale: Tensor
    gray: Tensor
    seed: Tensor

    def __len__(self) -> int:
        return int(self.apply.shape[0])


@dataclass
class JPEGParams:
    """JPEG compression of each sample: ``apply`` and ``quality``."""

    apply: Tensor
    quality: Tensor

    def __len__(self) -> int:
        return int(self.apply.shape[0])


class KernelGenerator:
    """Draws Real-ESRGAN mixed blur kernels per sample from a :class:`~srlib.degrade.BlurConfig`.

    Example:
        >>> params = KernelGenerator(BlurConfig())(4, torch.Generator().manual_seed(0))
        >>> params.kernels().shape[0]
        4
    """

    def __init__(self, config: BlurConfig) -> None:
        self.config = config
        self._kind_ids = [KERNEL_TYPES.index(name) for name in config.kernel_types]

    def __call__(self, n: int, generator: torch.Generator | None = None) -> KernelParams:
        c, g = self.config, generator
        apply = _bernoulli(n, c.prob, g)
        kind = torch.tensor(self._kind_ids)[_categorical(n, c.kernel_probs, g)]
        kind = torch.where(_bernoulli(n, c.sinc_prob, g), torch.full_like(kind, SINC), kind)
        sizes = torch.arange(c.kernel_size[0], c.kernel_size[1] + 1, 2)
        size = sizes[torch.randint(0, len(sizes), (n,), generator=g)]
        sigma_x = _uniform(n, *c.sigma, g)
        sigma_y = _uniform(n, *c.sigma, g)
        theta = _uniform(n, *c.rotation, g)
        below_one = _bernoulli(n, 0.5, g)
        u = torch.rand(n, generator=g, dtype=torch.float64)
        plateau = (kind == KERNEL_TYPES.index("plateau_iso")) | (kind == KERNEL_TYPES.index("plateau_aniso"))
        lo = torch.where(plateau, _const(c.beta_plateau[0]), _const(c.beta_gaussian[0]))
        hi = torch.where(plateau, _const(c.beta_plateau[1]), _const(c.beta_gaussian[1]))
        beta = torch.where(below_one, lo + (1.0 - lo) * u, 1.0 + (hi - 1.0) * u)
        # Real-ESRGAN: small sinc kernels keep cut-offs above π/3, larger ones go down to π/5.
        w_lo = torch.where(size < 13, _const(math.pi / 3), _const(math.pi / 5))
        omega = w_lo + (math.pi - w_lo) * torch.rand(n, generator=g, dtype=torch.float64)
        return KernelParams(apply, kind, size, sigma_x, sigma_y, theta, beta, omega)


class SincGenerator:
    """Draws the final sinc filter of Real-ESRGAN: applied with ``prob``, size and cut-off uniform.

    Example:
        >>> SincGenerator(0.8)(3).kind.tolist()
        [6, 6, 6]
    """

    def __init__(
        self,
        prob: float = 0.8,
        kernel_size: tuple[int, int] = (7, 21),
        omega: tuple[float, float] = (math.pi / 3, math.pi),
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"sinc prob must be in [0, 1], got {prob}.")
        if kernel_size[0] % 2 == 0 or kernel_size[1] % 2 == 0 or not 1 <= kernel_size[0] <= kernel_size[1]:
            raise ValueError(f"sinc kernel_size must be two odd sizes 1 <= low <= high, got {kernel_size}.")
        self.prob, self.kernel_size, self.omega = prob, kernel_size, omega

    def __call__(self, n: int, generator: torch.Generator | None = None) -> KernelParams:
        g = generator
        apply = _bernoulli(n, self.prob, g)
        sizes = torch.arange(self.kernel_size[0], self.kernel_size[1] + 1, 2)
        size = sizes[torch.randint(0, len(sizes), (n,), generator=g)]
        omega = _uniform(n, *self.omega, g)
        ones = torch.ones(n, dtype=torch.float64)
        return KernelParams(apply, torch.full((n,), SINC), size, ones, ones, 0 * ones, ones, omega)


class ResizeGenerator:
    """Draws a rescaling factor (up / down / keep) and an interpolation mode per sample.

    Example:
        >>> p = ResizeGenerator(ResizeConfig())(5, torch.Generator().manual_seed(0))
        >>> bool(((p.scale >= 0.15) & (p.scale <= 1.5)).all())
        True
    """

    def __init__(self, config: ResizeConfig) -> None:
        self.config = config
        self._mode_ids = torch.tensor([RESIZE_FILTERS.index(m) for m in config.modes])

    def __call__(self, n: int, generator: torch.Generator | None = None) -> ResizeParams:
        c, g = self.config, generator
        direction = _categorical(n, c.probs, g)  # 0 up, 1 down, 2 keep
        u = torch.rand(n, generator=g, dtype=torch.float64)
        low, high = float(c.scale_range[0]), float(c.scale_range[1])
        up = 1.0 + (high - 1.0) * u
        down = low + (1.0 - low) * u
        scale = torch.where(direction == 0, up, torch.where(direction == 1, down, torch.ones_like(u)))
        mode = self._mode_ids[torch.randint(0, len(self._mode_ids), (n,), generator=g)]
        return ResizeParams(scale, mode)


class NoiseGenerator:
    """Draws Gaussian-or-Poisson noise settings per sample, plus a seed for the noise images.

    Example:
        >>> p = NoiseGenerator(NoiseConfig())(6, torch.Generator().manual_seed(0))
        >>> p.sigma.shape, p.seed.ndim
        (torch.Size([6]), 0)
    """

    def __init__(self, config: NoiseConfig) -> None:
        self.config = config

    def __call__(self, n: int, generator: torch.Generator | None = None) -> NoiseParams:
        c, g = self.config, generator
        apply = _bernoulli(n, c.prob, g)
        poisson = ~_bernoulli(n, c.gaussian_prob, g)
        sigma = _uniform(n, *c.sigma, g)
        scale = _uniform(n, *c.poisson_scale, g)
        gray = _bernoulli(n, c.gray_prob, g)
        return NoiseParams(apply, poisson, sigma, scale, gray, _seed(g))


class JPEGGenerator:
    """Draws whether and at which quality each sample is JPEG-compressed.

    Example:
        >>> p = JPEGGenerator(JPEGConfig())(4, torch.Generator().manual_seed(0))
        >>> bool(((p.quality >= 30) & (p.quality <= 95)).all())
        True
    """

    def __init__(self, config: JPEGConfig) -> None:
        self.config = config

    def __call__(self, n: int, generator: torch.Generator | None = None) -> JPEGParams:
        c, g = self.config, generator
        return JPEGParams(_bernoulli(n, c.prob, g), _uniform(n, *c.quality, g))
