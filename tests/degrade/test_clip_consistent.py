"""Clip-consistent degradations: one parameter set per clip, per-frame JPEG/noise jitter, exact replay."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from srlib.degrade import (
    BicubicDegradation,
    ClipConfig,
    JPEGParams,
    NoiseParams,
    RealESRGANDegradation,
    VideoDegradation,
)
from srlib.degrade.params import jitter_frames, repeat_frames
from srlib.ops import imresize


def _clips(b: int = 2, t: int = 4, size: int = 32, seed: int = 0, static: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    frames = 1 if static else t
    small = torch.rand(b * frames, 3, size // 4, size // 4, generator=g)
    x = F.interpolate(small, size=(size, size), mode="bilinear").view(b, frames, 3, size, size)
    return x.expand(b, t, 3, size, size).contiguous() if static else x


def _per_frame(values: torch.Tensor, b: int, t: int) -> torch.Tensor:
    return values.view(b, t)


def _shared_fields(params: object, b: int, t: int) -> list[tuple[str, torch.Tensor]]:
    """Every per-frame field that must be constant within a clip (all but JPEG quality, noise levels)."""
    out = []
    for f in dataclasses.fields(params):  # type: ignore[arg-type]
        v = getattr(params, f.name)
        if isinstance(v, torch.Tensor) and v.ndim >= 1:
            out.append((f.name, v.view(b, t)))
        elif dataclasses.is_dataclass(v):
            skip = (
                {"quality"}
                if isinstance(v, JPEGParams)
                else {"sigma", "scale"}
                if isinstance(v, NoiseParams)
                else set()
            )
            out += [(f"{f.name}.{k}", w) for k, w in _shared_fields(v, b, t) if k.split(".")[-1] not in skip]
    return out


def test_flag_off_refuses_clips_and_on_keeps_images_bit_for_bit() -> None:
    with pytest.raises(ValueError, match="clip_consistent=True"):
        RealESRGANDegradation(seed=0)(_clips())
    hr = _clips().flatten(0, 1)
    a, ta = RealESRGANDegradation(seed=3)(hr)
    b, tb = RealESRGANDegradation(seed=3, clip_consistent=True)(hr)
    assert torch.equal(a, b) and torch.equal(ta, tb)


def test_one_parameter_set_per_clip_with_small_per_frame_jitter() -> None:
    b, t = 3, 5
    deg = RealESRGANDegradation(scale=4, seed=1, clip_consistent=True)
    lr, target = deg(_clips(b, t))
    assert lr.shape == (b, t, 3, 8, 8) and target.shape == (b, t, 3, 32, 32)
    p = deg.last_params
    assert p is not None and len(p.kernel1) == b * t
    for name, values in _shared_fields(p, b, t):
        assert bool((values == values[:, :1]).all()), f"{name} varies inside a clip"
    # Clips differ from each other (the per-clip draw is still random).
    assert _per_frame(p.resize1.scale, b, t)[:, 0].unique().numel() == b
    jit = deg.config.clip
    for jpeg in (p.jpeg1, p.jpeg2):
        q = _per_frame(jpeg.quality, b, t)
        assert bool((q.amax(1) - q.amin(1) <= 2 * jit.jpeg_quality_jitter + 1e-9).all())
        assert bool((q.amax(1) > q.amin(1)).all())  # it does move per frame
        assert bool(((q >= 30) & (q <= 95)).all())  # inside the configured range
    for noise in (p.noise1, p.noise2):
        s = _per_frame(noise.sigma, b, t)
        ratio = s.amax(1) / s.amin(1)
        assert bool((ratio <= (1 + jit.noise_level_jitter) / (1 - jit.noise_level_jitter) + 1e-9).all())
        assert bool((ratio > 1).all())


def test_static_clip_frames_differ_only_by_noise_and_jpeg() -> None:
    hr = _clips(2, 4, static=True)
    quiet = {"prob": 0.0}
    deg = RealESRGANDegradation(
        seed=2, clip_consistent=True, noise1=quiet, noise2=quiet, jpeg1=quiet, jpeg2=quiet
    )
    lr, _ = deg(hr)
    assert torch.equal(lr, lr[:, :1].expand_as(lr))  # same kernel, sizes, filters in every frame
    assert not torch.equal(lr[0, 0], lr[1, 0])  # the two clips were degraded differently
    noisy, _ = RealESRGANDegradation(seed=2, clip_consistent=True)(hr)
    assert not torch.equal(noisy[:, 0], noisy[:, 1])  # fresh noise images and JPEG quality per frame


def test_replay_reproduces_clips_exactly_and_checks_the_frame_count() -> None:
    hr = _clips(2, 3)
    deg = RealESRGANDegradation(seed=4, clip_consistent=True)
    lr, target = deg(hr)
    other = RealESRGANDegradation(seed=99, clip_consistent=True)
    lr2, target2 = other(hr, params=deg.last_params)
    assert torch.equal(lr, lr2) and torch.equal(target, target2)
    # Same seed, same clips: same result; forward_parameters draws the same per-frame records.
    assert torch.equal(RealESRGANDegradation(seed=4, clip_consistent=True)(hr)[0], lr)
    drawn = RealESRGANDegradation(seed=4, clip_consistent=True).forward_parameters(hr.shape)
    assert torch.equal(drawn.jpeg2.quality, deg.last_params.jpeg2.quality)
    with pytest.raises(ValueError, match="per-frame last_params"):
        deg(_clips(2, 4), params=deg.last_params)


def test_clip_config_fields_and_validation() -> None:
    deg = RealESRGANDegradation(
        seed=0, clip_consistent=True, clip={"jpeg_quality_jitter": 0, "noise_level_jitter": 0}
    )
    deg(_clips(2, 3))
    p = deg.last_params
    for values in (p.jpeg1.quality, p.jpeg2.quality, p.noise1.sigma, p.noise2.scale):
        v = values.view(2, 3)
        assert bool((v == v[:, :1]).all())
    with pytest.raises(ValueError, match="jpeg_quality_jitter"):
        ClipConfig(jpeg_quality_jitter=-1)
    with pytest.raises(ValueError, match="noise_level_jitter"):
        ClipConfig(noise_level_jitter=1.5)


def test_jitter_functions_clamp_to_the_step_range() -> None:
    frames = repeat_frames(JPEGParams(torch.tensor([True, True]), torch.tensor([31.0, 94.0])), 2, 50)
    assert frames.quality.view(2, 50)[:, 0].tolist() == [31.0, 94.0]
    out = jitter_frames(frames, ClipConfig(jpeg_quality_jitter=10), None, torch.Generator().manual_seed(0))
    assert float(out.quality.min()) >= 21 - 1e-9 and float(out.quality.max()) <= 100
    assert out.quality.view(2, 50)[0].amin() < 31  # without a config only [1, 100] binds


def test_first_order_presets_inherit_the_clip_mode() -> None:
    deg = VideoDegradation(scale=2, seed=0)
    deg.clip_consistent = True  # the presets' constructors do not take the flag (yet); the base does the work
    lr, _ = deg(_clips(2, 4, size=16))
    assert lr.shape == (2, 4, 3, 8, 8)
    q = deg.last_params.jpeg.quality.view(2, 4)
    assert bool(((q >= 15) & (q <= 50)).all()) and bool((q.amax(1) - q.amin(1) <= 10).all())


def test_bicubic_clip_mode_matches_frames_and_default_is_unchanged() -> None:
    hr = _clips(2, 3, size=16)
    lr, target = BicubicDegradation(scale=2, clip_consistent=True)(hr)
    assert lr.shape == (2, 3, 3, 8, 8) and target is hr
    frames, _ = BicubicDegradation(scale=2)(hr.flatten(0, 1))
    assert torch.equal(lr.flatten(0, 1), frames)
    expected = (imresize(hr[0], 0.5).clamp(0, 1) * 255).round() / 255
    assert torch.equal(BicubicDegradation(scale=2)(hr[0])[0], expected)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        BicubicDegradation(scale=2, clip_consistent=True)(torch.rand(1, 2, 3, 4, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_clips_on_cuda_stay_on_device_and_replay() -> None:
    hr = _clips(2, 4).cuda()
    deg = RealESRGANDegradation(seed=5, clip_consistent=True)
    lr, target = deg(hr)
    assert lr.device == hr.device and target.device == hr.device and lr.shape == (2, 4, 3, 8, 8)
    assert torch.equal(deg(hr, params=deg.last_params)[0], lr)
    cpu, _ = RealESRGANDegradation(seed=5, clip_consistent=True)(hr.cpu())
    assert float((cpu - lr.cpu()).abs().mean()) < 0.02  # same parameters; noise images differ by device
