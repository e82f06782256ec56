"""Which frames are taken from a clip pair: every N-th HR frame, the LR frame nearest in time."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from srlib.data.video._fields import settings_from
from srlib.io.video import DecodedClip, header_fps, iter_frames, note_truncation, open_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSampling:
    """Which frames are taken from a clip pair, and what counts as a mismatch.

    Args:
        every_n: take HR frames ``offset, offset + every_n, ...`` (decode order = presentation order).
            The sampled frames of one clip are held in memory until its cache is written, so very small
            values on long clips need memory accordingly.
        offset: index of the first sampled HR frame.
        max_frames_per_clip: at most this many pairs per clip (``None``: no limit).
        max_time_offset: drop a pair whose nearest LR frame is more than this many LR frame periods
            from the HR frame's time (0.5: the LR frame must be the one that covers that time).
        mismatch_tolerance: report a clip whose LR and HR frame counts or durations differ by more than
            this fraction (0.02 = 2 %; any difference at all for short clips).
        align_start: measure times from each clip's first frame (encoders may start at different
            timestamps); ``False`` uses the raw presentation times.
    """

    every_n: int = 250
    offset: int = 0
    max_frames_per_clip: int | None = None
    max_time_offset: float = 0.5
    mismatch_tolerance: float = 0.02
    align_start: bool = True

    def __post_init__(self) -> None:
        if int(self.every_n) != self.every_n or self.every_n < 1:
            raise ValueError(f"every_n must be a positive integer, got {self.every_n!r}.")
        if int(self.offset) != self.offset or self.offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {self.offset!r}.")
        if self.max_frames_per_clip is not None and self.max_frames_per_clip < 1:
            raise ValueError(f"max_frames_per_clip must be >= 1 or None, got {self.max_frames_per_clip!r}.")
        if not self.max_time_offset > 0:
            raise ValueError(
                f"max_time_offset must be > 0 (in LR frame periods), got {self.max_time_offset!r}."
            )
        if not self.mismatch_tolerance >= 0:
            raise ValueError(f"mismatch_tolerance must be >= 0, got {self.mismatch_tolerance!r}.")


def as_sampling(value: FrameSampling | Mapping[str, Any] | None) -> FrameSampling:
    """A :class:`FrameSampling` from itself, a mapping of its fields (as Hydra passes) or ``None`` (defaults).

    Example:
        >>> as_sampling({"every_n": 25}).every_n
        25
    """
    return settings_from(FrameSampling, value, "sampling")


@dataclass(frozen=True)
class FramePair:
    """One sampled pair at native sizes: ``(H, W, 3)`` uint8 RGB arrays and their times (seconds)."""

    hr_index: int
    hr_time: float
    lr_index: int
    lr_time: float
    lr: np.ndarray
    hr: np.ndarray


@dataclass
class ClipReport:
    """What happened to one clip pair (also stored in its cache manifest).

    Attributes:
        name: the clip name.
        lr_file, hr_file: source file names.
        lr_frames, hr_frames: frames decoded.
        lr_fps, hr_fps: frame rates (from the frame times; the header's when fewer than 2 frames).
        lr_duration, hr_duration: seconds from the first frame to the end of the last.
        lr_size, hr_size: native ``(height, width)``.
        pairs: pairs kept.
        dropped: pairs dropped because no LR frame lay within ``max_time_offset`` periods.
        max_offset: largest |LR time - HR time| among the kept pairs, in seconds.
        warnings: every problem found (also logged).
        cached: loaded from the cache rather than decoded in this run.
    """

    name: str
    lr_file: str
    hr_file: str
    lr_frames: int = 0
    hr_frames: int = 0
    lr_fps: float = 0.0
    hr_fps: float = 0.0
    lr_duration: float = 0.0
    hr_duration: float = 0.0
    lr_size: tuple[int, int] = (0, 0)
    hr_size: tuple[int, int] = (0, 0)
    pairs: int = 0
    dropped: int = 0
    max_offset: float = 0.0
    warnings: list[str] = field(default_factory=list)
    cached: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipReport:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        for key in ("lr_size", "hr_size"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


R = TypeVar("R", bound="ClipReport")


def finish_decoding(decoded: DecodedClip, container: Any, path: Path) -> DecodedClip:
    """Note a truncated clip; a clip with no decodable frame is an error naming it."""
    note_truncation(decoded, container, path)
    if not decoded.times:
        problems = "; ".join(decoded.problems) or "empty stream"
        raise ValueError(f"No frame of video {path} could be decoded ({problems}).")
    return decoded


def _decode_every_nth(path: Path, sampling: FrameSampling) -> DecodedClip:
    """Decode ``path``; keep every ``every_n``-th frame (times relative to the first frame if aligned)."""
    problems: list[str] = []
    times: list[float] = []
    picks: list[tuple[int, float, np.ndarray]] = []
    size = (0, 0)
    with open_video(path) as container:
        fps = header_fps(container.streams.video[0])
        t0 = None
        for i, t, frame in iter_frames(container, path, problems):
            if t0 is None:
                t0 = t if sampling.align_start else 0.0
                size = (frame.height, frame.width)
            rt = t - t0
            times.append(rt)
            wanted = i >= sampling.offset and (i - sampling.offset) % sampling.every_n == 0
            if wanted and (sampling.max_frames_per_clip is None or len(picks) < sampling.max_frames_per_clip):
                picks.append((i, rt, frame.to_ndarray(format="rgb24")))
        return finish_decoding(DecodedClip(times, picks, size, fps, problems), container, path)


def timed_frames(
    container: Any,
    path: Path,
    problems: list[str],
    align_start: bool,
    times: list[float],
    size: list[tuple[int, int]],
) -> Iterator[tuple[int, float, Any]]:
    """:func:`~srlib.io.video.iter_frames` with times relative to the first frame (when ``align_start``);
    every frame's time is appended to ``times``, the first frame's ``(height, width)`` to ``size``."""
    t0 = None
    for i, t, frame in iter_frames(container, path, problems):
        if t0 is None:
            t0 = t if align_start else 0.0
            size.append((frame.height, frame.width))
        rt = t - t0
        times.append(rt)
        yield i, rt, frame


def nearest_frames(
    frames: Iterable[tuple[int, float, Any]], targets: Sequence[float]
) -> Iterator[tuple[int, tuple[int, float, Any]]]:
    """For each of the sorted ``targets`` (times), the frame of ``frames`` whose time is nearest.

    Yields ``(target index, (frame index, time, frame))`` in target order, as soon as each is decided,
    holding only the previous frame: when a frame's time passes a target, the target goes to this frame
    or the previous one, whichever is nearer (the earlier on a tie). Targets after the last frame get the
    last frame. ``frames`` is always consumed to its end (so a caller counting frames sees them all).
    """
    k, prev = 0, None
    for item in frames:
        rt = item[1]
        while k < len(targets) and rt >= targets[k]:
            if prev is not None and targets[k] - prev[1] <= rt - targets[k]:
                yield k, prev
            else:
                yield k, item
            k += 1
        if k == len(targets):
            prev = None  # every target is matched; keep counting frames without keeping any
            continue
        prev = item
    while k < len(targets) and prev is not None:
        yield k, prev  # targets after the last frame: the last frame (dropped later if too far)
        k += 1


def _decode_nearest(path: Path, targets: Sequence[float], align_start: bool) -> DecodedClip:
    """Decode ``path`` and pick, for each (sorted) target time, the frame with the nearest time
    (:func:`nearest_frames`)."""
    problems: list[str] = []
    times: list[float] = []
    picks: list[tuple[int, float, np.ndarray]] = []
    converted: dict[int, np.ndarray] = {}
    sizes: list[tuple[int, int]] = []
    with open_video(path) as container:
        fps = header_fps(container.streams.video[0])
        frames = timed_frames(container, path, problems, align_start, times, sizes)
        for _, (i, t, frame) in nearest_frames(frames, targets):
            if i not in converted:
                converted.clear()  # targets are sorted, so an earlier frame is never chosen again
                converted[i] = frame.to_ndarray(format="rgb24")
            picks.append((i, t, converted[i]))
        size = sizes[0] if sizes else (0, 0)
        return finish_decoding(DecodedClip(times, picks, size, fps, problems), container, path)


def pair_report(
    cls: type[R],
    name: str,
    lr_path: Path,
    hr_path: Path,
    lr: DecodedClip,
    hr: DecodedClip,
    tolerance: float,
) -> R:
    """The report of a decoded LR/HR pair: counts, rates, durations, sizes, decoding problems, and a
    warning each for frame counts or durations that differ by more than ``tolerance`` (relative)."""
    report = cls(
        name=name,
        lr_file=lr_path.name,
        hr_file=hr_path.name,
        lr_frames=len(lr.times),
        hr_frames=len(hr.times),
        lr_fps=round(1.0 / lr.period, 6),
        hr_fps=round(1.0 / hr.period, 6),
        lr_duration=round(lr.duration, 6),
        hr_duration=round(hr.duration, 6),
        lr_size=lr.size,
        hr_size=hr.size,
        warnings=[*hr.problems, *lr.problems],
    )
    if abs(report.lr_frames - report.hr_frames) > tolerance * max(report.lr_frames, report.hr_frames):
        report.warnings.append(f"frame counts differ: LR {report.lr_frames}, HR {report.hr_frames}")
    if abs(lr.duration - hr.duration) > tolerance * max(lr.duration, hr.duration) + 1e-6:
        report.warnings.append(f"durations differ: LR {lr.duration:.3f} s, HR {hr.duration:.3f} s")
    return report


def sample_frame_pairs(
    lr_path: str | os.PathLike,
    hr_path: str | os.PathLike,
    sampling: FrameSampling | None = None,
    *,
    name: str | None = None,
) -> tuple[list[FramePair], ClipReport]:
    """Decode one LR/HR clip pair and return its frame pairs, matched by presentation time.

    Every ``sampling.every_n``-th HR frame gives a target time; the LR frame nearest to it is its
    partner. Problems (truncation, frame-count or duration mismatch, pairs dropped for lack of an LR
    frame within ``max_time_offset`` periods) are logged as warnings and listed in the report.

    Args:
        lr_path, hr_path: the two encodes of one clip.
        sampling: sampling settings (default :class:`FrameSampling`).
        name: clip name for messages (default: the HR file's stem).

    Returns:
        The pairs (native sizes, ``(H, W, 3)`` uint8) and the :class:`ClipReport`.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file cannot be opened, has no video stream, or has no decodable frame.
    """
    sampling = sampling or FrameSampling()
    lr_path, hr_path = Path(lr_path), Path(hr_path)
    name = name or hr_path.stem
    hr = _decode_every_nth(hr_path, sampling)
    lr = _decode_nearest(lr_path, [t for _, t, _ in hr.picks], sampling.align_start)
    report = pair_report(ClipReport, name, lr_path, hr_path, lr, hr, sampling.mismatch_tolerance)

    limit = sampling.max_time_offset * lr.period + 1e-6
    pairs: list[FramePair] = []
    dropped_at: list[str] = []
    for (hi, ht, harr), (li, lt, larr) in zip(hr.picks, lr.picks, strict=True):
        offset = abs(lt - ht)
        if offset > limit:
            dropped_at.append(f"{ht:.3f}")
            continue
        report.max_offset = max(report.max_offset, round(offset, 6))
        pairs.append(FramePair(hi, ht, li, lt, larr, harr))
    report.pairs, report.dropped = len(pairs), len(dropped_at)
    if dropped_at:
        more = " ..." if len(dropped_at) > 8 else ""
        report.warnings.append(
            f"{len(dropped_at)} sampled HR frame(s) have no LR frame within {sampling.max_time_offset:g} LR "
            f"frame period(s) (HR times {', '.join(dropped_at[:8])}{more} s); those pairs are dropped"
        )
    if not hr.picks:
        report.warnings.append(
            f"no HR frame sampled: the clip has {len(hr.times)} frame(s), sampling starts at frame "
            f"{sampling.offset} (lower offset/every_n for short clips)"
        )
    for message in report.warnings:
        log.warning("Video pair %s: %s", name, message)
    return pairs, report
