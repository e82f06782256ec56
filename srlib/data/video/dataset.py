"""Clip discovery, cache set-up and the Dataset of cached LR/HR frame pairs."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from srlib._cache import read_npy_crop
from srlib.data.datasets import random_augment
from srlib.data.video.cache import CachedClip, FrameCache
from srlib.data.video.policy import FramePairPolicy, as_policy
from srlib.data.video.sampling import FrameSampling, as_sampling, sample_frame_pairs
from srlib.io.video import VIDEO_EXTENSIONS, probe_size

log = logging.getLogger(__name__)


def _list_videos(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Video folder {folder} does not exist; a paired video dataset needs root/lr and root/hr folders "
            "holding LR and HR encodes with the same names."
        )
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_EXTENSIONS:
            found.setdefault(p.stem, []).append(p)
    twins = [f"{stem}: {', '.join(q.name for q in ps)}" for stem, ps in found.items() if len(ps) > 1]
    if twins:
        raise ValueError(
            f"Video folder {folder} holds several files with the same name: {'; '.join(twins)}. "
            "Keep one encode per clip name."
        )
    return {stem: ps[0] for stem, ps in found.items()}


def frame_cache_dir(root: Path, cache_dir: str | os.PathLike | None, what: str) -> Path:
    """The cache folder (default ``root/.srlib_frame_cache``), created; a clear error when it cannot be."""
    folder = Path(cache_dir) if cache_dir is not None else root / ".srlib_frame_cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"Cannot create the {what} cache folder {folder} ({err}); pass cache_dir=.") from err
    return folder


def find_clip_pairs(
    root: str | os.PathLike, *, lr_dir: str = "lr", hr_dir: str = "hr", strict: bool = True
) -> list[tuple[str, Path, Path]]:
    """Match ``root/lr/NAME.*`` with ``root/hr/NAME.*``; returns sorted ``(NAME, lr_path, hr_path)``.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: no clips, or (with ``strict``) names present in only one folder, all listed at once.
    """
    root = Path(root)
    lr, hr = _list_videos(root / lr_dir), _list_videos(root / hr_dir)
    only_lr, only_hr = sorted(set(lr) - set(hr)), sorted(set(hr) - set(lr))
    if only_lr or only_hr:
        lines = [f"  only in {root / lr_dir}: {lr[n].name}" for n in only_lr]
        lines += [f"  only in {root / hr_dir}: {hr[n].name}" for n in only_hr]
        message = f"{len(lines)} clip(s) under {root} have no partner of the same name:\n" + "\n".join(lines)
        if strict:
            raise ValueError(message + "\nAdd the missing encodes, remove these files, or pass strict=False.")
        log.warning("%s\nThese clips are skipped (strict=False).", message)
    names = sorted(set(lr) & set(hr))
    if not names:
        raise ValueError(
            f"No clip pairs under {root}: {root / lr_dir} and {root / hr_dir} share no file names "
            f"(looked for {', '.join(VIDEO_EXTENSIONS)})."
        )
    return [(n, lr[n], hr[n]) for n in names]


def cache_frame_pairs(
    root: str | os.PathLike,
    *,
    policy: FramePairPolicy,
    sampling: FrameSampling | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = True,
    lr_dir: str = "lr",
    hr_dir: str = "hr",
) -> list[CachedClip]:
    """Make sure every clip pair under ``root`` has its sampled frame pairs in the cache.

    Clips already cached for the same sources and settings are only read (their stored warnings are
    logged again); the others are header-scanned first (all bad files and bad size ratios reported in
    one error), then decoded, sampled, passed through ``policy`` and written.

    Args:
        root: folder holding ``lr_dir`` and ``hr_dir``.
        policy: the size policy (its ``scale`` is the network's).
        sampling: frame sampling settings.
        cache_dir: where the frames go (default ``root/.srlib_frame_cache``).
        strict: raise on unmatched names and bad files (``False``: warn and skip those clips).
        lr_dir, hr_dir: the sub-folder names.

    Returns:
        One :class:`CachedClip` per usable clip, sorted by name.

    Raises:
        ValueError: unmatched names or bad files (with ``strict``), or no usable frame pair at all.
    """
    sampling = sampling or FrameSampling()
    root = Path(root)
    cache_dir = frame_cache_dir(root, cache_dir, "frame")

    cache = FrameCache(cache_dir, sampling, policy)
    clips: list[CachedClip] = []
    pending = []
    for name, lr, hr in find_clip_pairs(root, lr_dir=lr_dir, hr_dir=hr_dir, strict=strict):
        entry = cache.entry(name, lr, hr)
        clip = cache.load(name, entry)
        if clip is None:
            pending.append((name, lr, hr, entry))
            continue
        for message in clip.report.warnings:
            log.warning("Video pair %s (cached): %s", name, message)
        clips.append(clip)

    # Header scan of everything still to decode: every problem in one report, before long decoding.
    problems: list[str] = []
    good = []
    for item in pending:
        name, lr, hr = item[:3]
        try:
            lr_size, hr_size = probe_size(lr), probe_size(hr)
            if min(*lr_size, *hr_size) > 0:  # some containers only know the size after decoding
                policy.check(lr_size, hr_size, name)
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"  {err}")
            continue
        good.append(item)
    raise_or_warn(problems, strict, "while scanning the video headers")

    if good:
        log.info("Decoding %d video pair(s) into the frame cache %s", len(good), cache_dir)
    problems = []
    for name, lr, hr, entry in good:
        try:
            pairs, report = sample_frame_pairs(lr, hr, sampling, name=name)
            policy.check(report.lr_size, report.hr_size, name)  # decoded sizes, not only the header's
            clips.append(cache.write(name, entry, pairs, report))
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"  {err}")
    raise_or_warn(problems, strict, "while decoding the videos")

    clips.sort(key=lambda c: c.name)
    if not any(c.frames for c in clips):
        raise ValueError(
            f"No usable frame pair from the videos under {root} (every_n={sampling.every_n}); "
            "see the warnings above, or lower every_n for short clips."
        )
    return clips


def raise_or_warn(problems: list[str], strict: bool, when: str, what: str = "clip") -> None:
    """Every problem file in one error (``strict``), or one warning that they are skipped."""
    if not problems:
        return
    message = f"{len(problems)} problem {what}(s) found {when}:\n" + "\n".join(problems)
    if strict:
        raise ValueError(message + "\nFix or remove these files (or pass strict=False to skip them).")
    log.warning("%s\nThese %ss are skipped (strict=False).", message, what)


# ----------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------


_SAMPLING_FIELDS = tuple(f.name for f in dataclasses.fields(FrameSampling))
_POLICY_FIELDS = ("size_policy", "filter", "max_ratio_deviation")


def reject_flat_settings(owner: str, kwargs: Mapping[str, Any], *, only_flat: bool = False) -> None:
    """Refuse the sampling and policy fields given one by one, as these classes once took them.

    Args:
        owner: the class named in the message.
        kwargs: the keyword arguments left over.
        only_flat: check only those fields (the other arguments go on to a base class).

    Raises:
        TypeError: naming the ``sampling=`` / ``policy=`` argument that now holds those fields (or the
            unexpected arguments).
    """
    groups = {
        "sampling=FrameSampling": [k for k in kwargs if k in _SAMPLING_FIELDS],
        "policy=FramePairPolicy": [k for k in kwargs if k in _POLICY_FIELDS],
    }
    flat = [k for names in groups.values() for k in names]
    if flat:
        hints = [
            f"{call}({', '.join(f'{k}={kwargs[k]!r}' for k in names)})"
            for call, names in groups.items()
            if names
        ]
        raise TypeError(
            f"{owner}() no longer takes {', '.join(flat)} one by one: pass {' and '.join(hints)} "
            "(in a recipe: nested sampling: / policy: mappings of those fields)."
        )
    if kwargs and not only_flat:
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {', '.join(kwargs)}.")


class VideoFramePairDataset(Dataset):
    """LR/HR frame pairs sampled from paired video encodes, served from a disk cache.

    Set-up decodes each clip pair once (see the module docstring: timestamp matching, reports, size
    policy, atomic cache); items are then read in place from the cache. With ``patch_size`` an
    item is a random scale-aligned crop (``patch_size`` HR pixels, ``patch_size // scale`` LR pixels)
    with the same random flips/rot90 on both; without it, whole frames (clips of different sizes
    need ``batch_size=1``). Randomness comes from torch's RNG (seeded per worker by the DataLoader).

    Args:
        root: folder with ``lr/`` and ``hr/`` sub-folders of same-named clips.
        scale: integer SR scale.
        patch_size: HR patch side (a multiple of ``scale``) or ``None`` for whole frames.
        sampling: which frames are taken: a :class:`FrameSampling` or a mapping of its fields
            (default ``FrameSampling()``: every 250th HR frame).
        policy: how pairs not exactly ``scale`` apart are reconciled: a :class:`FramePairPolicy` or a
            mapping of its fields (``scale`` may be left out; default ``size_policy="none"``).
        cache_dir: frame cache folder (default ``root/.srlib_frame_cache``).
        strict: raise on unmatched names and bad files (``False``: warn and skip).
        augment: random flips/rot90 on patches.
        samples_per_epoch: epoch length (default: one item per cached pair).
        lr_dir, hr_dir: sub-folder names.

    Attributes:
        policy: the :class:`FramePairPolicy`, with ``ratio`` filled in from the clips when they agree;
            keep it (``dataclasses.asdict``) to prepare inputs identically at inference.
        reports: one :class:`ClipReport` per clip.

    Shape:
        - item["lr"]: ``(3, h, w)`` uint8; item["hr"]: ``(3, h * scale, w * scale)`` uint8.

    Example:
        >>> ds = VideoFramePairDataset("data/rutube", scale=4, patch_size=128,  # doctest: +SKIP
        ...                            sampling={"every_n": 25}, policy={"size_policy": "resize_lr"})
        >>> ds[0]["lr"].shape  # doctest: +SKIP
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        scale: int,
        patch_size: int | None = None,
        *,
        sampling: FrameSampling | Mapping[str, Any] | None = None,
        policy: FramePairPolicy | Mapping[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
        strict: bool = True,
        augment: bool = True,
        samples_per_epoch: int | None = None,
        lr_dir: str = "lr",
        hr_dir: str = "hr",
        **removed: Any,
    ) -> None:
        reject_flat_settings("VideoFramePairDataset", removed)
        policy = as_policy(policy, scale=scale)
        if patch_size is not None and (patch_size < scale or patch_size % scale):
            raise ValueError(
                f"patch_size {patch_size} must be a positive multiple of scale {scale} "
                f"(e.g. {max(1, patch_size // scale) * scale})."
            )
        self.sampling = as_sampling(sampling)
        self.root, self.scale, self.patch_size, self.augment = Path(root), policy.scale, patch_size, augment
        clips = cache_frame_pairs(
            root,
            policy=policy,
            sampling=self.sampling,
            cache_dir=cache_dir,
            strict=strict,
            lr_dir=lr_dir,
            hr_dir=hr_dir,
        )
        self.reports = [c.report for c in clips]
        self.items: list[tuple[str, Path, Path, tuple[int, int]]] = []
        for clip in clips:
            for entry in clip.frames:
                self.items.append(
                    (
                        f"{clip.name}_f{entry['hr_index']:06d}",
                        clip.directory / entry["lr"],
                        clip.directory / entry["hr"],
                        tuple(entry["lr_size"]),
                    )
                )
        if patch_size is not None:
            lp = patch_size // self.scale
            small = sorted(
                {n.rsplit("_f", 1)[0] + f" ({s[1]}x{s[0]})" for n, _, _, s in self.items if min(s) < lp}
            )
            if small:
                raise ValueError(
                    f"LR frames of {len(small)} clip(s) are smaller than the {lp}px LR patch "
                    f"(patch_size={patch_size}, scale={self.scale}): {', '.join(small[:10])}. "
                    "Lower the patch size (data.patch_size=N on the command line, N a multiple of the scale)."
                )
        self.policy = self._with_ratio(policy)
        self.samples_per_epoch = int(samples_per_epoch or len(self.items))

    def _with_ratio(self, policy: FramePairPolicy) -> FramePairPolicy:
        if policy.ratio is not None or not self.reports:
            return policy
        ratios = [
            (r.hr_size[0] / r.lr_size[0], r.hr_size[1] / r.lr_size[1]) for r in self.reports if min(r.lr_size)
        ]
        if not ratios:
            return policy
        first = ratios[0]
        if any(abs(r[0] / first[0] - 1) > 0.01 or abs(r[1] / first[1] - 1) > 0.01 for r in ratios):
            log.warning(
                "The clips' LR/HR size ratios differ (from x%.3f to x%.3f wide); FramePairPolicy.ratio "
                "is left unset, pass it explicitly for inference.",
                min(r[1] for r in ratios),
                max(r[1] for r in ratios),
            )
            return policy
        return dataclasses.replace(policy, ratio=first)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _read(self, path: Path, top: int = 0, left: int = 0, size: int | None = None) -> Tensor:
        """``(3, size, size)`` crop at ``(top, left)`` (the whole frame if ``size`` is None) of a cached
        ``.npy`` frame, reading only the rows it needs."""
        return torch.from_numpy(read_npy_crop(path, top, left, size, size, cache_folder=path.parent))

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, lr_path, hr_path, (h, w) = self.items[index % len(self.items)]
        s = self.scale
        if self.patch_size is None:
            lr, hr = self._read(lr_path), self._read(hr_path)
        else:
            lp = self.patch_size // s
            top = int(torch.randint(0, h - lp + 1, ()))
            left = int(torch.randint(0, w - lp + 1, ()))
            lr = self._read(lr_path, top, left, lp)
            hr = self._read(hr_path, top * s, left * s, self.patch_size)
        if self.patch_size is not None and self.augment:
            lr, hr = random_augment(lr, hr)
        return {"lr": lr.contiguous(), "hr": hr.contiguous(), "name": name}
