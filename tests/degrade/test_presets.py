"""First-order pipeline and presets: bicubic + noise, bicubic + JPEG, video-like."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srlib.degrade import (
    BicubicDegradation,
    BicubicJPEGDegradation,
    BicubicNoiseDegradation,
    FirstOrderDegradation,
    VideoDegradation,
    quantize_8bit,
)
from srlib.degrade.presets import DOWNSCALE_MODES
from srlib.ops import imresize

PRESETS = [BicubicNoiseDegradation, BicubicJPEGDegradation, VideoDegradation]


def _hr(b: int = 4, c: int = 3, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return F.interpolate(
        torch.rand(b, c, size // 4, size // 4, generator=g), size=(size, size), mode="bilinear"
    )


@pytest.mark.parametrize("cls", PRESETS)
@pytest.mark.parametrize(("scale", "channels"), [(4, 3), (1, 3), (2, 1)])
def test_preset_contract(cls, scale: int, channels: int) -> None:
    deg = cls(scale=scale, seed=0)
    hr = _hr(4, channels)
    lr, target = deg(hr)
    assert deg.scale == scale
    assert lr.shape == (4, channels, 32 // scale, 32 // scale) and lr.dtype == hr.dtype
    assert torch.equal(target, hr)
    assert torch.equal(lr, quantize_8bit(lr))
    assert torch.equal(deg(hr, params=deg.last_params)[0], lr)  # replay
    assert torch.equal(cls(scale=scale, seed=0)(hr)[0], lr)  # seed


def test_bicubic_noise_without_noise_is_the_bicubic_degradation() -> None:
    hr = _hr()
    clean, _ = BicubicNoiseDegradation(scale=2, seed=0, noise={"prob": 0.0})(hr)
    ref, _ = BicubicDegradation(scale=2)(hr)
    assert torch.equal(clean, ref)
    noisy, _ = BicubicNoiseDegradation(scale=2, seed=0)(hr)
    residual = (noisy - ref).flatten(1).std(1) * 255
    sigma = BicubicNoiseDegradation(scale=2, seed=0).forward_parameters(hr.shape).noise.sigma
    assert bool((residual > 0.5 * sigma.float() - 1).all())  # noise of roughly each sample's own level


def test_bicubic_jpeg_quality_orders_the_error() -> None:
    hr = _hr(2, 3, 64)
    deg = BicubicJPEGDegradation(scale=2, seed=0)
    params = deg.forward_parameters(hr.shape)
    params.jpeg.quality = torch.tensor([95.0, 30.0], dtype=torch.float64)
    lr, _ = deg(hr, params=params)
    ref = imresize(hr, 0.5)
    err = (lr - ref).abs().flatten(1).mean(1)
    assert float(err[1]) > float(err[0]) > 0


def test_video_preset_mixes_filters_per_sample() -> None:
    deg = VideoDegradation(scale=4, seed=0)
    params = deg.forward_parameters((64, 3, 32, 32))
    modes = {DOWNSCALE_MODES[i] for i in params.mode.tolist()}
    assert modes == {"torch_area", "torch_bilinear", "torch_bicubic"}
    assert 0.5 < float(params.kernel.apply.double().mean()) < 0.9
    assert float(params.jpeg.quality.max()) <= 50


def test_first_order_mixed_matlab_and_interpolate_modes() -> None:
    hr = _hr(6)
    deg = FirstOrderDegradation(scale=2, resize_modes=("matlab", "torch_area"), seed=1, quantize=False)
    assert deg.config.resize_modes == ("bicubic", "torch_area")  # the old spelling, mapped
    lr, _ = deg(hr)
    for i, m in enumerate(deg.last_params.mode.tolist()):
        if DOWNSCALE_MODES[m] == "bicubic":
            ref = imresize(hr[i : i + 1], 0.5)
        else:
            ref = F.interpolate(hr[i : i + 1], scale_factor=0.5, mode="area")
        torch.testing.assert_close(lr[i : i + 1], ref.clamp(0, 1), atol=2e-5, rtol=0)
    assert len(set(deg.last_params.mode.tolist())) == 2


@pytest.mark.parametrize("scale", [2, 3])
def test_first_order_takes_every_filter_of_the_vocabulary(scale: int) -> None:
    from srlib.ops import FILTERS, resize

    assert set(DOWNSCALE_MODES) == set(FILTERS)
    hr = _hr(12, size=48)
    deg = FirstOrderDegradation(scale=scale, resize_modes=FILTERS, seed=3, quantize=False)
    lr, _ = deg(hr)
    assert lr.shape == (12, 3, 48 // scale, 48 // scale)
    modes = [DOWNSCALE_MODES[m] for m in deg.last_params.mode.tolist()]
    assert len(set(modes)) >= 4
    for i, name in enumerate(modes):
        ref = resize(hr[i : i + 1], scale=1 / scale, filter=name)
        torch.testing.assert_close(lr[i : i + 1], ref.clamp(0, 1), atol=2e-5, rtol=0)


def test_preset_overrides_are_validated() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown resize filter 'lanczos' in FirstOrderConfig\.resize_modes"
    ):
        FirstOrderDegradation(resize_modes=("lanczos",))
    with pytest.raises(ValueError, match="resize_modes"):
        FirstOrderDegradation(resize_modes=())
    with pytest.raises(ValueError, match="quality"):
        BicubicJPEGDegradation(jpeg={"quality": (0, 120)})
