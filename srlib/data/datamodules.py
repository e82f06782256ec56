"""Lightning DataModules: CPU datasets in, ``{"lr", "hr", "name"}`` float batches on the device out.

The LR side is made in :meth:`SRDataModule.on_after_batch_transfer`, after the batch reached its
device: training batches go through the configured degradation (bicubic by default), validation
and test batches through the evaluation protocol's MATLAB-bicubic on ``uint8`` (so ``val/psnr`` is
the number ``python -m srlib.evaluate`` reports). Batches that already carry ``"lr"`` (paired data)
skip both. The training module never knows which happened.
"""

from __future__ import annotations

import logging
import numbers
import os
from pathlib import Path

import lightning as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from srlib.data.catalogue import get_dataset
from srlib.data.datasets import (
    CACHE_MODES,
    BenchmarkDataset,
    HRPatchDataset,
    PairedImageDataset,
    PairedPatchDataset,
    match_pairs,
)
from srlib.data.download import resolve_image_dir, resolve_image_dirs
from srlib.data.subimages import DEFAULT_MEMORY_BUDGET, parse_bytes
from srlib.degrade.bicubic import BicubicDegradation
from srlib.io.images import list_images
from srlib.metrics.protocol import protocol_lr

__all__ = [
    "LR_TRACKS",
    "BundledPhotosDataModule",
    "DF2KDataModule",
    "DIV2KDataModule",
    "Flickr2KDataModule",
    "ImageFolderDataModule",
    "ImageFolderHRDataModule",
    "SRDataModule",
    "T91DataModule",
    "resolve_image_folder",
    "to_float",
    "training_loader",
]

log = logging.getLogger(__name__)


def training_loader(dataset: Dataset, batch_size: int, num_workers: int) -> DataLoader:
    """The training loader every DataModule uses: shuffled, full batches, workers kept between epochs."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


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
        return BenchmarkDataset.from_folder(resolve_image_dir(self.val_dir, split="test"), scale=self.scale)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self.build_train_dataset()
        if stage in (None, "fit", "validate", "test") and self.val_set is None:
            self.val_set = self.build_val_dataset()

    # -- loaders ----------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        return training_loader(self.train_set, self.batch_size, self.num_workers)

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
        hr_gan = None
        if "lr" in batch:
            lr, hr_f = to_float(batch["lr"]), to_float(hr)
        elif training:
            # A degradation with buffers (kernels) follows the batch to its device; a no-op otherwise.
            self.degradation.to(hr.device)
            original = to_float(hr)
            lr, hr_f = self.degradation(original)
            # A degradation that sharpens the target (Real-ESRGAN's USM) returns the sharpened HR; the
            # discriminator of a GAN still sees the original, as in Real-ESRGAN.
            hr_gan = original if hr_f is not original else None
        elif hr.ndim == 5:  # clips: the protocol's LR of every frame
            lr, hr_f = protocol_lr(hr.flatten(0, 1), self.scale).unflatten(0, hr.shape[:2]), to_float(hr)
        else:  # validation and test: the SR protocol's LR, the one evaluate and the final evaluation use
            lr, hr_f = protocol_lr(hr, self.scale), to_float(hr)
        if lr.shape[-3] == 1:
            lr = lr.repeat_interleave(3, dim=-3)
        out = {"lr": lr, "hr": hr_f, "name": batch.get("name")}
        if hr_gan is not None:
            out["hr_gan"] = hr_gan
        return out


def to_float(x: Tensor) -> Tensor:
    """uint8 → float in [0, 1] (float tensors pass through)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def resolve_image_folder(
    folder_or_name: str | os.PathLike,
    *,
    split: str = "train",
    download: bool = False,
    data_dir: str | os.PathLike | None = None,
) -> Path:
    """An existing folder, or a dataset name resolved through the catalogue (HR images).

    Kept for existing code: :func:`srlib.data.download.resolve_image_dir` with ``kind="hr"``
    (so ``"test"`` on DIV2K means its valid split, and ``val_dir="DIV2K"`` validates on its 100
    validation images).
    """
    return resolve_image_dir(folder_or_name, split=split, download=download, data_dir=data_dir)


