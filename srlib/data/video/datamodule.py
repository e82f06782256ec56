"""The Lightning DataModule of paired LR/HR video encodes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from srlib.data.datamodules import SRDataModule
from srlib.data.video.dataset import VideoFramePairDataset, cache_frame_pairs
from srlib.data.video.policy import FramePairPolicy
from srlib.data.video.sampling import FrameSampling


class VideoPairDataModule(SRDataModule):
    """Paired LR/HR video encodes (e.g. Rutube 144p/480p) as a Lightning DataModule.

    :meth:`prepare_data` decodes every clip pair once into the frame cache (on one process);
    :meth:`setup` then reads the cache only. Batches carry their own ``"lr"``, so the base class's
    ``on_after_batch_transfer`` only converts them to float on the device: no synthetic degradation.
    Validation uses whole frames of the clips under ``val_root`` (batch size 1), or the benchmark
    images of ``val_dir`` (bicubic LR) when no ``val_root`` is given. After :meth:`setup`,
    :attr:`policy` is the size policy to use at inference (with the clips' ratio filled in).

    Args:
        root: folder with ``lr/`` and ``hr/`` sub-folders of same-named clips.
        val_root: the same layout for validation clips (optional).
        every_n: sample every N-th HR frame (training clips).
        val_every_n: the same for validation clips (default ``every_n``).
        cache_dir: frame cache folder (default ``root/.srlib_frame_cache``; the validation clips use
            ``val_root/.srlib_frame_cache`` unless it is set).
        size_policy, filter, max_ratio_deviation: see :class:`FramePairPolicy`.
        offset, max_frames_per_clip, max_time_offset, mismatch_tolerance, align_start: see
            :class:`FrameSampling`.
        strict: raise on unmatched names and bad files (``False``: warn and skip).
        **kwargs: see :class:`~srlib.data.datamodules.SRDataModule` (``scale``, ``patch_size``,
            ``batch_size``, ``num_workers``, ``samples_per_epoch``, ``val_dir``).

    Shape:
        - batch after transfer: lr ``(B, 3, p / scale, p / scale)``, hr ``(B, 3, p, p)`` float in [0, 1].
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        val_root: str | os.PathLike | None = None,
        every_n: int = 250,
        val_every_n: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        size_policy: str = "none",
        filter: str = "bicubic",
        max_ratio_deviation: float = 0.25,
        offset: int = 0,
        max_frames_per_clip: int | None = None,
        max_time_offset: float = 0.5,
        mismatch_tolerance: float = 0.02,
        align_start: bool = True,
        strict: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root, self.val_root = Path(root), (Path(val_root) if val_root is not None else None)
        self.every_n = int(every_n)
        self.val_every_n = int(val_every_n) if val_every_n is not None else self.every_n
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        # Validated now, so a bad policy fails when the config is built, not at setup.
        self.policy = FramePairPolicy(
            scale=self.scale, size_policy=size_policy, filter=filter, max_ratio_deviation=max_ratio_deviation
        )
        self.sampling_kwargs = {
            "offset": offset,
            "max_frames_per_clip": max_frames_per_clip,
            "max_time_offset": max_time_offset,
            "mismatch_tolerance": mismatch_tolerance,
            "align_start": align_start,
        }
        FrameSampling(every_n=self.every_n, **self.sampling_kwargs)
        self.strict = strict

    def _cache_for(self, sub: str) -> Path | None:
        return self.cache_dir / sub if self.cache_dir is not None else None

    def prepare_data(self) -> None:
        """Decode the clips into the frame cache (once; later calls and runs only check it)."""
        jobs = [(self.root, self.every_n, "train")]
        if self.val_root is not None:
            jobs.append((self.val_root, self.val_every_n, "val"))
        for root, every_n, sub in jobs:
            cache_frame_pairs(
                root,
                policy=self.policy,
                sampling=FrameSampling(every_n=every_n, **self.sampling_kwargs),
                cache_dir=self._cache_for(sub),
                strict=self.strict,
            )

    def _dataset(self, root: Path, every_n: int, sub: str, **kwargs: Any) -> VideoFramePairDataset:
        return VideoFramePairDataset(
            root,
            self.scale,
            every_n=every_n,
            cache_dir=self._cache_for(sub),
            size_policy=self.policy,
            strict=self.strict,
            **self.sampling_kwargs,
            **kwargs,
        )

    def build_train_dataset(self) -> Dataset:
        dataset = self._dataset(
            self.root,
            self.every_n,
            "train",
            patch_size=self.patch_size,
            samples_per_epoch=self.samples_per_epoch,
        )
        self.policy = dataset.policy
        return dataset

    def build_val_dataset(self) -> Dataset | None:
        if self.val_root is None:
            return super().build_val_dataset()
        return self._dataset(self.val_root, self.val_every_n, "val", patch_size=None, augment=False)
