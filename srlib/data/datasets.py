"""Image datasets: HR patches for on-the-fly degradation, LR/HR pairs, and whole benchmark images.

Datasets stay on the CPU and return ``uint8`` tensors; the DataModule turns them into float LR/HR
pairs on the batch's device (see :mod:`srlib.data.datamodules`).

Setting up a dataset from files follows the same steps everywhere, so a bad file among thousands is
reported before training starts, together with every other bad file:

1. list the folder(s) (an empty folder is an error naming it) and, for pairs, match LR to HR files by
   name (every unmatched file listed in one error);
2. read every header (no decoding): unreadable files, pairs whose sizes are not ``scale`` apart and
   images smaller than the patch are reported together;
3. decode once: into an in-memory ``uint8`` cache when the decoded pixels fit in ``memory_budget``
   (estimated from the headers), otherwise into pre-extracted sub-images on disk
   (:mod:`srlib.data.subimages`) from which patches are cropped. Files that fail to decode (truncated)
   are reported together. Conversions (gray, 16-bit, palette, CMYK, alpha) are those of
   :func:`~srlib.io.images.read_image`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from srlib.data.subimages import (
    DEFAULT_MEMORY_BUDGET,
    SubimageStore,
    decode_images,
    estimate_decoded_bytes,
    extract_subimages,
    format_bytes,
    parse_bytes,
)
from srlib.io.images import format_problems, list_images, read_headers, read_image, scan_images
from srlib.metrics.protocol import modcrop

__all__ = [
    "CACHE_MODES",
    "BenchmarkDataset",
    "HRPatchDataset",
    "PairedImageDataset",
    "PairedPatchDataset",
    "match_pairs",
    "random_augment",
]

log = logging.getLogger(__name__)

CACHE_MODES = ("auto", "memory", "subimages")
_RAND_HIGH = 2**62  # one draw gives the top, left and flips of an item (modulo bias < 1e-15)

PathLike = str | os.PathLike
Folders = PathLike | Sequence[PathLike]


def random_augment(*images: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
    """Apply the same random horizontal flip, vertical flip and 90° rotation to every image.

    Shape:
        - images: ``(C, H, W)`` each (same H, W up to a common scale); outputs alike.
    """
    flips = torch.randint(0, 2, (3,), generator=generator).tolist()
    code = flips[0] | (flips[1] << 1) | (flips[2] << 2)
    return tuple(_apply_flips(img, code) for img in images)


def _apply_flips(img: Tensor, code: int) -> Tensor:
    """Bit 0: horizontal flip, bit 1: vertical flip, bit 2: transpose (with the flips: the 8 rot/flips)."""
    if code & 3 == 3:
        img = img.flip((-2, -1))
    elif code & 1:
        img = img.flip(-1)
    elif code & 2:
        img = img.flip(-2)
    if code & 4:
        img = img.transpose(-1, -2)
    return img


def _as_folders(folders: Folders) -> list[Path]:
    if isinstance(folders, (str, os.PathLike)):
        return [Path(folders)]
    return [Path(f) for f in folders]


def _select_files(
    paths: Sequence, files: Collection[PathLike] | None, where: str, key: Callable | None = None
) -> list:
    """The entries of ``paths`` whose file (``key(entry)``) is one of ``files``; all of them for ``None``.

    Files compare by resolved path, so ``photos/a.png`` and ``./photos/a.png`` are the same file. A
    requested file that is not among ``paths`` is an error, not silently dropped.
    """
    if files is None:
        return list(paths)
    key = key or (lambda entry: entry)
    wanted = {Path(f).resolve() for f in files}
    kept = [entry for entry in paths if Path(key(entry)).resolve() in wanted]
    found = {Path(key(entry)).resolve() for entry in kept}
    missing = sorted(str(f) for f in wanted - found)
    if missing:
        raise ValueError(
            f"{len(missing)} of the requested files are not images of {where}: {', '.join(missing[:10])}. "
            "Pass files from those folders (as list_images() lists them)."
        )
    if not kept:
        raise ValueError(f"No files of {where} were selected (files= is empty); pass at least one file.")
    return kept


def _read_sizes(paths: Sequence[Path]) -> tuple[dict[Path, tuple[int, int]], list[str]]:
    """``path -> (width, height)`` of the readable files, plus a line for every bad one."""
    headers, problems = read_headers(paths)
    return {h.path: (h.width, h.height) for h in headers}, problems


def _check_cache_args(cache: str, patch_size: int, subimage_size: int | None) -> None:
    if cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}.")
    if subimage_size is not None and subimage_size < patch_size:
        raise ValueError(
            f"subimage_size {subimage_size} is smaller than the {patch_size}px patch; "
            f"use subimage_size >= {patch_size} (480 is the DIV2K convention)."
        )


def _use_memory(cache: str, needed: int, memory_budget: int | str, what: str) -> bool:
    budget = parse_bytes(memory_budget)
    if cache == "memory":
        return True
    if cache == "subimages":
        return False
    fits = needed <= budget
    log.info(
        "%s: %s decoded, memory budget %s -> %s",
        what,
        format_bytes(needed),
        format_bytes(budget),
        "in-memory cache" if fits else "sub-images on disk",
    )
    return fits


def _draw(n: int) -> list[list[int]]:
    return torch.randint(0, _RAND_HIGH, (n, 3)).tolist()


class HRPatchDataset(Dataset):
    """Random HR patches from decoded-once images, for degradation on the device.

    The images are decoded once, into an in-memory ``uint8`` cache or into sub-images on disk (see
    :meth:`from_folder`); each item is a random ``patch_size`` crop (a multiple of ``scale``, at offsets
    aligned to ``scale``) with random flips/rot90. Randomness comes from torch's RNG, which Lightning
    seeds per worker. A DataLoader with a batch size fetches a whole batch at once
    (``__getitems__``: one random draw per batch instead of several per patch).

    Args:
        images: ``(name, (3, H, W) uint8 tensor)`` pairs, or a
            :class:`~srlib.data.subimages.SubimageStore` (see :meth:`from_folder`).
        scale: SR scale; ``patch_size`` must be divisible by it.
        patch_size: HR patch side in pixels.
        augment: random flips and 90° rotations.
        samples_per_epoch: length of an epoch (default: one patch per image or sub-image).

    Shape:
        - item ``"hr"``: ``(3, patch_size, patch_size)`` uint8.

    Example:
        >>> ds = HRPatchDataset([("a", torch.zeros(3, 64, 64, dtype=torch.uint8))], scale=2, patch_size=32)
        >>> ds[0]["hr"].shape
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        images: Sequence[tuple[str, Tensor]] | SubimageStore,
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
        if not len(images):
            raise ValueError("HRPatchDataset got no images.")
        if isinstance(images, SubimageStore):
            self.store: SubimageStore | None = images
            self.names = [item.name for item in images]
            self.images: Sequence = images
            sizes = [(item.height, item.width) for item in images]
        else:
            self.store = None
            self.names = [n for n, _ in images]
            self.images = [t.contiguous() for _, t in images]
            sizes = [tuple(t.shape[-2:]) for t in self.images]
        small = [
            f"{n} ({w}x{h})" for n, (h, w) in zip(self.names, sizes, strict=True) if min(h, w) < patch_size
        ]
        if small:
            raise ValueError(
                f"{len(small)} image(s) are smaller than the {patch_size}px patch: {', '.join(small[:10])}. "
                "Lower data.patch_size or remove those images."
            )
        self.scale, self.patch_size, self.augment = int(scale), int(patch_size), augment
        # Number of scale-aligned offsets per image, precomputed for the per-item fast path.
        s, p = self.scale, self.patch_size
        self._offsets = [((h - p) // s + 1, (w - p) // s + 1) for h, w in sizes]
        self.samples_per_epoch = int(samples_per_epoch or len(self.images))

    @classmethod
    def from_folder(
        cls,
        folder: Folders,
        *,
        scale: int,
        patch_size: int,
        augment: bool = True,
        samples_per_epoch: int | None = None,
        skip_small: bool = False,
        cache: str = "auto",
        memory_budget: int | str = DEFAULT_MEMORY_BUDGET,
        cache_dir: PathLike | None = None,
        subimage_size: int | None = 480,
        subimage_step: int = 240,
        subimage_format: str = "npy",
        workers: int | None = None,
        decode: bool = True,
        files: Collection[PathLike] | None = None,
    ) -> HRPatchDataset | None:
        """Scan every header (all bad files reported at once), then decode each image once.

        Args:
            folder: a folder of images, or several (their images are pooled).
            scale, patch_size, augment, samples_per_epoch: see the class.
            skip_small: leave out images smaller than the patch (with a warning) instead of failing.
            cache: ``"auto"`` (memory when the decoded images fit in ``memory_budget``, else
                sub-images), ``"memory"`` or ``"subimages"``.
            memory_budget: bytes (or ``"4GiB"``) of decoded pixels allowed in memory.
            cache_dir: sub-image cache root (default ``<srlib data dir>/subimages``).
            subimage_size: HR sub-image side (``None``: whole images, ``"npy"`` only).
            subimage_step: distance between sub-images.
            subimage_format: ``"png"`` or ``"npy"`` (see :mod:`srlib.data.subimages`).
            workers: decoding threads (default: up to 8).
            decode: ``False`` only checks the files and fills the sub-image cache when it will be used
                (what a DataModule's ``prepare_data`` does), returning ``None``.
            files: use only these images of the folder(s) (``None``: all of them), e.g. to hold some
                out for validation. Only they are scanned, decoded or cut into sub-images: the sub-image
                cache is kept per source file, so a cache filled from the whole folder is reused for
                exactly the selected files.

        Raises:
            FileNotFoundError: a folder is missing.
            ValueError: an empty folder; unreadable, undecodable or too small images (all listed);
                ``files`` outside the folders.
        """
        _check_cache_args(cache, patch_size, subimage_size)
        folders = _as_folders(folder)
        paths = [p for f in folders for p in list_images(f)]
        paths = _select_files(paths, files, ", ".join(map(str, folders)))
        sizes, problems = _read_sizes(paths)
        small = [p for p in paths if p in sizes and min(sizes[p]) < patch_size]
        if not skip_small:
            problems += [
                f"  {p}: {sizes[p][0]}x{sizes[p][1]} is smaller than the {patch_size}px patch" for p in small
            ]
        if problems:
            raise ValueError(
                f"{len(problems)} problem file(s) found while scanning the images:\n"
                + format_problems(problems)
                + "\nRemove or re-export these files, or lower the patch size (data.patch_size=N on the "
                "command line, N a multiple of the scale), or leave out the small images "
                "(data.skip_small=true on the command line, skip_small=True in Python), and run again."
            )
        if small:
            log.warning(
                "Leaving out %d of %d image(s) smaller than the %dpx patch (keep them with a smaller "
                "data.patch_size=N): %s",
                len(small),
                len(paths),
                patch_size,
                ", ".join(p.name for p in small[:20]),
            )
            dropped = set(small)
            paths = [p for p in paths if p not in dropped]
        if not paths:
            raise ValueError(
                f"Every image in {', '.join(map(str, folders))} is smaller than the "
                f"{patch_size}px patch; lower patch_size."
            )
        headers = [sizes[p] for p in paths]
        where = ", ".join(map(str, folders))
        kwargs = {"scale": scale, "patch_size": patch_size, "augment": augment}
        kwargs["samples_per_epoch"] = samples_per_epoch
        if _use_memory(cache, estimate_decoded_bytes(headers), memory_budget, where):
            if not decode:
                return None
            log.info("Decoding %d images from %s into memory", len(paths), where)
            decoded = decode_images(paths, workers=workers)
            return cls([(p.stem, t) for p, t in zip(paths, decoded, strict=True)], **kwargs)
        store = extract_subimages(
            paths,
            cache_dir=cache_dir,
            scale=scale,
            crop_size=subimage_size,
            step=subimage_step,
            fmt=subimage_format,
            workers=workers,
        )
        return cls(store, **kwargs) if decode else None

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _item(self, index: int, rand: list[int]) -> dict:
        i = index % len(self.images)
        s, p = self.scale, self.patch_size
        n_top, n_left = self._offsets[i]
        top, left = (rand[0] % n_top) * s, (rand[1] % n_left) * s
        if self.store is None:
            patch = self.images[i][:, top : top + p, left : left + p]
        else:
            patch = self.store.crop(i, top, left, p)
        if self.augment:
            patch = _apply_flips(patch, rand[2] & 7)
        return {"hr": patch.contiguous(), "name": self.names[i]}

    def __getitem__(self, index: int) -> dict:
        return self._item(index, _draw(1)[0])

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """A whole batch (what a batched DataLoader calls): one random draw for all of it."""
        return [self._item(i, r) for i, r in zip(indices, _draw(len(indices)), strict=True)]


# ----------------------------------------------------------------------------- pairs
def match_pairs(
    lr_dir: PathLike,
    hr_dir: PathLike,
    *,
    scale: int,
    lr_suffix: str | None = None,
    strict: bool = True,
) -> list[tuple[Path, Path]]:
    """Match the LR files of ``lr_dir`` with the HR files of ``hr_dir`` by name.

    An HR file ``NAME.ext`` matches the LR file with the same stem (``NAME.*``) or, by default, the
    DIV2K/EDSR convention with ``x{scale}`` appended (``0001.png`` <-> ``0001x4.png``). Extensions may
    differ; stems compare case-insensitively.

    Args:
        lr_dir: folder of LR images.
        hr_dir: folder of HR images.
        scale: SR scale (fills ``{scale}`` in the suffix).
        lr_suffix: the LR stem suffix to expect instead (e.g. ``"_LR"`` or ``"x{scale}"``; ``""``
            for identical names only); ``None`` accepts both identical names and ``x{scale}``.
        strict: raise when files are unmatched; ``False`` logs them and keeps the matched pairs.

    Returns:
        ``(lr_path, hr_path)`` pairs in HR name order.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: an empty folder; unmatched files (all listed, ``strict=True``), an ambiguous match,
            or no pair at all.

    Example:
        >>> # hr/0001.png + lr/0001x4.png  ->  [(lr/0001x4.png, hr/0001.png)]
    """
    lr_dir, hr_dir = Path(lr_dir), Path(hr_dir)
    lr_files, hr_files = list_images(lr_dir), list_images(hr_dir)
    suffixes = ["", f"x{scale}"] if lr_suffix is None else [lr_suffix.format(scale=scale)]
    by_stem: dict[str, list[Path]] = {}
    for p in lr_files:
        by_stem.setdefault(p.stem.lower(), []).append(p)
    pairs, problems, hr_unmatched, used = [], [], [], set()
    for hr in hr_files:
        found = [p for suf in suffixes for p in by_stem.get((hr.stem + suf).lower(), [])]
        if len(found) == 1:
            pairs.append((found[0], hr))
            used.add(found[0])
        elif not found:
            hr_unmatched.append(hr)
        else:
            problems.append(
                f"  {hr}: several LR files match ({', '.join(p.name for p in found)}); keep one, "
                "or set lr_suffix= to the naming you use."
            )
    lr_unmatched = [p for p in lr_files if p not in used]
    if problems:
        raise ValueError(
            f"Ambiguous LR/HR matches between {lr_dir} and {hr_dir}:\n" + format_problems(problems)
        )
    expected = " or ".join(f"'{{stem}}{s}'" for s in suffixes)
    if hr_unmatched or lr_unmatched:
        lines = []
        if hr_unmatched:
            lines.append(
                f"  {len(hr_unmatched)} HR file(s) in {hr_dir} have no LR file ({expected} in {lr_dir}):"
            )
            lines.append(format_problems([f"    {p.name}" for p in hr_unmatched]))
        if lr_unmatched:
            lines.append(f"  {len(lr_unmatched)} LR file(s) in {lr_dir} match no HR file in {hr_dir}:")
            lines.append(format_problems([f"    {p.name}" for p in lr_unmatched]))
        report = "\n".join(lines)
        if strict or not pairs:
            raise ValueError(
                f"Could not pair every LR file with an HR file (LR stems must be the HR stem + {expected}):\n"
                f"{report}\nAdd or rename the missing files, set lr_suffix= to your naming, or pass "
                f"strict=False to train on the {len(pairs)} matched pair(s) only."
            )
        log.warning("Skipping unmatched files (strict=True):\n%s", report)
    return pairs


def _pair_region(lr_size: tuple[int, int], hr_size: tuple[int, int], scale: int) -> tuple[int, int] | None:
    """The usable LR ``(width, height)`` of a pair, or ``None`` when the sizes are not ``scale`` apart.

    Each LR side may be the HR side divided by the scale rounded down or up (MATLAB's imresize rounds
    up); the pair is then cropped to the common region (LR ``floor(HR/scale)``, HR ``scale`` x that).
    """
    out = []
    for lr_side, hr_side in zip(lr_size, hr_size, strict=True):
        if lr_side not in (hr_side // scale, math.ceil(hr_side / scale)):
            return None
        out.append(min(lr_side, hr_side // scale))
    return out[0], out[1]


def _match_folders(
    lr_dirs: list[Path],
    hr_dirs: list[Path],
    *,
    scale: int,
    lr_suffix: str | None,
    strict: bool,
    files: Collection[PathLike] | None,
) -> list[tuple[Path, Path]]:
    """:func:`match_pairs` over folder pairs, pooled, then restricted to the pairs of the HR ``files``."""
    if len(lr_dirs) != len(hr_dirs):
        raise ValueError(f"Got {len(lr_dirs)} LR folder(s) for {len(hr_dirs)} HR folder(s); pass one per HR.")
    pairs = [
        pair
        for lr, hr in zip(lr_dirs, hr_dirs, strict=True)
        for pair in match_pairs(lr, hr, scale=scale, lr_suffix=lr_suffix, strict=strict)
    ]
    where = "the matched pairs of " + ", ".join(map(str, hr_dirs))
    return _select_files(pairs, files, where, key=lambda pair: pair[1])


def _scan_pairs(
    pairs: Sequence[tuple[Path, Path]], *, scale: int, patch_size: int, skip_small: bool
) -> tuple[list[tuple[Path, Path]], int]:
    """Header-check every pair: unreadable files, sizes not ``scale`` apart, too small (all reported).

    Returns the pairs kept and the decoded bytes they need.
    """
    sizes, problems = _read_sizes([p for pair in pairs for p in pair])
    kept, small, needed = [], [], 0
    q = patch_size // scale
    for lr, hr in pairs:
        if lr not in sizes or hr not in sizes:
            continue
        (lw, lh), (hw, hh) = sizes[lr], sizes[hr]
        region = _pair_region((lw, lh), (hw, hh), scale)
        if region is None:
            problems.append(
                f"  {lr} ({lw}x{lh}) and {hr} ({hw}x{hh}): not a x{scale} pair (the LR of a {hw}x{hh} HR "
                f"image is {hw // scale}x{hh // scale}); fix or remove the pair, or check scale="
            )
            continue
        if min(region) < q:
            line = (
                f"  {lr} / {hr}: {region[0] * scale}x{region[1] * scale} (HR) is smaller than the "
                f"{patch_size}px patch"
            )
            (small if skip_small else problems).append(line)
            continue
        kept.append((lr, hr))
        needed += estimate_decoded_bytes([(lw, lh), (hw, hh)])
    if problems:
        raise ValueError(
            f"{len(problems)} problem(s) found while scanning the LR/HR pairs:\n"
            + format_problems(problems)
            + "\nRemove or re-export these files (or lower the patch size: data.patch_size=N on the command "
            "line; or leave small pairs out: data.skip_small=true) and run again."
        )
    if small:
        log.warning(
            "Leaving out %d of %d pair(s) smaller than the patch "
            "(keep them with a smaller data.patch_size=N):\n%s",
            len(small),
            len(pairs),
            format_problems(small),
        )
    if not kept:
        raise ValueError(f"Every LR/HR pair is smaller than the {patch_size}px patch; lower patch_size.")
    return kept, needed


class PairedPatchDataset(Dataset):
    """Random aligned LR/HR patches from paired images (LR made by someone else: camera, codec, MATLAB).

    The LR patch of side ``patch_size / scale`` is cropped at ``(t, l)`` and the HR patch at
    ``(t * scale, l * scale)``; the same flips/rot90 are applied to both. Batches carry ``"lr"``, so
    the DataModule does not degrade them.

    Args:
        pairs: ``(name, (3, h, w) LR uint8, (3, h*scale, w*scale) HR uint8)`` triples (an HR image
            larger than ``scale`` x its LR is cropped at the bottom/right), or a paired
            :class:`~srlib.data.subimages.SubimageStore` (see :meth:`from_folders`).
        scale: SR scale; ``patch_size`` must be divisible by it.
        patch_size: HR patch side in pixels.
        augment: random flips and 90° rotations (identical for LR and HR).
        samples_per_epoch: length of an epoch (default: one patch per pair or sub-image).

    Shape:
        - item ``"lr"``: ``(3, patch_size / scale, patch_size / scale)`` uint8;
          ``"hr"``: ``(3, patch_size, patch_size)`` uint8.

    Example:
        >>> hr = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
        >>> ds = PairedPatchDataset([("a", hr[:, ::2, ::2], hr)], scale=2, patch_size=32)
        >>> ds[0]["lr"].shape, ds[0]["hr"].shape
        (torch.Size([3, 16, 16]), torch.Size([3, 32, 32]))
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, Tensor, Tensor]] | SubimageStore,
        *,
        scale: int,
        patch_size: int,
        augment: bool = True,
        samples_per_epoch: int | None = None,
    ) -> None:
        scale, patch_size = int(scale), int(patch_size)
        if patch_size % scale:
            raise ValueError(
                f"patch_size {patch_size} is not a multiple of scale {scale}; "
                f"use e.g. {patch_size // scale * scale}."
            )
        if not len(pairs):
            raise ValueError("PairedPatchDataset got no pairs.")
        q = patch_size // scale
        if isinstance(pairs, SubimageStore):
            if not pairs.paired or pairs.scale != scale:
                raise ValueError(f"The sub-image store is not a x{scale} LR/HR store.")
            self.store: SubimageStore | None = pairs
            self.names = [item.name for item in pairs]
            self.lr_images: Sequence = pairs
            self.hr_images: Sequence = pairs
            lr_sizes = [(item.height // scale, item.width // scale) for item in pairs]
        else:
            self.store = None
            self.names, self.lr_images, self.hr_images, lr_sizes, bad = [], [], [], [], []
            for name, lr, hr in pairs:
                region = _pair_region((lr.shape[-1], lr.shape[-2]), (hr.shape[-1], hr.shape[-2]), scale)
                if region is None:
                    bad.append(f"{name} (LR {lr.shape[-1]}x{lr.shape[-2]}, HR {hr.shape[-1]}x{hr.shape[-2]})")
                    continue
                w, h = region
                self.names.append(name)
                self.lr_images.append(lr[:, :h, :w].contiguous())
                self.hr_images.append(hr[:, : h * scale, : w * scale].contiguous())
                lr_sizes.append((h, w))
            if bad:
                raise ValueError(f"{len(bad)} pair(s) are not x{scale} apart: {', '.join(bad[:10])}.")
        small = [f"{n} (LR {w}x{h})" for n, (h, w) in zip(self.names, lr_sizes, strict=True) if min(h, w) < q]
        if small:
            raise ValueError(
                f"{len(small)} pair(s) are smaller than the {patch_size}px HR patch ({q}px LR): "
                f"{', '.join(small[:10])}. Lower data.patch_size or remove those pairs."
            )
        self.scale, self.patch_size, self.augment = scale, patch_size, augment
        self._offsets = [(h - q + 1, w - q + 1) for h, w in lr_sizes]
        self.samples_per_epoch = int(samples_per_epoch or len(self.names))

    @classmethod
    def from_folders(
        cls,
        lr_dir: Folders,
        hr_dir: Folders,
        *,
        scale: int,
        patch_size: int,
        augment: bool = True,
        samples_per_epoch: int | None = None,
        lr_suffix: str | None = None,
        strict: bool = True,
        skip_small: bool = False,
        cache: str = "auto",
        memory_budget: int | str = DEFAULT_MEMORY_BUDGET,
        cache_dir: PathLike | None = None,
        subimage_size: int | None = 480,
        subimage_step: int = 240,
        subimage_format: str = "npy",
        workers: int | None = None,
        decode: bool = True,
        files: Collection[PathLike] | None = None,
    ) -> PairedPatchDataset | None:
        """Match, header-check and decode LR/HR folder pairs (every problem reported at setup).

        Args:
            lr_dir: LR folder, or several (one per ``hr_dir`` entry, same order).
            hr_dir: HR folder, or several.
            lr_suffix, strict: see :func:`match_pairs`.
            skip_small: leave out pairs smaller than the patch (with a warning) instead of failing.
            files: use only the pairs whose HR file is one of these (``None``: all pairs); see
                :meth:`HRPatchDataset.from_folder`.
            Others: see :meth:`HRPatchDataset.from_folder` (the memory estimate counts LR and HR;
                ``decode=False`` only checks and fills the sub-image cache, returning ``None``).

        Raises:
            FileNotFoundError: a folder is missing.
            ValueError: empty folders, unmatched files, unreadable or undecodable files, pairs whose
                sizes are not ``scale`` apart (naming both files), pairs smaller than the patch;
                ``files`` that are not HR files of matched pairs.
        """
        _check_cache_args(cache, patch_size, subimage_size)
        lr_dirs, hr_dirs = _as_folders(lr_dir), _as_folders(hr_dir)
        pairs = _match_folders(lr_dirs, hr_dirs, scale=scale, lr_suffix=lr_suffix, strict=strict, files=files)
        pairs, needed = _scan_pairs(pairs, scale=scale, patch_size=patch_size, skip_small=skip_small)
        kwargs = {"scale": scale, "patch_size": patch_size, "augment": augment}
        kwargs["samples_per_epoch"] = samples_per_epoch
        where = ", ".join(f"{lr} + {hr}" for lr, hr in zip(lr_dirs, hr_dirs, strict=True))
        if _use_memory(cache, needed, memory_budget, where):
            if not decode:
                return None
            log.info("Decoding %d LR/HR pairs from %s into memory", len(pairs), where)
            decoded = decode_images([p for pair in pairs for p in pair], workers=workers)
            triples = [(hr.stem, decoded[2 * k], decoded[2 * k + 1]) for k, (_, hr) in enumerate(pairs)]
            return cls(triples, **kwargs)
        store = extract_subimages(
            [hr for _, hr in pairs],
            [lr for lr, _ in pairs],
            cache_dir=cache_dir,
            scale=scale,
            crop_size=subimage_size,
            step=subimage_step,
            fmt=subimage_format,
            workers=workers,
        )
        return cls(store, **kwargs) if decode else None

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _item(self, index: int, rand: list[int]) -> dict:
        i = index % len(self.names)
        s, p = self.scale, self.patch_size
        q = p // s
        n_top, n_left = self._offsets[i]
        top, left = rand[0] % n_top, rand[1] % n_left
        if self.store is None:
            lr = self.lr_images[i][:, top : top + q, left : left + q]
            hr = self.hr_images[i][:, top * s : top * s + p, left * s : left * s + p]
        else:
            lr = self.store.crop(i, top, left, q, lr=True)
            hr = self.store.crop(i, top * s, left * s, p)
        if self.augment:
            code = rand[2] & 7
            lr, hr = _apply_flips(lr, code), _apply_flips(hr, code)
        return {"lr": lr.contiguous(), "hr": hr.contiguous(), "name": self.names[i]}

    def __getitem__(self, index: int) -> dict:
        return self._item(index, _draw(1)[0])

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """A whole batch (what a batched DataLoader calls): one random draw for all of it."""
        return [self._item(i, r) for i, r in zip(indices, _draw(len(indices)), strict=True)]


class PairedImageDataset(Dataset):
    """Whole LR/HR image pairs for validation (batch size 1); the HR is cropped to ``scale`` x the LR.

    A gray HR image keeps one channel (the metrics compare gray values); LR images are RGB.

    Args:
        pairs: ``(name, (3, h, w) LR uint8, (C, ~h*scale, ~w*scale) HR uint8)`` triples.
        scale: SR scale.

    Shape:
        - item ``"lr"``: ``(3, h, w)``; ``"hr"``: ``(C, h*scale, w*scale)``, both uint8.
    """

    def __init__(self, pairs: Sequence[tuple[str, Tensor, Tensor]], *, scale: int) -> None:
        if not pairs:
            raise ValueError("PairedImageDataset got no pairs.")
        self.scale = int(scale)
        self.names, self.lr_images, self.hr_images, bad = [], [], [], []
        for name, lr, hr in pairs:
            region = _pair_region((lr.shape[-1], lr.shape[-2]), (hr.shape[-1], hr.shape[-2]), self.scale)
            if region is None:
                bad.append(f"{name} (LR {lr.shape[-1]}x{lr.shape[-2]}, HR {hr.shape[-1]}x{hr.shape[-2]})")
                continue
            w, h = region
            self.names.append(name)
            self.lr_images.append(lr[:, :h, :w])
            self.hr_images.append(hr[:, : h * self.scale, : w * self.scale])
        if bad:
            raise ValueError(f"{len(bad)} pair(s) are not x{self.scale} apart: {', '.join(bad[:10])}.")

    @classmethod
    def from_folders(
        cls,
        lr_dir: Folders,
        hr_dir: Folders,
        *,
        scale: int,
        lr_suffix: str | None = None,
        strict: bool = True,
        files: Collection[PathLike] | None = None,
    ) -> PairedImageDataset:
        """Match and check the pairs (every problem reported at once), then decode them.

        Args:
            lr_dir: LR folder, or several (one per ``hr_dir`` entry, same order).
            hr_dir: HR folder, or several (their pairs are pooled).
            scale: SR scale.
            lr_suffix, strict: see :func:`match_pairs`.
            files: use only the pairs whose HR file is one of these (``None``: all pairs).
        """
        pairs = _match_folders(
            _as_folders(lr_dir),
            _as_folders(hr_dir),
            scale=scale,
            lr_suffix=lr_suffix,
            strict=strict,
            files=files,
        )
        pairs, _ = _scan_pairs(pairs, scale=scale, patch_size=scale, skip_small=False)
        lrs = decode_images([lr for lr, _ in pairs])
        hrs = decode_images([hr for _, hr in pairs], reader=lambda p: read_image(p, channels="keep"))
        return cls([(hr.stem, a, b) for (_, hr), a, b in zip(pairs, lrs, hrs, strict=True)], scale=scale)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        return {"lr": self.lr_images[index], "hr": self.hr_images[index], "name": self.names[index]}


class BenchmarkDataset(Dataset):
    """Whole ground-truth images of a test set, modcropped to the scale (batch size 1).

    Gray images keep one channel so the metrics compare them on their gray values.

    Args:
        images: ``(name, (C, H, W) uint8 tensor)`` pairs (see :meth:`from_folder`).
        scale: SR scale; images are cropped to a multiple of it.

    Shape:
        - item ``"hr"``: ``(C, H - H % scale, W - W % scale)`` uint8.
    """

    def __init__(self, images: Sequence[tuple[str, Tensor]], *, scale: int) -> None:
        if not images:
            raise ValueError("BenchmarkDataset got no images.")
        self.scale = int(scale)
        self.names = [n for n, _ in images]
        self.images = [modcrop(t, self.scale) for _, t in images]

    @classmethod
    def from_folder(
        cls, folder: Folders, *, scale: int, files: Collection[PathLike] | None = None
    ) -> BenchmarkDataset:
        """Load every image of ``folder`` (bad files reported together before decoding).

        Args:
            folder: a folder of images, or several (their images are pooled).
            scale: SR scale.
            files: load only these images of the folder(s) (``None``: all of them).
        """
        folders = _as_folders(folder)
        paths = [p for f in folders for p in list_images(f)]
        paths = _select_files(paths, files, ", ".join(map(str, folders)))
        scan_images(paths, min_size=scale)
        images = decode_images(paths, reader=lambda p: read_image(p, channels="keep"))
        return cls([(p.stem, t) for p, t in zip(paths, images, strict=True)], scale=scale)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"hr": self.images[index], "name": self.names[index]}
