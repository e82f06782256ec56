"""DIV2K / Flickr2K / DF2K / image-folder DataModules on fake folder layouts (no network)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from srlib.data import (
    DF2KDataModule,
    DIV2KDataModule,
    Flickr2KDataModule,
    ImageFolderDataModule,
    ImageFolderHRDataModule,
    get_dataset,
)
from srlib.train import compose_recipe


def _save(path: Path, w: int, h: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _fake(root: Path, hr_rel: str, lr_rel: str, stems: list[str], *, scale: int, size: int = 48) -> None:
    """HR images under root/hr_rel and their x{scale} LR (DIV2K naming) under root/lr_rel."""
    for i, stem in enumerate(stems):
        _save(root / hr_rel / f"{stem}.png", size, size, seed=i)
        _save(root / lr_rel / f"{stem}x{scale}.png", size // scale, size // scale, seed=100 + i)


def _layout(name: str, split: str, kind: str, scale: int | None = None) -> str:
    """The catalogue's canonical folder (what an archive extracts to)."""
    key = f"{split}/hr" if kind == "hr" else f"{split}/lr_x{scale}"
    return get_dataset(name).layout[key][0]


@pytest.fixture
def div2k(tmp_path) -> Path:
    root = tmp_path / "DIV2K"
    for split, stems in (("train", ["0001", "0002", "0003"]), ("valid", ["0801"])):
        _fake(root, _layout("DIV2K", split, "hr"), _layout("DIV2K", split, "lr", 2), stems, scale=2)
    return root


@pytest.fixture
def flickr(tmp_path) -> Path:
    root = tmp_path / "Flickr2K"
    _fake(
        root, _layout("Flickr2K", "train", "hr"), _layout("Flickr2K", "train", "lr", 2), ["000001"], scale=2
    )
    return root


