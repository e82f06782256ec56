"""Video files with PyAV: opening, frame iteration, header scans, truncation checks, and encoding."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from srlib._fs import atomic_write

__all__ = [
    "VIDEO_EXTENSIONS",
    "DecodedClip",
    "VideoEncoder",
    "header_fps",
    "iter_frames",
    "note_truncation",
    "open_video",
    "probe_size",
    "require_encoder",
    "same_size",
    "write_video",
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


# ----------------------------------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------------------------------

#: Short codec names and the FFmpeg encoders they mean.
ENCODERS = {"h264": "libx264", "h265": "libx265", "hevc": "libx265"}
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def require_encoder(codec: str) -> str:
    """The FFmpeg encoder name for ``codec`` (``"h264"``, ``"h265"`` or an encoder name such as
    ``"libx264"``), checked against the encoders PyAV's FFmpeg was built with.

    Raises:
        ValueError: the encoder is missing, naming the fix.

    Example:
        >>> require_encoder("h264")
        'libx264'
    """
    name = ENCODERS.get(codec.lower(), codec)
    if name not in av.codecs_available:
        hint = " or use codec='h264'" if name != "libx264" else ""
        raise ValueError(
            f"PyAV's FFmpeg has no {name} encoder ({codec}); install a PyAV build that includes it "
            f"(the PyPI wheels do: pip install --force-reinstall av){hint}."
        )
    try:
        av.codec.Codec(name, "w")
    except (av.FFmpegError, ValueError) as err:
        raise ValueError(f"{name} is not an encoder PyAV can use here ({err}); pick another codec.") from err
    return name


class VideoEncoder:
    """Encode RGB frames (and optionally a mono audio track) into an open binary file with PyAV.

    A thin, deterministic writer: one encoder thread (x264/x265 give the same bytes on every run and
    machine for the same input and settings), constant frame rate, frame ``k`` at ``k / fps`` seconds.
    Use :func:`write_video` to write a file atomically.

    Args:
        file: a seekable binary file object (a file, ``io.BytesIO``).
        width, height: frame size (even for ``yuv420p``).
        fps: frames per second.
        container: FFmpeg muxer name (``"mp4"``, ``"matroska"``, ``"mov"``).
        codec: ``"h264"``, ``"h265"`` or an FFmpeg encoder name.
        crf: constant rate factor (0 = lossless for x264 8-bit); or
        bitrate: target bits per second (x264/x265 average bit rate).
        preset: encoder speed preset (``"ultrafast"`` ... ``"veryslow"``).
        pix_fmt: ``"yuv420p"`` (what video platforms store) or ``"yuv444p"``.
        gop: key-frame interval in frames (``None``: the encoder's default).
        audio_rate: sample rate of the audio track (``None``: no audio); AAC.

    Raises:
        ValueError: odd sizes with ``yuv420p``, both or neither of ``crf``/``bitrate``, a missing encoder.
    """

    def __init__(
        self,
        file: Any,
        *,
        width: int,
        height: int,
        fps: float,
        container: str = "mp4",
        codec: str = "h264",
        crf: float | None = None,
        bitrate: int | None = None,
        preset: str = "medium",
        pix_fmt: str = "yuv420p",
        gop: int | None = None,
        audio_rate: int | None = None,
    ) -> None:
        if (crf is None) == (bitrate is None):
            raise ValueError(f"Give exactly one of crf= and bitrate= (got crf={crf!r}, bitrate={bitrate!r}).")
        if pix_fmt == "yuv420p" and (width % 2 or height % 2):
            raise ValueError(
                f"Frame size {width}x{height} is odd; yuv420p video needs even sizes: use an even size or "
                "pix_fmt='yuv444p'."
            )
        encoder = require_encoder(codec)
        options = {"preset": str(preset)}
        if crf is not None:
            options["crf"] = f"{float(crf):g}"
        if encoder == "libx264":
            options["threads"] = "1"
        elif encoder == "libx265":
            options["x265-params"] = "log-level=error:pools=1:frame-threads=1"
        self.width, self.height, self.fps = int(width), int(height), Fraction(fps).limit_denominator(1001)
        self.container = av.open(file, mode="w", format=container)
        try:
            self.video = self.container.add_stream(encoder, rate=self.fps, options=options)
            self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, pix_fmt
            self.video.codec_context.thread_count = 1
            if bitrate is not None:
                self.video.bit_rate = int(bitrate)
            if gop is not None:
                self.video.codec_context.gop_size = int(gop)
            self.audio = None
            if audio_rate is not None:
                self.audio = self.container.add_stream("aac", rate=int(audio_rate), layout="mono")
                self.audio.bit_rate = 64_000
        except BaseException:
            self.container.close()
            raise
        self.frames = 0
        self.samples = 0

    def add(self, frame: np.ndarray) -> None:
        """Encode one ``(height, width, 3)`` uint8 RGB frame."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"Frame {self.frames} is {frame.dtype} {tuple(frame.shape)}; this encoder takes "
                f"({self.height}, {self.width}, 3) uint8 RGB frames."
            )
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts = self.frames
        picture.time_base = 1 / self.fps
        try:
            packets = self.video.encode(picture)
        except av.FFmpegError as err:
            small = " (libx265 needs frames of at least 16x16)" if self.video.name == "libx265" else ""
            raise ValueError(
                f"The {self.video.name} encoder refused {self.width}x{self.height} frames with "
                f"{dict(self.video.options)} ({err}){small}; change the size or the settings."
            ) from err
        self.container.mux(packets)
        self.frames += 1

    def add_audio(self, samples: np.ndarray) -> None:
        """Encode mono float samples in [-1, 1] (any length; cut into the encoder's frame size)."""
        if self.audio is None:
            raise ValueError("This encoder has no audio track; pass audio_rate= to add one.")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        size = self.audio.codec_context.frame_size or 1024
        for start in range(0, samples.size, size):
            chunk = np.ascontiguousarray(samples[None, start : start + size])
            piece = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            piece.sample_rate = self.audio.codec_context.sample_rate
            piece.pts = self.samples
            self.container.mux(self.audio.encode(piece))
            self.samples += chunk.shape[1]

    def close(self) -> None:
        """Flush the encoders and finish the container."""
        try:
            self.container.mux(self.video.encode())
            if self.audio is not None:
                self.container.mux(self.audio.encode())
        finally:
            self.container.close()

    def __enter__(self) -> VideoEncoder:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.container.close()


