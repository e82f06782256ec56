"""Clips of ``T`` consecutive frames: where they start, scene cuts, short videos, and the clip cache.

A clip is ``T`` consecutive frames of one video. Clip starts are ``offset, offset + stride, ...``
(``stride`` defaults to ``T``: back-to-back clips, every frame used once), and only whole clips are
taken: the frames after the last whole clip of a video are not used. Three sources:

- **paired** (``lr_mode="paired"``): ``root/lr/NAME.*`` + ``root/hr/NAME.*`` (the Rutube layout). Each HR
  frame of a clip gets the LR frame nearest in presentation time (the rule of
  :func:`~srlib.data.video.sampling.sample_frame_pairs`, through
  :func:`~srlib.data.video.sampling.nearest_frames`), so encodes of different frame rates or lengths
  pair up; a clip with any frame whose nearest LR frame is more than ``max_time_offset`` LR periods away
  is dropped (counted, logged with the file names). Each pair then goes through the
  :class:`~srlib.data.video.policy.FramePairPolicy` (non-integer ratios such as 144p->480p included).
- **HR only** (``lr_mode="degrade"``): every video file and every image-sequence folder (a sub-folder of
  frames, in name order) directly under ``root``; frames are cropped at the bottom/right to a multiple of
  ``scale``; the LR is made later, on the device, by the DataModule's degradation.
- **real codec** (``lr_mode="codec"``): HR only, with the LR made here by :mod:`srlib.data.video.codec`
  (antialiased downscale to ``HR / scale``, an H.264/H.265 encode of the whole video, decoded back).

**Scene cuts.** A clip whose consecutive frames (LR when paired, HR otherwise) differ by more than
``scene_cut_threshold`` in :func:`scene_cut_score` (the mean over R, G, B of the total-variation distance
of 16-bin histograms: 0 = same colours, 1 = disjoint; motion barely changes it, a cut does: consecutive
frames of a pan of 8 px per frame over a 96 px frame score <= 0.08, cuts between T91 photos >= 0.17) is
**skipped** (not split: the clip starts are fixed before decoding, so every frame is decoded once), and
the count is logged.

**Short videos.** A video with fewer than ``offset + T`` frames has no whole clip: ``short_clips="skip"``
(default) leaves it out with a warning naming the file; ``"reflect"`` pads its frames by reflection in
time (``0 1 2 1 0 1 ...``) to one clip of ``T`` frames.

**Cache.** One :class:`srlib._cache.HashedCache` entry per video, filled once (the frames are decoded
once, streamed to ``(3, H, W)`` uint8 ``.npy`` files, never held all in memory) and committed by its
manifest: ``hr_<index>.npy`` / ``lr_<index>.npy`` per used frame (overlapping clips share files) and the
clip list. The key hashes the sources' names, sizes and times, the :class:`ClipSampling`, the policy,
the LR mode, the scale and the codec settings: changing ``T`` or the stride re-decodes that video, nothing
else does.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srlib._cache import HashedCache, digest, file_stamp
from srlib.data.video._fields import settings_from
from srlib.data.video.codec import CodecSettings, LowResEncoder
from srlib.data.video.dataset import find_clip_pairs, frame_cache_dir, raise_or_warn
from srlib.data.video.policy import FramePairPolicy
from srlib.data.video.sampling import (
    ClipReport,
    finish_decoding,
    nearest_frames,
    pair_report,
    timed_frames,
)
from srlib.io.images import list_images, read_image
from srlib.io.video import VIDEO_EXTENSIONS, DecodedClip, header_fps, open_video, probe_size

__all__ = [
    "LR_MODES",
    "SHORT_CLIP_RULES",
    "CachedVideo",
    "ClipSampling",
    "VideoClipsReport",
    "as_clip_sampling",
    "cache_clips",
    "find_hr_videos",
    "reflect_indices",
    "scene_cut_score",
    "spread",
]

log = logging.getLogger(__name__)

LR_MODES = ("paired", "degrade", "codec")
SHORT_CLIP_RULES = ("skip", "reflect")
_CACHE_VERSION = 1
_SEQUENCE_FPS = 25.0  # the frame rate given to an image sequence (it has no timestamps)


@dataclass(frozen=True)
class ClipSampling:
    """Which clips are taken from a video, and the rules for cuts, short videos and pair alignment.

    Args:
        frames: ``T``, frames per clip.
        stride: frames from one clip start to the next (default ``frames``: back to back; smaller values
            overlap clips, larger ones leave gaps).
        offset: index of the first clip's first frame.
        max_clips_per_video: at most this many clips per video (``None``: all).
        scene_cut_threshold: skip clips with a consecutive-frame :func:`scene_cut_score` above this
            (``None``: no detection).
        short_clips: ``"skip"`` or ``"reflect"`` a video too short for one clip.
        max_time_offset: paired: the largest LR-HR time difference in LR frame periods.
        mismatch_tolerance: paired: report frame counts or durations that differ by more than this
            fraction.
        align_start: paired: measure times from each file's first frame.

    Example:
        >>> s = ClipSampling(frames=3, stride=5)
        >>> s.starts(14), s.wanted(6), s.wanted(8)
        ([0, 5, 10], True, False)
    """

    frames: int
    stride: int | None = None
    offset: int = 0
    max_clips_per_video: int | None = None
    scene_cut_threshold: float | None = 0.15
    short_clips: str = "skip"
    max_time_offset: float = 0.5
    mismatch_tolerance: float = 0.02
    align_start: bool = True

    def __post_init__(self) -> None:
        for name in ("frames", "stride", "offset", "max_clips_per_video"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value):
                raise ValueError(f"clip {name} must be a whole number, got {value!r}.")
        if self.frames < 1:
            raise ValueError(f"clip frames must be >= 1, got {self.frames!r}.")
        object.__setattr__(self, "frames", int(self.frames))
        stride = self.frames if self.stride is None else int(self.stride)
        if stride < 1:
            raise ValueError(f"clip stride must be >= 1 frame, got {self.stride!r}.")
        object.__setattr__(self, "stride", stride)
        if self.offset < 0:
            raise ValueError(f"clip offset must be >= 0, got {self.offset!r}.")
        if self.max_clips_per_video is not None and self.max_clips_per_video < 1:
            raise ValueError(f"max_clips_per_video must be >= 1 or None, got {self.max_clips_per_video!r}.")
        if self.scene_cut_threshold is not None and not 0 < self.scene_cut_threshold <= 1:
            raise ValueError(
                f"scene_cut_threshold must be in (0, 1] (a histogram distance) or None, "
                f"got {self.scene_cut_threshold!r}."
            )
        if self.short_clips not in SHORT_CLIP_RULES:
            raise ValueError(
                f"short_clips must be one of {', '.join(SHORT_CLIP_RULES)}, got {self.short_clips!r}."
            )
        if not self.max_time_offset > 0:
            raise ValueError(f"max_time_offset must be > 0 (LR frame periods), got {self.max_time_offset!r}.")
        if not self.mismatch_tolerance >= 0:
            raise ValueError(f"mismatch_tolerance must be >= 0, got {self.mismatch_tolerance!r}.")

    def starts(self, n_frames: int) -> list[int]:
        """The first frame of every whole clip of a video of ``n_frames`` frames."""
        last = n_frames - self.frames
        count = max(0, (last - self.offset) // self.stride + 1) if last >= self.offset else 0
        if self.max_clips_per_video is not None:
            count = min(count, self.max_clips_per_video)
        return [self.offset + k * self.stride for k in range(count)]

    def wanted(self, index: int) -> bool:
        """Whether frame ``index`` lies in some clip (of a video long enough for it)."""
        j = index - self.offset
        if j < 0:
            return False
        k_max = j // self.stride
        if self.max_clips_per_video is not None:
            k_max = min(k_max, self.max_clips_per_video - 1)
        return j - k_max * self.stride < self.frames


def as_clip_sampling(value: ClipSampling | Mapping[str, Any] | None, **defaults: Any) -> ClipSampling:
    """A :class:`ClipSampling` from itself or a mapping of its fields (as Hydra passes)."""
    return settings_from(ClipSampling, value, "clips", **defaults)


def reflect_indices(n: int, length: int) -> list[int]:
    """``length`` indices into ``n`` frames, reflected in time at both ends (``0 1 2 1 0 1 ...``).

    Example:
        >>> reflect_indices(3, 7), reflect_indices(1, 3)
        ([0, 1, 2, 1, 0, 1, 2], [0, 0, 0])
    """
    if n < 1:
        raise ValueError("reflect_indices needs at least one frame.")
    if n == 1:
        return [0] * length
    period = 2 * (n - 1)
    return [k % period if k % period < n else period - k % period for k in range(length)]


def _histogram(frame: np.ndarray) -> np.ndarray:
    """``(3, 16)`` normalised colour histograms of an ``(H, W, 3)`` uint8 frame."""
    bins = frame.reshape(-1, 3) >> 4  # 16 levels per channel
    counts = np.stack([np.bincount(bins[:, c], minlength=16) for c in range(3)]).astype(np.float64)
    return counts / max(1, bins.shape[0])


def scene_cut_score(a: np.ndarray, b: np.ndarray) -> float:
    """How unlike two frames' colours are: the mean over R, G, B of the total-variation distance of their
    16-bin histograms (0 = same histograms, 1 = disjoint). Cheap and nearly blind to motion.

    Args:
        a, b: ``(H, W, 3)`` uint8 frames (sizes may differ).

    Example:
        >>> black, white = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
        >>> scene_cut_score(black, black), scene_cut_score(black, white)
        (0.0, 1.0)
    """
    return float(0.5 * np.abs(_histogram(a) - _histogram(b)).sum(axis=1).mean())


@dataclass
class VideoClipsReport(ClipReport):
    """What happened to one video (or pair): the :class:`ClipReport` fields plus the clip counts.

    For HR-only videos the ``lr_*`` fields stay empty and ``hr_file`` names the source.

    Attributes:
        clips: clips kept.
        scene_cut_clips: clips skipped because they cross a scene cut.
        unaligned_clips: clips dropped because a frame had no LR frame within ``max_time_offset``.
        padded: the video was shorter than one clip and padded by reflection in time.
        short: the video was shorter than one clip and skipped.
    """

    clips: int = 0
    scene_cut_clips: int = 0
    unaligned_clips: int = 0
    padded: bool = False
    short: bool = False


@dataclass
class CachedVideo:
    """One video's cached clips.

    Attributes:
        name: the video (pair) name.
        directory: its cache folder.
        clips: the clips, each a list of ``T`` frame indices (keys of ``frames``).
        frames: frame index -> ``{"hr": file, "lr": file or None, ...}``.
        hr_size, lr_size: ``(height, width)`` of the cached frames (``lr_size`` ``None`` without LR).
        report: what happened.
    """

    name: str
    directory: Path
    clips: list[list[int]]
    frames: dict[int, dict[str, Any]]
    hr_size: tuple[int, int]
    lr_size: tuple[int, int] | None
    report: VideoClipsReport


# ----------------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------------


def find_hr_videos(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """The HR sources directly under ``root``: video files and image-sequence folders, sorted by name.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no source, two sources with one name, or a sub-folder holding videos (the Rutube
            layout given to an HR-only mode), naming the fix.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"HR video folder {root} does not exist.")
    found: dict[str, list[Path]] = {}
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
            found.setdefault(p.stem, []).append(p)
        elif p.is_dir():
            if list_images(p):
                found.setdefault(p.name, []).append(p)
            elif any(q.suffix.lower() in VIDEO_EXTENSIONS for q in p.iterdir() if q.is_file()):
                raise ValueError(
                    f"{p} holds videos, not image frames: for HR-only clips pass root={p} (its videos), or "
                    f"lr_mode='paired' for the {root}/lr + {root}/hr layout."
                )
    twins = [f"{n}: {', '.join(q.name for q in ps)}" for n, ps in found.items() if len(ps) > 1]
    if twins:
        raise ValueError(
            f"{root} holds several sources with one name: {'; '.join(twins)}; keep one per name."
        )
    if not found:
        raise ValueError(
            f"No HR videos under {root} (looked for {', '.join(VIDEO_EXTENSIONS)} files and folders of "
            "image frames)."
        )
    return [(n, ps[0]) for n, ps in found.items()]


