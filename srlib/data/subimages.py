"""Pre-extracted sub-images: decode a large image set once, then crop training patches from small files.

When a training set does not fit in the in-memory cache (see :func:`estimate_decoded_bytes` and the
``memory_budget`` of the patch datasets), every source image is cut once into overlapping square crops,
DIV2K-style (480 px crops every 240 px, as the DIV2K/BasicSR preparation does; the last crop of a row or
column is placed flush with the border so every pixel is covered), and training patches are cropped from
those. A paired LR/HR source is cut on the LR grid (``crop/scale`` every ``step/scale``) with the HR crop
at ``scale`` times the LR offset, so the crops stay aligned.

Cache layout (under ``cache_dir``)::

    <kind>_x<scale>_c<crop>_s<step>_<format>/      one folder per crop setting
        <stem>-<source id>-<version>/              one folder per source file (or LR/HR pair)
            0000.npy (or 0000_hr.npy + 0000_lr.npy) the crops, uint8 RGB
            manifest.json                          written last: crop offsets and sizes

``<source id>`` hashes the source file path(s) and ``<version>`` their sizes and modification times and
the crop settings, so an edited source invalidates exactly its own crops (the outdated folder is removed
when the new one is written). The folders are entries of srlib's content-hashed cache
(:class:`srlib._cache.HashedCache`): each is filled under a hidden temporary name and renamed into place
only after its manifest is written, so a killed run never leaves a folder that looks complete, and
concurrent processes (e.g. several DDP ranks) may extract the same set safely (the first rename wins).

Formats: ``"npy"`` (the default: uncompressed ``(3, h, w)`` uint8; a patch reads only its own rows,
three positioned reads, about 0.05 ms on this project's CPU) or ``"png"`` (lossless and roughly half the size
on disk for photos, but every patch decodes its whole crop: about 15 ms for a 480 px photo crop here, so a few
loader workers deliver only a few hundred patches/s). Overlapping 480/240 crops store each pixel about
3 times (DIV2K's 800 training images: ~22 GB as ``.npy``); with ``"npy"``, ``crop_size=None`` stores
each image whole instead (raw size, ~7 GB for DIV2K), at the cost of reading full-width rows per patch.
The free disk space is checked before anything is written.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from srlib._cache import CacheEntry, HashedCache, file_stamp, read_npy_crop
from srlib.io.images import read_image

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "Subimage",
    "SubimageStore",
    "decode_images",
    "default_cache_dir",
    "estimate_decoded_bytes",
    "extract_subimages",
    "format_bytes",
    "parse_bytes",
    "subimage_offsets",
]

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 4 * 2**30  # bytes of decoded uint8 pixels kept in memory before switching
_CACHE_VERSION = 2  # 2: entries of srlib._cache.HashedCache (manifest with key and file sizes)
_FORMATS = ("png", "npy")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
_UNITS |= {"t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value: int | float | str) -> int:
    """A memory size in bytes from ``4294967296``, ``"4GiB"``, ``"500MB"`` or ``"1.5 GiB"``.

    Example:
        >>> parse_bytes("4GiB"), parse_bytes("500 MB"), parse_bytes(1024)
        (4294967296, 500000000, 1024)
    """
    if isinstance(value, bool):
        raise ValueError(f"A memory size must be a number of bytes or a string like '4GiB', got {value!r}.")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(
                f"Cannot read the memory size {value!r}; write bytes (4294967296) or a number with a unit "
                f"({', '.join(u for u in _UNITS if u)}), e.g. '4GiB'."
            )
        number, unit = float(match.group(1)), match.group(2).lower()
    if number < 0:
        raise ValueError(f"A memory size cannot be negative, got {value!r}.")
    return int(number * _UNITS[unit])


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'`` (binary units, for log messages)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def default_cache_dir() -> Path:
    """Where sub-images go by default: ``<srlib data dir>/subimages`` (``$SRLIB_DATA_DIR`` honoured)."""
    from srlib.data.download import default_data_dir

    return default_data_dir() / "subimages"


def estimate_decoded_bytes(sizes: Iterable[tuple[int, int]], channels: int = 3) -> int:
    """Bytes the decoded uint8 images take in memory, from their ``(width, height)`` header sizes."""
    return sum(int(w) * int(h) * channels for w, h in sizes)


def subimage_offsets(length: int, crop: int, step: int) -> list[int]:
    """Start offsets of crops of ``crop`` pixels every ``step`` along a side of ``length`` pixels.

    The last crop is placed flush with the end so every pixel is covered; a side shorter than ``crop``
    gets one crop at 0 (it is then as long as the side).

    Example:
        >>> subimage_offsets(1000, 480, 240)
        [0, 240, 480, 520]
        >>> subimage_offsets(300, 480, 240)
        [0]
    """
    if crop <= 0 or step <= 0:
        raise ValueError(f"Sub-image crop and step must be positive, got crop={crop}, step={step}.")
    if length <= crop:
        return [0]
    offsets = list(range(0, length - crop + 1, step))
    if offsets[-1] + crop < length:
        offsets.append(length - crop)
    return offsets


def decode_images(
    paths: Sequence[Path], *, workers: int | None = None, reader: Callable[[Path], Tensor] | None = None
) -> list[Tensor]:
    """Decode every file to ``(3, H, W)`` uint8 (threads), reporting all undecodable files in one error.

    Header scans cannot see a truncated file; this is where such files are found, still at setup.

    Raises:
        ValueError: listing every file that failed to decode, with the fix.
    """
    read = reader if reader is not None else (lambda p: read_image(p))

    def one(path: Path) -> Tensor | str:
        try:
            return read(path)
        except (ValueError, FileNotFoundError) as err:
            return f"  {path}: {err}"

    with ThreadPoolExecutor(max_workers=_threads(workers, len(paths))) as pool:
        results = list(pool.map(one, paths))
    problems = [r for r in results if isinstance(r, str)]
    if problems:
        raise ValueError(
            f"{len(problems)} image file(s) could not be decoded:\n"
            + "\n".join(problems)
            + "\nRe-export these files (e.g. open and save them again as PNG) or remove them, and run again."
        )
    return results  # type: ignore[return-value]


def _threads(workers: int | None, jobs: int) -> int:
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    return max(1, min(int(workers), max(jobs, 1)))


@dataclass(frozen=True)
class Subimage:
    """One stored crop: its file(s), size (HR pixels) and where it came from.

    Attributes:
        name: ``<source stem>_s<index>``.
        hr: the crop's file (the HR crop for a pair).
        lr: the LR crop's file for a pair, else ``None``.
        height: the HR crop's height.
        width: the HR crop's width.
    """

    name: str
    hr: Path
    lr: Path | None
    height: int
    width: int


class SubimageStore(Sequence):
    """The sub-images of an image set, loaded lazily from the cache (a sequence of :class:`Subimage`).

    Args:
        items: the crops (see :func:`extract_subimages`).
        scale: LR/HR scale of paired crops (1 for HR-only sets).
        fmt: ``"png"`` or ``"npy"``.

    Shape:
        - :meth:`crop` output: ``(3, size, size)`` uint8 (and the LR crop ``(3, size/scale, size/scale)``).
    """

    def __init__(self, items: Sequence[Subimage], *, scale: int, fmt: str) -> None:
        self.items = list(items)
        self.scale, self.format = int(scale), fmt
        self.paired = bool(self.items) and self.items[0].lr is not None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[override]
        return self.items[index]

    def load(self, path: Path) -> Tensor:
        """A whole stored crop as ``(3, h, w)`` uint8."""
        if self.format == "npy":
            return torch.from_numpy(read_npy_crop(path))
        try:
            return read_image(path)
        except (OSError, ValueError) as err:
            raise _damaged(path, err) from err

    def crop(self, index: int, top: int, left: int, size: int, *, lr: bool = False) -> Tensor:
        """A ``(3, size, size)`` crop of sub-image ``index`` (its LR crop with ``lr=True``).

        ``.npy`` files are read in place (:func:`srlib._cache.read_npy_crop`: one read of ``size`` rows per
        channel, no decoding).
        PNG files are decoded whole (a few milliseconds per 480 px crop).
        """
        item = self.items[index]
        path = item.lr if lr else item.hr
        if path is None:
            raise ValueError(f"Sub-image {item.name} has no LR crop: this store is HR-only.")
        h, w = (item.height // self.scale, item.width // self.scale) if lr else (item.height, item.width)
        if top < 0 or left < 0 or top + size > h or left + size > w:
            raise ValueError(f"Crop ({top}, {left}, {size}) is outside the {w}x{h} sub-image {path}.")
        if self.format == "npy":
            return torch.from_numpy(read_npy_crop(path, top, left, size, size))
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert("RGB").crop((left, top, left + size, top + size)))
        except (OSError, ValueError) as err:
            raise _damaged(path, err) from err
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _damaged(path: Path, err: Exception) -> FileNotFoundError:
    return FileNotFoundError(
        f"Sub-image {path} is missing or unreadable ({err}); the cache was changed after it was written. "
        f"Delete {path.parent} (it is rebuilt at the next setup)."
    )


def _write_crop(path: Path, crop: Tensor, fmt: str) -> None:
    """Write one crop into an entry's (hidden, uncommitted) folder: ``(3, h, w)`` ``.npy`` or RGB PNG."""
    array = np.ascontiguousarray(crop.numpy())
    if fmt == "npy":
        np.save(path, array, allow_pickle=False)
    else:
        # compress_level 3, as BasicSR's extract_subimages uses for DIV2K: much faster than the default 6
        # for a few percent more disk.
        image = Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)))
        image.save(path, format="PNG", compress_level=3)


