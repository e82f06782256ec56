"""Synthetic pixelation data: labelled pixelated / clean samples made on the device from any HR image.

:class:`PixelationSynth` turns a batch of HR crops into a batch of samples and labels (1 = pixelated):

- **pixelated**: a down-up resampling with blocks of 2-16 px (whole image or a rectangular region):
  the downsampling takes one pixel per block (nearest) or the block mean (area, a "mosaic"), the
  upsampling repeats it (nearest); block sizes may be fractional (a nearest upscale by 2.5 gives
  blocks of 2 and 3 px); the block grid starts at a random offset so blocks do not align with the
  image origin; optional JPEG and light Gaussian blur on top;
- **clean**: the original, or a degradation a detector must not take for pixelation: bicubic blur
  (down-up), Gaussian noise, JPEG alone (8x8 blocks of its own), unsharp-mask sharpening.

Every random choice is a per-sample parameter drawn from a seeded ``torch.Generator`` on the CPU
(:meth:`PixelationSynth.generate_parameters`), so a batch is replayable from its parameters (the last
ones are kept in ``last_params``) and identical on every device; the images are computed on the
batch's device. :class:`PixelationDataModule` serves random HR crops from image folders and bundled
photos, with fixed, seeded validation and test sets made of images the training never sees.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from srlib.data.datamodules import training_loader
from srlib.degrade.functional import add_gaussian_noise, jpeg_compress, usm_sharpen

__all__ = [
    "CLEAN_KINDS",
    "CropDataset",
    "FixedCropDataset",
    "PixelationDataModule",
    "PixelationSynth",
    "load_images",
]

log = logging.getLogger(__name__)

#: What a clean sample may be, in the order of ``clean_weights``.
CLEAN_KINDS = ("original", "bicubic_blur", "noise", "jpeg", "sharpen")
_DEFAULT_CLEAN_WEIGHTS = (0.3, 0.2, 0.15, 0.2, 0.15)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _bernoulli(n: int, p: float, g: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=g) < p


def pixelate(x: Tensor, block: float, offset: tuple[int, int], *, area: bool) -> Tensor:
    """Down-up resample ``x`` with blocks of ``block`` pixels whose grid starts ``offset`` pixels in.

    Shape:
        - x: ``(B, C, H, W)``; output: like ``x``.

    Example:
        >>> x = torch.rand(1, 1, 8, 8)
        >>> y = pixelate(x, 4, (0, 0), area=False)
        >>> bool((y[..., :4, :4] == y[..., :1, :1]).all())
        True
    """
    h, w = x.shape[-2:]
    oy, ox = int(offset[0]), int(offset[1])
    # The first grid line lies `offset` px in: the part of the first block outside the image is padding,
    # and the far side is padded to whole blocks (so an integer block size gives exact blocks).
    step = math.ceil(block)
    pad_top, pad_left = (-oy) % step, (-ox) % step
    ny, nx = math.ceil((h + pad_top) / block), math.ceil((w + pad_left) / block)
    hp, wp = max(h + pad_top, round(ny * block)), max(w + pad_left, round(nx * block))
    big = F.pad(x, (pad_left, wp - w - pad_left, pad_top, hp - h - pad_top), mode="replicate")
    down = F.interpolate(big, size=(ny, nx), mode="area" if area else "nearest")
    up = F.interpolate(down, size=(hp, wp), mode="nearest")
    return up[..., pad_top : pad_top + h, pad_left : pad_left + w]


class PixelationSynth(nn.Module):
    """Make labelled pixelated / clean samples from HR images (see the module docstring).

    Args:
        p_pixelated: share of pixelated samples.
        block_range: block sizes in pixels (inclusive).
        block_sampling: ``"uniform"`` over the range, or ``"log"`` (log-uniform: more small blocks, the
            hard ones; for training while evaluating on the uniform distribution).
        p_fractional: share of pixelated samples with a fractional block size.
        p_area: share whose downsampling averages the block (else picks one pixel).
        p_region: share where only a rectangle (``region_range`` of each side) is pixelated.
        p_jpeg, jpeg_range: JPEG on top of pixelation, and its quality range.
        p_blur, blur_range: light Gaussian blur on top of pixelation, and its sigma range.
        clean_weights: relative weights of :data:`CLEAN_KINDS` for clean samples.
        bicubic_range: down-up factor of the bicubic blur.
        noise_range: Gaussian noise sigma in 8-bit levels.
        clean_jpeg_range: JPEG quality of the JPEG-only clean samples.
        sharpen_range: unsharp-mask weight.

    Shape:
        - input: ``(B, 3, H, W)`` float in [0, 1]; output: the same on the 8-bit grid; labels ``(B,)``.

    Example:
        >>> synth = PixelationSynth()
        >>> x, y = synth(torch.rand(4, 3, 32, 32), generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.shape
        (torch.Size([4, 3, 32, 32]), torch.Size([4]))
    """

    def __init__(
        self,
        *,
        p_pixelated: float = 0.5,
        block_range: tuple[int, int] = (2, 16),
        block_sampling: str = "uniform",
        p_fractional: float = 0.3,
        p_area: float = 0.5,
        p_region: float = 0.25,
        region_range: tuple[float, float] = (0.35, 0.8),
        p_jpeg: float = 0.3,
        jpeg_range: tuple[float, float] = (50.0, 95.0),
        p_blur: float = 0.15,
        blur_range: tuple[float, float] = (0.3, 0.7),
        clean_weights: Sequence[float] = _DEFAULT_CLEAN_WEIGHTS,
        bicubic_range: tuple[float, float] = (1.5, 4.0),
        noise_range: tuple[float, float] = (2.0, 15.0),
        clean_jpeg_range: tuple[float, float] = (20.0, 90.0),
        sharpen_range: tuple[float, float] = (0.3, 1.0),
    ) -> None:
        super().__init__()
        if not 2 <= block_range[0] <= block_range[1]:
            raise ValueError(f"block_range must be (low, high) with 2 <= low <= high; got {block_range}.")
        if len(clean_weights) != len(CLEAN_KINDS) or min(clean_weights) < 0 or sum(clean_weights) <= 0:
            raise ValueError(
                f"clean_weights takes {len(CLEAN_KINDS)} weights >= 0 ({', '.join(CLEAN_KINDS)})."
            )
        if block_sampling not in ("uniform", "log"):
            raise ValueError(f"block_sampling must be 'uniform' or 'log'; got {block_sampling!r}.")
        self.block_sampling = block_sampling
        self.p_pixelated, self.block_range = float(p_pixelated), (int(block_range[0]), int(block_range[1]))
        self.p_fractional, self.p_area, self.p_region = float(p_fractional), float(p_area), float(p_region)
        self.region_range = tuple(float(v) for v in region_range)
        self.p_jpeg, self.jpeg_range = float(p_jpeg), tuple(float(v) for v in jpeg_range)
        self.p_blur, self.blur_range = float(p_blur), tuple(float(v) for v in blur_range)
        self.clean_weights = torch.tensor([float(w) for w in clean_weights])
        self.bicubic_range, self.noise_range = tuple(bicubic_range), tuple(noise_range)
        self.clean_jpeg_range, self.sharpen_range = tuple(clean_jpeg_range), tuple(sharpen_range)
        self.last_params: dict[str, Tensor] | None = None

    def generate_parameters(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Per-sample parameters, drawn on the CPU from ``generator`` (replayable; device-independent)."""
        n, g = int(batch_size), generator
        low, high = self.block_range
        if self.block_sampling == "uniform":
            integer = torch.randint(low, high + 1, (n,), generator=g).float()
            fractional = _uniform(n, low, high, g)
        else:
            integer = _uniform(n, math.log(low), math.log(high + 1), g).exp().floor().clamp(low, high)
            fractional = _uniform(n, math.log(low), math.log(high), g).exp()
        is_fractional = _bernoulli(n, self.p_fractional, g)
        block = torch.where(is_fractional, fractional, integer)
        offset = (torch.rand(n, 2, generator=g) * block.ceil()[:, None]).floor()
        return {
            "label": _bernoulli(n, self.p_pixelated, g),
            "block": block,
            "offset": offset.long(),
            "area": _bernoulli(n, self.p_area, g),
            "region": _bernoulli(n, self.p_region, g),
            "region_size": _uniform(2 * n, *self.region_range, g).view(n, 2),
            "region_pos": torch.rand(n, 2, generator=g),
            "jpeg": _bernoulli(n, self.p_jpeg, g),
            "jpeg_quality": _uniform(n, *self.jpeg_range, g).round(),
            "blur": _bernoulli(n, self.p_blur, g),
            "blur_sigma": _uniform(n, *self.blur_range, g),
            "clean_kind": torch.multinomial(self.clean_weights, n, replacement=True, generator=g),
            "bicubic_factor": _uniform(n, *self.bicubic_range, g),
            "noise_sigma": _uniform(n, *self.noise_range, g),
            "clean_jpeg_quality": _uniform(n, *self.clean_jpeg_range, g).round(),
            "sharpen_weight": _uniform(n, *self.sharpen_range, g),
            "noise_seed": torch.randint(0, 2**62, (1,), generator=g),
        }

    def forward(
        self, x: Tensor, params: dict[str, Tensor] | None = None, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Samples and labels (float, 1 = pixelated) for ``x``, from ``params`` or freshly drawn ones."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"PixelationSynth takes (B, 3, H, W) RGB in [0, 1]; got shape {tuple(x.shape)}.")
        if params is None:
            params = self.generate_parameters(x.shape[0], generator=generator)
        self.last_params = params
        x = x.float()
        out = [self._one(x[i : i + 1], params, i) for i in range(x.shape[0])]
        samples = torch.cat(out)
        # Noise and JPEG in batches (one codec call for each), on the batch's device.
        samples = self._batched_noise_and_jpeg(samples, params)
        samples = (samples.clamp(0, 1) * 255).round() / 255
        return samples, params["label"].to(device=x.device, dtype=torch.float32)

    # -- one sample ----------------------------------------------------------------------------
    def _one(self, x: Tensor, p: dict[str, Tensor], i: int) -> Tensor:
        h, w = x.shape[-2:]
        if bool(p["label"][i]):
            block = float(p["block"][i])
            offset = (int(p["offset"][i, 0]), int(p["offset"][i, 1]))
            pix = pixelate(x, block, offset, area=bool(p["area"][i]))
            if bool(p["region"][i]):
                rh = max(2, round(float(p["region_size"][i, 0]) * h))
                rw = max(2, round(float(p["region_size"][i, 1]) * w))
                y0 = int(float(p["region_pos"][i, 0]) * (h - rh))
                x0 = int(float(p["region_pos"][i, 1]) * (w - rw))
                mask = torch.zeros(1, 1, h, w, device=x.device, dtype=x.dtype)
                mask[..., y0 : y0 + rh, x0 : x0 + rw] = 1
                pix = mask * pix + (1 - mask) * x
            if bool(p["blur"][i]):
                import kornia

                sigma = float(p["blur_sigma"][i])
                pix = kornia.filters.gaussian_blur2d(pix, (5, 5), (sigma, sigma), border_type="replicate")
            return pix
        kind = CLEAN_KINDS[int(p["clean_kind"][i])]
        if kind == "bicubic_blur":
            f = float(p["bicubic_factor"][i])
            small = (max(4, round(h / f)), max(4, round(w / f)))
            down = F.interpolate(x, size=small, mode="bicubic", antialias=True, align_corners=False)
            return F.interpolate(down, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        if kind == "sharpen":
            return usm_sharpen(x, weight=float(p["sharpen_weight"][i]), radius=11, threshold=0.0)
        return x  # original; noise and JPEG are added in batches

    def _batched_noise_and_jpeg(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        label, kind = p["label"], p["clean_kind"]
        noisy = (~label) & (kind == CLEAN_KINDS.index("noise"))
        if bool(noisy.any()):
            g = torch.Generator(device=x.device).manual_seed(int(p["noise_seed"][0]))
            sigma = torch.where(noisy, p["noise_sigma"], torch.zeros_like(p["noise_sigma"]))
            gray = torch.zeros_like(noisy)
            x = add_gaussian_noise(x, sigma.to(x.device), gray.to(x.device), generator=g)
        clean_jpeg = (~label) & (kind == CLEAN_KINDS.index("jpeg"))
        pix_jpeg = label & p["jpeg"]
        coded = clean_jpeg | pix_jpeg
        if bool(coded.any()):
            idx = coded.nonzero().flatten()
            quality = torch.where(clean_jpeg, p["clean_jpeg_quality"], p["jpeg_quality"])[idx]
            x = x.clone()
            x[idx.to(x.device)] = jpeg_compress(x[idx.to(x.device)], quality.to(x.device))
        return x


# -- datasets ----------------------------------------------------------------------------------------
def resolve_folders(
    entries: Sequence[str | os.PathLike], *, root: str | os.PathLike | None = None, download: bool = False
) -> list[Path]:
    """Folders of ``entries``: existing folders, or catalogue names (``"T91"``, ``"Set14"``, ``"DIV2K"``).

    A name is looked up as ``root/NAME`` when that folder exists (an existing copy, no network), else in
    srlib's data folder (downloaded first if ``download``); see :func:`srlib.data.resolve_image_dirs`.
    """
    from srlib.data.download import resolve_image_dirs

    folders: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            folders.append(path)
            continue
        copy = Path(root).expanduser() / str(entry) if root is not None else None
        folders += resolve_image_dirs(
            str(entry), root=copy if copy is not None and copy.is_dir() else None, download=download
        )
    return folders


def load_images(
    folders: Sequence[str | os.PathLike] = (),
    photos: Sequence[str] = (),
    *,
    exclude: Sequence[str] = (),
    min_side: int = 0,
    root: str | os.PathLike | None = None,
    download: bool = False,
) -> list[tuple[str, Tensor]]:
    """``(name, (3, H, W) uint8)`` for every image of ``folders`` and the named scikit-image photos.

    ``folders`` are folders or catalogue names (see :func:`resolve_folders`). Gray images become three
    equal channels; files whose stem is in ``exclude`` and images with a side under ``min_side`` are
    left out (logged).

    Raises:
        FileNotFoundError / ValueError: a folder that does not exist or holds no images.
    """
    from srlib.io.images import list_images, read_image

    images: list[tuple[str, Tensor]] = []
    for folder in resolve_folders(folders, root=root, download=download):
        for path in list_images(folder):
            if path.stem in exclude:
                continue
            images.append((path.stem, read_image(path)))
    if photos:
        import numpy as np
        import skimage.data

        for name in photos:
            array = np.asarray(getattr(skimage.data, name)())
            if array.dtype == bool:
                array = array.astype(np.uint8) * 255
            if array.ndim == 2:
                array = np.repeat(array[:, :, None], 3, axis=2)
            images.append((name, torch.from_numpy(np.ascontiguousarray(array[:, :, :3])).permute(2, 0, 1)))
    small = [n for n, t in images if min(t.shape[-2:]) < min_side]
    if small:
        log.info("Left out %d image(s) smaller than %d px: %s", len(small), min_side, ", ".join(small))
    return [(n, t.contiguous()) for n, t in images if min(t.shape[-2:]) >= min_side]


def _crop(image: Tensor, size: int, g: torch.Generator | None) -> Tensor:
    h, w = image.shape[-2:]
    y = int(torch.randint(0, h - size + 1, (1,), generator=g))
    x = int(torch.randint(0, w - size + 1, (1,), generator=g))
    return image[:, y : y + size, x : x + size]


class CropDataset(Dataset):
    """Random ``crop_size`` crops (random flips) of in-memory uint8 images; ``samples_per_epoch`` long."""

    def __init__(
        self, images: Sequence[tuple[str, Tensor]], *, crop_size: int, samples_per_epoch: int
    ) -> None:
        if not images:
            raise ValueError(f"no training image has both sides >= the {crop_size} px crop.")
        self.images = [t for _, t in images]
        self.crop_size, self.samples_per_epoch = int(crop_size), int(samples_per_epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict:
        image = self.images[int(torch.randint(0, len(self.images), (1,)))]
        crop = _crop(image, self.crop_size, None)
        if bool(torch.rand(1) < 0.5):
            crop = crop.flip(-1)
        return {"image": crop.contiguous(), "index": index}


class FixedCropDataset(Dataset):
    """A fixed, seeded set of ``per_image`` crops of every image (validation and test sets)."""

    def __init__(
        self, images: Sequence[tuple[str, Tensor]], *, crop_size: int, per_image: int, seed: int
    ) -> None:
        if not images:
            raise ValueError(f"no evaluation image has both sides >= the {crop_size} px crop.")
        g = torch.Generator().manual_seed(int(seed))
        self.items = [
            (name, _crop(image, crop_size, g).contiguous())
            for name, image in images
            for _ in range(per_image)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.items[index][1], "index": index}


# -- the DataModule ----------------------------------------------------------------------------------
class PixelationDataModule(L.LightningDataModule):
    """Pixelation detection data: random crops for training, fixed seeded crops for validation and test.

    The three splits are made of different images: ``train_*`` for training, ``val_*`` for validation
    (and the threshold choice), ``test_*`` for the final scores. Images named in ``holdout`` are taken out
    of the training folders and put into the validation split. Samples are labelled and made on the
    device (:class:`PixelationSynth`) after the batch is transferred: ``{"image", "label"}``; the
    validation and test batches use a generator seeded from ``seed`` and the batch index, so they are the
    same in every epoch and every run.

    Args:
        train_dirs / val_dirs / test_dirs: image folders of each split.
        train_photos / val_photos / test_photos: scikit-image photo names of each split.
        holdout: stems of training-folder images moved to validation.
        root: a folder holding existing copies of the named datasets (``root/T91``, ``root/Set14``).
        download: download named datasets that are missing (else a clear error says how).
        crop_size: side of the square crops.
        batch_size: batch size of every loader.
        samples_per_epoch: training crops per epoch.
        val_per_image / test_per_image: fixed crops per validation / test image.
        synth: the sample maker (default :class:`PixelationSynth` with its defaults).
        eval_synth: the sample maker of the validation and test sets (default: ``synth``).
        seed: seed of the fixed crops and of the validation/test samples.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        *,
        train_dirs: Sequence[str] = (),
        val_dirs: Sequence[str] = (),
        test_dirs: Sequence[str] = (),
        train_photos: Sequence[str] = (),
        val_photos: Sequence[str] = (),
        test_photos: Sequence[str] = (),
        holdout: Sequence[str] = (),
        root: str | None = None,
        download: bool = False,
        crop_size: int = 160,
        batch_size: int = 32,
        samples_per_epoch: int = 3200,
        val_per_image: int = 8,
        test_per_image: int = 24,
        synth: PixelationSynth | None = None,
        eval_synth: PixelationSynth | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.train_dirs, self.val_dirs, self.test_dirs = list(train_dirs), list(val_dirs), list(test_dirs)
        self.train_photos, self.val_photos = list(train_photos), list(val_photos)
        self.test_photos, self.holdout = list(test_photos), list(holdout)
        self.where = {"root": root, "download": bool(download)}
        self.crop_size, self.batch_size = int(crop_size), int(batch_size)
        self.samples_per_epoch = int(samples_per_epoch)
        self.val_per_image, self.test_per_image = int(val_per_image), int(test_per_image)
        self.synth = synth if synth is not None else PixelationSynth()
        self.eval_synth = eval_synth if eval_synth is not None else self.synth
        self.seed, self.num_workers = int(seed), int(num_workers)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self._generator = torch.Generator().manual_seed(self.seed + 1)

    def setup(self, stage: str | None = None) -> None:
        size = self.crop_size
        if stage in (None, "fit") and self.train_set is None:
            train = load_images(
                self.train_dirs, self.train_photos, exclude=self.holdout, min_side=size, **self.where
            )
            self.train_set = CropDataset(train, crop_size=size, samples_per_epoch=self.samples_per_epoch)
            log.info("pixelation training images: %d", len(train))
        if stage in (None, "fit", "validate") and self.val_set is None:
            val = load_images(self.val_dirs, self.val_photos, min_side=size, **self.where)
            held = [
                (n, t)
                for n, t in load_images(self.train_dirs, min_side=size, **self.where)
                if n in set(self.holdout)
            ]
            if val or held:
                self.val_set = FixedCropDataset(
                    val + held, crop_size=size, per_image=self.val_per_image, seed=self.seed
                )
        if stage in (None, "test") and self.test_set is None and (self.test_dirs or self.test_photos):
            test = load_images(self.test_dirs, self.test_photos, min_side=size, **self.where)
            self.test_set = FixedCropDataset(
                test, crop_size=size, per_image=self.test_per_image, seed=self.seed + 7
            )

    def train_dataloader(self) -> DataLoader:
        return training_loader(self.train_set, self.batch_size, self.num_workers)

    def _eval_loader(self, dataset: Dataset | None) -> DataLoader | list:
        return [] if dataset is None else DataLoader(dataset, batch_size=self.batch_size, num_workers=0)

    def val_dataloader(self) -> DataLoader | list:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader | list:
        return self._eval_loader(self.test_set)

    def make_batch(self, images: Tensor, *, seed: int | None = None) -> dict[str, Tensor]:
        """uint8 crops -> ``{"image", "label"}`` on their device (``eval_synth`` seeded by a ``seed``)."""
        if seed is None:
            x, y = self.synth(images.float() / 255.0, generator=self._generator)
        else:
            x, y = self.eval_synth(images.float() / 255.0, generator=torch.Generator().manual_seed(int(seed)))
        return {"image": x, "label": y}

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        training = self.trainer is not None and self.trainer.training
        if training:
            return self.make_batch(batch["image"])
        # Evaluation: the seed follows the first sample's index, so each batch is the same every time.
        return self.make_batch(batch["image"], seed=self.seed * 1_000_003 + int(batch["index"][0]))
