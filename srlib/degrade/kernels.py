"""Batched blur kernels (functional tier): one kernel per sample, built on the batch's device.

The kernel families are those of Real-ESRGAN (Wang et al., ICCVW 2021, https://arxiv.org/abs/2107.10833),
whose formulas live in BasicSR ``basicsr/data/degradations.py``. With the centred pixel grid
``(x, y)`` (``x`` along the width), the rotation ``θ`` and the axis spreads ``σx, σy`` define the quadratic
form ``q = u²/σx² + v²/σy²`` with ``u = x cosθ + y sinθ``, ``v = -x sinθ + y cosθ`` (that is
``[x y] Σ⁻¹ [x y]ᵀ`` for ``Σ = R diag(σx², σy²) Rᵀ``), and:

- Gaussian: ``exp(-q / 2)`` (isotropic when ``σx = σy``, ``θ = 0``);
- generalized Gaussian: ``exp(-q^β / 2)`` (β = 1 is the Gaussian);
- plateau: ``1 / (1 + q^β)``;
- sinc (circular low-pass with cut-off ``ω`` in radians): ``ω J1(ω r) / (2π r)``, ``ω² / (4π)`` at
  ``r = 0``.

Every kernel is normalised to sum 1. Per-sample sizes are realised by building every kernel on the grid of
the largest size in the batch and zeroing taps outside the sample's own odd square, which equals building
it at its size and zero-padding it (so one grouped convolution applies the whole batch).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "KERNEL_TYPES",
    "SINC",
    "delta_kernels",
    "gaussian_kernel1d",
    "mixed_kernels",
    "sinc_kernels",
]

#: Kernel families by id: the id is what :class:`~srlib.degrade.params.KernelParams` stores.
KERNEL_TYPES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
    "sinc",
)
#: Id of the sinc (circular low-pass) family in :data:`KERNEL_TYPES`.
SINC = KERNEL_TYPES.index("sinc")
_GENERALIZED = (KERNEL_TYPES.index("generalized_iso"), KERNEL_TYPES.index("generalized_aniso"))
_PLATEAU = (KERNEL_TYPES.index("plateau_iso"), KERNEL_TYPES.index("plateau_aniso"))


def _grid(size: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Centred integer coordinates ``(x, y)`` of a ``size × size`` grid, each ``(size, size)``."""
    ax = torch.arange(size, device=device, dtype=dtype) - (size // 2)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return xx, yy


def _as_batch(value: Tensor | float, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    t = torch.as_tensor(value, device=device, dtype=dtype)
    return t.expand(n) if t.ndim == 0 else t.to(device=device, dtype=dtype)


def _check_sizes(sizes: Tensor) -> int:
    if sizes.ndim != 1 or sizes.numel() == 0:
        raise ValueError(
            f"kernel sizes must be a non-empty 1-D tensor (one per sample), got {tuple(sizes.shape)}."
        )
    if bool(((sizes % 2) == 0).any()) or bool((sizes < 1).any()):
        raise ValueError(f"kernel sizes must be positive odd integers, got {sizes.tolist()}.")
    return int(sizes.max())


def _mask_and_normalise(kernel: Tensor, sizes: Tensor, max_size: int) -> Tensor:
    """Zero the taps outside each sample's ``size × size`` centre square, then make each kernel sum 1."""
    xx, yy = _grid(max_size, kernel.device, kernel.dtype)
    radius = (sizes.to(kernel.device, kernel.dtype) // 2)[:, None, None]
    inside = (xx.abs()[None] <= radius) & (yy.abs()[None] <= radius)
    kernel = torch.where(inside, kernel, torch.zeros((), device=kernel.device, dtype=kernel.dtype))
    return kernel / kernel.sum(dim=(-2, -1), keepdim=True)


def mixed_kernels(
    kind: Tensor,
    size: Tensor,
    sigma_x: Tensor,
    sigma_y: Tensor,
    theta: Tensor,
    beta: Tensor,
    omega: Tensor,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Build one normalised blur kernel per sample, each of its own family and size.

    Args:
        kind: family id per sample, an index into :data:`KERNEL_TYPES`.
        size: odd kernel size per sample; the output is padded to the largest.
        sigma_x: spread along the first axis (isotropic families use it for both axes).
        sigma_y: spread along the second axis (ignored by isotropic families).
        theta: rotation in radians (ignored by isotropic families).
        beta: shape of the generalized-Gaussian and plateau families (ignored by the others).
        omega: sinc cut-off frequency in radians (only the sinc family reads it).
        device: where to build the kernels (default: the device of ``kind``).
        dtype: floating dtype of the kernels.

    Returns:
        ``(B, K, K)`` kernels, ``K = max(size)``, each summing to 1.

    Shape:
        - every argument: ``(B,)``
        - output: ``(B, K, K)``

    Example:
        >>> ones = torch.ones(2)
        >>> kind, size = torch.tensor([0, 6]), torch.tensor([7, 21])  # isotropic Gaussian, sinc
        >>> k = mixed_kernels(kind, size, ones, ones, 0 * ones, ones, ones * 2)
        >>> k.shape, torch.allclose(k.sum((1, 2)), torch.ones(2))
        (torch.Size([2, 21, 21]), True)
    """
    max_size = _check_sizes(size)
    device = torch.device(device) if device is not None else kind.device
    n = kind.shape[0]
    kind = kind.to(device)
    sx = _as_batch(sigma_x, n, device, dtype)
    sy = _as_batch(sigma_y, n, device, dtype)
    th = _as_batch(theta, n, device, dtype)
    b = _as_batch(beta, n, device, dtype)
    w = _as_batch(omega, n, device, dtype)
    # Isotropic families: one spread, no rotation.
    iso = (kind == 0) | (kind == 2) | (kind == 4)
    sy = torch.where(iso, sx, sy)
    th = torch.where(iso, torch.zeros_like(th), th)

    xx, yy = _grid(max_size, device, dtype)
    cos, sin = th.cos()[:, None, None], th.sin()[:, None, None]
    u = xx[None] * cos + yy[None] * sin
    v = -xx[None] * sin + yy[None] * cos
    q = (u / sx[:, None, None]) ** 2 + (v / sy[:, None, None]) ** 2
    bb = b[:, None, None]
    gaussian = torch.exp(-0.5 * q)
    generalized = torch.exp(-0.5 * q.pow(bb))
    plateau = 1.0 / (q.pow(bb) + 1.0)
    sinc = _sinc_unnormalised(w, max_size, device, dtype)

    k = kind[:, None, None]
    kernel = torch.where((k == _GENERALIZED[0]) | (k == _GENERALIZED[1]), generalized, gaussian)
    kernel = torch.where((k == _PLATEAU[0]) | (k == _PLATEAU[1]), plateau, kernel)
    kernel = torch.where(k == SINC, sinc, kernel)
    return _mask_and_normalise(kernel, size.to(device), max_size)


def _sinc_unnormalised(omega: Tensor, size: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    xx, yy = _grid(size, device, dtype)
    r = torch.sqrt(xx * xx + yy * yy)[None]
    w = omega[:, None, None]
    safe_r = torch.where(r > 0, r, torch.ones_like(r))
    # J1 needs float32/float64; compute there and come back.
    work = torch.float64 if dtype == torch.float64 else torch.float32
    j1 = torch.special.bessel_j1((w * safe_r).to(work)).to(dtype)
    value = w * j1 / (2.0 * math.pi * safe_r)
    centre = (w * w / (4.0 * math.pi)).expand_as(value)
    return torch.where(r > 0, value, centre)


def sinc_kernels(
    omega: Tensor,
    size: Tensor,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Circular low-pass (2-D sinc) kernels, one cut-off and odd size per sample, normalised.

    Args:
        omega: cut-off frequency in radians per sample (π keeps everything a pixel grid can hold).
        size: odd kernel size per sample; the output is padded to the largest.
        device: where to build them (default: the device of ``omega``).
        dtype: floating dtype.

    Shape:
        - omega, size: ``(B,)``
        - output: ``(B, K, K)`` with ``K = max(size)``

    Example:
        >>> sinc_kernels(torch.tensor([math.pi / 2]), torch.tensor([9])).shape
        torch.Size([1, 9, 9])
    """
    max_size = _check_sizes(size)
    device = torch.device(device) if device is not None else omega.device
    w = _as_batch(omega, size.shape[0], device, dtype)
    return _mask_and_normalise(_sinc_unnormalised(w, max_size, device, dtype), size.to(device), max_size)


def delta_kernels(
    n: int, size: int = 1, *, device: torch.device | str | None = None, dtype=torch.float32
) -> Tensor:
    """Identity kernels (a single 1 at the centre): filtering with them changes nothing.

    Shape:
        - output: ``(n, size, size)``

    Example:
        >>> delta_kernels(1, 3)[0, 1, 1].item()
        1.0
    """
    kernel = torch.zeros(n, size, size, device=device, dtype=dtype)
    kernel[:, size // 2, size // 2] = 1.0
    return kernel


def gaussian_kernel1d(size: int, sigma: float = 0.0, *, device=None, dtype=torch.float32) -> Tensor:
    """A normalised 1-D Gaussian of odd ``size``; ``sigma <= 0`` picks it from the size like OpenCV.

    OpenCV's ``getGaussianKernel`` rule ``σ = 0.3((size - 1)/2 - 1) + 0.8`` is what BasicSR's ``USMSharp``
    relies on (size 51 gives σ = 8).

    Shape:
        - output: ``(size,)``

    Example:
        >>> k = gaussian_kernel1d(51)
        >>> k.shape, round(float(k.sum()), 6)
        (torch.Size([51]), 1.0)
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"gaussian_kernel1d needs a positive odd size, got {size}.")
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1.0) + 0.8
    x = torch.arange(size, device=device, dtype=torch.float64) - (size - 1) / 2.0
    k = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (k / k.sum()).to(dtype)
