"""Lightning DataModules: CPU datasets in, ``{"lr", "hr", "name"}`` float batches on the device out.

The LR side is made in :meth:`SRDataModule.on_after_batch_transfer`, after the batch reached its
device: training batches go through the configured degradation (bicubic by default), validation
and test batches through the evaluation protocol's MATLAB-bicubic on ``uint8`` (so ``val/psnr`` is
the number ``python -m srlib.evaluate`` reports). Batches that already carry ``"lr"`` (paired data)
skip both. The training module never knows which happened.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from srlib.data.datasets import BenchmarkDataset, HRPatchDataset
from srlib.degrade.bicubic import BicubicDegradation
from srlib.metrics.protocol import make_lr

__all__ = ["BundledPhotosDataModule", "ImageFolderHRDataModule", "SRDataModule", "T91DataModule"]

log = logging.getLogger(__name__)


class SRDataModule(L.LightningDataModule):
    """Base DataModule: loaders, validation on a benchmark folder, LR made on the device.

    Subclasses implement :meth:`build_train_dataset` (and may override :meth:`build_val_dataset`).

    Args:
        scale: SR scale.
        patch_size: HR training patch side (a multiple of ``scale``).
        batch_size: training batch size (validation uses 1: whole images of different sizes).
        num_workers: DataLoader worker processes.
        samples_per_epoch: patches per training epoch.
        degradation: HR→LR module for training batches (``lr, hr = degradation(hr)``);
            default :class:`~srlib.degrade.BicubicDegradation`.
        val_dir: folder of validation ground-truth images, or a benchmark name from the
            catalogue (``"Set5"``); ``None`` for no validation.
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        patch_size: int = 96,
        batch_size: int = 16,
        num_workers: int = 2,
        samples_per_epoch: int = 1000,
        degradation: nn.Module | None = None,
        val_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.scale, self.patch_size = int(scale), int(patch_size)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.samples_per_epoch = int(samples_per_epoch)
        self.degradation = degradation if degradation is not None else BicubicDegradation(scale=self.scale)
        deg_scale = getattr(self.degradation, "scale", self.scale)
        if int(deg_scale) != self.scale:
            raise ValueError(f"The degradation scales by {deg_scale} but the data module by {self.scale}.")
        self.val_dir = val_dir
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    # -- datasets ---------------------------------------------------------------------------
    def build_train_dataset(self) -> Dataset:
        raise NotImplementedError(f"{type(self).__name__} must implement build_train_dataset().")

    def build_val_dataset(self) -> Dataset | None:
        if self.val_dir is None:
            return None
        return BenchmarkDataset.from_folder(
            resolve_image_folder(self.val_dir, split="test"), scale=self.scale
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self.build_train_dataset()
        if stage in (None, "fit", "validate", "test") and self.val_set is None:
            self.val_set = self.build_val_dataset()

    # -- loaders ----------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=1, num_workers=0)

    def test_dataloader(self) -> DataLoader | list:
        return self.val_dataloader()

    # -- the device side ----------------------------------------------------------------------
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Turn a uint8 batch into float ``lr``/``hr`` in [0, 1] on the batch's device."""
        hr: Tensor = batch["hr"]
        training = self.trainer is not None and self.trainer.training
        if "lr" in batch:
            lr, hr_f = to_float(batch["lr"]), to_float(hr)
        elif training:
            lr, hr_f = self.degradation(to_float(hr))
        else:
            lr, hr_f = to_float(make_lr(hr, self.scale)), to_float(hr)
        if lr.shape[1] == 1:
            lr = lr.repeat(1, 3, 1, 1)
        return {"lr": lr, "hr": hr_f, "name": batch.get("name")}


def to_float(x: Tensor) -> Tensor:
    """uint8 → float in [0, 1] (float tensors pass through)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def resolve_image_folder(
    folder_or_name: str | os.PathLike, *, split: str = "train", download: bool = False
) -> Path:
    """An existing folder, or a dataset name resolved through the catalogue."""
    path = Path(folder_or_name).expanduser()
    if path.is_dir():
        return path
    from srlib.data.download import resolve_dataset_dir

    try:
        return resolve_dataset_dir(str(folder_or_name), split=split, kind="hr", download=download)
    except ValueError as err:
        raise FileNotFoundError(
            f"{folder_or_name!r} is not an existing folder nor a dataset name srlib knows ({err})."
        ) from err


class ImageFolderHRDataModule(SRDataModule):
    """Your own HR images (one folder), degraded on the device for training.

    Args:
        train_dir: folder of HR training images.
        **kwargs: see :class:`SRDataModule`.
    """

    def __init__(self, *, train_dir: str | os.PathLike, **kwargs) -> None:
        super().__init__(**kwargs)
        self.train_dir = train_dir

    def build_train_dataset(self) -> Dataset:
        return HRPatchDataset.from_folder(
            resolve_image_folder(self.train_dir),
            scale=self.scale,
            patch_size=self.patch_size,
            samples_per_epoch=self.samples_per_epoch,
        )


class T91DataModule(SRDataModule):
    """T91 (Yang et al. 2010, the 91 training images of SRCNN/VDSR), HR patches + bicubic LR.

    Args:
        root: an existing T91 folder (no network needed).
        data_dir: where downloads go (default ``$SRLIB_DATA_DIR`` or ``~/.cache/srlib/datasets``).
        download: allow ``prepare_data`` to download T91 when ``root`` is not given.
        **kwargs: see :class:`SRDataModule`.
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        download: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.root, self.data_dir, self.download = root, data_dir, download

    def _folder(self, download: bool) -> Path:
        from srlib.data.download import resolve_dataset_dir

        return resolve_dataset_dir("T91", root=self.root, data_dir=self.data_dir, download=download)

    def prepare_data(self) -> None:
        self._folder(download=self.download and self.root is None)

    def build_train_dataset(self) -> Dataset:
        return HRPatchDataset.from_folder(
            self._folder(download=False),
            scale=self.scale,
            patch_size=self.patch_size,
            samples_per_epoch=self.samples_per_epoch,
        )


# Photos bundled with scikit-image, all public domain or CC0 (see each function's docstring in
# skimage.data): they let the quickstart train and validate with no download at all.
BUNDLED_TRAIN_PHOTOS = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
BUNDLED_VAL_PHOTOS = ("coffee", "chelsea")


def load_bundled_photos(names: tuple[str, ...]) -> list[tuple[str, Tensor]]:
    """``(name, (3, H, W) uint8)`` for photos shipped inside scikit-image (no network)."""
    import skimage.data

    photos = []
    for name in names:
        array = getattr(skimage.data, name)()
        photos.append((name, torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()))
    return photos


class BundledPhotosDataModule(SRDataModule):
    """Public-domain photos that ship with scikit-image: a dataset that needs no download.

    Trains on ``train_photos`` and validates on the held-out ``val_photos``.
    """

    def __init__(
        self,
        *,
        train_photos: tuple[str, ...] = BUNDLED_TRAIN_PHOTOS,
        val_photos: tuple[str, ...] = BUNDLED_VAL_PHOTOS,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.train_photos, self.val_photos = tuple(train_photos), tuple(val_photos)

    def build_train_dataset(self) -> Dataset:
        return HRPatchDataset(
            load_bundled_photos(self.train_photos),
            scale=self.scale,
            patch_size=self.patch_size,
            samples_per_epoch=self.samples_per_epoch,
        )

    def build_val_dataset(self) -> Dataset | None:
        if self.val_dir is not None:
            return super().build_val_dataset()
        return BenchmarkDataset(load_bundled_photos(self.val_photos), scale=self.scale)