class _ImageDataModule(SRDataModule):
    """Shared machinery of the image-file DataModules: folders -> checked, decoded-once datasets.

    Subclasses say where the training folders are (:meth:`train_folders`); this class checks every
    file (:meth:`prepare_data` already, so problems show before training starts), picks the in-memory
    cache or the sub-image cache (see :mod:`srlib.data.subimages`), and builds HR-only datasets (LR made
    on the device by the degradation) or paired ones (LR from disk; no degradation).
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike | None = None,
        download: bool = True,
        val_lr_dir: str | os.PathLike | None = None,
        lr_suffix: str | None = None,
        strict: bool = True,
        skip_small: bool = False,
        cache: str = "auto",
        memory_budget: int | str = DEFAULT_MEMORY_BUDGET,
        cache_dir: str | os.PathLike | None = None,
        subimage_size: int | None = 480,
        subimage_step: int = 240,
        subimage_format: str = "npy",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if self.patch_size % self.scale:
            raise ValueError(
                f"patch_size {self.patch_size} is not a multiple of scale {self.scale}; "
                f"use e.g. {self.patch_size // self.scale * self.scale}."
            )
        if cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}.")
        parse_bytes(memory_budget)  # fail at configuration time on a bad value
        self.data_dir, self.download = data_dir, bool(download)
        self.val_lr_dir, self.lr_suffix, self.strict = val_lr_dir, lr_suffix, bool(strict)
        self.skip_small, self.cache, self.memory_budget = bool(skip_small), cache, memory_budget
        self.cache_dir = cache_dir
        self.subimage_size, self.subimage_step = subimage_size, int(subimage_step)
        self.subimage_format = subimage_format

    # -- where the images are ---------------------------------------------------------------------
    def train_folders(self, download: bool = False) -> tuple[list[Path], list[Path] | None]:
        """``(hr_folders, lr_folders or None)`` of the training set (downloading when allowed)."""
        raise NotImplementedError(f"{type(self).__name__} must implement train_folders().")

    @property
    def paired(self) -> bool:
        """Whether training batches carry LR images from disk."""
        return False

    def _cache_dir(self) -> Path | None:
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser() / "subimages"
        return None  # default_cache_dir()

    def train_files(self) -> list[Path] | None:
        """The HR files to train on when not every file of :meth:`train_folders` (``None``: all)."""
        return None

    def _train_dataset(self, decode: bool) -> Dataset | None:
        hr, lr = self.train_folders(download=False)
        common = {
            "scale": self.scale,
            "patch_size": self.patch_size,
            "samples_per_epoch": self.samples_per_epoch,
            "skip_small": self.skip_small,
            "cache": self.cache,
            "memory_budget": self.memory_budget,
            "cache_dir": self._cache_dir(),
            "subimage_size": self.subimage_size,
            "subimage_step": self.subimage_step,
            "subimage_format": self.subimage_format,
            "decode": decode,
            # Only these files are decoded or cut into sub-images; the sub-image cache is per source
            # file, so a cache filled without a holdout serves exactly the remaining files.
            "files": self.train_files(),
        }
        if lr is not None:
            return PairedPatchDataset.from_folders(
                lr, hr, lr_suffix=self.lr_suffix, strict=self.strict, **common
            )
        return HRPatchDataset.from_folder(hr, **common)

    def val_folder(self, download: bool = False) -> Path | None:
        """The validation HR folder (``val_dir`` resolved), or ``None`` without validation."""
        if self.val_dir is None:
            return None
        return resolve_image_dir(self.val_dir, split="test", download=download, data_dir=self.data_dir)

    def prepare_data(self) -> None:
        """Download what is missing (when allowed), check every file, fill the sub-image cache if used."""
        self.train_folders(download=self.download)
        self.val_folder(download=self.download)
        if self.cache != "memory":
            self._train_dataset(decode=False)

    def build_train_dataset(self) -> Dataset:
        return self._train_dataset(decode=True)

    def build_val_dataset(self) -> Dataset | None:
        folder = self.val_folder()
        if folder is None:
            return None
        if self.val_lr_dir is not None:
            return PairedImageDataset.from_folders(
                self.val_lr_dir, folder, scale=self.scale, lr_suffix=self.lr_suffix, strict=self.strict
            )
        return BenchmarkDataset.from_folder(folder, scale=self.scale)


def _check_holdout(holdout: int | float) -> int | float:
    """``holdout`` as an ``int`` count or a ``float`` fraction in (0, 1) (``0``: none)."""
    if isinstance(holdout, bool) or not isinstance(holdout, numbers.Real):
        raise ValueError(
            f"holdout must be a number of images (an int such as 10) or a fraction in (0, 1) "
            f"(such as 0.1), got {holdout!r}."
        )
    if isinstance(holdout, numbers.Integral):
        if holdout < 0:
            raise ValueError(f"holdout={holdout} is negative; pass a number of images >= 0 (0: none).")
        return int(holdout)
    holdout = float(holdout)
    if holdout == 0:
        return 0
    if not 0 < holdout < 1:
        raise ValueError(
            f"holdout={holdout!r} is not a fraction in (0, 1); pass a fraction such as 0.1, or a number "
            "of images as an int such as 10 (0: hold out nothing)."
        )
    return holdout


def _spread_indices(n: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n)``: the middle of each of ``count`` equal runs.

    Deterministic (no RNG), so every rank and every run picks the same ones.

    Example:
        >>> _spread_indices(10, 3)
        [1, 5, 8]
    """
    if not 0 <= count <= n:
        raise ValueError(f"Cannot pick {count} of {n} indices; pick between 0 and {n}.")
    # Integer arithmetic: floor((i + 1/2) * n / count); consecutive picks are n/count >= 1 apart.
    return [(2 * i + 1) * n // (2 * count) for i in range(count)]


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


class ImageFolderDataModule(_ImageDataModule):
    """Your own images: HR-only folders degraded on the device, or LR/HR folder pairs.

    * HR-only (``lr_dir=None``): random HR patches; the LR side is made per batch on the device by
      ``degradation`` (bicubic by default, or any :mod:`srlib.degrade` pipeline).
    * Paired (``lr_dir`` given): LR files matched to HR files by name (``0001.png`` <-> ``0001.png``
      or ``0001x4.png``), scale-aligned random crops, identical flips; no degradation is applied.

    Every file is checked when the module is prepared/set up (empty folders, unmatched names,
    unreadable or truncated files, pairs not ``scale`` apart, images smaller than the patch), all
    reported in one error. Images are decoded once: in memory when they fit in ``memory_budget``,
    else as sub-images in ``cache_dir`` (reused across runs).

    Args:
        train_dir: HR training folder (or a list of folders, or a catalogue name such as ``"T91"``).
        lr_dir: LR folder(s) matching ``train_dir`` for paired training; ``None`` for HR-only.
        val_dir: validation HR folder or benchmark name (``"Set5"``); ``None`` for no validation
            (or for ``holdout``).
        val_lr_dir: LR folder paired with ``val_dir`` (default: LR made by the protocol's bicubic).
        holdout: without ``val_dir``, validate on part of ``train_dir`` instead: that many images (an
            ``int``) or that fraction of them (a ``float`` in (0, 1), rounded, at least 1) are left out
            of training and scored like a ``val_dir`` (whole images; the protocol's bicubic LR, or
            their ``lr_dir`` files when paired). The held-out files are spread evenly over the sorted
            file list, the same on every rank and in every run (see :meth:`holdout_files`).
            ``0``: no holdout.
        lr_suffix: LR stem suffix (``None``: identical names or ``x{scale}``); see
            :func:`~srlib.data.datasets.match_pairs`.
        strict: fail on unmatched files (``False``: warn and train on the matched pairs).
        skip_small: leave out images smaller than the patch instead of failing.
        cache: ``"auto"``, ``"memory"`` or ``"subimages"``.
        memory_budget: decoded bytes allowed in memory (``"4GiB"`` by default) before switching to
            sub-images.
        cache_dir: sub-image cache (default ``<data_dir>/subimages``, else ``<srlib data dir>/subimages``).
        subimage_size, subimage_step, subimage_format: sub-image crops (480 px every 240 px, the DIV2K
            convention; ``"npy"`` crops patches without decoding, ``"png"`` takes about half the disk
            space but decodes a whole crop per patch; see :mod:`srlib.data.subimages`).
        data_dir, download: where a catalogue-named ``val_dir``/``train_dir`` is looked up, and
            whether it may be downloaded.
        **kwargs: see :class:`SRDataModule` (``scale``, ``patch_size``, ``batch_size``,
            ``num_workers``, ``samples_per_epoch``, ``degradation``).

    Shape:
        - batch after transfer: ``lr (B, 3, p/scale, p/scale)``, ``hr (B, 3, p, p)`` float in [0, 1].

    Raises:
        ValueError: no ``train_dir``; ``lr_dir`` folders not one per ``train_dir`` folder; a bad
            ``holdout``, or one combined with ``val_dir``/``val_lr_dir`` (at construction); a
            ``holdout`` that leaves no training image (at setup).

    Example:
        >>> dm = ImageFolderDataModule(train_dir="photos/hr", lr_dir="photos/lr", scale=4)  # doctest: +SKIP
        >>> dm = ImageFolderDataModule(train_dir="photos", holdout=0.1, scale=4)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        train_dir: str | os.PathLike | list,
        lr_dir: str | os.PathLike | list | None = None,
        holdout: int | float = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.train_dir, self.lr_dir = train_dir, lr_dir
        hr, lr = _as_list(train_dir), _as_list(lr_dir)
        if not hr:
            raise ValueError("train_dir is required: the folder (or folders) of HR training images.")
        if lr and len(lr) != len(hr):
            raise ValueError(
                f"Got {len(lr)} lr_dir folder(s) for {len(hr)} train_dir folder(s); pass one per."
            )
        self.holdout = _check_holdout(holdout)
        if self.holdout and self.val_dir is not None:
            # A recipe may default to a holdout (finetune) while the user names a validation folder.
            log.info("val_dir=%s given: holdout=%s is not used.", self.val_dir, holdout)
            self.holdout = 0
        if self.holdout and self.val_lr_dir is not None:
            raise ValueError(
                f"val_lr_dir={self.val_lr_dir!r} goes with val_dir, not with holdout (held-out pairs take "
                "their LR from lr_dir); drop val_lr_dir."
            )
        self._split: tuple[list[Path], list[Path]] | None = None

    @property
    def paired(self) -> bool:
        return self.lr_dir is not None

    def holdout_files(self) -> list[Path]:
        """The HR files of ``train_dir`` held out of training for validation (``[]`` without holdout)."""
        return self._holdout_split()[1] if self.holdout else []

    def train_files(self) -> list[Path] | None:
        return self._holdout_split()[0] if self.holdout else None

    def _holdout_split(self) -> tuple[list[Path], list[Path]]:
        """``(training HR files, held-out HR files)``, chosen once per process and logged."""
        if self._split is not None:
            return self._split
        hr, lr = self.train_folders()
        if lr is None:
            files, what = [p for f in hr for p in list_images(f)], "image(s)"
        else:
            files = [
                hr_path
                for lr_dir, hr_dir in zip(lr, hr, strict=True)
                for _, hr_path in match_pairs(
                    lr_dir, hr_dir, scale=self.scale, lr_suffix=self.lr_suffix, strict=self.strict
                )
            ]
            what = "LR/HR pair(s)"
        where, n = ", ".join(map(str, hr)), len(files)
        if isinstance(self.holdout, float):
            count = max(1, round(self.holdout * n))
        else:
            count = self.holdout
        if count >= n:
            fix = (
                f"Hold out at most {n - 1} (holdout={n - 1}, or a smaller fraction)"
                if n > 1
                else "Add images"
            )
            raise ValueError(
                f"train_dir {where} has {n} {what}; holdout={self.holdout!r} holds out {count} and leaves "
                f"{n - count} for training. {fix}, or validate on a separate folder with val_dir= "
                "(and holdout=0)."
            )
        held = set(_spread_indices(n, count))
        train = [p for i, p in enumerate(files) if i not in held]
        val = [p for i, p in enumerate(files) if i in held]
        log.info(
            "holdout=%s: validating on %d of the %d %s of %s, left out of training",
            self.holdout,
            count,
            n,
            what,
            where,
        )
        log.debug("Held-out files: %s", ", ".join(p.name for p in val))
        self._split = train, val
        return self._split

    def build_val_dataset(self) -> Dataset | None:
        if not self.holdout:
            return super().build_val_dataset()
        hr, lr = self.train_folders()
        held = self.holdout_files()
        if lr is not None:
            return PairedImageDataset.from_folders(
                lr, hr, scale=self.scale, lr_suffix=self.lr_suffix, strict=self.strict, files=held
            )
        return BenchmarkDataset.from_folder(hr, scale=self.scale, files=held)

    def train_folders(self, download: bool = False) -> tuple[list[Path], list[Path] | None]:
        lr = [Path(f).expanduser() for f in _as_list(self.lr_dir)] or None
        hr = []
        for f in _as_list(self.train_dir):
            folders = resolve_image_dirs(f, split="train", download=download, data_dir=self.data_dir)
            if lr is not None and len(folders) != 1:
                raise ValueError(
                    f"train_dir {f!r} is {len(folders)} folders ({', '.join(map(str, folders))}) but lr_dir "
                    "pairs one LR folder with each train_dir entry; list the HR folders one by one."
                )
            hr.extend(folders)
        return hr, lr


#: The HR-only folder DataModule of earlier versions: :class:`ImageFolderDataModule` without ``lr_dir``.
ImageFolderHRDataModule = ImageFolderDataModule


class T91DataModule(_ImageDataModule):
    """T91 (Yang et al. 2010, the 91 training images of SRCNN/VDSR), HR patches + bicubic LR.

    T91 has one image of 78x78 (t20): with ``patch_size`` above 78 pass ``skip_small=True``.

    Args:
        root: an existing T91 folder (no network needed).
        data_dir: where downloads go (default ``$SRLIB_DATA_DIR`` or ``~/.cache/srlib/datasets``).
        download: allow ``prepare_data`` to download T91 when ``root`` is not given.
        **kwargs: see :class:`ImageFolderDataModule` (cache options) and :class:`SRDataModule`.
    """

    def __init__(self, *, root: str | os.PathLike | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root

    def train_folders(self, download: bool = False) -> tuple[list[Path], list[Path] | None]:
        folder = resolve_image_dir(
            get_dataset("T91"),
            split="train",
            root=self.root,
            data_dir=self.data_dir,
            download=download and self.root is None,
        )
        return [folder], None


LR_TRACKS = ("bicubic",)


class _CatalogueDataModule(_ImageDataModule):
    """A catalogue training set: HR-only + on-device degradation, or paired with its official LR."""

    dataset_name = ""

    def __init__(
        self,
        *,
        root: str | os.PathLike | None = None,
        paired: bool = False,
        lr: str | None = None,
        **kwargs,
    ) -> None:
        degradation_given = kwargs.get("degradation") is not None
        super().__init__(**kwargs)
        if lr is not None and lr not in LR_TRACKS:
            raise ValueError(
                f"lr={lr!r} is not an LR track of {self.dataset_name}; use one of {LR_TRACKS} "
                "(paired official LR) or None (HR only, LR made by the degradation)."
            )
        self.root = root
        self.lr = lr if lr is not None else ("bicubic" if paired else None)
        if self.lr is not None:
            spec = get_dataset(self.dataset_name)
            for comp in spec.components or (spec.name,):
                have = get_dataset(comp).scales("train")
                if self.scale not in have:
                    raise ValueError(
                        f"{comp} ships official {self.lr} LR at x{', x'.join(map(str, have))}, "
                        f"not x{self.scale}; use one of those scales or paired=False "
                        "(LR made on the fly by the degradation)."
                    )
            if degradation_given:
                log.info(
                    "%s: paired=True uses the official LR images; the degradation is not used.",
                    self.dataset_name,
                )

    @property
    def paired(self) -> bool:
        return self.lr is not None

    def train_folders(self, download: bool = False) -> tuple[list[Path], list[Path] | None]:
        # The dataset object, not its name: a folder called "DIV2K" in the working directory is not it.
        spec = get_dataset(self.dataset_name)
        common = {"root": self.root, "data_dir": self.data_dir, "split": "train"}
        common["download"] = download and self.root is None
        hr = resolve_image_dirs(spec, kind="hr", **common)
        if self.lr is None:
            return hr, None
        lr = resolve_image_dirs(spec, kind="lr", scale=self.scale, **common)
        return hr, lr

    def val_folder(self, download: bool = False) -> Path | None:
        """``val_dir`` resolved; this dataset's own name (``"DIV2K"``) means its valid split in ``root``."""
        if self.root is not None and isinstance(self.val_dir, str) and not Path(self.val_dir).is_dir():
            try:
                same = get_dataset(self.val_dir).name == get_dataset(self.dataset_name).name
            except ValueError:
                same = False
            if same:
                return resolve_image_dir(get_dataset(self.dataset_name), split="valid", root=self.root)
        return super().val_folder(download=download)


class DIV2KDataModule(_CatalogueDataModule):
    """DIV2K (NTIRE 2017): 800 2K training images.

    By default HR patches with the LR made on the device by ``degradation`` (bicubic unless given);
    ``paired=True`` (or ``lr="bicubic"``) trains on the official MATLAB-bicubic LR folders instead.
    The decoded set (about 7 GB) exceeds the default 4 GiB memory budget, so it is cut once into
    480 px sub-images under ``cache_dir`` (reused across runs); raise ``memory_budget`` to keep it in
    memory instead.

    Args:
        root: an existing DIV2K copy (``DIV2K_train_HR/``, ``DIV2K_train_LR_bicubic/X4/``, ...; no network).
        data_dir: where downloads go (default ``$SRLIB_DATA_DIR`` or ``~/.cache/srlib/datasets``).
        download: allow ``prepare_data`` to download (checksum-verified) when ``root`` is not given.
        paired: use the official LR images (x2, x3, x4).
        lr: the LR track when paired (``"bicubic"``); ``None`` follows ``paired``.
        **kwargs: see :class:`ImageFolderDataModule` (validation, cache options) and
            :class:`SRDataModule` (``scale``, ``patch_size``, ``degradation``, ...).

    Example:
        >>> dm = DIV2KDataModule(root="/data/DIV2K", scale=4, val_dir="Set5")  # doctest: +SKIP
    """

    dataset_name = "DIV2K"


class Flickr2KDataModule(_CatalogueDataModule):
    """Flickr2K (2650 2K images from the EDSR authors); the same options as :class:`DIV2KDataModule`.

    ``root`` is the folder holding ``Flickr2K/Flickr2K_HR`` (or ``Flickr2K_HR`` itself).
    """

    dataset_name = "Flickr2K"


class DF2KDataModule(_CatalogueDataModule):
    """DF2K = DIV2K train + Flickr2K (3450 images); the same options as :class:`DIV2KDataModule`.

    ``root`` is the folder holding ``DIV2K/`` and ``Flickr2K/`` (what ``data_dir`` becomes after a
    download), or a merged folder of HR images (HR-only training).
    """

    dataset_name = "DF2K"


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
