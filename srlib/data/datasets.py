"""Image datasets: HR patches for on-the-fly degradation, and whole benchmark images.

Datasets stay on the CPU and return ``uint8`` tensors; the DataModule turns them into float LR/HR
pairs on the batch's device (see :mod:`srlib.data.datamodules`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from srlib.data.image_io import list_images, read_image, scan_images
from srlib.metrics.protocol import modcrop

__all__ = ["BenchmarkDataset", "HRPatchDataset", "random_augment"]

log = logging.getLogger(__name__)


def random_augment(*images: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
    """Apply the same random horizontal flip, vertical flip and 90° rotation to every image.

    Shape:
        - images: ``(C, H, W)`` each (same H, W up to a common scale); outputs alike.
    """
    flips = torch.randint(0, 2, (3,), generator=generator).tolist()
    out = []
    for img in images:
        if flips[0]:
            img = img.flip(-1)
        if flips[1]:
            img = img.flip(-2)
        if flips[2]:
            img = img.transpose(-1, -2)
        out.append(img)
    return tuple(out)


class HRPatchDataset(Dataset):
    """Random HR patches from decoded-once images, for degradation on the device.

    Every image is decoded once into an in-memory ``uint8`` cache; each item is a random
    ``patch_size`` crop (a multiple of ``scale``, at offsets aligned to ``scale``) with random
    flips/rot90. Randomness comes from torch's RNG, which Lightning seeds per worker.

    Args:
        images: ``(name, (3, H, W) uint8 tensor)`` pairs (see :meth:`from_folder`).
        scale: SR scale; ``patch_size`` must be divisible by it.
        patch_size: HR patch side in pixels.
        augment: random flips and 90° rotations.
        samples_per_epoch: length of an epoch (default: one patch per image).

    Example:
        >>> ds = HRPatchDataset([("a", torch.zeros(3, 64, 64, dtype=torch.uint8))], scale=2, patch_size=32)
        >>> ds[0]["hr"].shape
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        images: Sequence[tuple[str, Tensor]],
        *,
        scale: int,
        patch_size: int,
        augment: bool = True,
        samples_per_epoch: int | None = None,
    ) -> None:
        if patch_size % scale:
            raise ValueError(
                f"patch_size {patch_size} is not a multiple of scale {scale}; "
                f"use e.g. {patch_size // scale * scale}."
            )
        if not images:
            raise ValueError("HRPatchDataset got no images.")
        small = [f"{n} ({t.shape[-1]}x{t.shape[-2]})" for n, t in images if min(t.shape[-2:]) < patch_size]
        if small:
            raise ValueError(
                f"{len(small)} image(s) are smaller than the {patch_size}px patch: {', '.join(small[:10])}. "
                "Lower data.patch_size or remove those images."
            )
        self.names = [n for n, _ in images]
        self.images = [t.contiguous() for _, t in images]
        self.scale, self.patch_size, self.augment = int(scale), int(patch_size), augment
        self.samples_per_epoch = int(samples_per_epoch or len(self.images))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, **kwargs) -> HRPatchDataset:
        """Scan every header first (all bad files reported at once), then decode each image once."""
        paths = list_images(folder)
        scan_images(paths, min_size=kwargs.get("patch_size", 0))
        log.info("Decoding %d images from %s into memory", len(paths), folder)
        return cls([(p.stem, read_image(p)) for p in paths], **kwargs)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict:
        i = index % len(self.images)
        img, s, p = self.images[i], self.scale, self.patch_size
        h, w = img.shape[-2:]
        top = int(torch.randint(0, (h - p) // s + 1, ())) * s
        left = int(torch.randint(0, (w - p) // s + 1, ())) * s
        patch = img[:, top : top + p, left : left + p]
        if self.augment:
            (patch,) = random_augment(patch)
        return {"hr": patch.contiguous(), "name": self.names[i]}


class BenchmarkDataset(Dataset):
    """Whole ground-truth images of a test set, modcropped to the scale (batch size 1).

    Gray images keep one channel so the metrics compare them on their gray values.

    Args:
        images: ``(name, (C, H, W) uint8 tensor)`` pairs (see :meth:`from_folder`).
        scale: SR scale; images are cropped to a multiple of it.
    """

    def __init__(self, images: Sequence[tuple[str, Tensor]], *, scale: int) -> None:
        if not images:
            raise ValueError("BenchmarkDataset got no images.")
        self.scale = int(scale)
        self.names = [n for n, _ in images]
        self.images = [modcrop(t, self.scale) for _, t in images]

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, *, scale: int) -> BenchmarkDataset:
        """Load every image of ``folder`` (bad files reported together before decoding)."""
        paths = list_images(folder)
        scan_images(paths, min_size=scale)
        return cls([(p.stem, read_image(p, channels="keep")) for p in paths], scale=scale)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"hr": self.images[index], "name": self.names[index]}
