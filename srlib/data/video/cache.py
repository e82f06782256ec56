"""The frame-pair cache: one entry of ``(3, H, W)`` uint8 ``.npy`` frames and a manifest per clip pair.

The entries are those of srlib's content-hashed cache (:class:`srlib._cache.HashedCache`): the folder
name hashes the clip name and, as its key, the source files' names, sizes and modification times, the
sampling settings and the size policy; the manifest is written last and the folder renamed into place,
so an interrupted run leaves nothing that counts, and an entry made for older sources or settings is
deleted once its replacement is written.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srlib._cache import MANIFEST, CacheEntry, HashedCache, file_stamp
from srlib.data.video.policy import FramePairPolicy
from srlib.data.video.sampling import ClipReport, FramePair, FrameSampling

__all__ = ["CachedClip", "FrameCache"]

_CACHE_VERSION = 2  # 2: entries of srlib._cache.HashedCache (1: folders NAME-KEY written in place)


@dataclass
class CachedClip:
    """One clip's cached pairs: its folder, the manifest's frame entries and its report."""

    name: str
    directory: Path
    frames: list[dict[str, Any]]
    report: ClipReport


class FrameCache:
    """The cached frame pairs of the clips under one cache folder.

    Args:
        root: the cache folder.
        sampling: the sampling settings (part of every key).
        policy: the size policy (its :meth:`~FramePairPolicy.cache_fields` are part of every key).
    """

    def __init__(self, root: str | Path, sampling: FrameSampling, policy: FramePairPolicy) -> None:
        self.cache = HashedCache(root, version=_CACHE_VERSION)
        self.sampling, self.policy = sampling, policy
        self.cache.clean_interrupted()

    def entry(self, name: str, lr: Path, hr: Path) -> CacheEntry:
        """The cache entry of clip ``name`` encoded as ``lr`` and ``hr``, as they are now."""
        content = {
            "lr": file_stamp(lr, name_only=True),
            "hr": file_stamp(hr, name_only=True),
            "sampling": dataclasses.asdict(self.sampling),
            "policy": self.policy.cache_fields(),
        }
        return self.cache.entry(name, source={"clip": name}, content=content)

    def load(self, name: str, entry: CacheEntry) -> CachedClip | None:
        """The clip's cached pairs if its entry is complete, else ``None``."""
        manifest = self.cache.load(entry)
        if manifest is None:
            return None
        report = ClipReport.from_dict(manifest["report"])
        report.cached = True
        return CachedClip(name, entry.directory, manifest["frames"], report)

    def write(self, name: str, entry: CacheEntry, pairs: list[FramePair], report: ClipReport) -> CachedClip:
        """Pass the pairs through the size policy, store them and commit the clip's entry."""
        policy = self.policy

        def fill(folder: Path) -> dict[str, Any]:
            frames = []
            for k, pair in enumerate(pairs):
                lr = torch.from_numpy(pair.lr).permute(2, 0, 1)
                hr = torch.from_numpy(pair.hr).permute(2, 0, 1)
                lr, hr = policy.apply(lr, hr, name)
                frame = {
                    "hr_index": pair.hr_index,
                    "hr_time": pair.hr_time,
                    "lr_index": pair.lr_index,
                    "lr_time": pair.lr_time,
                    "lr": f"lr_{k:05d}.npy",
                    "hr": f"hr_{k:05d}.npy",
                    "lr_size": list(lr.shape[-2:]),
                    "hr_size": list(hr.shape[-2:]),
                }
                for which, t in (("lr", lr), ("hr", hr)):
                    array = np.ascontiguousarray(t.numpy())  # (3, H, W): items need no transposition
                    np.save(folder / frame[which], array, allow_pickle=False)
                frames.append(frame)
            return {
                "name": name,
                "policy": policy.cache_fields(),
                "report": dataclasses.asdict(report),
                "frames": frames,
            }

        manifest = self.cache.build(entry, fill)
        _remove_version_1(self.cache.root, name)
        return CachedClip(name, entry.directory, manifest["frames"], report)


def _remove_version_1(root: Path, name: str) -> None:
    """Delete the clip's folders in the first cache format (``NAME-<16 hex>``, superseded by version 2)."""
    old_stem = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "clip"
    pattern = re.compile(re.escape(old_stem) + r"-[0-9a-f]{16}")
    for folder in root.iterdir():
        if not folder.is_dir() or not pattern.fullmatch(folder.name):
            continue
        try:
            owner = json.loads((folder / MANIFEST).read_text()).get("name")
        except (OSError, ValueError, AttributeError):
            owner = None
        if owner == name:
            shutil.rmtree(folder, ignore_errors=True)