def _source_stamp(path: Path) -> Any:
    if path.is_dir():
        return [path.name, digest([file_stamp(p, name_only=True) for p in list_images(path)])]
    return file_stamp(path, name_only=True)


def _iter_source(path: Path, problems: list[str], times: list[float]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, (H, W, 3) uint8)`` of a video file or an image-sequence folder, in order."""
    if path.is_dir():
        size = None
        for i, image in enumerate(list_images(path)):
            frame = read_image(image).permute(1, 2, 0).numpy()
            if size is not None and frame.shape != size:
                raise ValueError(
                    f"Image sequence {path}: {image.name} is {frame.shape[1]}x{frame.shape[0]}, the frames "
                    f"before it {size[1]}x{size[0]}; make every frame one size."
                )
            size = frame.shape
            times.append(i / _SEQUENCE_FPS)
            yield i, frame
        return
    with open_video(path) as container:
        sizes: list[tuple[int, int]] = []
        for i, _, frame in timed_frames(container, path, problems, True, times, sizes):
            yield i, frame.to_ndarray(format="rgb24")
        fps = header_fps(container.streams.video[0])
        finish_decoding(DecodedClip(times, [], sizes[0] if sizes else (0, 0), fps, problems), container, path)


# ----------------------------------------------------------------------------------------------------
# Building one video's entry
# ----------------------------------------------------------------------------------------------------


def _save(folder: Path, name: str, chw: torch.Tensor | np.ndarray) -> str:
    array = chw.numpy() if isinstance(chw, torch.Tensor) else chw
    np.save(folder / name, np.ascontiguousarray(array), allow_pickle=False)
    return name


def _chw(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)


def _modcrop(frame: np.ndarray, scale: int, where: str) -> np.ndarray:
    h, w = frame.shape[:2]
    if min(h, w) < scale:
        raise ValueError(f"{where}: frames of {w}x{h} are smaller than scale x{scale}.")
    return frame[: h - h % scale, : w - w % scale]


class _Clips:
    """Clip selection of one video once its frames are known: whole clips, the short rule, cuts."""

    def __init__(self, settings: ClipSampling, report: VideoClipsReport, where: str) -> None:
        self.settings, self.report, self.where = settings, report, where

    def choose(self, n_frames: int, usable: set[int], thumbs: dict[int, np.ndarray]) -> list[list[int]]:
        s = self.settings
        clips = [list(range(start, start + s.frames)) for start in s.starts(n_frames)]
        if not clips:
            have = max(0, n_frames - s.offset)
            head = f"{self.where}: {have} frame(s) from frame {s.offset}, fewer than clip_frames={s.frames}"
            if s.short_clips == "reflect" and have:
                clips = [[s.offset + k for k in reflect_indices(have, s.frames)]]
                self.report.padded = True
                self.report.warnings.append(f"{head}: padded by reflection in time (short_clips='reflect')")
            else:
                self.report.short = True
                self.report.warnings.append(
                    f"{head}: skipped (short_clips='skip'); lower clip_frames, or short_clips='reflect' to "
                    "pad short videos by reflection in time"
                )
                return []
        kept = []
        for clip in clips:
            if not all(i in usable for i in clip):
                self.report.unaligned_clips += 1
                continue
            if s.scene_cut_threshold is not None and any(
                scene_cut_score(thumbs[a], thumbs[b]) > s.scene_cut_threshold
                for a, b in itertools.pairwise(clip)
                if a != b
            ):
                self.report.scene_cut_clips += 1
                continue
            kept.append(clip)
        if self.report.scene_cut_clips:
            self.report.warnings.append(
                f"{self.where}: {self.report.scene_cut_clips} clip(s) cross a scene cut "
                f"(score > scene_cut_threshold={s.scene_cut_threshold:g}) and are skipped"
            )
        self.report.clips = len(kept)
        return kept


def _thumb(frame: np.ndarray) -> np.ndarray:
    """Every other pixel of a frame larger than 128 px: enough for the colour histograms."""
    step = max(1, min(frame.shape[:2]) // 128)
    return frame[::step, ::step]


def _build_paired(
    folder: Path, name: str, lr_path: Path, hr_path: Path, settings: ClipSampling, policy: FramePairPolicy
) -> dict[str, Any]:
    where = f"{lr_path.name} / {hr_path.name} ({name})"
    hr_problems: list[str] = []
    hr_times: list[float] = []
    hr_sizes: list[tuple[int, int]] = []
    wanted: list[tuple[int, float]] = []
    with open_video(hr_path) as container:
        fps = header_fps(container.streams.video[0])
        for i, t, frame in timed_frames(
            container, hr_path, hr_problems, settings.align_start, hr_times, hr_sizes
        ):
            if settings.wanted(i):
                _save(folder, f"raw_{i:06d}.npy", frame.to_ndarray(format="rgb24"))
                wanted.append((i, t))
        hr = finish_decoding(
            DecodedClip(hr_times, [], hr_sizes[0] if hr_sizes else (0, 0), fps, hr_problems),
            container,
            hr_path,
        )
    lr_problems: list[str] = []
    lr_times: list[float] = []
    lr_sizes: list[tuple[int, int]] = []
    thumbs: dict[int, np.ndarray] = {}
    matched: dict[int, tuple[int, float, float]] = {}
    frames: dict[int, dict[str, Any]] = {}
    sizes: tuple[tuple[int, int], tuple[int, int]] | None = None
    with open_video(lr_path) as container:
        fps = header_fps(container.streams.video[0])
        decoded = timed_frames(container, lr_path, lr_problems, settings.align_start, lr_times, lr_sizes)
        last: tuple[int, np.ndarray] | None = None
        for k, (li, lt, lframe) in nearest_frames(decoded, [t for _, t in wanted]):
            hi, ht = wanted[k]
            if last is None or last[0] != li:
                last = (li, lframe.to_ndarray(format="rgb24"))
            raw = folder / f"raw_{hi:06d}.npy"
            lr_t, hr_t = policy.apply(_chw(last[1]), _chw(np.load(raw)), name)
            raw.unlink()
            frames[hi] = {
                "lr": _save(folder, f"lr_{hi:06d}.npy", lr_t.contiguous()),
                "hr": _save(folder, f"hr_{hi:06d}.npy", hr_t.contiguous()),
                "lr_index": li,
                "lr_time": round(lt, 6),
                "hr_time": round(ht, 6),
            }
            sizes = (tuple(lr_t.shape[-2:]), tuple(hr_t.shape[-2:]))
            thumbs[hi] = _thumb(last[1])
            matched[hi] = (li, lt, ht)
        lr = finish_decoding(
            DecodedClip(lr_times, [], lr_sizes[0] if lr_sizes else (0, 0), fps, lr_problems),
            container,
            lr_path,
        )
    report = pair_report(VideoClipsReport, name, lr_path, hr_path, lr, hr, settings.mismatch_tolerance)
    limit = settings.max_time_offset * lr.period + 1e-6
    usable = {i for i, (_, lt, ht) in matched.items() if abs(lt - ht) <= limit}
    if usable:
        report.max_offset = round(max(abs(matched[i][1] - matched[i][2]) for i in usable), 6)
    report.dropped = len(matched) - len(usable)
    clips = _Clips(settings, report, where).choose(len(hr_times), usable, thumbs)
    if report.unaligned_clips:
        report.warnings.append(
            f"{where}: {report.unaligned_clips} clip(s) have frames with no LR frame within "
            f"{settings.max_time_offset:g} LR frame period(s) and are dropped"
        )
    return _finish_entry(folder, name, clips, frames, report, sizes)


def _build_hr_only(
    folder: Path,
    name: str,
    path: Path,
    settings: ClipSampling,
    scale: int,
    codec: CodecSettings | None,
) -> dict[str, Any]:
    where = f"{path.name} ({name})"
    problems: list[str] = []
    times: list[float] = []
    frames: dict[int, dict[str, Any]] = {}
    thumbs: dict[int, np.ndarray] = {}
    encoder: LowResEncoder | None = None
    hr_size = None
    for i, frame in _iter_source(path, problems, times):
        frame = _modcrop(frame, scale, where)
        if encoder is None and codec is not None:
            hr_size = frame.shape[:2]
            encoder = LowResEncoder((hr_size[0] // scale, hr_size[1] // scale), codec)
        if encoder is not None:
            encoder.add(frame)
        if settings.wanted(i):
            frames[i] = {"hr": _save(folder, f"hr_{i:06d}.npy", _chw(frame)), "lr": None, "hr_time": times[i]}
            thumbs[i] = _thumb(frame)
            hr_size = frame.shape[:2]
    if not times:
        raise ValueError(f"No frame of {path} could be decoded ({'; '.join(problems) or 'empty'}).")
    lr_size = None
    if encoder is not None:
        for j, lr in enumerate(encoder.decode()):
            if j in frames:
                frames[j]["lr"] = _save(folder, f"lr_{j:06d}.npy", _chw(lr))
                lr_size = lr.shape[:2]
        missing = [i for i, f in frames.items() if f["lr"] is None]
        if missing:
            raise ValueError(
                f"{where}: the codec returned {encoder.frames - len(missing)} of the frames; "
                "re-encode the source."
            )
    fps = 1.0 / (float(np.median(np.diff(times))) if len(times) > 1 else 1 / _SEQUENCE_FPS)
    report = VideoClipsReport(
        name=name,
        lr_file="",
        hr_file=path.name,
        hr_frames=len(times),
        hr_fps=round(fps, 6),
        hr_duration=round(len(times) / fps, 6),
        hr_size=tuple(hr_size) if hr_size is not None else (0, 0),
        lr_size=tuple(lr_size) if lr_size is not None else (0, 0),
        lr_frames=encoder.frames if encoder is not None else 0,
        warnings=list(problems),
    )
    clips = _Clips(settings, report, where).choose(len(times), set(frames), thumbs)
    sizes = (tuple(lr_size), tuple(hr_size)) if lr_size is not None else (None, tuple(hr_size or (0, 0)))
    return _finish_entry(folder, name, clips, frames, report, sizes)


def _finish_entry(
    folder: Path,
    name: str,
    clips: list[list[int]],
    frames: dict[int, dict[str, Any]],
    report: VideoClipsReport,
    sizes: tuple[Any, Any] | None,
) -> dict[str, Any]:
    """Delete the files of frames in no kept clip; the manifest's contents."""
    used = {i for clip in clips for i in clip}
    for i, entry in list(frames.items()):
        if i not in used:
            for which in ("lr", "hr"):
                if entry.get(which):
                    (folder / entry[which]).unlink(missing_ok=True)
            del frames[i]
    for leftover in folder.glob("raw_*.npy"):
        leftover.unlink()
    report.pairs = len(frames)
    lr_size, hr_size = sizes if sizes is not None else (None, None)
    return {
        "name": name,
        "report": dataclasses.asdict(report),
        "clips": clips,
        "frames": {str(i): entry for i, entry in sorted(frames.items())},
        "lr_size": list(lr_size) if lr_size else None,
        "hr_size": list(hr_size) if hr_size else None,
    }


