"""Clips of consecutive frames: paired, HR-only (degraded on the device) and real-codec LR; the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from srlib.data.video.clip_dataset import VideoClipDataset
from srlib.data.video.clips import ClipSampling, cache_clips
from srlib.data.video.datamodule import VideoPairDataModule
from srlib.data.video.synthetic import CameraPan, pan_frames
from srlib.io.images import write_image
from srlib.io.video import write_video
from srlib.metrics.protocol import protocol_lr


def test_clip_items_share_one_crop_and_flip_across_frames(tiny_clip_pairs: Path) -> None:
    ds = VideoClipDataset(tiny_clip_pairs, 4, {"frames": 5}, patch_size=32, split="train")
    torch.manual_seed(3)
    item = ds[0]
    assert item["hr"].shape == (5, 3, 32, 32) and item["lr"].shape == (5, 3, 8, 8)
    assert item["hr"].dtype == torch.uint8 and item["name"].endswith("_c000000")
    # The LR crop is the HR crop's own LR (same place, same flip) in every frame: close to its downscale.
    made = protocol_lr(item["hr"], 4) * 255
    assert (made - item["lr"].float()).abs().mean() < 12
    shifted = protocol_lr(item["hr"].flip(-1), 4) * 255
    assert (shifted - item["lr"].float()).abs().mean() > (made - item["lr"].float()).abs().mean()


def test_splits_hold_out_each_videos_last_clip_and_the_cache_is_reused(tiny_clip_pairs: Path) -> None:
    train = VideoClipDataset(tiny_clip_pairs, 4, {"frames": 5}, split="train")
    held = VideoClipDataset(tiny_clip_pairs, 4, {"frames": 5}, split="holdout", augment=False)
    assert all(r.cached for r in held.reports)  # the second set-up decoded nothing
    assert len(train.items) == len(held.items) == 3  # 10 frames: two clips of 5 per video
    starts = {(v.name, c[0]) for v, c in train.items} | {(v.name, c[0]) for v, c in held.items}
    assert len(starts) == 6 and {c[0] for _, c in held.items} == {5}
    assert held[0]["hr"].shape == (5, 3, 64, 64)  # whole frames


def _hr_only_root(root: Path) -> Path:
    """One HR video and one image-sequence folder, both a pan over a synthetic photo."""
    rng = np.random.default_rng(0)
    photo = (rng.random((80, 96, 3)) * 255).astype(np.uint8)
    frames = list(pan_frames(photo, (48, 64), CameraPan(frames=8)))
    write_video(root / "pan.mp4", frames, fps=25, crf=0, preset="ultrafast")
    for k, f in enumerate(frames):
        write_image(root / "seq" / f"{k:03d}.png", torch.from_numpy(f).permute(2, 0, 1))
    return root


def test_hr_only_clips_are_degraded_on_the_device_with_one_parameter_set_per_clip(tmp_path: Path) -> None:
    root = _hr_only_root(tmp_path / "hr_only")
    dm = VideoPairDataModule(root=root, clips={"frames": 4}, lr_mode="degrade", scale=4, patch_size=32,
                             batch_size=2, holdout_frames=0)  # fmt: skip
    assert dm.degradation.clip_consistent
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["hr"].shape == (2, 4, 3, 32, 32) and "lr" not in batch

    class _Fitting:
        training = True

    dm.trainer = _Fitting()  # type: ignore[assignment]
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["lr"].shape == (2, 4, 3, 8, 8) and out["hr"].dtype == torch.float32
    assert (out["lr"][0] - dm.degradation(out["hr"][0])[0]).abs().max() < 1e-6  # the same pipeline per frame


def test_codec_clips_carry_real_h264_lr(tmp_path: Path) -> None:
    root = _hr_only_root(tmp_path / "hr_only")
    ds = VideoClipDataset(root, 4, {"frames": 4}, lr_mode="codec", codec={"crf": 35, "preset": "ultrafast"})
    item = ds[0]
    assert item["lr"].shape == (4, 3, 12, 16) and item["hr"].shape == (4, 3, 48, 64)
    made = protocol_lr(item["hr"], 4) * 255
    error = (made - item["lr"].float()).abs().mean()
    assert 0 < error < 25  # the codec's loss on top of the downscale


def test_short_videos_are_skipped_by_name_or_padded_by_reflection(tmp_path: Path) -> None:
    root = _hr_only_root(tmp_path / "hr_only")
    with pytest.raises(ValueError, match="No usable clip of 12 frames"):
        cache_clips(
            root, settings=ClipSampling(frames=12), scale=4, lr_mode="degrade", cache_dir=tmp_path / "c1"
        )
    videos = cache_clips(root, settings=ClipSampling(frames=12, short_clips="reflect"), scale=4,
                         lr_mode="degrade", cache_dir=tmp_path / "c2")  # fmt: skip
    assert all(v.report.padded and len(v.clips) == 1 and len(v.clips[0]) == 12 for v in videos)


def test_an_empty_folder_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises((ValueError, FileNotFoundError), match="empty"):
        VideoClipDataset(tmp_path / "empty", 4, {"frames": 5}, lr_mode="degrade")


def test_make_video_pairs_cli_writes_the_rutube_layout(tmp_path: Path, t91: Path) -> None:
    from srlib.cli.data import main

    out = tmp_path / "pairs"
    assert (
        main(["make-video-pairs", str(t91), str(out), "--hr-size", "64x64", "--frames", "4", "--limit", "2"])
        == 0
    )
    assert sorted(p.name for p in (out / "hr").iterdir()) == sorted(p.name for p in (out / "lr").iterdir())
    assert len(list((out / "hr").iterdir())) == 2
    assert main(["make-video-pairs", str(t91), str(out), "--hr-size", "63x64"]) == 2  # odd: refused
