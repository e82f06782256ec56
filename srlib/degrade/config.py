"""Typed settings of the random degradation steps (frozen dataclasses, validated on creation).

The defaults are Real-ESRGAN's first-stage settings (``options/train_realesrgan_x4plus.yml`` in
xinntao/Real-ESRGAN); :class:`~srlib.degrade.RealESRGANConfig` sets the second stage's own values. Ranges
are ``(low, high)`` pairs; nested settings may be given as plain mappings (as Hydra passes them), which
:func:`build_config` turns into the dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import typing
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from srlib.degrade.functional import RESIZE_FILTERS
from srlib.ops.resize import resolve_filter

__all__ = [
    "BlurConfig",
    "ClipConfig",
    "JPEGConfig",
    "NoiseConfig",
    "ResizeConfig",
    "USMConfig",
    "build_config",
]

_KERNEL_NAMES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
#: What the Real-ESRGAN resize settings (``ResizeConfig.modes``, ``RealESRGANConfig.final_modes``) called
#: F.interpolate's modes before srlib had one resampling vocabulary. Still accepted there (only the
#: ``torch_*`` filters are available there, so they are unambiguous), with a FutureWarning.
_OLD_INTERPOLATE_NAMES = {"area": "torch_area", "bilinear": "torch_bilinear", "bicubic": "torch_bicubic"}

C = TypeVar("C")


def _check_prob(owner: str, name: str, p: float) -> None:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{owner}.{name} must be a probability in [0, 1], got {p}.")


def _check_range(owner: str, name: str, r: Sequence[float], low: float | None = None) -> None:
    if len(r) != 2 or float(r[0]) > float(r[1]):
        raise ValueError(f"{owner}.{name} must be a (low, high) pair with low <= high, got {tuple(r)}.")
    if low is not None and float(r[0]) < low:
        raise ValueError(f"{owner}.{name} must not go below {low}, got {tuple(r)}.")


def _check_distribution(owner: str, name: str, probs: Sequence[float], n: int) -> None:
    if len(probs) != n or any(float(p) < 0 for p in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        raise ValueError(
            f"{owner}.{name} must be {n} non-negative probabilities summing to 1, got {tuple(probs)}."
        )


def _check_modes(owner: str, name: str, modes: Sequence[str], valid: Sequence[str]) -> None:
    bad = [m for m in modes if m not in valid]
    if not modes or bad:
        raise ValueError(f"{owner}.{name} must be a non-empty subset of {list(valid)}, got {list(modes)}.")


def _resize_filters(
    owner: str, name: str, modes: Sequence[str], allowed: Sequence[str], old: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """``modes`` as canonical filter names (:func:`srlib.ops.resolve_filter`), checked against ``allowed``.

    ``old`` maps the spellings this setting used before srlib's one vocabulary (warned about).
    """
    if isinstance(modes, str) or not modes:
        raise ValueError(
            f"{owner}.{name} must be a non-empty list of filters out of {list(allowed)}, got {modes!r}."
        )
    renamed = {m: old[m] for m in modes if old and m in old}
    if renamed:
        warnings.warn(
            f"{owner}.{name}: {', '.join(f'{k!r}' for k in renamed)} here meant F.interpolate's modes; write "
            f"{', '.join(repr(v) for v in renamed.values())} (the same filters). The bare names are srlib's "
            "antialiased filters elsewhere and will be refused here in a future release.",
            FutureWarning,
            stacklevel=5,
        )
    return tuple(resolve_filter(renamed.get(m, m), allowed=allowed, where=f"{owner}.{name}") for m in modes)


def interpolate_filters(owner: str, name: str, modes: Sequence[str]) -> tuple[str, ...]:
    """The filters of a Real-ESRGAN resize setting (``torch_*`` only; old bare names mapped, warned)."""
    return _resize_filters(owner, name, modes, RESIZE_FILTERS, _OLD_INTERPOLATE_NAMES)


@dataclass(frozen=True)
class BlurConfig:
    """Random blur kernels, one per sample (Real-ESRGAN's mixed kernels).

    Attributes:
        prob: probability that a sample is blurred at all (Real-ESRGAN's ``second_blur_prob`` is 0.8).
        kernel_types: families to draw from (sinc is separate, see ``sinc_prob``).
        kernel_probs: probability of each family, in the order of ``kernel_types``.
        kernel_size: smallest and largest odd size; each sample draws an odd size uniformly in between.
        sigma: spread range of each axis (pixels).
        rotation: rotation range of anisotropic kernels (radians).
        beta_gaussian: shape range of generalized Gaussians; half the samples draw from ``[low, 1]``, half
            from ``[1, high]``, as Real-ESRGAN does.
        beta_plateau: shape range of plateau kernels (same half/half rule).
        sinc_prob: probability that a blurred sample gets a sinc kernel instead; its cut-off is drawn in
            ``[π/3, π]`` for sizes below 13 and ``[π/5, π]`` otherwise (Real-ESRGAN's rule).
    """

    prob: float = 1.0
    kernel_types: tuple[str, ...] = _KERNEL_NAMES
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    kernel_size: tuple[int, int] = (7, 21)
    sigma: tuple[float, float] = (0.2, 3.0)
    rotation: tuple[float, float] = (-math.pi, math.pi)
    beta_gaussian: tuple[float, float] = (0.5, 4.0)
    beta_plateau: tuple[float, float] = (1.0, 2.0)
    sinc_prob: float = 0.1

    def __post_init__(self) -> None:
        _check_prob("BlurConfig", "prob", self.prob)
        _check_prob("BlurConfig", "sinc_prob", self.sinc_prob)
        _check_modes("BlurConfig", "kernel_types", self.kernel_types, _KERNEL_NAMES)
        _check_distribution("BlurConfig", "kernel_probs", self.kernel_probs, len(self.kernel_types))
        lo, hi = self.kernel_size
        if lo < 1 or hi < lo or lo % 2 == 0 or hi % 2 == 0:
            raise ValueError(
                f"BlurConfig.kernel_size must be two odd sizes 1 <= low <= high, got {(lo, hi)}."
            )
        _check_range("BlurConfig", "sigma", self.sigma)
        if float(self.sigma[0]) <= 0:
            raise ValueError(f"BlurConfig.sigma must be positive, got {self.sigma}.")
        _check_range("BlurConfig", "rotation", self.rotation)
        _check_range("BlurConfig", "beta_gaussian", self.beta_gaussian)
        _check_range("BlurConfig", "beta_plateau", self.beta_plateau)
        if float(self.beta_gaussian[0]) <= 0 or float(self.beta_plateau[0]) <= 0:
            raise ValueError("BlurConfig.beta_gaussian and beta_plateau must be positive.")


@dataclass(frozen=True)
class ResizeConfig:
    """Random rescaling per sample.

    Attributes:
        probs: probabilities of scaling up, down and keeping the size.
        scale_range: ``(low, high)``; up draws in ``[1, high]``, down in ``[low, 1]``.
        modes: filters drawn uniformly per sample: ``"torch_area"``, ``"torch_bilinear"``,
            ``"torch_bicubic"`` (``torch.nn.functional.interpolate``'s modes, without antialiasing, as
            Real-ESRGAN resizes; see :data:`srlib.ops.FILTERS`). The bare ``"area"``, ``"bilinear"``,
            ``"bicubic"`` are still read as these, with a FutureWarning.
    """

    probs: tuple[float, float, float] = (0.2, 0.7, 0.1)
    scale_range: tuple[float, float] = (0.15, 1.5)
    modes: tuple[str, ...] = RESIZE_FILTERS

    def __post_init__(self) -> None:
        _check_distribution("ResizeConfig", "probs", self.probs, 3)
        _check_range("ResizeConfig", "scale_range", self.scale_range)
        if not float(self.scale_range[0]) > 0 or not float(self.scale_range[0]) <= 1 <= float(
            self.scale_range[1]
        ):
            raise ValueError(
                f"ResizeConfig.scale_range must satisfy 0 < low <= 1 <= high, got {self.scale_range}."
            )
        object.__setattr__(self, "modes", interpolate_filters("ResizeConfig", "modes", self.modes))


@dataclass(frozen=True)
class NoiseConfig:
    """Random Gaussian or Poisson noise per sample.

    Attributes:
        prob: probability that a sample gets noise at all.
        gaussian_prob: probability of Gaussian noise (otherwise Poisson).
        sigma: Gaussian standard deviation range in 8-bit levels (1-30 means 1/255-30/255).
        poisson_scale: multiplier range of the Poisson noise.
        gray_prob: probability that the noise is the same in all channels (luma noise).
    """

    prob: float = 1.0
    gaussian_prob: float = 0.5
    sigma: tuple[float, float] = (1.0, 30.0)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    gray_prob: float = 0.4

    def __post_init__(self) -> None:
        for name in ("prob", "gaussian_prob", "gray_prob"):
            _check_prob("NoiseConfig", name, getattr(self, name))
        _check_range("NoiseConfig", "sigma", self.sigma, low=0.0)
        _check_range("NoiseConfig", "poisson_scale", self.poisson_scale, low=0.0)


@dataclass(frozen=True)
class JPEGConfig:
    """Random JPEG compression per sample (kornia's differentiable codec).

    Attributes:
        prob: probability that a sample is compressed.
        quality: JPEG quality range (0-100).
    """

    prob: float = 1.0
    quality: tuple[float, float] = (30.0, 95.0)

    def __post_init__(self) -> None:
        _check_prob("JPEGConfig", "prob", self.prob)
        _check_range("JPEGConfig", "quality", self.quality, low=1.0)
        if float(self.quality[1]) > 100:
            raise ValueError(f"JPEGConfig.quality must lie in [1, 100], got {self.quality}.")


@dataclass(frozen=True)
class ClipConfig:
    """Per-frame variation inside a clip, for degradations built with ``clip_consistent=True``.

    A clip draws one set of parameters (kernels, resize factors and filters, noise kind and level, JPEG
    quality, step order) that all its frames share; only what varies from frame to frame in real video
    varies here. Each frame draws its own offsets, uniformly:

    Attributes:
        jpeg_quality_jitter: JPEG quality of a frame = the clip's quality ± up to this many points (a
            codec's rate control moves compression strength a little from frame to frame); the result
            is kept inside the step's configured quality range.
        noise_level_jitter: Gaussian σ and Poisson scale of a frame = the clip's level × (1 ± up to this
            fraction); kept inside the step's configured range. The noise images themselves are new in
            every frame (sensor noise is not frozen in time).

    ``0`` for both gives frames that differ only in their noise images.
    """

    jpeg_quality_jitter: float = 5.0
    noise_level_jitter: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.jpeg_quality_jitter) <= 50.0:
            raise ValueError(
                "ClipConfig.jpeg_quality_jitter must be in [0, 50] quality points, "
                f"got {self.jpeg_quality_jitter}."
            )
        if not 0.0 <= float(self.noise_level_jitter) < 1.0:
            raise ValueError(
                f"ClipConfig.noise_level_jitter must be a fraction in [0, 1), got {self.noise_level_jitter}."
            )


@dataclass(frozen=True)
class USMConfig:
    """Unsharp masking of the HR image (BasicSR ``USMSharp`` defaults).

    Attributes:
        sharpen_target: return the sharpened HR as the training target (Real-ESRGAN's ``l1_gt_usm`` and
            ``percep_gt_usm`` are on in its published x4plus recipe).
        sharpen_input: degrade the sharpened HR (Real-ESRGAN always degrades ``gt_usm``).
        weight: strength of the sharpening.
        radius: Gaussian size (made odd: 50 → 51 taps, σ = 8).
        threshold: minimum residual, in 8-bit levels, that gets sharpened.
    """

    sharpen_target: bool = True
    sharpen_input: bool = True
    weight: float = 0.5
    radius: int = 50
    threshold: float = 10.0

    def __post_init__(self) -> None:
        if int(self.radius) < 1:
            raise ValueError(f"USMConfig.radius must be >= 1, got {self.radius}.")


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass inside a type hint such as ``BlurConfig | None``, if any."""
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _plain(value: Any) -> Any:
    """Lists (YAML/Hydra) become tuples so frozen configs stay hashable."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return tuple(_plain(v) for v in value)
    return value


def build_config(cls: type[C], base: C | None = None, **overrides: Any) -> C:
    """Make a ``cls`` config from ``base`` (or the defaults) with ``overrides``.

    Mappings given for nested configs (as Hydra passes them) become those dataclasses.

    Unknown keys raise a ``ValueError`` listing the valid ones.

    Example:
        >>> build_config(NoiseConfig, sigma=[1, 10]).sigma
        (1, 10)
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} settings {unknown}; valid ones are {names}.")
    base = base if base is not None else cls()
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        sub = _dataclass_in(hints[name])
        if sub is not None and (isinstance(value, Mapping) or type(value).__name__ == "DictConfig"):
            current = getattr(base, name)
            value = build_config(sub, current if isinstance(current, sub) else None, **dict(value))
        values[name] = _plain(value)
    return dataclasses.replace(base, **values)
