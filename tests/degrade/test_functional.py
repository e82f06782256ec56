"""Functional degradation ops: batched resize, blur, USM, noise and JPEG against per-image references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.filters import filter2d

from srlib.degrade.functional import (
    RESIZE_MODES,
    add_gaussian_noise,
    add_poisson_noise,
    blur,
    jpeg_compress,
    mirror_fill,
    mirror_index,
    mirror_pad,
    resize,
    separable_filter_matrix,
    usm_sharpen,
)
from srlib.degrade.jpeg import jpeg_codec
from srlib.degrade.kernels import delta_kernels, gaussian_kernel1d


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / F.mse_loss(a, b)))


@pytest.mark.parametrize("mode", RESIZE_MODES)
@pytest.mark.parametrize("size", [(5, 7), (23, 31), (40, 90), (61, 12)])
def test_resize_matches_interpolate(mode: str, size: tuple[int, int]) -> None:
    x = _rand(2, 3, 23, 31)
    y = resize(x, torch.tensor([size, size]), torch.full((2,), RESIZE_MODES.index(mode)))
    torch.testing.assert_close(y, F.interpolate(x, size=size, mode=mode), atol=2e-5, rtol=0)


def test_resize_gives_each_sample_its_size_and_mode_on_a_mirrored_canvas() -> None:
    x = _rand(3, 3, 20, 24)
    sizes = torch.tensor([[7, 9], [30, 36], [20, 24]])
    modes = torch.tensor([0, 2, 1])
    y = resize(x, sizes, modes)
    assert y.shape == (3, 3, 30, 36)
    for i, ((h, w), m) in enumerate(zip(sizes.tolist(), modes.tolist(), strict=True)):
        ref = F.interpolate(x[i : i + 1], size=(h, w), mode=RESIZE_MODES[m])
        torch.testing.assert_close(y[i : i + 1, :, :h, :w], ref, atol=2e-5, rtol=0)
    # Beyond its size a sample continues as its mirror image (reflect without repeating the edge).
    torch.testing.assert_close(y[0, :, 7, :9], y[0, :, 5, :9])
    torch.testing.assert_close(y[0, :, :7, 9], y[0, :, :7, 7])


def test_resize_reads_only_the_valid_part_of_a_canvas() -> None:
    x = _rand(2, 1, 16, 16)
    garbage = x.clone()
    garbage[0, :, 10:] = 5.0
    in_size = torch.tensor([[10, 16], [16, 16]])
    out = torch.tensor([[6, 6], [6, 6]])
    a = resize(garbage, out, torch.tensor([2, 2]), in_size=in_size)
    ref = F.interpolate(x[:1, :, :10], size=(6, 6), mode="bicubic")
    torch.testing.assert_close(a[:1], ref, atol=2e-5, rtol=0)


def test_mirror_helpers() -> None:
    assert mirror_index(torch.arange(-3, 8), 4).tolist() == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]
    assert mirror_index(torch.arange(3), 1).tolist() == [0, 0, 0]
    x = _rand(1, 2, 6, 5)
    torch.testing.assert_close(mirror_pad(x, 3, 2), F.pad(x, (2, 2, 3, 3), mode="reflect"))
    big = mirror_pad(x, 9, 9)  # larger than the image: F.pad would refuse
    assert big.shape == (1, 2, 24, 23)
    torch.testing.assert_close(big[..., 9:15, 9:14], x)
    filled = mirror_fill(
        torch.zeros(1, 1, 4, 4).index_fill(2, torch.tensor([0]), 1.0), torch.tensor([2]), torch.tensor([4])
    )
    assert filled[0, 0, :, 0].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_blur_applies_each_samples_kernel_like_kornia_reflect() -> None:
    x = _rand(3, 3, 24, 20)
    k = torch.softmax(_rand(3, 7, 7, seed=1).flatten(1), 1).view(3, 7, 7)
    y = blur(x, k)
    for i in range(3):
        torch.testing.assert_close(y[i : i + 1], filter2d(x[i : i + 1], k[i : i + 1], border_type="reflect"))
    torch.testing.assert_close(blur(x, delta_kernels(3, 5)), x)
    # A kernel larger than the image still works (periodic mirror padding).
    assert blur(_rand(2, 1, 6, 6), torch.full((2, 21, 21), 1 / 441)).shape == (2, 1, 6, 6)


def test_separable_matrix_equals_padded_convolution() -> None:
    k = gaussian_kernel1d(9, 1.5)
    m = separable_filter_matrix(12, k)
    line = _rand(12)
    ref = F.conv1d(F.pad(line[None, None], (4, 4), mode="reflect"), k[None, None])[0, 0]
    torch.testing.assert_close(m @ line, ref)
    torch.testing.assert_close(m.sum(1), torch.ones(12))


def _usm_reference(img: torch.Tensor, weight=0.5, radius=50, threshold=10) -> torch.Tensor:
    # BasicSR USMSharp written out: 2-D Gaussian (51 taps, sigma 8) with reflect padding.
    g = gaussian_kernel1d(radius + 1)
    k2 = torch.outer(g, g)[None].expand(img.shape[0], -1, -1)
    blur2d = lambda t: filter2d(t, k2, border_type="reflect")  # noqa: E731
    residual = img - blur2d(img)
    mask = (residual.abs() * 255 > threshold).float()
    soft = blur2d(mask)
    sharp = (img + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img


def test_usm_matches_the_reference_formula_and_sharpens_edges() -> None:
    x = torch.zeros(2, 3, 64, 64)
    x[..., 20:44, 20:44] = 0.6
    x = x + 0.05 * _rand(2, 3, 64, 64)
    y = usm_sharpen(x)
    torch.testing.assert_close(y, _usm_reference(x), atol=1e-5, rtol=0)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    # The bright square's rim overshoots: contrast across the edge grows.
    assert float(y[0, 0, 30, 21] - y[0, 0, 30, 18]) > float(x[0, 0, 30, 21] - x[0, 0, 30, 18])
    flat = torch.full((1, 3, 32, 32), 0.4)
    torch.testing.assert_close(usm_sharpen(flat), flat)
    # Tiny images work too (the 51-tap blur is longer than the image).
    assert usm_sharpen(_rand(1, 1, 8, 8)).shape == (1, 1, 8, 8)


def test_gaussian_noise_level_gray_and_seed() -> None:
    x = torch.full((3, 3, 64, 64), 0.5)
    sigma = torch.tensor([10.0, 20.0, 0.0])
    gray = torch.tensor([False, True, False])
    y = add_gaussian_noise(x, sigma, gray, generator=torch.Generator().manual_seed(0))
    std = (y - x).std(dim=(1, 2, 3))
    assert abs(float(std[0]) * 255 - 10) < 0.5 and abs(float(std[1]) * 255 - 20) < 1.0
    assert torch.equal(y[1, 0], y[1, 1]) and not torch.equal(y[0, 0], y[0, 1])
    assert torch.equal(y[2], x[2])
    y2 = add_gaussian_noise(x, sigma, gray, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y2)


def test_poisson_noise_counts_levels_per_sample() -> None:
    # Sample 0 has 2 distinct levels -> 2 photons per unit, so the noisy image takes values k/2.
    x = torch.zeros(2, 3, 32, 32)
    x[0, :, :, 16:] = 1.0
    x[1] = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    g = torch.Generator().manual_seed(0)
    y = add_poisson_noise(x, torch.tensor([1.0, 1.0]), torch.tensor([False, True]), generator=g)
    levels = y[0] * 2
    assert torch.equal(levels, levels.round()) and not torch.equal(y[0], x[0])
    assert torch.equal(y[1, 0], y[1, 2])  # gray noise is the same in every channel
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    zero = add_poisson_noise(x, torch.zeros(2), torch.tensor([False, False]), generator=g)
    assert torch.equal(zero, x)


def test_poisson_noise_is_unbiased_and_scales() -> None:
    x = torch.full((2, 3, 64, 64), 0.5)
    x[:, :, ::2] = 0.25  # two levels -> 2 photons per unit: strong noise
    y = add_poisson_noise(
        x, torch.tensor([0.1, 0.2]), torch.tensor([False, False]), generator=torch.Generator().manual_seed(1)
    )
    noise = y - x
    assert abs(float(noise.mean())) < 0.01
    assert float(noise[1].std()) > 1.6 * float(noise[0].std())


def test_jpeg_per_sample_quality_and_gray() -> None:
    x = F.interpolate(_rand(2, 3, 8, 8), size=(32, 32), mode="bicubic").clamp(0, 1)
    q = torch.tensor([95.0, 20.0])
    y = jpeg_compress(x, q)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    for i in range(2):
        torch.testing.assert_close(y[i : i + 1], jpeg_compress(x[i : i + 1], q[i : i + 1]), atol=1e-5, rtol=0)
    assert _psnr(y[0], x[0]) > _psnr(y[1], x[1]) + 3
    gray = x[:, :1]
    yg = jpeg_compress(gray, q)
    assert yg.shape == gray.shape
    # Three equal channels have neutral chroma, so all three decode to the same (luma) plane.
    rgb = jpeg_codec(gray.expand(-1, 3, -1, -1), q)
    assert torch.equal(rgb[:, :1], rgb[:, 1:2]) and torch.equal(rgb[:, :1], rgb[:, 2:])
    torch.testing.assert_close(yg, rgb[:, :1], atol=1e-6, rtol=0)
