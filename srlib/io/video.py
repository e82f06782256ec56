"""Opening and decoding video files with PyAV: frame iteration, header scans, truncation checks."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

__all__ = [
    "VIDEO_EXTENSIONS",
    "DecodedClip",
    "header_fps",
    "iter_frames",
    "note_truncation",
    "open_video",
    "probe_size",
    "same_size",
]

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".ts",
    ".mts",
    ".m2ts",
    ".flv",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".3gp",
    ".y4m",
)


@dataclass
class DecodedClip:
    """Frame times of one decoded clip, and the frames picked from it."""

    times: list[float]
    picks: list[tuple[int, float, np.ndarray]]
    size: tuple[int, int]
    header_fps: float | None
    problems: list[str]

    @property
    def period(self) -> float:
        if len(self.times) >= 2:
            steps = [b - a for a, b in zip(self.times[:-1], self.times[1:], strict=True) if b > a]
            if steps:
                return float(statistics.median(steps))
        return 1.0 / self.header_fps if self.header_fps else 0.04

    @property
    def duration(self) -> float:
        return (self.times[-1] - self.times[0] + self.period) if self.times else 0.0


def open_video(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading; clear errors for missing, unreadable and video-less files.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: FFmpeg cannot open it (corrupt, an .mp4 cut short, not a video) or it has no video
            stream; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Video file {path} does not exist.")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"Could not open video {path} ({err}). The file is corrupt, truncated (an .mp4 cut short loses "
            "its index) or not a video; re-encode or remove it."
        ) from err
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        raise ValueError(f"Video file {path} has no video stream (its streams: {kinds}).")
    return container


_open_video = open_video  # the old private name


def same_size(size: tuple[int, int] | None, frame: Any, path: Path, index: int) -> tuple[int, int]:
    """The ``(height, width)`` of a clip's frames; a frame of another size is an error naming the clip."""
    if size is not None and size != (frame.height, frame.width):
        raise ValueError(
            f"Video {path} changes frame size mid-stream ({size[1]}x{size[0]} -> "
            f"{frame.width}x{frame.height} at frame {index}); re-encode it at one size."
        )
    return (frame.height, frame.width)


def header_fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def iter_frames(container: Any, path: Path, problems: list[str]) -> Iterator[tuple[int, float, Any]]:
    """Decoded frames in presentation order as ``(index, time_s, frame)``; a decoding error ends the
    stream with a note in ``problems`` (what was decoded before it is kept)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    fps = header_fps(stream) or 25.0
    size = None
    index, prev_time, backwards = 0, -math.inf, 0
    try:
        for frame in container.decode(stream):
            size = same_size(size, frame, path, index)
            t = frame.time
            if t is None:  # no timestamp: continue at the header frame rate
                t = prev_time + 1.0 / fps if index else 0.0
            if t <= prev_time:
                backwards += 1
            yield index, float(t), frame
            prev_time = float(t)
            index += 1
    except av.FFmpegError as err:
        problems.append(
            f"{path.name}: decoding stopped after {index} frame(s) ({err}); the file looks truncated or "
            "corrupt, only the frames before that point are used"
        )
    if backwards:
        problems.append(f"{path.name}: {backwards} frame(s) with non-increasing timestamps")


def note_truncation(decoded: DecodedClip, container: Any, path: Path) -> None:
    """Note a clip that ends well before the length its header declares."""
    stream = container.streams.video[0]
    n_declared = int(stream.frames or 0)
    n = len(decoded.times)
    if n_declared and n < n_declared:
        decoded.problems.append(
            f"{path.name}: only {n} of the {n_declared} frames its header declares could be decoded "
            "(truncated?)"
        )
        return
    declared = _declared_duration(container, stream)
    if declared and n and declared - decoded.duration > 1.5 * decoded.period + 0.01 * declared:
        decoded.problems.append(
            f"{path.name}: decoded {decoded.duration:.3f} s of the {declared:.3f} s its header declares "
            "(truncated?)"
        )


def probe_size(path: Path) -> tuple[int, int]:
    """Fast header scan: open, find the video stream, return its ``(height, width)``."""
    with open_video(path) as container:
        ctx = container.streams.video[0].codec_context
        return int(ctx.height), int(ctx.width)
