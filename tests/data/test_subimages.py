"""Sub-image cache: offsets, atomic folders, reuse without decoding, invalidation, memory-budget switch."""

from __future__ import annotations

import json
import os
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srlib._cache as cache_module
import srlib.data.subimages as subimages
from srlib.data import HRPatchDataset, PairedPatchDataset, extract_subimages, read_image
from srlib.data.subimages import parse_bytes, subimage_offsets


def _save(path: Path, w: int, h: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def hr_folder(tmp_path) -> Path:
    _save(tmp_path / "hr" / "a.png", 100, 70, seed=1)
    _save(tmp_path / "hr" / "b.png", 64, 64, seed=2)
    return tmp_path / "hr"


@pytest.fixture
def count_reads(monkeypatch) -> list[Path]:
    calls: list[Path] = []

    def counting(path, **kwargs):
        calls.append(Path(path))
        return read_image(path, **kwargs)

    monkeypatch.setattr(subimages, "read_image", counting)
    return calls


def test_offsets_cover_every_pixel() -> None:
    assert subimage_offsets(2040, 480, 240) == [0, 240, 480, 720, 960, 1200, 1440, 1560]
    assert subimage_offsets(480, 480, 240) == [0] and subimage_offsets(100, 480, 240) == [0]
    for length in (97, 480, 481, 1357):
        covered = np.zeros(length, bool)
        for o in subimage_offsets(length, 96, 40):
            covered[o : o + 96] = True
        assert covered.all()


def test_parse_bytes() -> None:
    assert parse_bytes("4GiB") == 4 * 2**30 and parse_bytes("1.5 MB") == 1_500_000 and parse_bytes(7) == 7
    with pytest.raises(ValueError, match="4GiB"):
        parse_bytes("lots")


@pytest.mark.parametrize("fmt", ["npy", "png"])
def test_crops_match_the_source_and_are_reused_without_decoding(
    hr_folder, tmp_path, count_reads, fmt
) -> None:
    cache = tmp_path / "cache"
    paths = sorted(hr_folder.iterdir())
    store = extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=24, fmt=fmt)
    assert len(count_reads) == 2
    # a.png is 100x70: columns at 0, 24, 48, 52 and rows at 0, 22 -> 8 crops; b.png 64x64: 2x2.
    assert len(store) == 8 + 4
    source = read_image(hr_folder / "a.png")
    manifest = json.loads(next(cache.glob("*/a-*/manifest.json")).read_text())
    for k, entry in enumerate(manifest["crops"]):
        t, left = entry["top"], entry["left"]
        assert t % 2 == 0 and left % 2 == 0
        assert torch.equal(store.load(store[k].hr), source[:, t : t + 48, left : left + 48])
        assert torch.equal(store.crop(k, 6, 10, 20), source[:, t + 6 : t + 26, left + 10 : left + 30])
    # No temporary folder is left; every source folder has its manifest.
    folders = list(next(cache.iterdir()).iterdir())
    assert len(folders) == 2 and all((f / "manifest.json").is_file() for f in folders)
    assert not [p for p in cache.rglob("*") if ".tmp-" in p.name]

    count_reads.clear()
    again = extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=24, fmt=fmt)
    assert count_reads == [] and [s.hr for s in again] == [s.hr for s in store]


def test_changed_source_invalidates_only_its_crops(hr_folder, tmp_path, count_reads) -> None:
    cache = tmp_path / "cache"
    paths = sorted(hr_folder.iterdir())
    extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=24)
    _save(hr_folder / "b.png", 64, 64, seed=99)
    st = os.stat(hr_folder / "b.png")
    os.utime(hr_folder / "b.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    count_reads.clear()
    store = extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=24)
    assert [p.name for p in count_reads] == ["b.png"]
    assert torch.equal(store.load(store[-1].hr), read_image(hr_folder / "b.png")[:, 16:64, 16:64])
    assert len(list(next(cache.iterdir()).iterdir())) == 2  # the outdated b folder was removed
    # Other settings get their own folder.
    extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=48)
    assert len(list(cache.iterdir())) == 2


