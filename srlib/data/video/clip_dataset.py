"""The Dataset of cached video clips: ``T`` consecutive frames with one crop and one flip for all."""

from __future__ import annotations

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
from srlib.data.video.clips import LR_MODES, CachedVideo, ClipSampling, as_clip_sampling, cache_clips
from srlib.data.video.codec import CodecSettings, as_codec
from srlib.data.video.policy import FramePairPolicy, as_policy

__all__ = ["CLIP_SPLITS", "VideoClipDataset"]

log = logging.getLogger(__name__)

#: Which clips a dataset serves: all of them, those left for training, or the held-out ones.
CLIP_SPLITS = ("all", "train", "holdout")


def split_clips(videos: list[CachedVideo], split: str) -> list[tuple[CachedVideo, list[int]]]:
    """``(video, clip)`` items of a split: ``"holdout"`` is the last clip of every video with two or more
    clips, ``"train"`` the others, ``"all"`` every clip."""
    if split not in CLIP_SPLITS:
        raise ValueError(f"split must be one of {', '.join(CLIP_SPLITS)}, got {split!r}.")
    items = []
    for video in videos:
        clips = video.clips
        if split == "train" and len(clips) > 1:
            clips = clips[:-1]
        elif split == "holdout":
            clips = clips[-1:] if len(clips) > 1 else []
        items += [(video, clip) for clip in clips]
    return items


class VideoClipDataset(Dataset):
    """Clips of ``T`` consecutive frames from videos, served from the clip cache.

    Set-up decodes each video once (:func:`~srlib.data.video.clips.cache_clips`: timestamp pairing, scene
    cuts, short videos, the codec LR); items are then read in place from the cache. With ``patch_size``
    an item is one random scale-aligned crop, the same for every frame of the clip, with one random
    flip/rot90 for the whole clip; without it, whole frames.

    Args:
        root: ``lr/`` + ``hr/`` folders of same-named videos (``lr_mode="paired"``), or a folder of HR
            videos and image-sequence folders (``"degrade"``: no LR here, the DataModule degrades the
            clip on its device; ``"codec"``: LR re-encoded with H.264/H.265).
        scale: integer SR scale.
        clips: a :class:`~srlib.data.video.clips.ClipSampling` or a mapping of its fields (``frames`` is
            ``T``).
        patch_size: HR patch side (a multiple of ``scale``) or ``None`` for whole frames.
        lr_mode: one of ``LR_MODES``.
        policy: paired: the :class:`FramePairPolicy` (or a mapping of its fields).
        codec: ``"codec"``: the :class:`~srlib.data.video.codec.CodecSettings` (or a mapping).
        cache_dir: cache folder (default ``root/.srlib_frame_cache``).
        strict: raise on bad files (``False``: warn and skip).
        augment: one random flip/rot90 per clip on patches.
        samples_per_epoch: epoch length (default one item per clip).
        split: ``"all"``, ``"train"`` (every clip but each video's last) or ``"holdout"`` (the last).

    Shape:
        - item["hr"]: ``(T, 3, H, W)`` uint8; item["lr"] (paired and codec): ``(T, 3, H / scale, W / scale)``.

    Example:
        >>> ds = VideoClipDataset("data/rutube", 4, {"frames": 5}, patch_size=128)  # doctest: +SKIP
        >>> ds[0]["hr"].shape  # doctest: +SKIP
        torch.Size([5, 3, 128, 128])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        scale: int,
        clips: ClipSampling | Mapping[str, Any],
        patch_size: int | None = None,
        *,
        lr_mode: str = "paired",
        policy: FramePairPolicy | Mapping[str, Any] | None = None,
        codec: CodecSettings | Mapping[str, Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
        strict: bool = True,
        augment: bool = True,
        samples_per_epoch: int | None = None,
        split: str = "all",
    ) -> None:
        if lr_mode not in LR_MODES:
            raise ValueError(f"lr_mode must be one of {', '.join(LR_MODES)}, got {lr_mode!r}.")
        if patch_size is not None and (patch_size < scale or patch_size % scale):
            raise ValueError(
                f"patch_size {patch_size} must be a positive multiple of scale {scale} "
                f"(e.g. {max(1, patch_size // scale) * scale})."
            )
        self.root, self.scale, self.patch_size, self.augment = Path(root), int(scale), patch_size, augment
        self.clips = as_clip_sampling(clips)
        self.lr_mode = lr_mode
        self.policy = as_policy(policy, scale=self.scale)
        videos = cache_clips(
            root,
            settings=self.clips,
            scale=self.scale,
            policy=self.policy,
            lr_mode=lr_mode,
            codec=as_codec(codec) if lr_mode == "codec" else None,
            cache_dir=cache_dir,
            strict=strict,
        )
        self.reports = [v.report for v in videos]
        self.items = split_clips(videos, split)
        if not self.items:
            raise ValueError(
                f"No {split} clip of {self.clips.frames} frames under {root}: the held-out split takes the "
                "last "
                "clip of videos with at least two clips; use more or longer videos, or set val_root."
            )
        if patch_size is not None:
            self._check_patch(patch_size)
        self.samples_per_epoch = int(samples_per_epoch or len(self.items))

    def _check_patch(self, patch_size: int) -> None:
        small = sorted(
            {
                f"{v.name} ({v.hr_size[1]}x{v.hr_size[0]} HR)"
                for v, _ in self.items
                if min(v.hr_size) < patch_size
            }
        )
        if small:
            raise ValueError(
                f"Frames of {len(small)} video(s) are smaller than the {patch_size}px HR patch: "
                f"{', '.join(small[:10])}. Lower the patch size (data.patch_size=N, a multiple of "
                f"{self.scale})."
            )

    def __len__(self) -> int:
        return self.samples_per_epoch

    @staticmethod
    def _read(path: Path, top: int, left: int, size: int | None) -> Tensor:
        return torch.from_numpy(read_npy_crop(path, top, left, size, size, cache_folder=path.parent))

    def __getitem__(self, index: int) -> dict[str, Any]:
        video, clip = self.items[index % len(self.items)]
        s, paired = self.scale, video.lr_size is not None
        h, w = video.hr_size
        top = left = 0
        size = lr_size = None
        if self.patch_size is not None:
            size, lr_size = self.patch_size, self.patch_size // s
            top = int(torch.randint(0, h // s - lr_size + 1, ())) * s
            left = int(torch.randint(0, w // s - lr_size + 1, ())) * s
        hr = torch.stack([self._read(video.directory / video.frames[i]["hr"], top, left, size) for i in clip])
        out: dict[str, Any] = {"hr": hr}
        if paired:
            out["lr"] = torch.stack(
                [
                    self._read(video.directory / video.frames[i]["lr"], top // s, left // s, lr_size)
                    for i in clip
                ]
            )
        if self.patch_size is not None and self.augment:
            flipped = random_augment(*out.values())
            out = dict(zip(out, flipped, strict=True))
        out = {k: v.contiguous() for k, v in out.items()}
        out["name"] = f"{video.name}_c{clip[0]:06d}"
        return out
