"""The Lightning DataModule of paired LR/HR video encodes."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from srlib.data.datamodules import SRDataModule
from srlib.data.video.clip_dataset import VideoClipDataset
from srlib.data.video.clips import LR_MODES, ClipSampling, as_clip_sampling, cache_clips
from srlib.data.video.codec import CodecSettings, as_codec
from srlib.data.video.dataset import VideoFramePairDataset, cache_frame_pairs, reject_flat_settings
from srlib.data.video.policy import FramePairPolicy, as_policy
from srlib.data.video.sampling import FrameSampling, as_sampling


class VideoPairDataModule(SRDataModule):
    """Paired LR/HR video encodes (e.g. Rutube 144p/480p) as a Lightning DataModule.

    :meth:`prepare_data` decodes every clip pair once into the frame cache (on one process);
    :meth:`setup` then reads the cache only. Batches carry their own ``"lr"``, so the base class's
    ``on_after_batch_transfer`` only converts them to float on the device: no synthetic degradation.
    Validation uses whole frames of the clips under ``val_root`` (batch size 1), or the benchmark
    images of ``val_dir`` (bicubic LR) when no ``val_root`` is given. With neither, it uses whole frames
    of the training clips half-way between the sampled ones (``holdout_frames`` per clip, their own LR):
    not independent of the training frames, but the task the run trains (set ``val_root`` for clips
    the model never sees; ``holdout_frames=0`` for no validation). After :meth:`setup`,
    :attr:`policy` is the size policy to use at inference (with the clips' ratio filled in).

    **Clips.** With ``clips`` (a :class:`~srlib.data.video.clips.ClipSampling` or a mapping of its
    fields; ``frames`` is ``T``) the batches are clips of ``T`` consecutive frames,
    ``(B, T, 3, H, W)``, one crop and one flip per clip (:class:`VideoClipDataset`), instead of sampled
    frames. ``lr_mode`` says where their LR comes from: ``"paired"`` (``root/lr`` + ``root/hr``),
    ``"degrade"`` (``root`` holds HR videos or image-sequence folders; the degradation runs on the
    device with one parameter set per clip, ``clip_consistent``) or ``"codec"`` (HR videos re-encoded to
    LR with ``codec``, H.264 CRF 30 by default). Without ``val_root``/``val_dir``, the last clip of
    each video (whole frames) is held out for validation.

    The frame sampling and the size policy are given as the objects (or, as Hydra passes them from a
    recipe, as mappings of their fields); the DataModule does not repeat their fields.

    Args:
        root: folder with ``lr/`` and ``hr/`` sub-folders of same-named clips.
        val_root: the same layout for validation clips (optional).
        sampling: which frames are taken (training and validation clips): a :class:`FrameSampling` or a
            mapping of its fields (default ``FrameSampling()``: every 250th HR frame).
        policy: how frames not exactly ``scale`` apart are reconciled: a :class:`FramePairPolicy` or a
            mapping of its fields; ``scale`` may be left out (it is the DataModule's). Default: exact pairs
            only (``size_policy="none"``).
        val_every_n: ``every_n`` for the validation clips (default ``sampling.every_n``).
        cache_dir: frame cache folder (default ``root/.srlib_frame_cache``; the validation clips use
            ``val_root/.srlib_frame_cache`` unless it is set).
        strict: raise on unmatched names and bad files (``False``: warn and skip).
        holdout_frames: without ``val_root`` and ``val_dir``, validate on this many whole frames per
            training clip, taken half-way between the training frames (0: no validation; with ``clips``,
            any positive value holds out each video's last clip).
        clips: yield clips of this sampling instead of single frames (see above).
        lr_mode: with ``clips``: ``"paired"``, ``"degrade"`` or ``"codec"``.
        codec: with ``lr_mode="codec"``: a :class:`~srlib.data.video.codec.CodecSettings` or a mapping.
        **kwargs: see :class:`~srlib.data.datamodules.SRDataModule` (``scale``, ``patch_size``,
            ``batch_size``, ``num_workers``, ``samples_per_epoch``, ``val_dir``).

    Raises:
        TypeError: a sampling or policy field given on its own (``every_n=``, ``size_policy=``, ...).
        ValueError: invalid sampling or policy settings (checked here, when the config is built).

    Shape:
        - batch after transfer: lr ``(B, 3, p / scale, p / scale)``, hr ``(B, 3, p, p)`` float in [0, 1];
          with ``clips``, ``(B, T, 3, ...)`` each.

    Example:
        >>> dm = VideoPairDataModule(root="clips/", scale=3, patch_size=96,
        ...                          sampling=FrameSampling(every_n=25),
        ...                          policy={"size_policy": "resize_lr", "filter": "bicubic"})
        >>> dm.policy.size_policy, dm.sampling.every_n
        ('resize_lr', 25)
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        val_root: str | os.PathLike | None = None,
        sampling: FrameSampling | Mapping[str, Any] | None = None,
        policy: FramePairPolicy | Mapping[str, Any] | None = None,
        val_every_n: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        strict: bool = True,
        holdout_frames: int = 4,
        clips: ClipSampling | Mapping[str, Any] | None = None,
        lr_mode: str = "paired",
        codec: CodecSettings | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        reject_flat_settings("VideoPairDataModule", kwargs, only_flat=True)
        super().__init__(**kwargs)
        self.root, self.val_root = Path(root), (Path(val_root) if val_root is not None else None)
        # Validated now, so bad settings fail when the config is built, not at setup.
        self.sampling = as_sampling(sampling)
        self.policy = as_policy(policy, scale=self.scale)
        every_n = int(val_every_n) if val_every_n is not None else self.sampling.every_n
        self.val_sampling = dataclasses.replace(self.sampling, every_n=every_n)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.strict = strict
        if int(holdout_frames) < 0:
            raise ValueError(f"holdout_frames must be 0 or more, got {holdout_frames!r}.")
        self.holdout_frames = int(holdout_frames)
        self.clips = as_clip_sampling(clips) if clips is not None else None
        if lr_mode not in LR_MODES:
            raise ValueError(f"lr_mode must be one of {', '.join(LR_MODES)}, got {lr_mode!r}.")
        if lr_mode != "paired" and self.clips is None:
            raise ValueError(
                f"lr_mode={lr_mode!r} (LR made from HR videos) needs clips (data.clips.frames=T); single "
                "frame pairs come from paired lr/ and hr/ encodes only."
            )
        self.lr_mode = lr_mode
        self.codec = as_codec(codec) if lr_mode == "codec" else None
        if self.clips is not None and lr_mode == "degrade" and hasattr(self.degradation, "clip_consistent"):
            self.degradation.clip_consistent = True  # one parameter set per clip

    def _clip_dataset(self, root: Path, sub: str, split: str, **kwargs: Any) -> VideoClipDataset:
        return VideoClipDataset(
            root,
            self.scale,
            self.clips,
            lr_mode=self.lr_mode,
            policy=self.policy,
            codec=self.codec,
            cache_dir=self.cache_dir / sub if self.cache_dir is not None else None,
            strict=self.strict,
            split=split,
            **kwargs,
        )

    @property
    def _holds_out_clips(self) -> bool:
        return self.val_root is None and self.val_dir is None and self.holdout_frames > 0

    @property
    def holdout_sampling(self) -> FrameSampling | None:
        """Frames of the training clips used for validation when there is no other validation data."""
        if self.val_root is not None or self.val_dir is not None or not self.holdout_frames:
            return None
        step = self.sampling.every_n
        return dataclasses.replace(
            self.sampling, offset=self.sampling.offset + step // 2, max_frames_per_clip=self.holdout_frames
        )

    def _cache_for(self, sub: str) -> Path | None:
        if sub == "holdout":  # the training clips' own cache would replace entries of other samplings
            return (self.cache_dir or self.root / ".srlib_frame_cache") / "holdout"
        return self.cache_dir / sub if self.cache_dir is not None else None

    def prepare_data(self) -> None:
        """Decode the clips into the frame cache (once; later calls and runs only check it)."""
        if self.clips is not None:
            for root, sub in [(self.root, "train")] + ([(self.val_root, "val")] if self.val_root else []):
                cache_clips(
                    root,
                    settings=self.clips,
                    scale=self.scale,
                    policy=self.policy,
                    lr_mode=self.lr_mode,
                    codec=self.codec,
                    cache_dir=self.cache_dir / sub if self.cache_dir is not None else None,
                    strict=self.strict,
                )
            return
        jobs = [(self.root, self.sampling, "train")]
        if self.val_root is not None:
            jobs.append((self.val_root, self.val_sampling, "val"))
        elif self.holdout_sampling is not None:
            jobs.append((self.root, self.holdout_sampling, "holdout"))
        for root, sampling, sub in jobs:
            cache_frame_pairs(
                root,
                policy=self.policy,
                sampling=sampling,
                cache_dir=self._cache_for(sub),
                strict=self.strict,
            )

    def _dataset(self, root: Path, sampling: FrameSampling, sub: str, **kwargs: Any) -> VideoFramePairDataset:
        return VideoFramePairDataset(
            root,
            self.scale,
            sampling=sampling,
            policy=self.policy,
            cache_dir=self._cache_for(sub),
            strict=self.strict,
            **kwargs,
        )

    def build_train_dataset(self) -> Dataset:
        if self.clips is not None:
            dataset = self._clip_dataset(
                self.root,
                "train",
                "train" if self._holds_out_clips else "all",
                patch_size=self.patch_size,
                samples_per_epoch=self.samples_per_epoch,
            )
            return dataset
        dataset = self._dataset(
            self.root,
            self.sampling,
            "train",
            patch_size=self.patch_size,
            samples_per_epoch=self.samples_per_epoch,
        )
        self.policy = dataset.policy
        return dataset

    def build_val_dataset(self) -> Dataset | None:
        if self.clips is not None and self.val_root is not None:
            return self._clip_dataset(self.val_root, "val", "all", patch_size=None, augment=False)
        if self.clips is not None and self._holds_out_clips:
            return self._clip_dataset(self.root, "train", "holdout", patch_size=None, augment=False)
        if self.val_root is None and self.holdout_sampling is not None:
            if self.sampling.every_n < 2:
                raise ValueError(
                    "sampling.every_n=1 takes every frame for training, so none are left to validate on; "
                    "set data.val_root=FOLDER (clips for validation), data.holdout_frames=0, or every_n >= 2."
                )
            return self._dataset(self.root, self.holdout_sampling, "holdout", patch_size=None, augment=False)
        if self.val_root is None:
            return super().build_val_dataset()
        return self._dataset(self.val_root, self.val_sampling, "val", patch_size=None, augment=False)