def write_video(
    path: str | os.PathLike,
    frames: Any,
    *,
    fps: float,
    audio: np.ndarray | None = None,
    audio_rate: int = 48_000,
    **options: Any,
) -> Path:
    """Encode ``frames`` (an iterable of ``(H, W, 3)`` uint8 RGB arrays) to ``path``, atomically.

    The file appears only once complete (:func:`srlib._fs.atomic_write`); the container follows the
    suffix (``.mp4``, ``.m4v``, ``.mov``, ``.mkv``).

    Args:
        path: the output file.
        frames: the frames, all of one size.
        fps: frames per second.
        audio: mono float samples in [-1, 1] for an AAC track (``None``: no audio).
        audio_rate: the samples' rate.
        **options: :class:`VideoEncoder` settings (``codec``, ``crf`` or ``bitrate``, ``preset``,
            ``pix_fmt``, ``gop``).

    Returns:
        ``path``.

    Raises:
        ValueError: an unsupported suffix, no frames, bad sizes or settings (nothing is written).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "grey.mp4"
        >>> frames = [np.full((16, 16, 3), 128, np.uint8)] * 3
        >>> _ = write_video(out, frames, fps=25, crf=0, preset="ultrafast")
        >>> probe_size(out)
        (16, 16)
    """
    path = Path(path)
    container = _MUXERS.get(path.suffix.lower())
    if container is None:
        raise ValueError(f"Cannot write {path}: use one of the suffixes {', '.join(_MUXERS)}.")
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"No frames to write to {path}.")

    def fill(file: Any) -> None:
        height, width = first.shape[:2]
        rate = audio_rate if audio is not None else None
        with VideoEncoder(
            file, width=width, height=height, fps=fps, container=container, audio_rate=rate, **options
        ) as encoder:
            encoder.add(first)
            for frame in iterator:
                encoder.add(frame)
            if audio is not None:
                encoder.add_audio(audio)

    atomic_write(path, fill)
    return path
