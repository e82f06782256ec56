"""Paired video frames: timestamp matching, reports, size policies, the frame cache, bad input.

The videos are made here with PyAV: panning crops of a Set14 image, the HR encode a direct crop and
the LR encode a MATLAB-bicubic downscale of the same window, so each LR frame has one true HR partner.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srlib.data.video import (
    FramePairPolicy,
    FrameSampling,
    VideoFramePairDataset,
    find_clip_pairs,
    sample_frame_pairs,
)
from srlib.ops import imresize

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SOURCE = SHARED / "data" / "Set14" / "baboon.png"
SPEED = 100.0  # pan speed in source pixels per second (4 px per frame at 25 fps)


@pytest.fixture(scope="module")
def source() -> torch.Tensor:
    if not SOURCE.is_file():
        pytest.skip(f"Set14 image {SOURCE} not found (needs ../shared/data/Set14 next to the repo)")
    from srlib.io.images import read_image

    return read_image(SOURCE).float() / 255.0


def _frame(source: torch.Tensor, t: float, hr_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The window seen at time ``t`` (panning right), resized to ``size`` (h, w) -> (h, w, 3) uint8."""
    x = round(SPEED * t)
    crop = source[:, 40 : 40 + hr_size[0], x : x + hr_size[1]]
    if tuple(size) != tuple(hr_size):
        crop = imresize(crop, size=size)
    return (crop.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def write_clip(
    path: Path,
    source: torch.Tensor,
    *,
    size: tuple[int, int],
    fps: float | Fraction,
    frames: int,
    hr_size: tuple[int, int] = (72, 96),
    codec: str = "libx264",
    options: dict | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "0", "preset": "ultrafast"}
        else:
            stream.bit_rate = 4_000_000
        for k in range(frames):
            image = _frame(source, k / float(fps), hr_size, size)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def paired_root(tmp_path_factory, source) -> Path:
    """x3 pairs (HR 96x72, LR 32x24): different fps, 25 vs 25.02 fps in another container, a short LR."""
    root = tmp_path_factory.mktemp("pairs")
    lr, hr = (24, 32), (72, 96)
    write_clip(root / "hr" / "pan30.mp4", source, size=hr, fps=25, frames=12)
    write_clip(root / "lr" / "pan30.mp4", source, size=lr, fps=30, frames=15)
    write_clip(root / "hr" / "drift.mp4", source, size=hr, fps=25, frames=12, codec="mpeg4")
    write_clip(root / "lr" / "drift.mkv", source, size=lr, fps=Fraction(2502, 100), frames=12, codec="mpeg4")
    write_clip(root / "hr" / "short.mp4", source, size=hr, fps=25, frames=12)
    write_clip(root / "lr" / "short.mp4", source, size=lr, fps=25, frames=7)
    return root


def _down(hr: np.ndarray) -> torch.Tensor:
    """An HR frame brought to LR size (the way the LR encodes were made), as (h, w, 3) float."""
    return imresize(torch.from_numpy(hr).permute(2, 0, 1).float(), 1 / 3).permute(1, 2, 0)


def _mse(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    a, b = torch.as_tensor(np.asarray(a)).float(), torch.as_tensor(np.asarray(b)).float()
    return float(((a - b) ** 2).mean())


# ----------------------------------------------------------------------------------------------------
# Timestamp matching and reports
# ----------------------------------------------------------------------------------------------------


def test_pairs_match_by_timestamp_not_index(paired_root, caplog):
    sampling = FrameSampling(every_n=3)
    with caplog.at_level(logging.WARNING, logger="srlib.data.video"):
        pairs, report = sample_frame_pairs(
            paired_root / "lr" / "pan30.mp4", paired_root / "hr" / "pan30.mp4", sampling
        )
    # HR frames 0, 3, 6, 9 at 0, .12, .24, .36 s; the nearest 30 fps LR frames are 0, 4, 7, 11.
    assert [p.hr_index for p in pairs] == [0, 3, 6, 9]
    assert [p.lr_index for p in pairs] == [0, 4, 7, 11]
    assert all(abs(p.lr_time - p.hr_time) <= 0.5 / 30 + 1e-6 for p in pairs)
    assert report.lr_frames == 15 and report.hr_frames == 12 and report.pairs == 4 and report.dropped == 0
    assert report.lr_fps == pytest.approx(30, rel=1e-3) and report.hr_fps == pytest.approx(25, rel=1e-3)
    assert report.max_offset == pytest.approx(1 / 75, abs=1e-4)
    # 12 vs 15 frames and 0.48 vs 0.5 s are beyond the 2 % tolerance: reported and logged.
    assert any("frame counts differ" in w for w in report.warnings)
    assert any("durations differ" in w for w in report.warnings)
    assert "pan30" in caplog.text and "frame counts differ" in caplog.text

    # Content: each LR frame matches its own HR frame (brought to LR size) far better than the
    # neighbouring HR frames, 4 px of panning away.
    hr_frames = decode_all(paired_root / "hr" / "pan30.mp4")
    for pair in pairs:
        assert np.array_equal(pair.hr, hr_frames[pair.hr_index])
        own = _mse(pair.lr, _down(hr_frames[pair.hr_index]))
        for k in (pair.hr_index - 1, pair.hr_index + 1):
            if 0 <= k < len(hr_frames):
                assert own < 0.3 * _mse(pair.lr, _down(hr_frames[k]))
    # Index matching would have paired HR 9 (0.36 s) with LR 9 (0.3 s, 6 px earlier): clearly worse.
    lr_frames = decode_all(paired_root / "lr" / "pan30.mp4")
    target = _down(hr_frames[9])
    assert _mse(lr_frames[11], target) < 0.3 * _mse(lr_frames[9], target)


def test_slightly_different_fps_other_container(paired_root):
    pairs, report = sample_frame_pairs(
        paired_root / "lr" / "drift.mkv", paired_root / "hr" / "drift.mp4", FrameSampling(every_n=4)
    )
    assert [p.lr_index for p in pairs] == [p.hr_index for p in pairs] == [0, 4, 8]
    assert report.warnings == [] and report.dropped == 0
    assert report.lr_fps == pytest.approx(25.02, rel=1e-3)


def test_different_frame_counts_drop_far_pairs(paired_root):
    pairs, report = sample_frame_pairs(
        paired_root / "lr" / "short.mp4", paired_root / "hr" / "short.mp4", FrameSampling(every_n=3)
    )
    # LR stops after 7 frames (0.24 s): HR 0.36 s has no LR frame within half a period.
    assert [p.hr_index for p in pairs] == [0, 3, 6] and [p.lr_index for p in pairs] == [0, 3, 6]
    assert report.dropped == 1 and report.pairs == 3
    assert any("dropped" in w and "0.360" in w for w in report.warnings)
    assert any("frame counts differ: LR 7, HR 12" in w for w in report.warnings)
    # A looser tolerance silences the count/duration report but never the dropped pair.
    _, loose = sample_frame_pairs(
        paired_root / "lr" / "short.mp4",
        paired_root / "hr" / "short.mp4",
        FrameSampling(every_n=3, mismatch_tolerance=0.5),
    )
    assert len(loose.warnings) == 1 and "dropped" in loose.warnings[0]


def test_sampling_settings_validated():
    with pytest.raises(ValueError, match="every_n"):
        FrameSampling(every_n=0)
    with pytest.raises(ValueError, match="max_time_offset"):
        FrameSampling(max_time_offset=0)
    assert FrameSampling().every_n == 250


# ----------------------------------------------------------------------------------------------------
# Dataset and cache
# ----------------------------------------------------------------------------------------------------


class _CountingOpen:
    def __init__(self, real):
        self.real, self.paths = real, []

    def __call__(self, path, *args, **kwargs):
        self.paths.append(Path(path).name)
        return self.real(path, *args, **kwargs)


def test_dataset_items_and_cache(paired_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ds = VideoFramePairDataset(paired_root, scale=3, sampling={"every_n": 3}, cache_dir=cache)
    assert len(ds) == 4 + 4 + 3  # pan30, drift: HR 0, 3, 6, 9; short: the 0.36 s pair is dropped
    names = sorted(ds.items[i][0] for i in range(len(ds.items)))
    assert names[0].startswith("drift_f") and len(ds.reports) == 3
    item = ds[0]
    assert item["lr"].dtype == torch.uint8 and tuple(item["lr"].shape) == (3, 24, 32)
    assert tuple(item["hr"].shape) == (3, 72, 96) and isinstance(item["name"], str)
    assert ds.policy.ratio == (3.0, 3.0)  # filled in from the clips for inference

    # Manifests written, nothing temporary left behind.
    manifests = sorted(cache.glob("*/manifest.json"))
    assert len(manifests) == 3 and not list(cache.rglob("*.tmp"))
    frames = {json.loads(m.read_text())["name"]: json.loads(m.read_text())["frames"] for m in manifests}
    assert [f["lr_index"] for f in frames["pan30"]] == [0, 4, 7, 11]

    # Second run: no video is opened at all, the items are identical.
    counter = _CountingOpen(av.open)
    monkeypatch.setattr(av, "open", counter)
    again = VideoFramePairDataset(paired_root, scale=3, sampling={"every_n": 3}, cache_dir=cache)
    assert counter.paths == []
    assert all(r.cached for r in again.reports)
    assert torch.equal(again[0]["hr"], item["hr"]) and again[0]["name"] == item["name"]

    # A changed source invalidates only its own clip; the stale folder goes away.
    src = paired_root / "lr" / "short.mp4"
    shutil.copy(src, tmp_path / "short_backup.mp4")
    try:
        src.write_bytes(src.read_bytes())  # same bytes, new mtime
        st = src.stat()
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
        VideoFramePairDataset(paired_root, scale=3, sampling={"every_n": 3}, cache_dir=cache)
        assert sorted(set(counter.paths)) == ["short.mp4"]
        assert len(list(cache.glob("short-*"))) == 1
        # Different sampling settings are a different cache entry.
        counter.paths.clear()
        VideoFramePairDataset(paired_root, scale=3, sampling={"every_n": 4}, cache_dir=cache)
        assert len(counter.paths) == 12  # 3 clips x (2 header probes + 2 decodes)
    finally:
        shutil.copy(tmp_path / "short_backup.mp4", src)


def test_interrupted_cache_write_is_rebuilt(paired_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = {"n": 0}
    real_save = np.save

    def failing_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        VideoFramePairDataset(paired_root, scale=3, sampling={"every_n": 3}, cache_dir=cache)
    assert not list(cache.glob("*/manifest.json")) and not list(cache.rglob("*.tmp"))
    monkeypatch.setattr(np, "save", real_save)
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")]  # only hidden temporary names
    # A folder of the first cache format (NAME-<16 hex>, written in place) is replaced too.
    legacy = cache / "pan30-0123456789abcdef"
    legacy.mkdir()
    (legacy / "manifest.json").write_text(json.dumps({"version": 1, "name": "pan30"}))
    ds = VideoFramePairDataset(paired_root, scale=3, sampling={"every_n": 3}, cache_dir=cache)
    assert not any(r.cached for r in ds.reports) and len(list(cache.glob("*/manifest.json"))) == 3
    assert not legacy.exists()
    # A damaged cache file is reported with the folder to delete.
    lr_file = ds.items[0][1]
    lr_file.write_bytes(lr_file.read_bytes()[:200])
    with pytest.raises(ValueError, match=f"truncated; delete the cache folder {lr_file.parent}"):
        ds[0]


def test_patches_are_aligned_and_augmented(paired_root, tmp_path):
    ds = VideoFramePairDataset(
        paired_root, scale=3, patch_size=24, sampling={"every_n": 6}, cache_dir=tmp_path, samples_per_epoch=40
    )
    assert len(ds) == 40
    torch.manual_seed(0)
    seen = set()
    for i in range(40):
        item = ds[i]
        lr, hr = item["lr"], item["hr"]
        assert tuple(lr.shape) == (3, 8, 8) and tuple(hr.shape) == (3, 24, 24) and lr.dtype == torch.uint8
        # The LR patch is the bicubic downscale of its HR patch (up to the codec), flips included.
        down = imresize(hr.float(), 1 / 3)
        err = (down - lr.float()).abs().mean()
        assert err < 10.0, (item["name"], float(err))
        assert err < 0.5 * (down - lr.float().flip(-1)).abs().mean()
        seen.add(tuple(hr[:, 0, 0].tolist()))
    assert len(seen) > 10  # random positions / orientations
    with pytest.raises(ValueError, match="multiple of scale"):
        VideoFramePairDataset(
            paired_root, scale=3, patch_size=25, sampling={"every_n": 6}, cache_dir=tmp_path
        )
    with pytest.raises(ValueError, match="smaller than the 30px LR patch"):
        VideoFramePairDataset(
            paired_root, scale=3, patch_size=90, sampling={"every_n": 6}, cache_dir=tmp_path
        )


# ----------------------------------------------------------------------------------------------------
# Size policies
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory, source) -> Path:
    """One clip with a non-integer ratio: HR 96x64, LR 30x20 (x3.2)."""
    root = tmp_path_factory.mktemp("odd")
    write_clip(root / "hr" / "odd.mp4", source, size=(64, 96), hr_size=(64, 96), fps=25, frames=6)
    write_clip(root / "lr" / "odd.mp4", source, size=(20, 30), hr_size=(64, 96), fps=25, frames=6)
    return root


def test_size_policies_on_video(odd_root, tmp_path):
    with pytest.raises(ValueError, match=r"odd: LR 30x20, HR 96x64 .*not exactly x3.*resize_lr"):
        VideoFramePairDataset(odd_root, scale=3, sampling={"every_n": 5}, cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"odd: LR 30x20, HR 96x64 .*max_ratio_deviation"):
        VideoFramePairDataset(
            odd_root,
            scale=2,
            sampling={"every_n": 5},
            cache_dir=tmp_path,
            policy={"size_policy": "resize_lr"},
        )

    ds = VideoFramePairDataset(
        odd_root, scale=3, sampling={"every_n": 5}, cache_dir=tmp_path, policy={"size_policy": "resize_lr"}
    )
    item = ds[0]
    assert tuple(item["lr"].shape) == (3, 21, 32) and tuple(item["hr"].shape) == (3, 63, 96)
    assert ds.policy.ratio == pytest.approx((3.2, 3.2))
    # The resized LR frame still corresponds to its HR frame.
    down = imresize(item["hr"].float(), 1 / 3)
    assert (down - item["lr"].float()).abs().mean() < 8.0
    # The same policy object reproduces the training LR at inference from a native LR frame.
    native = torch.from_numpy(decode_all(odd_root / "lr" / "odd.mp4")[0]).permute(2, 0, 1)
    prepared = ds.policy.prepare_lr_for_inference(native)
    assert tuple(prepared.shape) == (3, 21, 32)
    assert torch.equal(prepared, item["lr"])

    ds_hr = VideoFramePairDataset(
        odd_root,
        scale=3,
        sampling={"every_n": 5},
        cache_dir=tmp_path,
        policy={"size_policy": "resize_hr", "filter": "area"},
    )
    item = ds_hr[0]
    assert tuple(item["lr"].shape) == (3, 20, 30) and tuple(item["hr"].shape) == (3, 60, 90)
    # The policy is part of the cache key; the folder made for the previous policy is replaced.
    (folder,) = tmp_path.glob("odd-*")
    assert json.loads((folder / "manifest.json").read_text())["policy"]["size_policy"] == "resize_hr"


def test_policy_exact_ratio_is_untouched():
    lr, hr = torch.rand(3, 8, 10), torch.rand(3, 24, 30)
    for name in ("none", "resize_lr", "resize_hr"):
        out_lr, out_hr = FramePairPolicy(scale=3, size_policy=name).apply(lr, hr)
        assert out_lr is lr and out_hr is hr


@pytest.mark.parametrize("filt", ["bicubic", "bilinear", "area"])
def test_resize_lr_keeps_pixel_alignment(filt):
    # A horizontal ramp: each pixel's value is the continuous x coordinate of its centre (0..1).
    W, w, s = 98, 30, 3  # HR is cropped to 96 columns; LR is resampled by (98/30)/3, not by 32/30
    hr = ((torch.arange(W) + 0.5) / W).expand(1, 15, W).clone()
    lr = ((torch.arange(w) + 0.5) / w).expand(1, 5, w).clone()
    policy = FramePairPolicy(scale=s, size_policy="resize_lr", filter=filt)
    out_lr, out_hr = policy.apply(lr, hr)
    assert tuple(out_lr.shape[-2:]) == (5, 32) and tuple(out_hr.shape[-2:]) == (15, 96)
    want = (torch.arange(32) + 0.5) * s / W  # centre of HR block k*s..k*s+s
    interior = slice(2, 30)
    tol = 1e-5 if filt != "area" else 3e-3  # area averaging of a ramp is only nearly linear
    assert (out_lr[0, 2, interior] - want[interior]).abs().max() < tol
    # Stretching the whole LR to 32 columns instead would be visibly off at the right.
    naive = F.interpolate(lr[None], size=(5, 32), mode="bilinear", align_corners=False)[0]
    assert (naive[0, 2, interior] - want[interior]).abs().max() > 1.5e-2


def test_policy_inference_helpers_and_errors():
    lr = (torch.rand(3, 144, 256) * 255).to(torch.uint8)
    p = FramePairPolicy(scale=4, size_policy="resize_lr", ratio=(480 / 144, 854 / 256))
    out = p.prepare_lr_for_inference(lr)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (3, 120, 213)
    assert FramePairPolicy(scale=4, size_policy="resize_hr").prepare_lr_for_inference(lr) is lr
    q = FramePairPolicy(scale=4, size_policy="resize_hr", filter="bilinear", ratio=(480 / 144, 854 / 256))
    assert tuple(q.finish_output(torch.rand(1, 3, 576, 1024), (144, 256)).shape) == (1, 3, 480, 854)
    with pytest.raises(ValueError, match="native size ratio"):
        FramePairPolicy(scale=4, size_policy="resize_lr").prepare_lr_for_inference(lr)
    with pytest.raises(ValueError, match="Unknown size_policy 'stretch'"):
        FramePairPolicy(scale=4, size_policy="stretch")
    with pytest.raises(ValueError, match="Unknown resize filter 'lanczos'"):
        FramePairPolicy(scale=4, filter="lanczos")
    # 144p -> 480p batch of frames, float: bicubic resize_lr gives exact x4 pairs.
    lr_b, hr_b = torch.rand(2, 3, 144, 256), torch.rand(2, 3, 480, 854)
    a, b = FramePairPolicy(scale=4, size_policy="resize_lr").apply(lr_b, hr_b)
    assert tuple(a.shape) == (2, 3, 120, 213) and tuple(b.shape) == (2, 3, 480, 852)


# ----------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------


def _audio_only(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def test_unmatched_names_listed_together(tmp_path, source, caplog):
    for name in ("a", "b", "c"):
        write_clip(tmp_path / "lr" / f"{name}.mp4", source, size=(24, 32), fps=25, frames=2)
    for name in ("a", "d"):
        write_clip(tmp_path / "hr" / f"{name}.mp4", source, size=(72, 96), fps=25, frames=2)
    with pytest.raises(ValueError, match="3 clip") as err:
        find_clip_pairs(tmp_path)
    assert all(
        f"only in {tmp_path / d}: {n}.mp4" in str(err.value)
        for d, n in [("lr", "b"), ("lr", "c"), ("hr", "d")]
    )
    with caplog.at_level(logging.WARNING, logger="srlib.data.video"):
        ds = VideoFramePairDataset(tmp_path, scale=3, strict=False, cache_dir=tmp_path / "cache")
    assert "d.mp4" in caplog.text and [r.name for r in ds.reports] == ["a"] and len(ds) == 1  # every_n=250
    with pytest.raises(FileNotFoundError, match="root/lr and root/hr"):
        find_clip_pairs(tmp_path / "nowhere")


def test_bad_files_reported_at_once(tmp_path, source):
    write_clip(tmp_path / "lr" / "good.mp4", source, size=(24, 32), fps=25, frames=3)
    write_clip(tmp_path / "hr" / "good.mp4", source, size=(72, 96), fps=25, frames=3)
    _audio_only(tmp_path / "lr" / "sound.mkv")
    write_clip(tmp_path / "hr" / "sound.mkv", source, size=(72, 96), fps=25, frames=3)
    (tmp_path / "lr" / "noise.mp4").write_bytes(
        torch.randint(0, 256, (4000,), dtype=torch.uint8).numpy().tobytes()
    )
    write_clip(tmp_path / "hr" / "noise.mp4", source, size=(72, 96), fps=25, frames=3)
    # An .mp4 cut short loses its index (written at the end): it cannot be opened at all.
    full = write_clip(tmp_path / "hr" / "cut.mp4", source, size=(72, 96), fps=25, frames=6)
    full.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    write_clip(tmp_path / "lr" / "cut.mp4", source, size=(24, 32), fps=25, frames=6)

    with pytest.raises(ValueError, match="3 problem clip") as err:
        VideoFramePairDataset(tmp_path, scale=3, sampling={"every_n": 2}, cache_dir=tmp_path / "c")
    text = str(err.value)
    assert "sound.mkv has no video stream (its streams: audio)" in text
    assert "noise.mp4" in text and "cut.mp4" in text and "truncated" in text
    assert "good" not in text
    ds = VideoFramePairDataset(
        tmp_path, scale=3, sampling={"every_n": 2}, cache_dir=tmp_path / "c", strict=False
    )
    assert [r.name for r in ds.reports] == ["good"]
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        sample_frame_pairs(tmp_path / "missing.mp4", tmp_path / "hr" / "good.mp4")


def test_truncated_stream_decodes_what_it_can(tmp_path, source):
    # moov at the front (faststart) or a streaming container: the cut file opens, the tail is lost.
    hr = write_clip(
        tmp_path / "hr" / "t.mp4",
        source,
        size=(72, 96),
        fps=25,
        frames=12,
        options={"movflags": "+faststart"},
    )
    lr = write_clip(tmp_path / "lr" / "t.mkv", source, size=(24, 32), fps=25, frames=12)
    lr_full = lr.read_bytes()
    for path in (hr, lr):
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    pairs, report = sample_frame_pairs(lr, hr, FrameSampling(every_n=2))
    assert 0 < report.hr_frames < 12 and 0 < report.lr_frames < 12
    assert any("t.mp4" in w and ("truncated" in w or "decoding stopped" in w) for w in report.warnings)
    assert any("t.mkv" in w and "truncated" in w for w in report.warnings)
    assert pairs and all(abs(p.lr_time - p.hr_time) < 0.02 for p in pairs)
    assert len(lr_full) > lr.stat().st_size


# ----------------------------------------------------------------------------------------------------
# DataModule
# ----------------------------------------------------------------------------------------------------


def test_datamodule_paired_batches(paired_root, odd_root, tmp_path, monkeypatch):
    from srlib.data.datamodules import SRDataModule
    from srlib.data.video import VideoPairDataModule

    dm = VideoPairDataModule(
        root=paired_root,
        val_root=odd_root,
        scale=3,
        patch_size=24,
        batch_size=4,
        num_workers=0,
        samples_per_epoch=8,
        sampling=FrameSampling(every_n=3),
        val_every_n=5,
        cache_dir=tmp_path,
        policy={"size_policy": "resize_lr"},
    )
    assert isinstance(dm, SRDataModule)
    dm.prepare_data()
    counter = _CountingOpen(av.open)
    monkeypatch.setattr(av, "open", counter)
    dm.setup("fit")
    assert counter.paths == []  # setup reads the cache prepare_data wrote
    assert dm.policy.ratio == (3.0, 3.0) and dm.policy.size_policy == "resize_lr"

    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (4, 3, 8, 8) and batch["hr"].shape == (4, 3, 24, 24)
    out = dm.on_after_batch_transfer(batch, 0)
    # The paired LR is used as is (converted to [0, 1]), not re-degraded from HR.
    assert out["lr"].dtype == torch.float32 and torch.equal(out["lr"], batch["lr"].float() / 255)
    assert torch.equal(out["hr"], batch["hr"].float() / 255) and len(out["name"]) == 4

    val = next(iter(dm.val_dataloader()))  # whole frames of the x3.2 clip under the same policy
    assert val["lr"].shape == (1, 3, 21, 32) and val["hr"].shape == (1, 3, 63, 96)
    with pytest.raises(ValueError, match="Unknown size_policy"):
        VideoPairDataModule(root=paired_root, scale=3, policy={"size_policy": "stretch"})


def test_datamodule_takes_sampling_and_policy_objects_or_mappings(tmp_path):
    from omegaconf import OmegaConf

    from srlib.data.video import VideoPairDataModule

    dm = VideoPairDataModule(
        root=tmp_path,
        scale=3,
        sampling=FrameSampling(every_n=25, offset=2),
        policy=FramePairPolicy(scale=3, size_policy="resize_lr", filter="area"),
    )
    assert dm.sampling.every_n == 25 and dm.val_sampling.every_n == 25 and dm.val_sampling.offset == 2
    assert dm.policy == FramePairPolicy(scale=3, size_policy="resize_lr", filter="area")
    # Hydra passes the nested recipe mappings as DictConfigs; scale comes from the DataModule.
    cfg = OmegaConf.create(
        {"sampling": {"every_n": 10}, "policy": {"size_policy": "resize_hr", "ratio": [3.2, 3.2]}}
    )
    dm = VideoPairDataModule(root=tmp_path, scale=3, sampling=cfg.sampling, policy=cfg.policy, val_every_n=5)
    assert dm.sampling == FrameSampling(every_n=10) and dm.val_sampling.every_n == 5
    assert dm.policy.scale == 3 and dm.policy.size_policy == "resize_hr" and dm.policy.ratio == (3.2, 3.2)
    assert VideoPairDataModule(root=tmp_path, scale=2).policy == FramePairPolicy(scale=2)

    with pytest.raises(
        ValueError, match=r"policy= has unknown field\(s\) size; FramePairPolicy takes scale, "
    ):
        VideoPairDataModule(root=tmp_path, scale=3, policy={"size": "resize_lr"})
    with pytest.raises(ValueError, match="scale 4 differs from scale=3"):
        VideoPairDataModule(root=tmp_path, scale=3, policy={"scale": 4})
    with pytest.raises(ValueError, match="every_n must be a positive integer"):
        VideoPairDataModule(root=tmp_path, scale=3, sampling={"every_n": 0})
    with pytest.raises(TypeError, match="sampling= must be a FrameSampling or a mapping"):
        VideoPairDataModule(root=tmp_path, scale=3, sampling=25)
    # The fields once given one by one: a TypeError naming the argument that holds them now.
    with pytest.raises(TypeError) as err:
        VideoPairDataModule(root=tmp_path, scale=3, every_n=25, size_policy="resize_lr", batch_size=2)
    message = str(err.value)
    assert "no longer takes every_n, size_policy one by one" in message
    assert (
        "sampling=FrameSampling(every_n=25)" in message
        and "policy=FramePairPolicy(size_policy='resize_lr')" in message
    )
    with pytest.raises(TypeError, match=r"pass policy=FramePairPolicy\(filter='area'\)"):
        VideoFramePairDataset(tmp_path, scale=3, filter="area")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        VideoFramePairDataset(tmp_path, scale=3, colour="red")


def test_video_pairs_recipe_builds_the_datamodule(tmp_path):
    from hydra.utils import instantiate

    from srlib.train import compose_recipe

    cfg = compose_recipe(
        ["data=video_pairs", f"data.root={tmp_path}", "scale=4", "data.policy.size_policy=resize_lr"]
    )
    dm = instantiate(cfg.data)
    assert type(dm).__name__ == "VideoPairDataModule" and dm.scale == 4
    assert dm.sampling.every_n == cfg.data.sampling.every_n and dm.policy.size_policy == "resize_lr"
    assert dm.policy.scale == 4 and dm.policy.filter == "bicubic"


def test_policy_filters_are_srlib_resampling_vocabulary():
    from srlib.ops import resize

    assert FramePairPolicy(scale=3, filter="matlab").filter == "bicubic"  # the old spelling, mapped
    with pytest.raises(
        ValueError, match=r"'torch_bicubic' is not available here\); choose one of bicubic, bilinear"
    ):
        FramePairPolicy(scale=3, filter="torch_bicubic")
    # The policy resamples with srlib.ops.resize: the same numbers.
    lr, hr = torch.rand(3, 20, 30), torch.rand(3, 64, 96)
    for filt in ("bicubic", "bilinear", "area"):
        out_lr, out_hr = FramePairPolicy(scale=3, size_policy="resize_lr", filter=filt).apply(lr, hr)
        assert torch.equal(out_lr, resize(lr, (21, 32), scale=(64 / 20 / 3, 96 / 30 / 3), filter=filt))
        _, out_hr = FramePairPolicy(scale=3, size_policy="resize_hr", filter=filt).apply(lr, hr)
        assert torch.equal(out_hr, resize(hr, (60, 90), filter=filt))
