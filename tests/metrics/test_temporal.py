"""Temporal metrics: per-frame protocol scores of clips, tdiff_psnr, the streaming scorer, DDP merges."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from srlib.metrics import (
    ClipPSNR,
    ClipSSIM,
    TDiffPSNR,
    TemporalScores,
    clip_psnr,
    clip_ssim,
    psnr,
    ssim,
    tdiff_psnr,
)


def _clip(b: int = 2, t: int = 5, size: int = 24, seed: int = 0) -> torch.Tensor:
    """Smooth moving content in [0.2, 0.8] (no clipping when an error is added)."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(
        torch.rand(b, 3, size // 4, size // 4 + t, generator=g), scale_factor=4, mode="bilinear"
    )
    frames = [base[..., 4 * i : 4 * i + size] for i in range(t)]  # a pan to the left, 4 px per frame
    return (0.2 + 0.6 * torch.stack(frames, dim=1)).contiguous()


def test_clip_scores_are_the_mean_of_the_per_frame_protocol_scores() -> None:
    hr = _clip()
    sr = (hr + 0.03 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    per_frame_psnr = psnr(sr.flatten(0, 1), hr.flatten(0, 1), crop_border=2, reduction="none").view(2, 5)
    per_frame_ssim = ssim(sr.flatten(0, 1), hr.flatten(0, 1), crop_border=2, reduction="none").view(2, 5)
    assert torch.allclose(clip_psnr(sr, hr, crop_border=2), per_frame_psnr.mean(1))
    assert torch.allclose(clip_ssim(sr, hr, crop_border=2), per_frame_ssim.mean(1))
    # A 4-D tensor is one clip.
    assert torch.allclose(clip_psnr(sr[1], hr[1], crop_border=2), per_frame_psnr[1:].mean(1))
    assert clip_psnr(sr, hr, crop_border=2, y_channel=False).shape == (2,)


def test_tdiff_psnr_of_identical_clips_is_the_floor_and_rewards_steady_errors() -> None:
    hr = _clip()
    same = tdiff_psnr(hr, hr, crop_border=2)
    assert same.shape == (2,) and bool((same > 140).all())  # 10 log10(255² / 1e-10) ≈ 148 dB
    steady = hr + 6 / 255  # the same error in every frame
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0]).view(1, 5, 1, 1, 1)
    flicker = hr + signs * 6 / 255  # the same error size, its sign flipping per frame
    p_steady, p_flicker = clip_psnr(steady, hr, crop_border=2), clip_psnr(flicker, hr, crop_border=2)
    assert torch.allclose(p_steady, p_flicker, atol=0.3)  # per-frame PSNR cannot tell them apart
    t_steady, t_flicker = tdiff_psnr(steady, hr, crop_border=2), tdiff_psnr(flicker, hr, crop_border=2)
    assert bool((t_steady > t_flicker + 20).all())
    # Known value: Y moves by 2 × 5 levels (6 · 219/255 rounded) at every change: 20 log10(255 / 10) dB.
    assert math.isclose(float(t_flicker[0]), 20 * math.log10(255 / 10), abs_tol=0.5)


def test_tdiff_psnr_ignores_the_border_it_is_told_to() -> None:
    hr = _clip(1, 3)
    sr = hr.clone()
    sr[:, 1, :, :2] = 1.0  # a flash in the top two rows of the middle frame
    assert float(tdiff_psnr(sr, hr, crop_border=2)[0]) > 140
    assert float(tdiff_psnr(sr, hr, crop_border=0)[0]) < 40


def test_bad_input_is_named() -> None:
    hr = _clip(1, 3)
    with pytest.raises(ValueError, match="at least 2 frames"):
        tdiff_psnr(hr[:, :1], hr[:, :1])
    with pytest.raises(ValueError, match="differ in clips or frames"):
        clip_psnr(hr[:, :2], hr)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        clip_ssim(hr[0, 0], hr[0, 0])


@pytest.mark.parametrize("chunk", [1, 2])
def test_streaming_scores_equal_the_batch_functions(chunk: int) -> None:
    hr = _clip(1, 6)
    sr = (hr + 0.02 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    scores = TemporalScores(crop_border=2)
    for t in range(0, 6, chunk):
        scores.add(sr[0, t : t + chunk].squeeze(0), hr[0, t : t + chunk].squeeze(0))
    s = scores.compute()
    assert s.frames == 6
    assert math.isclose(s.psnr, float(clip_psnr(sr, hr, crop_border=2)[0]), rel_tol=1e-6)
    assert math.isclose(s.ssim, float(clip_ssim(sr, hr, crop_border=2)[0]), rel_tol=1e-6)
    assert math.isclose(s.tdiff_psnr, float(tdiff_psnr(sr, hr, crop_border=2)[0]), rel_tol=1e-6)
    scores.reset()
    scores.add(sr[0, 0], hr[0, 0])
    with pytest.raises(ValueError, match="at least 2"):
        scores.compute()
    with pytest.raises(ValueError, match="reset"):
        scores.add(sr[0, 1, :, :20], hr[0, 1, :, :20])


def test_streaming_scores_of_a_gray_ground_truth() -> None:
    hr = _clip(1, 3)[:, :, :1]
    sr = hr.expand(-1, -1, 3, -1, -1)
    scores = TemporalScores()
    for t in range(3):
        scores.add(sr[0, t], hr[0, t])
    assert scores.compute().tdiff_psnr > 140
    assert float(tdiff_psnr(sr, hr)[0]) > 140


@pytest.mark.parametrize("cls", [ClipPSNR, ClipSSIM, TDiffPSNR])
def test_metrics_mean_over_clips_and_merge_like_ddp(cls: type) -> None:
    hr = _clip(4, 3, seed=3)
    noise = torch.randn(hr.shape, generator=torch.Generator().manual_seed(4))
    sr = (hr + 0.02 * noise * torch.arange(1, 5).view(4, 1, 1, 1, 1)).clamp(0, 1)
    fn = {ClipPSNR: clip_psnr, ClipSSIM: clip_ssim, TDiffPSNR: tdiff_psnr}[cls]
    whole = cls(crop_border=2)
    whole.update(sr, hr)
    assert math.isclose(float(whole.compute()), float(fn(sr, hr, crop_border=2).mean()), rel_tol=1e-6)
    first, second = cls(crop_border=2), cls(crop_border=2)
    first.update(sr[:1], hr[:1])
    second.update(sr[1:], hr[1:])
    assert all(first._reductions[name] is not None for name in ("total", "count"))
    first.merge_state(second)  # what DDP's sum reduction does across ranks
    assert math.isclose(float(first.compute()), float(whole.compute()), rel_tol=1e-6)
    assert cls.higher_is_better is True
