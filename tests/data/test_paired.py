"""Paired LR/HR folders: name matching, scale checks, aligned crops, bad files found at setup."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.data import PairedImageDataset, PairedPatchDataset, match_pairs


def _save(path: Path, w: int, h: int, *, seed: int = 0, mode: str = "RGB") -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array)
    if mode != "RGB":
        img = img.convert(mode)
    img.save(path)
    return array


def _pair(root: Path, stem: str, lr_name: str, w: int, h: int, scale: int, seed: int) -> None:
    _save(root / "hr" / f"{stem}.png", w * scale, h * scale, seed=seed)
    _save(root / "lr" / lr_name, w, h, seed=seed + 1000)


def test_match_pairs_accepts_identical_names_and_div2k_suffix(tmp_path) -> None:
    _pair(tmp_path, "0001", "0001x4.png", 8, 8, 4, 1)
    _pair(tmp_path, "bird", "bird.png", 8, 8, 4, 2)
    _pair(tmp_path, "Cat", "catX4.bmp", 8, 8, 4, 3)  # case and extension may differ
    pairs = match_pairs(tmp_path / "lr", tmp_path / "hr", scale=4)
    assert [(lr.name, hr.name) for lr, hr in pairs] == [
        ("0001x4.png", "0001.png"),
        ("catX4.bmp", "Cat.png"),
        ("bird.png", "bird.png"),
    ]


def test_match_pairs_custom_suffix_and_ambiguity(tmp_path) -> None:
    _pair(tmp_path, "a", "a_LR.png", 8, 8, 2, 1)
    assert match_pairs(tmp_path / "lr", tmp_path / "hr", scale=2, lr_suffix="_LR")[0][0].name == "a_LR.png"
    _save(tmp_path / "lr" / "a.png", 8, 8)
    _save(tmp_path / "lr" / "ax2.png", 8, 8)
    with pytest.raises(ValueError, match=r"several LR files match \(a.png, ax2.png\)"):
        match_pairs(tmp_path / "lr", tmp_path / "hr", scale=2)


def test_unmatched_files_are_listed_all_at_once(tmp_path, caplog) -> None:
    _pair(tmp_path, "a", "ax2.png", 8, 8, 2, 1)
    for stem in ("b", "c"):
        _save(tmp_path / "hr" / f"{stem}.png", 16, 16)
    for name in ("dx2.png", "e.png"):
        _save(tmp_path / "lr" / name, 8, 8)
    with pytest.raises(ValueError) as info:
        match_pairs(tmp_path / "lr", tmp_path / "hr", scale=2)
    msg = str(info.value)
    assert "2 HR file(s)" in msg and "2 LR file(s)" in msg
    assert all(name in msg for name in ("b.png", "c.png", "dx2.png", "e.png")) and "strict=False" in msg
    with caplog.at_level(logging.WARNING):
        pairs = match_pairs(tmp_path / "lr", tmp_path / "hr", scale=2, strict=False)
    assert [hr.name for _, hr in pairs] == ["a.png"] and "dx2.png" in caplog.text


def test_scale_inconsistent_pair_names_both_files(tmp_path) -> None:
    _pair(tmp_path, "good", "goodx2.png", 20, 20, 2, 1)
    _save(tmp_path / "hr" / "bad.png", 40, 40)
    _save(tmp_path / "lr" / "badx2.png", 13, 20)
    with pytest.raises(ValueError) as info:
        PairedPatchDataset.from_folders(tmp_path / "lr", tmp_path / "hr", scale=2, patch_size=16)
    msg = str(info.value)
    assert str(tmp_path / "lr" / "badx2.png") in msg and str(tmp_path / "hr" / "bad.png") in msg
    assert "13x20" in msg and "40x40" in msg and "not a x2 pair" in msg and "good" not in msg


def test_rounded_up_lr_is_accepted_and_cropped_to_the_common_region(tmp_path) -> None:
    # MATLAB imresize makes ceil(HR/scale): a 41x39 HR gives a 21x20 LR at x2.
    _save(tmp_path / "hr" / "a.png", 41, 39)
    _save(tmp_path / "lr" / "ax2.png", 21, 20)
    ds = PairedImageDataset.from_folders(tmp_path / "lr", tmp_path / "hr", scale=2)
    item = ds[0]
    assert item["lr"].shape == (3, 19, 20) and item["hr"].shape == (3, 38, 40)


def _flip(x: torch.Tensor, code: int) -> torch.Tensor:
    # An independent spelling of the 8 flip/rot90 combinations (hflip, vflip, transpose bits).
    if code & 1:
        x = torch.flip(x, dims=[2])
    if code & 2:
        x = torch.flip(x, dims=[1])
    if code & 4:
        x = x.permute(0, 2, 1)
    return x


def test_crops_are_scale_aligned_and_augmented_identically() -> None:
    s, p = 3, 24
    q = p // s
    lr = torch.randint(0, 256, (3, 17, 19), dtype=torch.uint8)
    hr = torch.randint(0, 256, (3, 17 * s + 2, 19 * s), dtype=torch.uint8)  # extra rows are cropped away
    ds = PairedPatchDataset([("x", lr, hr)], scale=s, patch_size=p, samples_per_epoch=40)
    items = ds.__getitems__(list(range(20))) + [ds[i] for i in range(20)]
    codes = set()
    for item in items:
        assert item["lr"].shape == (3, q, q) and item["hr"].shape == (3, p, p)
        found = [
            (t, left, c)
            for t in range(17 - q + 1)
            for left in range(19 - q + 1)
            for c in range(8)
            if torch.equal(_flip(lr[:, t : t + q, left : left + q], c), item["lr"])
        ]
        assert len(found) == 1
        t, left, c = found[0]
        codes.add(c)
        assert torch.equal(_flip(hr[:, t * s : t * s + p, left * s : left * s + p], c), item["hr"])
    assert len(codes) > 3  # the augmentation really varies


def test_paired_folders_convert_odd_modes_and_build(tmp_path) -> None:
    s = 2
    for i, mode in enumerate(("L", "RGBA", "P", "CMYK", "I;16")):
        _save(tmp_path / "hr" / f"im{i}.png", 32, 32, seed=i)
        name = f"im{i}x2." + ("jpg" if mode == "CMYK" else "png")
        if mode == "I;16":
            array = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 257).astype(np.uint16)
            Image.fromarray(array).save(tmp_path / "lr" / name)
        else:
            _save(tmp_path / "lr" / name, 16, 16, seed=i, mode=mode)
    ds = PairedPatchDataset.from_folders(tmp_path / "lr", tmp_path / "hr", scale=s, patch_size=16)
    assert len(ds) == 5
    for i in range(5):
        item = ds[i]
        assert item["lr"].shape == (3, 8, 8) and item["lr"].dtype == torch.uint8


def test_bad_files_are_reported_together_at_setup(tmp_path) -> None:
    _pair(tmp_path, "ok", "okx2.png", 16, 16, 2, 1)
    _pair(tmp_path, "cut", "cutx2.png", 16, 16, 2, 2)
    data = (tmp_path / "hr" / "cut.png").read_bytes()
    (tmp_path / "hr" / "cut.png").write_bytes(data[: len(data) // 2])  # truncated download
    (tmp_path / "hr" / "junk.png").write_bytes(b"not an image at all")
    _save(tmp_path / "lr" / "junkx2.png", 16, 16)
    _pair(tmp_path, "tiny", "tinyx2.png", 4, 4, 2, 3)
    with pytest.raises(ValueError) as info:
        PairedPatchDataset.from_folders(tmp_path / "lr", tmp_path / "hr", scale=2, patch_size=16)
    msg = str(info.value)
    assert "3 problem(s)" in msg
    assert "cut.png: truncated PNG" in msg and "junk.png: not a readable image" in msg
    assert "tinyx2.png" in msg and "smaller than the 16px patch" in msg


def test_empty_lr_folder_is_named(tmp_path) -> None:
    _save(tmp_path / "hr" / "a.png", 16, 16)
    (tmp_path / "lr").mkdir()
    with pytest.raises(ValueError, match=r"lr holds no images"):
        PairedPatchDataset.from_folders(tmp_path / "lr", tmp_path / "hr", scale=2, patch_size=8)


def test_skip_small_leaves_out_small_pairs(tmp_path) -> None:
    _pair(tmp_path, "big", "bigx2.png", 16, 16, 2, 1)
    _pair(tmp_path, "tiny", "tinyx2.png", 4, 4, 2, 2)
    ds = PairedPatchDataset.from_folders(
        tmp_path / "lr", tmp_path / "hr", scale=2, patch_size=16, skip_small=True
    )
    assert ds.names == ["big"] and ds[0]["hr"].shape == (3, 16, 16)
