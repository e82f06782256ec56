"""The frame-pair cache: one folder of ``.npy`` frames and a manifest per clip pair."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srlib.data.video.policy import FramePairPolicy
from srlib.data.video.sampling import ClipReport, FramePair, FrameSampling

_CACHE_VERSION = 1
_MANIFEST = "manifest.json"


@dataclass
class CachedClip:
    """One clip's cached pairs: its folder, the manifest's frame entries and its report."""

    name: str
    directory: Path
    frames: list[dict[str, Any]]
    report: ClipReport


def _cache_key(name: str, lr: Path, hr: Path, sampling: FrameSampling, policy: FramePairPolicy) -> str:
    def stat(p: Path) -> list[Any]:
        st = p.stat()
        return [p.name, st.st_size, st.st_mtime_ns]

    payload = {
        "version": _CACHE_VERSION,
        "name": name,
        "lr": stat(lr),
        "hr": stat(hr),
        "sampling": dataclasses.asdict(sampling),
        "policy": policy.cache_fields(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "clip"


def _write_atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_manifest(directory: Path, key: str) -> dict[str, Any] | None:
    """The manifest of a complete cache folder for ``key``, or ``None``."""
    try:
        manifest = json.loads((directory / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _CACHE_VERSION or manifest.get("key") != key:
        return None
    for entry in manifest.get("frames", []):
        if not ((directory / entry["lr"]).is_file() and (directory / entry["hr"]).is_file()):
            return None
    return manifest


def _remove_stale(cache_dir: Path, safe: str, name: str, keep: Path) -> None:
    """Delete this clip's cache folders made for other keys (older sources or settings)."""
    pattern = re.compile(re.escape(safe) + r"-[0-9a-f]{16}")
    for d in cache_dir.iterdir():
        if d == keep or not d.is_dir() or not pattern.fullmatch(d.name):
            continue
        try:
            owner = json.loads((d / _MANIFEST).read_text()).get("name")
        except (OSError, ValueError):
            owner = name  # an unfinished folder of this clip
        if owner == name:
            shutil.rmtree(d, ignore_errors=True)


def _write_clip(
    directory: Path, key: str, name: str, pairs: list[FramePair], report: ClipReport, policy: FramePairPolicy
) -> list[dict[str, Any]]:
    directory.mkdir(parents=True, exist_ok=True)
    frames = []
    for k, pair in enumerate(pairs):
        lr = torch.from_numpy(pair.lr).permute(2, 0, 1)
        hr = torch.from_numpy(pair.hr).permute(2, 0, 1)
        lr, hr = policy.apply(lr, hr, name)
        entry = {
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
            _write_atomic(directory / entry[which], lambda f, a=array: np.save(f, a, allow_pickle=False))
        frames.append(entry)
    manifest = {
        "version": _CACHE_VERSION,
        "key": key,
        "name": name,
        "policy": policy.cache_fields(),
        "report": dataclasses.asdict(report),
        "frames": frames,
    }
    _write_atomic(directory / _MANIFEST, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    return frames