# ----------------------------------------------------------------------------------------------------
# The cache of a folder of videos
# ----------------------------------------------------------------------------------------------------


def _loaded(name: str, directory: Path, manifest: dict[str, Any], cached: bool) -> CachedVideo:
    report = VideoClipsReport.from_dict(manifest["report"])
    report.cached = cached
    frames = {int(k): v for k, v in manifest["frames"].items()}
    lr_size = tuple(manifest["lr_size"]) if manifest.get("lr_size") else None
    hr_size = tuple(manifest["hr_size"]) if manifest.get("hr_size") else (0, 0)
    return CachedVideo(
        name, directory, [list(c) for c in manifest["clips"]], frames, hr_size, lr_size, report
    )


def cache_clips(
    root: str | os.PathLike,
    *,
    settings: ClipSampling,
    scale: int,
    policy: FramePairPolicy | None = None,
    lr_mode: str = "paired",
    codec: CodecSettings | None = None,
    cache_dir: str | os.PathLike | None = None,
    strict: bool = True,
    lr_dir: str = "lr",
    hr_dir: str = "hr",
) -> list[CachedVideo]:
    """Make sure every video under ``root`` has its clips in the cache (decoding only what is missing).

    Args:
        root: ``lr_dir``/``hr_dir`` folders (``"paired"``) or a folder of HR videos and image-sequence
            folders (``"degrade"``, ``"codec"``).
        settings: the :class:`ClipSampling`.
        scale: the SR scale.
        policy: paired: the size policy (default exact pairs, ``size_policy="none"``).
        lr_mode: ``"paired"``, ``"degrade"`` or ``"codec"`` (see the module docstring).
        codec: ``"codec"`` mode: the :class:`~srlib.data.video.codec.CodecSettings` (default CRF 30 H.264).
        cache_dir: the cache folder (default ``root/.srlib_frame_cache``).
        strict: raise on bad files (``False``: warn and skip them).
        lr_dir, hr_dir: paired sub-folder names.

    Returns:
        One :class:`CachedVideo` per usable video, sorted by name (those without clips included).

    Raises:
        ValueError: bad files (with ``strict``: every problem listed, each naming its file), or no clip
            at all.
    """
    if lr_mode not in LR_MODES:
        raise ValueError(f"lr_mode must be one of {', '.join(LR_MODES)}, got {lr_mode!r}.")
    root = Path(root)
    policy = policy or FramePairPolicy(scale=scale)
    if lr_mode == "codec":
        codec = codec or CodecSettings()
        codec.check_available()
    cache_dir = frame_cache_dir(root, cache_dir, "clip")
    cache = HashedCache(cache_dir, version=_CACHE_VERSION)
    cache.clean_interrupted()

    if lr_mode == "paired":
        sources = [
            (n, (lr, hr)) for n, lr, hr in find_clip_pairs(root, lr_dir=lr_dir, hr_dir=hr_dir, strict=strict)
        ]
    else:
        sources = [(n, (p,)) for n, p in find_hr_videos(root)]

    common = {
        "clips": dataclasses.asdict(settings),
        "lr_mode": lr_mode,
        "scale": int(scale),
        "policy": policy.cache_fields() if lr_mode == "paired" else None,
        "codec": codec.cache_fields() if lr_mode == "codec" else None,
    }
    videos: list[CachedVideo] = []
    pending = []
    for name, paths in sources:
        content = {**common, "sources": [_source_stamp(p) for p in paths]}
        entry = cache.entry(name, source={"clips": name, "lr_mode": lr_mode}, content=content)
        manifest = cache.load(entry)
        if manifest is None:
            pending.append((name, paths, entry))
            continue
        video = _loaded(name, entry.directory, manifest, cached=True)
        for message in video.report.warnings:
            log.warning("Video %s (cached): %s", name, message)
        videos.append(video)

    problems: list[str] = []
    good = []
    for name, paths, entry in pending:  # header scan: every bad file reported before long decoding
        try:
            if lr_mode == "paired":
                lr_size, hr_size = probe_size(paths[0]), probe_size(paths[1])
                if min(*lr_size, *hr_size) > 0:
                    policy.check(lr_size, hr_size, name)
            elif paths[0].is_file():
                probe_size(paths[0])
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"  {err}")
            continue
        good.append((name, paths, entry))
    raise_or_warn(problems, strict, "while scanning the video headers", "video")

    if good:
        log.info("Decoding %d video(s) into the clip cache %s (%s)", len(good), cache_dir, lr_mode)
    problems = []
    for name, paths, entry in good:
        if lr_mode == "paired":

            def fill(folder: Path, name: str = name, paths: tuple = paths) -> dict[str, Any]:
                return _build_paired(folder, name, paths[0], paths[1], settings, policy)
        else:

            def fill(folder: Path, name: str = name, paths: tuple = paths) -> dict[str, Any]:
                return _build_hr_only(
                    folder, name, paths[0], settings, scale, codec if lr_mode == "codec" else None
                )

        try:
            manifest = cache.build(entry, fill)
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"  {err}")
            continue
        video = _loaded(name, entry.directory, manifest, cached=False)
        for message in video.report.warnings:
            log.warning("Video %s: %s", name, message)
        videos.append(video)
    raise_or_warn(problems, strict, "while decoding the videos", "video")

    videos.sort(key=lambda v: v.name)
    _log_summary(videos, settings, root)
    if not any(v.clips for v in videos):
        raise ValueError(
            f"No usable clip of {settings.frames} frames from the videos under {root}; see the warnings "
            "above "
            "(lower clip_frames, set short_clips='reflect', or raise scene_cut_threshold)."
        )
    return videos


def _log_summary(videos: list[CachedVideo], settings: ClipSampling, root: Path) -> None:
    total = sum(len(v.clips) for v in videos)
    cuts = sum(v.report.scene_cut_clips for v in videos)
    unaligned = sum(v.report.unaligned_clips for v in videos)
    short = sum(v.report.short for v in videos)
    padded = sum(v.report.padded for v in videos)
    log.info(
        "%s: %d clip(s) of %d frames (stride %d) from %d video(s); skipped: %d at scene cuts "
        "(threshold %s), %d without aligned LR frames; short videos: %d skipped, %d padded by reflection",
        root,
        total,
        settings.frames,
        settings.stride,
        len(videos),
        cuts,
        settings.scene_cut_threshold,
        unaligned,
        short,
        padded,
    )


def spread(n: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n)`` (the middle of each of ``count`` equal runs).

    Example:
        >>> spread(10, 3)
        [1, 5, 8]
    """
    count = max(0, min(count, n))
    return [(2 * i + 1) * n // (2 * count) for i in range(count)]
