"""Real-ESRGAN pipeline: contract, per-sample randomness, seeds, replay, exactness of the batching."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from srlib.degrade import RealESRGANConfig, RealESRGANDegradation, usm_sharpen
from srlib.degrade.functional import RESIZE_MODES
from srlib.degrade.params import select
from srlib.degrade.realesrgan import partition_by_size


def _hr(b: int = 4, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # Smooth-ish images: upsampled noise, so blur/JPEG act on structure.
    return F.interpolate(
        torch.rand(b, c, size // 4, size // 4, generator=g), size=(size, size), mode="bilinear"
    )


def _is_8bit(x: torch.Tensor) -> bool:
    return bool(torch.equal(x * 255, (x * 255).round()))


@pytest.mark.parametrize(("scale", "channels"), [(4, 3), (2, 1), (1, 3)])
def test_output_contract(scale: int, channels: int) -> None:
    deg = RealESRGANDegradation(scale=scale, seed=0)
    assert deg.scale == scale
    hr = _hr(4, channels, 32)
    lr, target = deg(hr)
    assert lr.shape == (4, channels, 32 // scale, 32 // scale)
    assert target.shape == hr.shape
    assert lr.dtype == hr.dtype and lr.device == hr.device
    assert float(lr.min()) >= 0.0 and float(lr.max()) <= 1.0
    assert _is_8bit(lr)
    assert not torch.allclose(F.interpolate(hr, size=lr.shape[-2:], mode="area"), lr, atol=1e-3)


def test_seed_reproduces_and_samples_differ() -> None:
    hr = _hr(6)
    a, _ = RealESRGANDegradation(seed=1)(hr)
    b, _ = RealESRGANDegradation(seed=1)(hr)
    c, _ = RealESRGANDegradation(seed=2)(hr)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    p = RealESRGANDegradation(seed=1).forward_parameters(hr.shape)
    for values in (p.kernel1.sigma_x, p.resize1.scale, p.noise1.sigma, p.jpeg1.quality, p.sinc.omega):
        assert values.unique().numel() == 6  # per-sample, not per-batch
    # The same image in every slot comes out differently degraded.
    same = _hr(1).expand(6, -1, -1, -1)
    lr, _ = RealESRGANDegradation(seed=3)(same)
    assert not torch.equal(lr[0], lr[1])


def test_manual_seed_restarts_the_stream() -> None:
    deg = RealESRGANDegradation(seed=5)
    hr = _hr(2)
    first, _ = deg(hr)
    second, _ = deg(hr)
    assert not torch.equal(first, second)
    deg.manual_seed(5)
    assert torch.equal(deg(hr)[0], first)


def test_replay_gives_identical_output_even_on_another_instance() -> None:
    hr = _hr(4)
    deg = RealESRGANDegradation(seed=0)
    lr, target = deg(hr)
    params = deg.last_params
    lr2, target2 = deg(hr, params=params)
    assert torch.equal(lr, lr2) and torch.equal(target, target2)
    other = RealESRGANDegradation(seed=123)
    assert torch.equal(other(hr, params=params)[0], lr)
    with pytest.raises(ValueError, match="batch of 4"):
        deg(_hr(2), params=params)
    # One sample's parameters replay that sample alone (noise images are drawn per batch and JPEG blocks
    # at a sample's edge see its canvas, so those are off here).
    off = {"prob": 0.0}
    deg_one = RealESRGANDegradation(seed=0, noise1=off, noise2=off, jpeg1=off, jpeg2=off, quantize=False)
    lr, _ = deg_one(hr)
    one = select(deg_one.last_params, torch.tensor([2]))
    torch.testing.assert_close(deg_one(hr[2:3], params=one)[0], lr[2:3], atol=2e-5, rtol=0)


def _per_image_reference(hr: torch.Tensor, p, cfg: RealESRGANConfig) -> torch.Tensor:
    """The pipeline without noise/JPEG, one image at a time with F.interpolate and reflect-padded conv."""

    def conv(x: torch.Tensor, kp) -> torch.Tensor:
        if not bool(kp.apply[0]):
            return x
        k = kp.kernels(dtype=x.dtype)[0]
        r = k.shape[-1] // 2
        xp = F.pad(x, (r, r, r, r), mode="reflect")
        return F.conv2d(xp, k[None, None].expand(x.shape[1], 1, -1, -1), groups=x.shape[1])

    s = cfg.scale
    out = []
    for i in range(hr.shape[0]):
        q = select(p, torch.tensor([i]))
        x = usm_sharpen(hr[i : i + 1])
        x = conv(x, q.kernel1)
        h1 = int(torch.floor(hr.shape[-2] * q.resize1.scale)[0])
        x = F.interpolate(x, size=(h1, h1), mode=RESIZE_MODES[int(q.resize1.mode[0])])
        x = conv(x, q.kernel2)
        h2 = int(torch.floor(hr.shape[-2] / s * q.resize2.scale)[0])
        x = F.interpolate(x, size=(h2, h2), mode=RESIZE_MODES[int(q.resize2.mode[0])])
        x = F.interpolate(x, size=(hr.shape[-2] // s,) * 2, mode=RESIZE_MODES[int(q.final_mode[0])])
        out.append(conv(x, q.sinc))
    return torch.cat(out).clamp(0, 1)


@pytest.mark.parametrize("max_groups", [1, 3])
def test_batched_canvases_equal_the_per_image_computation(max_groups: int) -> None:
    # Noise and JPEG off, quantisation off: what is left must match image by image.
    cfg = dict(
        scale=2,
        noise1={"prob": 0.0},
        noise2={"prob": 0.0},
        jpeg1={"prob": 0.0},
        jpeg2={"prob": 0.0},
        blur2={"kernel_size": (7, 9), "prob": 0.8},  # kernels fit reflect padding of the smallest sample
        quantize=False,
        max_groups=max_groups,
    )
    deg = RealESRGANDegradation(seed=7, **cfg)
    hr = _hr(6, 3, 64)
    lr, _ = deg(hr)
    torch.testing.assert_close(lr, _per_image_reference(hr, deg.last_params, deg.config), atol=2e-5, rtol=0)


def test_usm_target_and_input_switches() -> None:
    hr = _hr(2)
    lr, target = RealESRGANDegradation(seed=0)(hr)
    torch.testing.assert_close(target, usm_sharpen(hr))
    lr_plain, target_plain = RealESRGANDegradation(seed=0, usm={"sharpen_target": False})(hr)
    assert target_plain is hr or torch.equal(target_plain, hr)
    assert torch.equal(lr_plain, lr)  # the input is still degraded from the sharpened image
    lr_raw, _ = RealESRGANDegradation(seed=0, usm={"sharpen_target": False, "sharpen_input": False})(hr)
    assert not torch.equal(lr_raw, lr)


def test_dtypes_and_autocast() -> None:
    hr = _hr(2)
    deg = RealESRGANDegradation(seed=0)
    ref, _ = deg(hr)
    params = deg.last_params
    lr64, t64 = deg(hr.double(), params=params)
    assert lr64.dtype == torch.float64 and t64.dtype == torch.float64
    assert float((lr64.float() - ref).abs().mean()) < 1 / 255  # same parameters, float64 maths
    lr16, _ = deg(hr.bfloat16(), params=params)
    assert lr16.dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lr_ac, _ = deg(hr, params=params)
    assert lr_ac.dtype == torch.float32 and torch.equal(lr_ac, ref)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_parameters() -> None:
    hr = _hr(2)
    deg = RealESRGANDegradation(seed=0)
    lr_cpu, _ = deg(hr)
    lr_gpu, t_gpu = deg(hr.cuda(), params=deg.last_params)
    assert lr_gpu.device.type == "cuda" and t_gpu.device.type == "cuda"
    assert lr_gpu.shape == lr_cpu.shape and _is_8bit(lr_gpu.cpu())


def test_bad_input_and_config_are_reported() -> None:
    deg = RealESRGANDegradation(scale=4)
    with pytest.raises(ValueError, match="divisible by scale 4"):
        deg(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        deg(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="float"):
        deg(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="valid ones"):
        RealESRGANDegradation(sigma=(1, 2))
    with pytest.raises(ValueError, match="kernel_probs"):
        RealESRGANDegradation(blur1={"kernel_probs": (0.5, 0.4, 0.0, 0.0, 0.0, 0.0)})
    with pytest.raises(ValueError, match="final_modes"):
        RealESRGANDegradation(final_modes=("nearest",))
    cfg = RealESRGANDegradation(noise2={"sigma": [1, 10]}).config
    assert cfg.noise2.sigma == (1, 10) and cfg.noise2.poisson_scale == (0.05, 2.5)


def test_published_defaults() -> None:
    c = RealESRGANConfig()
    assert c.blur1.kernel_probs == (0.45, 0.25, 0.12, 0.03, 0.12, 0.03) and c.blur1.sinc_prob == 0.1
    assert c.blur1.sigma == (0.2, 3.0) and c.blur2.sigma == (0.2, 1.5) and c.blur2.prob == 0.8
    assert c.blur1.beta_gaussian == (0.5, 4.0) and c.blur1.beta_plateau == (1.0, 2.0)
    assert c.resize1.probs == (0.2, 0.7, 0.1) and c.resize1.scale_range == (0.15, 1.5)
    assert c.resize2.probs == (0.3, 0.4, 0.3) and c.resize2.scale_range == (0.3, 1.2)
    assert c.noise1.sigma == (1.0, 30.0) and c.noise2.sigma == (1.0, 25.0)
    assert c.noise1.poisson_scale == (0.05, 3.0) and c.noise2.poisson_scale == (0.05, 2.5)
    assert c.noise1.gaussian_prob == 0.5 and c.noise1.gray_prob == 0.4
    assert c.jpeg1.quality == (30.0, 95.0) and c.final_sinc_prob == 0.8 and c.jpeg_first_prob == 0.5


def test_partition_is_optimal_and_covers_every_sample() -> None:
    sizes = torch.tensor([5, 40, 7, 38, 20, 6, 41])
    groups = partition_by_size(sizes, sizes, 2, 3)
    assert sorted(torch.cat(groups).tolist()) == list(range(7))

    def cost(parts) -> int:
        return sum(len(g) * (int(sizes[g].max()) + 2) ** 2 for g in parts)

    order = torch.argsort(sizes).tolist()
    best = min(
        cost([torch.tensor(order[i:j]) for i, j in zip((0, *cuts), (*cuts, 7), strict=True)])
        for k in range(0, 3)
        for cuts in itertools.combinations(range(1, 7), k)
    )
    assert cost(groups) == best
    assert partition_by_size(sizes, sizes, 0, 1)[0].tolist() == list(range(7))


def test_resize_filters_use_the_shared_vocabulary() -> None:
    from srlib.degrade import ResizeConfig
    from srlib.degrade.functional import RESIZE_FILTERS

    cfg = RealESRGANConfig()
    assert (
        cfg.resize1.modes
        == cfg.final_modes
        == RESIZE_FILTERS
        == ("torch_area", "torch_bilinear", "torch_bicubic")
    )
    # The bare names these settings once took (F.interpolate's modes) still mean those filters (warned).
    with pytest.warns(
        FutureWarning,
        match=r"ResizeConfig\.modes: 'area', 'bicubic' here meant F\.interpolate's modes; "
        r"write 'torch_area', 'torch_bicubic'",
    ):
        old = RealESRGANDegradation(resize1={"modes": ["area", "bicubic"]}, seed=0)
    with pytest.warns(FutureWarning):
        assert RealESRGANConfig(final_modes=("bilinear",)).final_modes == ("torch_bilinear",)
    new = RealESRGANDegradation(resize1={"modes": ["torch_area", "torch_bicubic"]}, seed=0)
    assert old.config == new.config
    hr = _hr(4, size=64)
    assert torch.equal(old(hr)[0], new(hr)[0])
    # Only F.interpolate's filters are available in the batched per-sample resize.
    with pytest.raises(
        ValueError, match=r"Unknown resize filter 'matlab' in ResizeConfig\.modes \('bicubic' is not"
    ):
        ResizeConfig(modes=("matlab",))
    with pytest.raises(ValueError, match="choose one of torch_area, torch_bilinear, torch_bicubic"):
        RealESRGANConfig(final_modes=("lanczos",))
    with pytest.raises(ValueError, match="non-empty"):
        ResizeConfig(modes=())
