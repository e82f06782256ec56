"""Training-patch throughput of srlib's image loader beside a naive decode-per-patch loader.

Usage::

    python benchmarks/bench_dataloader.py [--root ../shared/data/T91] [--patch 96] [--scale 4]
        [--batch 32] [--workers 2] [--batches 200] [--epochs 5] [--subimages]

Both loaders run in the same process with the same DataLoader settings (shuffle, drop_last, persistent
workers, ``--workers`` processes) and ``--batches`` batches per epoch. One untimed warm-up epoch each
(worker start-up, srlib's one-time decoding), then ``--epochs`` timed epochs, alternating between the
loaders so a change in machine load hits both alike. Prints patches/s (median over the timed epochs)
of each loader and their ratio, and the load average before and after.

* ``srlib``: :class:`srlib.data.T91DataModule`'s training loader (``root=``, ``skip_small=True``
  because T91's t20 is 78x78): images decoded once into memory, a batch fetched per worker call.
* ``naive``: a Dataset that opens and decodes the image file with PIL for every patch, crops it and
  flips it (the straightforward way).
* with ``--subimages``: srlib's sub-image cache (used when a set exceeds the memory budget), in PNG and
  in ``.npy``, extracted into a temporary folder first (extraction time printed, not timed in patches/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from srlib.data import HRPatchDataset, T91DataModule, list_images, random_augment, training_loader

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "T91"


class NaivePatchDataset(Dataset):
    """Open + decode the file with PIL for every patch, crop at a scale-aligned offset, flip."""

    def __init__(self, paths: list[Path], *, scale: int, patch_size: int, length: int) -> None:
        self.paths, self.scale, self.patch_size, self.length = paths, scale, patch_size, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index % len(self.paths)]
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
        s, p = self.scale, self.patch_size
        h, w = array.shape[:2]
        top = int(torch.randint(0, (h - p) // s + 1, ())) * s
        left = int(torch.randint(0, (w - p) // s + 1, ())) * s
        patch = torch.from_numpy(np.ascontiguousarray(array[top : top + p, left : left + p])).permute(2, 0, 1)
        (patch,) = random_augment(patch)
        return {"hr": patch.contiguous(), "name": path.stem}


def epoch_rate(dl: DataLoader, patch: int) -> float:
    """Patches per second over one pass of ``dl`` (checks every batch's shape)."""
    n, start = 0, time.perf_counter()
    for batch in dl:
        hr = batch["hr"]
        if hr.shape[1:] != (3, patch, patch) or hr.dtype != torch.uint8:
            raise RuntimeError(f"unexpected batch {tuple(hr.shape)} {hr.dtype}")
        n += hr.shape[0]
    return n / (time.perf_counter() - start)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder of HR images (T91)")
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=200, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per loader")
    parser.add_argument("--subimages", action="store_true", help="also time the sub-image cache (png, npy)")
    args = parser.parse_args()
    if not args.root.is_dir():
        raise SystemExit(f"{args.root} is not a folder of images; pass --root.")

    print(
        f"load average before: {load()}  (cpus: {os.cpu_count()}, torch threads: {torch.get_num_threads()})"
    )
    length = args.batch * args.batches
    dm = T91DataModule(
        root=args.root,
        scale=args.scale,
        patch_size=args.patch,
        batch_size=args.batch,
        num_workers=args.workers,
        samples_per_epoch=length,
        skip_small=True,
        cache="memory",
    )
    start = time.perf_counter()
    dm.setup("fit")
    print(f"srlib setup (header scan + decode once): {time.perf_counter() - start:.2f} s")
    paths = [p for p in list_images(args.root) if min(Image.open(p).size) >= args.patch]
    loaders = {
        "srlib": dm.train_dataloader(),
        "naive": training_loader(
            NaivePatchDataset(paths, scale=args.scale, patch_size=args.patch, length=length),
            args.batch,
            args.workers,
        ),
    }
    tmp = None
    if args.subimages:
        tmp = tempfile.TemporaryDirectory(prefix="srlib-bench-subimages-")
        for fmt in ("png", "npy"):
            start = time.perf_counter()
            ds = HRPatchDataset.from_folder(
                args.root,
                scale=args.scale,
                patch_size=args.patch,
                samples_per_epoch=length,
                skip_small=True,
                cache="subimages",
                cache_dir=tmp.name,
                subimage_format=fmt,
            )
            print(
                f"sub-image extraction ({fmt}): {time.perf_counter() - start:.2f} s, {len(ds.images)} crops"
            )
            loaders[f"srlib-subimages-{fmt}"] = training_loader(ds, args.batch, args.workers)

    rates: dict[str, list[float]] = {name: [] for name in loaders}
    for dl in loaders.values():
        epoch_rate(dl, args.patch)  # warm-up: worker start-up
    for _ in range(args.epochs):
        for name, dl in loaders.items():
            rates[name].append(epoch_rate(dl, args.patch))

    print(
        f"{args.patch}x{args.patch} HR patches (x{args.scale}), batch {args.batch}, {args.workers} workers, "
        f"{args.batches} batches/epoch, median of {args.epochs} epochs after 1 warm-up:"
    )
    for name, values in rates.items():
        per_epoch = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:24s} {statistics.median(values):9.0f} patches/s   (epochs: {per_epoch})")
    ratio = statistics.median(rates["srlib"]) / statistics.median(rates["naive"])
    print(f"  srlib / naive: {ratio:.2f}x")
    print(f"load average after: {load()}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