@dataclass(frozen=True)
class _Job:
    hr: Path
    lr: Path | None
    entry: CacheEntry


def extract_subimages(
    hr_paths: Sequence[Path],
    lr_paths: Sequence[Path] | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    scale: int = 1,
    crop_size: int | None = 480,
    step: int = 240,
    fmt: str = "npy",
    workers: int | None = None,
) -> SubimageStore:
    """Cut every image (or LR/HR pair) into overlapping crops once, and reuse them on later calls.

    Sources whose folder is already complete (same path, size, modification time and settings) are not
    decoded again; the others are decoded with :func:`~srlib.io.images.read_image` (RGB, 16-bit and
    palette/CMYK/alpha conversions included) and every file that fails is reported in one error.

    Args:
        hr_paths: HR (or single) image files.
        lr_paths: LR files, one per HR file, for a paired set; ``None`` for HR-only.
        cache_dir: the cache root (default :func:`default_cache_dir`).
        scale: crop offsets are multiples of ``scale``; for a pair, the LR/HR scale (the HR image is
            cropped to ``scale`` x the LR size first).
        crop_size: HR crop side (a multiple of ``scale``); ``None`` stores whole images (``"npy"`` only).
        step: HR distance between crops (a multiple of ``scale``).
        fmt: ``"png"`` or ``"npy"``.
        workers: decoding/encoding threads (default: up to 8).

    Returns:
        The :class:`SubimageStore` of every crop, in source order.

    Raises:
        ValueError: bad settings, or undecodable sources (all listed).

    Shape:
        - each HR crop: ``(3, min(crop_size, H), min(crop_size, W))``; LR crops ``1/scale`` of that.
    """
    scale = int(scale)
    if fmt not in _FORMATS:
        raise ValueError(f"Sub-image format must be one of {_FORMATS}, got {fmt!r}.")
    if crop_size is None and fmt != "npy":
        raise ValueError(
            "crop_size=None (whole images) needs fmt='npy': a whole PNG would be decoded per patch."
        )
    if crop_size is not None and (crop_size % scale or step % scale):
        raise ValueError(
            f"Sub-image crop_size {crop_size} and step {step} must be multiples of the scale {scale} "
            f"(e.g. crop_size={crop_size // scale * scale}, step={max(step // scale, 1) * scale})."
        )
    if lr_paths is not None and len(lr_paths) != len(hr_paths):
        raise ValueError(f"Got {len(lr_paths)} LR files for {len(hr_paths)} HR files; pass one LR per HR.")
    kind = "pair" if lr_paths is not None else "hr"
    crop_tag = "full" if crop_size is None else f"c{crop_size}_s{step}"
    settings_dir = Path(cache_dir or default_cache_dir()).expanduser() / f"{kind}_x{scale}_{crop_tag}_{fmt}"
    settings_dir.mkdir(parents=True, exist_ok=True)
    cache = HashedCache(settings_dir, version=_CACHE_VERSION)
    cache.clean_interrupted()

    jobs = []
    for i, hr in enumerate(hr_paths):
        lr = lr_paths[i] if lr_paths is not None else None
        sources = [file_stamp(hr)] + ([file_stamp(lr)] if lr is not None else [])
        entry = cache.entry(
            Path(hr).stem, source=[s[0] for s in sources], content=[sources, scale, crop_size, step, fmt]
        )
        jobs.append(_Job(Path(hr), Path(lr) if lr is not None else None, entry))

    manifests = {j.entry: cache.load(j.entry) for j in jobs}
    todo = [j for j in jobs if manifests[j.entry] is None]
    if todo:
        need = sum(_estimate_bytes(j, scale=scale, crop_size=crop_size, step=step, fmt=fmt) for j in todo)
        free = shutil.disk_usage(settings_dir).free
        log.info(
            "Extracting sub-images of %d of %d source(s) into %s (about %s; %s free)",
            len(todo),
            len(jobs),
            settings_dir,
            format_bytes(need),
            format_bytes(free),
        )
        if need > 0.95 * free:
            raise ValueError(
                f"The sub-images need about {need / 2**30:.1f} GiB but {settings_dir} has "
                f"{free / 2**30:.1f} GiB free. Point cache_dir= at a larger disk, use subimage_format='png' "
                "(about half the size, slower per patch), subimage_size=None with 'npy' (no overlapping "
                "crops), or raise memory_budget= to keep the images in memory."
            )

        def run(job: _Job) -> str | None:
            try:
                manifests[job.entry] = _extract_one(
                    cache, job, scale=scale, crop_size=crop_size, step=step, fmt=fmt
                )
            except (ValueError, FileNotFoundError) as err:
                return f"  {job.hr}" + (f" / {job.lr}" if job.lr else "") + f": {err}"
            return None

        with ThreadPoolExecutor(max_workers=_threads(workers, len(todo))) as pool:
            problems = [p for p in pool.map(run, todo) if p]
        if problems:
            raise ValueError(
                f"{len(problems)} source image(s) could not be cut into sub-images:\n"
                + "\n".join(problems)
                + "\nRe-export these files (e.g. open and save them again as PNG) or remove them, "
                "and run again."
            )
    items: list[Subimage] = []
    for job in jobs:
        manifest, folder = manifests[job.entry], job.entry.directory
        for k, c in enumerate(manifest["crops"]):
            items.append(
                Subimage(
                    name=f"{manifest['name']}_s{k:03d}",
                    hr=folder / c["hr"],
                    lr=folder / c["lr"] if c.get("lr") else None,
                    height=int(c["height"]),
                    width=int(c["width"]),
                )
            )
    return SubimageStore(items, scale=scale if kind == "pair" else 1, fmt=fmt)


