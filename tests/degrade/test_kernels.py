"""Blur kernels: formulas, normalisation, symmetry, per-sample sizes, and the kernel generator."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import special

from srlib.degrade import BlurConfig, KernelGenerator
from srlib.degrade.kernels import (
    KERNEL_TYPES,
    SINC,
    delta_kernels,
    gaussian_kernel1d,
    mixed_kernels,
    sinc_kernels,
)


def _kernels(
    kind: str, size: int, sx: float, sy: float = 1.0, theta: float = 0.0, beta: float = 1.0, omega=2.0
):
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    return mixed_kernels(
        torch.tensor([KERNEL_TYPES.index(kind)]),
        torch.tensor([size]),
        t(sx),
        t(sy),
        t(theta),
        t(beta),
        t(omega),
        dtype=torch.float64,
    )[0]


def test_isotropic_gaussian_is_outer_product_of_1d_gaussians() -> None:
    k = _kernels("iso", 11, 1.7)
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.7**2))
    ref = torch.outer(g, g)
    torch.testing.assert_close(k, ref / ref.sum())


def test_anisotropic_axes_follow_width_then_height_and_rotate() -> None:
    # theta = 0: sigma_x spreads along the width (columns), sigma_y along the height (rows).
    k = _kernels("aniso", 15, 3.0, 0.8, 0.0)
    x = torch.arange(15, dtype=torch.float64) - 7
    ref = torch.outer(torch.exp(-(x**2) / (2 * 0.8**2)), torch.exp(-(x**2) / (2 * 3.0**2)))
    torch.testing.assert_close(k, ref / ref.sum())
    # A quarter turn swaps the axes.
    torch.testing.assert_close(_kernels("aniso", 15, 3.0, 0.8, math.pi / 2), k.T, atol=1e-12, rtol=0)


def test_generalized_and_plateau_formulas() -> None:
    torch.testing.assert_close(_kernels("generalized_iso", 9, 1.3, beta=1.0), _kernels("iso", 9, 1.3))
    k = _kernels("plateau_iso", 9, 1.5, beta=1.6)
    x = torch.arange(9, dtype=torch.float64) - 4
    q = (x[None] ** 2 + x[:, None] ** 2) / 1.5**2
    ref = 1.0 / (q**1.6 + 1.0)
    torch.testing.assert_close(k, ref / ref.sum())


def test_sinc_matches_the_bessel_formula() -> None:
    omega, size = 1.9, 13
    k = sinc_kernels(torch.tensor([omega], dtype=torch.float64), torch.tensor([size]), dtype=torch.float64)[0]
    x = torch.arange(size, dtype=torch.float64) - size // 2
    r = torch.sqrt(x[None] ** 2 + x[:, None] ** 2).clamp(min=1e-12).numpy()
    ref = torch.from_numpy(omega * special.j1(omega * r) / (2 * math.pi * r))
    ref[size // 2, size // 2] = omega**2 / (4 * math.pi)
    torch.testing.assert_close(k, ref / ref.sum())
    assert torch.equal(k, k.T) and torch.equal(k, k.flip(0))


@pytest.mark.parametrize("kind", KERNEL_TYPES)
def test_every_family_is_normalised_and_point_symmetric(kind: str) -> None:
    k = _kernels(kind, 13, 2.1, 0.7, 0.6, beta=1.4, omega=1.2)
    assert k.shape == (13, 13)
    assert abs(float(k.sum()) - 1.0) < 1e-12
    torch.testing.assert_close(k, k.flip(0, 1))  # centred kernels: k(x, y) = k(-x, -y)
    if kind in ("iso", "generalized_iso", "plateau_iso", "sinc"):
        torch.testing.assert_close(k, k.T)  # isotropic: also mirror-symmetric
        torch.testing.assert_close(k, k.flip(1))


def test_per_sample_sizes_are_zero_padded_to_the_largest() -> None:
    kind = torch.tensor([0, 1, SINC])
    size = torch.tensor([7, 21, 9])
    ones = torch.ones(3)
    k = mixed_kernels(kind, size, 2 * ones, ones, 0.3 * ones, ones, 2 * ones)
    assert k.shape == (3, 21, 21)
    torch.testing.assert_close(k.sum((1, 2)), torch.ones(3))
    # Sample 0 is a 7x7 kernel in the middle of a 21x21 grid; equal to building it alone.
    assert float(k[0, :7].abs().sum()) == 0.0 and float(k[0, :, 14:].abs().sum()) == 0.0
    alone = mixed_kernels(kind[:1], size[:1], 2 * ones[:1], ones[:1], 0.3 * ones[:1], ones[:1], 2 * ones[:1])
    torch.testing.assert_close(k[0, 7:14, 7:14], alone[0])


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        sinc_kernels(torch.tensor([1.0]), torch.tensor([8]))
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel1d(4)


def test_delta_and_opencv_sigma_rule() -> None:
    d = delta_kernels(2, 5)
    assert d.shape == (2, 5, 5) and float(d.sum()) == 2.0 and float(d[0, 2, 2]) == 1.0
    k = gaussian_kernel1d(51).double()
    x = torch.arange(51, dtype=torch.float64) - 25
    ref = torch.exp(-(x**2) / (2 * 8.0**2))  # OpenCV: sigma = 0.3 * (25 - 1) + 0.8 = 8
    torch.testing.assert_close(k, ref / ref.sum(), atol=1e-7, rtol=0)


def test_generator_follows_the_published_distribution() -> None:
    params = KernelGenerator(BlurConfig())(20000, torch.Generator().manual_seed(0))
    kind = params.kind
    sinc_frac = float((kind == SINC).double().mean())
    assert abs(sinc_frac - 0.1) < 0.015
    probs = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    non_sinc = kind[kind != SINC]
    for i, p in enumerate(probs):
        assert abs(float((non_sinc == i).double().mean()) - p) < 0.015, KERNEL_TYPES[i]
    assert set(params.size.unique().tolist()) == set(range(7, 22, 2))
    assert float(params.sigma_x.min()) >= 0.2 and float(params.sigma_x.max()) <= 3.0
    gen = (kind == 2) | (kind == 3)
    plat = (kind == 4) | (kind == 5)
    assert float(params.beta[gen].min()) >= 0.5 and float(params.beta[gen].max()) <= 4.0
    assert float(params.beta[plat].min()) >= 1.0 and float(params.beta[plat].max()) <= 2.0
    small = (kind == SINC) & (params.size < 13)
    assert float(params.omega[small].min()) >= math.pi / 3 - 1e-9
    assert float(params.omega[kind == SINC].min()) >= math.pi / 5 - 1e-9
    assert abs(float(params.apply.double().mean()) - 1.0) < 1e-12


def test_generator_is_seeded_and_per_sample() -> None:
    gen = KernelGenerator(BlurConfig(prob=0.8))
    a = gen(8, torch.Generator().manual_seed(3))
    b = gen(8, torch.Generator().manual_seed(3))
    c = gen(8, torch.Generator().manual_seed(4))
    assert torch.equal(a.sigma_x, b.sigma_x) and torch.equal(a.kind, b.kind)
    assert not torch.equal(a.sigma_x, c.sigma_x)
    assert a.sigma_x.unique().numel() == 8  # every sample has its own parameters
    kernels = a.kernels()
    assert kernels.shape == (8, int(a.size.max()), int(a.size.max()))
    torch.testing.assert_close(kernels.sum((1, 2)), torch.ones(8))