class Recorder(nn.Module):
    """A degradation that records where it ran (x2 average pooling)."""

    scale = 2

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.device, torch.dtype]] = []

    def forward(self, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append((hr.device, hr.dtype))
        return nn.functional.avg_pool2d(hr, 2), hr


def _train_batch(dm, training: bool = True) -> dict:
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(training=training)
    return batch, dm.on_after_batch_transfer(batch, 0)


def _common(tmp_path) -> dict:
    # data_dir points at an empty folder: any download attempt would fail (and download=False).
    return {"data_dir": tmp_path / "no-downloads", "download": False, "scale": 2, "patch_size": 16}
    # num_workers=0 keeps the tests fast


def test_div2k_hr_only_degrades_on_the_batch_device(div2k, tmp_path) -> None:
    deg = Recorder()
    dm = DIV2KDataModule(root=div2k, degradation=deg, batch_size=4, num_workers=0, **_common(tmp_path))
    assert not dm.paired
    batch, out = _train_batch(dm)
    assert (
        "lr" not in batch and batch["hr"].dtype == torch.uint8 and len(dm.train_set) == dm.samples_per_epoch
    )
    assert deg.calls == [(torch.device("cpu"), torch.float32)]
    assert out["lr"].shape == (4, 3, 8, 8) and out["hr"].shape == (4, 3, 16, 16)
    assert sorted(set(dm.train_set.names)) == ["0001", "0002", "0003"]


def test_div2k_paired_uses_the_official_lr_and_no_degradation(div2k, tmp_path) -> None:
    deg = Recorder()
    dm = DIV2KDataModule(
        root=div2k,
        paired=True,
        degradation=deg,
        batch_size=3,
        num_workers=0,
        val_dir="DIV2K",
        **_common(tmp_path),
    )
    assert dm.paired and dm.lr == "bicubic"
    batch, out = _train_batch(dm)
    assert batch["lr"].shape == (3, 3, 8, 8) and deg.calls == []
    assert torch.equal(out["lr"], batch["lr"].float() / 255) and out["hr"].shape == (3, 3, 16, 16)
    # val_dir naming the dataset itself validates on its valid split under root.
    assert dm.val_set.names == ["0801"]


def test_div2k_rejects_unknown_lr_track_and_scale(div2k, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"x2, x3, x4, not x8"):
        DIV2KDataModule(root=div2k, paired=True, scale=8, patch_size=64)
    with pytest.raises(ValueError, match=r"lr='unknown' is not an LR track.*bicubic"):
        DIV2KDataModule(root=div2k, lr="unknown", scale=2)
    with pytest.raises(ValueError, match="not a multiple of scale"):
        DIV2KDataModule(root=div2k, scale=3, patch_size=16)


def test_div2k_offline_without_root_explains(tmp_path) -> None:
    dm = DIV2KDataModule(data_dir=tmp_path, download=False, scale=2)
    with pytest.raises(FileNotFoundError, match=r"DIV2K train/hr images are not in .*download=True"):
        dm.prepare_data()


def test_flickr2k_paired_from_root(flickr, tmp_path) -> None:
    dm = Flickr2KDataModule(root=flickr, paired=True, batch_size=2, num_workers=0, **_common(tmp_path))
    batch, out = _train_batch(dm)
    assert batch["name"] == ["000001", "000001"] and out["lr"].shape == (2, 3, 8, 8)


def test_df2k_is_the_union_of_both(div2k, flickr, tmp_path) -> None:
    assert div2k.parent == flickr.parent
    for paired in (False, True):
        dm = DF2KDataModule(
            root=div2k.parent, paired=paired, batch_size=4, num_workers=0, **_common(tmp_path)
        )
        hr_dirs, lr_dirs = dm.train_folders()
        assert [d.parent.name if d.name.startswith("X") else d.name for d in (lr_dirs or hr_dirs)] == (
            ["DIV2K_train_LR_bicubic", "Flickr2K_LR_bicubic"] if paired else ["DIV2K_train_HR", "Flickr2K_HR"]
        )
        dm.setup("fit")
        assert sorted(set(dm.train_set.names)) == ["000001", "0001", "0002", "0003"]
        assert ("lr" in dm.train_set[0]) == paired


def test_div2k_switches_to_subimages_over_the_memory_budget(div2k, tmp_path) -> None:
    cache = tmp_path / "cache"
    kwargs = {"root": div2k, "memory_budget": "1kB", "cache_dir": cache, "subimage_size": 32}
    dm = DIV2KDataModule(subimage_step=16, num_workers=0, batch_size=2, **kwargs, **_common(tmp_path))
    dm.prepare_data()  # extracts once
    manifests = sorted(cache.rglob("manifest.json"))
    assert len(manifests) == 3
    stamps = [m.stat().st_mtime_ns for m in manifests]
    dm.setup("fit")
    assert dm.train_set.store is not None and len(dm.train_set.store) == 3 * 4
    assert [m.stat().st_mtime_ns for m in sorted(cache.rglob("manifest.json"))] == stamps
    assert next(iter(dm.train_dataloader()))["hr"].shape == (2, 3, 16, 16)


def test_image_folder_paired_and_hr_only(tmp_path, set5) -> None:
    _fake(tmp_path, "hr", "lr", ["a", "b"], scale=2)
    _fake(tmp_path, "val_hr", "val_lr", ["v"], scale=2, size=40)
    common = {"scale": 2, "patch_size": 16, "batch_size": 2, "num_workers": 0}
    paired = ImageFolderDataModule(
        train_dir=tmp_path / "hr",
        lr_dir=tmp_path / "lr",
        val_dir=tmp_path / "val_hr",
        val_lr_dir=tmp_path / "val_lr",
        **common,
    )
    assert paired.paired
    batch, out = _train_batch(paired)
    assert batch["lr"].shape == (2, 3, 8, 8)
    val = next(iter(paired.val_dataloader()))
    assert val["lr"].shape == (1, 3, 20, 20) and val["hr"].shape == (1, 3, 40, 40)

    hr_only = ImageFolderHRDataModule(
        train_dir=[tmp_path / "hr", tmp_path / "val_hr"], val_dir=set5, **common
    )
    assert isinstance(hr_only, ImageFolderDataModule) and not hr_only.paired
    batch, out = _train_batch(hr_only, training=False)
    assert "lr" not in batch and out["lr"].shape == (2, 3, 8, 8)
    assert len(hr_only.val_set) == 5 and sorted(set(hr_only.train_set.names)) == ["a", "b", "v"]
    with pytest.raises(ValueError, match="1 lr_dir folder"):
        ImageFolderDataModule(
            train_dir=[tmp_path / "hr", tmp_path / "val_hr"], lr_dir=tmp_path / "lr", **common
        )


@pytest.mark.parametrize("name", ["div2k", "flickr2k", "df2k", "folder"])
def test_data_recipes_compose_and_instantiate(name, tmp_path) -> None:
    from hydra.utils import instantiate

    key = "train_dir" if name == "folder" else "root"
    cfg = compose_recipe([f"data={name}", f"data.{key}={tmp_path}", "scale=4"])
    dm = instantiate(cfg.data)
    assert (
        dm.scale == 4
        and dm.patch_size == cfg.data.patch_size
        and dm.memory_budget == "4GiB"
        and dm.cache == "auto"
    )
    assert type(dm).__name__ == {"div2k": "DIV2KDataModule", "flickr2k": "Flickr2KDataModule"}.get(
        name, {"df2k": "DF2KDataModule", "folder": "ImageFolderDataModule"}.get(name)
    )