def _estimate_bytes(job: _Job, *, scale: int, crop_size: int | None, step: int, fmt: str) -> int:
    """Disk bytes of one source's crops, from its header (PNG counted at half the raw size)."""
    try:
        with Image.open(job.hr) as img:
            w, h = img.size
    except (OSError, ValueError):
        return 0  # reported when it is decoded
    lh, lw = h // scale, w // scale
    if crop_size is None:
        n, ch, cw = 1, lh, lw
    else:
        c, st = crop_size // scale, step // scale
        n = len(subimage_offsets(lh, c, st)) * len(subimage_offsets(lw, c, st))
        ch, cw = min(c, lh), min(c, lw)
    raw = n * 3 * ch * cw * scale * scale * (1 + (1 / scale**2 if job.lr is not None else 0))
    return int(raw * (0.5 if fmt == "png" else 1.0))


def _extract_one(
    cache: HashedCache, job: _Job, *, scale: int, crop_size: int | None, step: int, fmt: str
) -> dict:
    """Decode one source (pair), cut it and commit its cache entry; returns the entry's manifest."""
    hr = read_image(job.hr)
    lr = read_image(job.lr) if job.lr is not None else None
    if lr is not None:
        # The common region: LR sides may be HR/scale rounded up (MATLAB imresize) or down.
        lh, lw = min(lr.shape[1], hr.shape[1] // scale), min(lr.shape[2], hr.shape[2] // scale)
        lr, hr = lr[:, :lh, :lw], hr[:, : lh * scale, : lw * scale]
    else:
        lh, lw = hr.shape[1] // scale, hr.shape[2] // scale
        hr = hr[:, : lh * scale, : lw * scale]
    if crop_size is None:
        tops, lefts, c_lr_h, c_lr_w = [0], [0], lh, lw
    else:
        c_lr, step_lr = crop_size // scale, step // scale
        tops, lefts = subimage_offsets(lh, c_lr, step_lr), subimage_offsets(lw, c_lr, step_lr)
        c_lr_h, c_lr_w = min(c_lr, lh), min(c_lr, lw)

    def fill(folder: Path) -> dict:
        crops, k = [], 0
        for t in tops:
            for left in lefts:
                ht, hl, hh, hw = t * scale, left * scale, c_lr_h * scale, c_lr_w * scale
                entry = {"top": ht, "left": hl, "height": hh, "width": hw}
                entry["hr"] = f"{k:04d}.{fmt}" if lr is None else f"{k:04d}_hr.{fmt}"
                _write_crop(folder / entry["hr"], hr[:, ht : ht + hh, hl : hl + hw], fmt)
                if lr is not None:
                    entry["lr"] = f"{k:04d}_lr.{fmt}"
                    _write_crop(folder / entry["lr"], lr[:, t : t + c_lr_h, left : left + c_lr_w], fmt)
                crops.append(entry)
                k += 1
        return {
            "name": job.hr.stem,
            "hr_source": file_stamp(job.hr),
            "lr_source": file_stamp(job.lr) if job.lr is not None else None,
            "scale": scale,
            "crop_size": crop_size,
            "step": step,
            "format": fmt,
            "crops": crops,
        }

    return cache.build(job.entry, fill)
