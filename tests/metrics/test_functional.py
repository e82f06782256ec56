import math

import pytest
import torch
from skimage.metrics import structural_similarity

from srlib.metrics import PSNR, SSIM, prepare_for_protocol, psnr, ssim


def test_psnr_known_value() -> None:
    hr = torch.full((1, 3, 16, 16), 100 / 255)
    sr = torch.full((1, 3, 16, 16), 110 / 255)
    # Y differs by round(16 + 10*219/255 ...) - ...: compare RGB directly for an exact value.
    value = psnr(sr, hr, y_channel=False)
    assert math.isclose(float(value), 10 * math.log10(255**2 / 100), rel_tol=1e-6)


def test_y_channel_is_rounded_studio_range() -> None:
    x = torch.rand(1, 3, 8, 8)
    a, _ = prepare_for_protocol(x, x)
    assert a.shape == (1, 1, 8, 8)
    assert torch.equal(a, a.round()) and a.min() >= 16 and a.max() <= 235


def test_gray_ground_truth_compared_on_gray_values() -> None:
    gray = torch.randint(0, 256, (1, 1, 20, 20)).float() / 255
    sr = gray.repeat(1, 3, 1, 1)
    a, b = prepare_for_protocol(sr, gray)
    # Compared on the gray values themselves (0-255), not on studio-range Y (16-235).
    assert a.shape == (1, 1, 20, 20) and torch.equal(a, b)
    assert torch.equal(b, (gray.double() * 255).round())
    noisy = (gray + 2 / 255).clamp(0, 1).repeat(1, 3, 1, 1)
    # On gray values (not Y) a uniform +2 error gives PSNR of about 20*log10(255/2).
    assert abs(float(psnr(noisy, gray)) - 20 * math.log10(255 / 2)) < 0.5


def test_crop_border_and_reduction() -> None:
    hr = torch.rand(3, 3, 20, 20)
    sr = hr.clone()
    sr[:, :, :2, :] = 0  # damage only the border
    assert float(psnr(sr, hr, crop_border=2)) > 90
    assert psnr(sr, hr, crop_border=0, reduction="none").shape == (3,)


def test_ssim_matches_skimage_gaussian_reference() -> None:
    torch.manual_seed(1)
    hr = torch.rand(1, 3, 48, 48)
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    a, b = prepare_for_protocol(sr, hr)
    expected = structural_similarity(
        a[0, 0].numpy(),
        b[0, 0].numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert abs(float(ssim(sr, hr)) - expected) < 1e-4


def test_metric_classes_average_per_image() -> None:
    hr = torch.rand(4, 3, 24, 24)
    sr = (hr + 0.03 * torch.randn_like(hr)).clamp(0, 1)
    m_psnr, m_ssim = PSNR(crop_border=2), SSIM(crop_border=2)
    for i in range(4):
        m_psnr.update(sr[i : i + 1], hr[i : i + 1])
        m_ssim.update(sr[i : i + 1], hr[i : i + 1])
    assert torch.isclose(m_psnr.compute(), psnr(sr, hr, crop_border=2), atol=1e-5)
    assert torch.isclose(m_ssim.compute(), ssim(sr, hr, crop_border=2), atol=1e-6)


def test_mismatched_inputs_are_explained() -> None:
    with pytest.raises(ValueError, match="differ in batch or size"):
        psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 9, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        psnr(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), crop_border=2)