def test_interrupted_extraction_leaves_nothing_that_counts(hr_folder, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    paths = sorted(hr_folder.iterdir())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(subimages.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=24, workers=1)
    monkeypatch.undo()
    assert not list(cache.rglob("manifest.json"))
    # A temporary folder of a dead process is cleaned up by the next run.
    settings = next(cache.iterdir())
    stale = settings / f".a-x-y.tmp-{cache_module._host_id()}-999999999-abc"
    other_host = settings / ".a-x-y.tmp-00000000-999999999-abc"  # maybe still running elsewhere
    stale.mkdir()
    other_host.mkdir()
    store = extract_subimages(paths, cache_dir=cache, scale=2, crop_size=48, step=24)
    assert len(store) == 12 and not stale.exists() and other_host.exists()


def test_memory_budget_switches_to_subimages(hr_folder, tmp_path) -> None:
    in_memory = HRPatchDataset.from_folder(hr_folder, scale=2, patch_size=32, cache_dir=tmp_path / "c")
    assert in_memory.store is None and not (tmp_path / "c").exists()
    on_disk = HRPatchDataset.from_folder(
        hr_folder,
        scale=2,
        patch_size=32,
        memory_budget="10kB",
        cache_dir=tmp_path / "c",
        subimage_size=48,
        subimage_step=24,
    )
    assert on_disk.store is not None and len(on_disk) == 12
    batch = on_disk.__getitems__([0, 5, 11])
    assert all(b["hr"].shape == (3, 32, 32) and b["hr"].dtype == torch.uint8 for b in batch)
    assert on_disk.names[0] == "a_s000"
    with pytest.raises(ValueError, match="subimage_size 24 is smaller than the 32px patch"):
        HRPatchDataset.from_folder(hr_folder, scale=2, patch_size=32, cache="subimages", subimage_size=24)


def test_paired_subimages_stay_aligned(tmp_path) -> None:
    s = 4
    hr = torch.randint(0, 256, (3, 120, 160), dtype=torch.uint8)
    lr = torch.randint(0, 256, (3, 30, 40), dtype=torch.uint8)
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    Image.fromarray(hr.permute(1, 2, 0).numpy()).save(tmp_path / "hr" / "p.png")
    Image.fromarray(lr.permute(1, 2, 0).numpy()).save(tmp_path / "lr" / "px4.png")
    ds = PairedPatchDataset.from_folders(
        tmp_path / "lr",
        tmp_path / "hr",
        scale=s,
        patch_size=32,
        cache="subimages",
        cache_dir=tmp_path / "cache",
        subimage_size=64,
        subimage_step=32,
        augment=False,
    )
    assert ds.store is not None and len(ds.store) == 3 * 4
    for item in ds.__getitems__(list(range(12))):
        lr_patch, hr_patch = item["lr"], item["hr"]
        hits = [
            (t, left)
            for t in range(30 - 8 + 1)
            for left in range(40 - 8 + 1)
            if torch.equal(lr[:, t : t + 8, left : left + 8], lr_patch)
        ]
        assert len(hits) == 1
        t, left = hits[0]
        assert torch.equal(hr[:, t * s : t * s + 32, left * s : left * s + 32], hr_patch)


def test_truncated_non_png_is_reported_with_the_others(tmp_path) -> None:
    folder = tmp_path / "hr"
    _save(folder / "ok.png", 64, 64)
    for name in ("a.jpg", "b.bmp"):
        _save(folder / name, 64, 64)
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as info:
        HRPatchDataset.from_folder(
            folder, scale=2, patch_size=32, cache="subimages", cache_dir=tmp_path / "c", subimage_size=48
        )
    msg = str(info.value)
    assert "2 source image(s)" in msg and "a.jpg" in msg and "b.bmp" in msg
    with pytest.raises(ValueError, match=r"2 image file\(s\) could not be decoded"):
        HRPatchDataset.from_folder(folder, scale=2, patch_size=32)


def test_not_enough_disk_space_is_refused_before_writing(hr_folder, tmp_path, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(subimages.shutil, "disk_usage", lambda p: usage(10**6, 10**6, 1000))
    with pytest.raises(ValueError, match=r"GiB free\. Point cache_dir="):
        extract_subimages(
            sorted(hr_folder.iterdir()), cache_dir=tmp_path / "c", scale=2, crop_size=48, step=24
        )
    assert not list((tmp_path / "c").rglob("*.npy"))


def test_hr_folder_reports_every_bad_file_at_once_and_converts_odd_modes(tmp_path) -> None:
    folder = tmp_path / "hr"
    _save(folder / "ok.png", 64, 64)
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)).save(
        folder / "deep.png"
    )
    Image.fromarray(np.zeros((64, 64, 4), np.uint8)).convert("CMYK").save(folder / "print.jpg")
    _save(folder / "small.png", 20, 64)
    (folder / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError) as info:
        HRPatchDataset.from_folder(folder, scale=2, patch_size=32)
    msg = str(info.value)
    assert "2 problem file(s)" in msg and "junk.png: not a readable image" in msg
    assert "small.png: 20x64 is smaller than the 32px patch" in msg and "skip_small=True" in msg
    (folder / "junk.png").unlink()
    ds = HRPatchDataset.from_folder(
        folder, scale=2, patch_size=32, skip_small=True, cache="subimages", cache_dir=tmp_path / "c"
    )
    assert sorted(ds.names) == ["deep_s000", "ok_s000", "print_s000"]
    assert all(ds[i]["hr"].shape == (3, 32, 32) for i in range(3))
