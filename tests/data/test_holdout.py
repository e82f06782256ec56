"""ImageFolderDataModule(holdout=...): validation on a deterministic, held-out part of train_dir."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from PIL import Image

from srlib.data import (
    BenchmarkDataset,
    HRPatchDataset,
    ImageFolderDataModule,
    PairedImageDataset,
    PairedPatchDataset,
)
from srlib.io.images import read_image
from srlib.metrics import make_lr

STEMS = [f"im{i}" for i in range(6)]


def _save(path: Path, size: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    array = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8, generator=gen).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _folder(root: Path, stems=STEMS, *, lr: bool = False) -> Path:
    """``root/hr`` with 64x64 PNGs (and ``root/lr`` with their 32x32 x2 LR partners)."""
    for k, stem in enumerate(stems):
        _save(root / "hr" / f"{stem}.png", 64, seed=k)
        if lr:
            _save(root / "lr" / f"{stem}x2.png", 32, seed=100 + k)
    return root / "hr"


def _dm(train_dir, **kwargs) -> ImageFolderDataModule:
    kwargs = {"scale": 2, "patch_size": 32, "batch_size": 2, "num_workers": 0, "cache": "memory"} | kwargs
    return ImageFolderDataModule(train_dir=train_dir, **kwargs)


def _stems(names) -> set[str]:
    """Image stems of dataset item names (sub-image names are ``<stem>_s<k>``)."""
    return {n.rsplit("_s", 1)[0] if "_s" in n else n for n in names}


def test_int_holdout_splits_train_and_val(tmp_path, caplog) -> None:
    hr = _folder(tmp_path)
    dm = _dm(hr, holdout=2)
    with caplog.at_level(logging.DEBUG, logger="srlib.data.datamodules"):
        dm.prepare_data()
        dm.setup("fit")
    held = [p.name for p in dm.holdout_files()]
    assert held == ["im1.png", "im4.png"]  # spread over the sorted list, not the first two
    assert isinstance(dm.train_set, HRPatchDataset) and isinstance(dm.val_set, BenchmarkDataset)
    assert set(dm.train_set.names) == set(STEMS) - {"im1", "im4"}
    assert dm.val_set.names == ["im1", "im4"]
    # Validation images are the whole held-out files, and their LR is the protocol bicubic.
    for name, item in zip(dm.val_set.names, dm.val_set, strict=True):
        assert torch.equal(item["hr"], read_image(hr / f"{name}.png"))
    batch = next(iter(dm.val_dataloader()))
    out = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal((out["lr"] * 255).round().to(torch.uint8), make_lr(batch["hr"], 2))
    assert "validating on 2 of the 6 image(s)" in caplog.text and "im1.png, im4.png" in caplog.text


def test_holdout_is_deterministic_and_float_is_a_rounded_fraction(tmp_path) -> None:
    hr = _folder(tmp_path)
    first, second = _dm(hr, holdout=2), _dm(hr, holdout=2)
    assert first.holdout_files() == second.holdout_files()
    assert [len(_dm(hr, holdout=f).holdout_files()) for f in (0.5, 0.4, 0.01)] == [3, 2, 1]
    assert _dm(hr, holdout=0.5).holdout_files() == _dm(hr, holdout=3).holdout_files()
    for empty in (0, 0.0):
        dm = _dm(hr, holdout=empty)
        dm.setup("fit")
        assert dm.holdout_files() == [] and dm.val_set is None and len(dm.train_set.names) == 6


def test_holdout_spans_several_train_folders(tmp_path) -> None:
    a = _folder(tmp_path / "a", STEMS[:3])
    b = _folder(tmp_path / "b", STEMS[3:])
    dm = _dm([a, b], holdout=2)
    dm.setup("fit")
    assert dm.holdout_files() == [a / "im1.png", b / "im4.png"]
    assert dm.val_set.names == ["im1", "im4"]
    assert set(dm.train_set.names) == {"im0", "im2", "im3", "im5"}


def test_paired_holdout_validates_the_held_out_pairs(tmp_path) -> None:
    hr = _folder(tmp_path, lr=True)
    dm = _dm(hr, lr_dir=tmp_path / "lr", holdout=1)
    dm.prepare_data()
    dm.setup("fit")
    assert [p.name for p in dm.holdout_files()] == ["im3.png"]
    assert isinstance(dm.train_set, PairedPatchDataset) and isinstance(dm.val_set, PairedImageDataset)
    assert set(dm.train_set.names) == set(STEMS) - {"im3"}
    assert dm.val_set.names == ["im3"]
    item = dm.val_set[0]
    assert torch.equal(item["lr"], read_image(tmp_path / "lr" / "im3x2.png"))
    assert torch.equal(item["hr"], read_image(hr / "im3.png"))


def test_subimage_cache_respects_the_holdout(tmp_path) -> None:
    hr = _folder(tmp_path)
    cache = {"cache": "subimages", "cache_dir": tmp_path / "cache", "subimage_size": 32, "subimage_step": 32}
    # A cache filled from the whole folder first must not bring the held-out images into training...
    full = _dm(hr, **cache)
    full.prepare_data()
    full.setup("fit")
    assert full.train_set.store is not None and _stems(full.train_set.names) == set(STEMS)
    held = _dm(hr, holdout=2, **cache)
    held.prepare_data()
    held.setup("fit")
    assert held.train_set.store is not None
    assert _stems(held.train_set.names) == set(STEMS) - {"im1", "im4"}
    assert len(held.train_set.names) == 4 * 4  # 4 images x four 32px crops each
    assert held.val_set.names == ["im1", "im4"]
    # ...and a cache filled with a holdout serves the whole folder again later.
    again = _dm(hr, **cache)
    again.setup("fit")
    assert _stems(again.train_set.names) == set(STEMS)


def test_holdout_errors_name_the_problem_and_the_fix(tmp_path) -> None:
    hr = _folder(tmp_path)
    assert _dm(hr, holdout=2, val_dir=hr).holdout == 0  # a named validation folder wins
    with pytest.raises(ValueError, match=r"val_lr_dir=.*drop val_lr_dir"):
        _dm(hr, holdout=2, val_lr_dir=hr)
    for bad in (1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"not a fraction in \(0, 1\)"):
            _dm(hr, holdout=bad)
    with pytest.raises(ValueError, match="holdout=-1 is negative"):
        _dm(hr, holdout=-1)
    for bad in (True, "10%"):
        with pytest.raises(ValueError, match=r"a number of images .* or a fraction"):
            _dm(hr, holdout=bad)
    with pytest.raises(ValueError) as info:
        _dm(hr, holdout=6).setup("fit")
    message = str(info.value)
    assert str(hr) in message and "has 6 image(s)" in message and "leaves 0 for training" in message
    assert "Hold out at most 5" in message and "val_dir=" in message
    one = _folder(tmp_path / "one", ["solo"])
    with pytest.raises(ValueError, match=r"has 1 image\(s\).*Add images, or validate on a separate folder"):
        _dm(one, holdout=0.5).setup("fit")


def test_dataset_files_must_come_from_the_folder(tmp_path) -> None:
    hr = _folder(tmp_path)
    other = _folder(tmp_path / "other", ["stray"])
    with pytest.raises(ValueError, match=r"1 of the requested files are not images of .*stray\.png"):
        BenchmarkDataset.from_folder(hr, scale=2, files=[other / "stray.png"])
    with pytest.raises(ValueError, match=r"No files of .* were selected"):
        HRPatchDataset.from_folder(hr, scale=2, patch_size=32, files=[])
    # Paths compare as files: a relative spelling selects the same image.
    ds = BenchmarkDataset.from_folder(hr, scale=2, files=[hr / ".." / "hr" / "im2.png"])
    assert ds.names == ["im2"]
