"""Upscale a video file: PyAV decode -> batches of frames -> model -> encode, streamed in three threads.

:func:`upscale_video` runs three stages that overlap:

* **decode** (a worker thread): demuxes the input, decodes the video to RGB frames in batches and
  collects the audio packets (copied, never re-encoded);
* **compute** (a worker thread): runs each batch through the :class:`~srlib.inference.engine.Upscaler`
  (and the :class:`~srlib.inference.output_size.OutputSize`, when given); a temporal model runs
  frame-in/frame-out through a :class:`~srlib.inference.temporal.TemporalStream` (a window buffer
  or a carried state, reset at scene cuts), each output keeping its own input frame's timestamp;
* **encode** (the calling thread): converts to ``yuv420p``, encodes (H.264 by default) and muxes the
  frames with their original timestamps, and the audio packets unchanged.

The stages are joined by two queues of :data:`QUEUE_DEPTH` batches each, so at most
``QUEUE_DEPTH`` decoded and ``QUEUE_DEPTH`` upscaled batches wait between stages, besides the one
batch each stage holds: memory is bounded by the batch size, not by the length of the video. An
exception in any stage stops the other two (they poll a shared stop flag while waiting), both worker
threads are joined, and the first exception is raised in the caller.

The result is written to a hidden temporary sibling of ``dst`` (``.NAME.*.tmp``, as
:func:`srlib._fs.atomic_write`) and renamed into place only once the whole video is encoded and
checked, so an interrupted or failed job leaves nothing that looks finished.

What the input's container says is honoured, or the job is refused before any work:

* **rotation**: a display matrix (a phone's portrait clip is stored landscape with a 90-degree
  matrix) is applied to the frames, so the model sees, and the output stores, upright frames (the
  output carries no matrix and plays the right way up in every player and container);
* **several video streams**: one is upscaled; with two or more (cover pictures not counted) the
  caller picks it with ``video_stream=N``, else the job is refused with a list of them;
* **timestamps**: a container that stores a variable frame rate (MP4, MOV, MKV, WebM, TS, FLV) keeps
  every frame's time; one that holds a constant rate only (AVI) gets the input's times on its frame
  grid (each within half a frame; refused when two frames would share a slot) and no B-frames, which
  it cannot store; the declared duration is the input's (the end of the last frame);
* **pixel limit**: frames over ``max_pixels`` (:func:`srlib.io.images.max_image_pixels`, as for
  images) are refused from the header.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srlib._fs import atomic_write
from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.inference.temporal import DEFAULT_SCENE_CUT, TemporalStream, temporal_kind
from srlib.io.images import MAX_PIXELS_ENV, max_image_pixels
from srlib.io.video import open_video, same_size

__all__ = ["QUEUE_DEPTH", "VideoReport", "upscale_video"]

log = logging.getLogger(__name__)

QUEUE_DEPTH = 2
"""Batches that may wait between two stages (decode -> compute, compute -> encode)."""

_POLL_S = 0.05  # how often a waiting stage looks at the stop flag
_END = object()  # end of stream, sent down the queues
_STOPPED = object()  # returned by a wait interrupted by the stop flag
_AVCOL_SPC_BT709 = 1
_AVCOL_TRC_SMPTE2084, _AVCOL_TRC_ARIB_STD_B67 = 16, 18  # PQ (HDR10) and HLG transfers
_AVFMT_VARIABLE_FPS = 0x0400  # libavformat: the muxer stores each frame's own time
_AVFMT_TS_NEGATIVE = 0x40000  # libavformat: the muxer stores negative decoding times (B-frame delay)
_PTS_ONLY_MUXERS = frozenset({"matroska", "webm"})  # store presentation times only: any delay is fine
_CFR_MAX_RATE = 240  # a constant-rate output uses the input's timestamp grid up to this many frames/s
# Muxers whose track duration is the span of decoding times plus the last packet's duration.
_DTS_DURATION_MUXERS = frozenset({"mp4", "mov", "3gp", "3g2", "ipod", "psp", "ismv", "f4v"})


def _sws_flags() -> int:
    """swscale flags for YUV <-> RGB: accurate rounding and full chroma (the defaults darken by ~1 level
    per round trip)."""
    from av.video.reformatter import Interpolation

    flags = ("BICUBIC", "ACCURATE_RND", "FULL_CHR_H_INT", "FULL_CHR_H_INP")
    return sum(int(Interpolation[name]) for name in flags)


@dataclass(frozen=True)
class VideoReport:
    """What :func:`upscale_video` wrote.

    Attributes:
        src: the input file.
        dst: the output file.
        frames: video frames written (as many as decoded).
        fps: the input's average frame rate (frames per second, from its header).
        duration: video duration in seconds, from the first frame's time to the end of the last.
        seconds: wall-clock time of the whole job.
        frames_per_second: ``frames / seconds`` (decode, upscale and encode together).
        width_in: input frame width.
        height_in: input frame height.
        width_out: output frame width.
        height_out: output frame height.
        audio_streams: audio streams copied unchanged.
        rotation: counter-clockwise degrees (0, 90, 180 or 270) the input's display matrix turned its
            frames by; they were written upright (``width_in``/``height_in`` are the upright size).
        mirrored: whether the display matrix also mirrored the frames (applied as well).
        scene_cuts: scene cuts at which a temporal model's window or state was reset.
        segments: segments the job was cut into (0: one pass; see :mod:`srlib.inference.segments`).
        segments_reused: finished segments taken over from an interrupted earlier run.
    """

    src: Path
    dst: Path
    frames: int
    fps: float
    duration: float
    seconds: float
    frames_per_second: float
    width_in: int
    height_in: int
    width_out: int
    height_out: int
    audio_streams: int
    rotation: int = 0
    mirrored: bool = False
    scene_cuts: int = 0
    segments: int = 0
    segments_reused: int = 0


@dataclass
class _Batch:
    """Consecutive frames with their timestamps, and the audio packets demuxed before them."""

    audio: list[Any]
    first: int  # index of the first frame in the video
    frames: np.ndarray | None = None  # (B, h, w, 3) uint8
    pts: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)


class _Stages:
    """The stop flag, the first error and the bounded queues shared by the three stages."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self.decoded: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.upscaled: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
        self.stop.set()

    def put(self, q: queue.Queue, item: Any) -> bool:
        """Put ``item``, waiting for room; ``False`` when stopped before there was any."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> Any:
        """The next item, or ``_STOPPED`` once the stop flag is set."""
        while not self.stop.is_set():
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return _STOPPED

    def thread(self, name: str, work: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except BaseException as err:  # handed to the caller's thread
                self.fail(err)

        return threading.Thread(target=run, name=name, daemon=True)


@dataclass
class _Source:
    """The opened input and what the stages need to know about it."""

    path: Path
    container: Any
    video: Any
    audio: list[Any]
    fps: Fraction | None
    declared_frames: int
    max_pixels: int = 0
    decoded: int = 0
    turn: tuple[int, bool] | None = None  # quarter turns counter-clockwise, mirrored (first frame)
    video_start: float | None = None
    video_end: float | None = None
    stream_ends: dict[int, float] = field(default_factory=dict)
    others: list[Any] = field(default_factory=list)  # subtitle, data and attachment streams (copied)
    # A segment's decode range (srlib.inference.segments): seek to the keyframe before ``lo_pts`` and
    # emit the frames whose timestamps lie in ``[lo_pts, hi_pts]``; ``None``: the whole stream.
    lo_pts: int | None = None
    hi_pts: int | None = None
    seek: bool = True
    deep: bool = False  # decode to 16-bit RGB (for an output of more than 8 bits per component)
    threads: int = 0  # decoder (and segment encoder) threads; 0: FFmpeg's choice (all cores)


class SeekMissedError(Exception):
    """A seek landed after the frame a segment starts at (a file with a broken index)."""


def _check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    if not src.is_file():
        raise FileNotFoundError(f"Video file {src} does not exist.")
    if dst.resolve() == src.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise ValueError(f"The output {dst} is the input video; choose another output path.")
    if dst.is_dir():
        raise ValueError(f"The output {dst} is a folder; give a file name such as {dst / src.name}.")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} already exists; pass overwrite=True to replace it.")


def _output_format(dst: Path) -> str:
    """The FFmpeg muxer FFmpeg itself picks for ``dst``'s extension."""
    probe = io.BytesIO()
    probe.name = dst.name  # av_guess_format reads the name of a file object
    try:
        container = av.open(probe, "w")
    except ValueError as err:
        raise ValueError(
            f"Cannot tell the video format of {dst} from its extension; use .mp4, .mkv or .mov."
        ) from err
    name = container.format.name
    container.close()
    return name


def _check_codec(codec: str) -> None:
    try:
        av.Codec(codec, "w")
    except Exception as err:  # UnknownCodecError, or a decoder-only name
        raise ValueError(f"Unknown video encoder {codec!r} (FFmpeg has no encoder of that name).") from err


def _frame_step(src: _Source) -> int:
    """One frame period in the video stream's time base (for frames without a timestamp or duration)."""
    tb = src.video.time_base
    if src.fps and tb:
        return max(1, round(1 / (src.fps * tb)))
    return 1


def _check_pixels(src: _Source, width: int, height: int) -> None:
    """Refuse frames over the pixel limit (the one images have), before any of them is upscaled."""
    if int(width) * int(height) > src.max_pixels:
        raise ValueError(
            f"Video {src.path} has {width}x{height} frames ({width * height / 1e6:.1f} megapixels), over "
            f"srlib's limit of {src.max_pixels:,} pixels per frame. If you trust this file, raise the limit "
            f"with max_pixels=... (--max-pixels on the command line) or {MAX_PIXELS_ENV}=..."
        )


# (cos, sin) of a counter-clockwise quarter turn k, and FFmpeg's display matrix entries for it.
_QUARTERS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def _display_turn(frame: Any, src: _Source) -> tuple[int, bool]:
    """The quarter turns (counter-clockwise) and mirroring that show ``frame`` upright.

    FFmpeg's display matrix ``[a b u; c d v; x y w]`` (16.16 fixed point) maps a stored pixel ``(p, q)``
    to ``(a p + c q, b p + d q)`` on screen: a counter-clockwise turn by ``k`` quarters has
    ``a = d = cos``, ``c = -b = sin``; a mirror after it negates ``a`` and ``c``. Matrices that turn by
    other angles (or shear) are refused: srlib does not resample frames to show them.
    """
    from av.sidedata.sidedata import Type

    data = frame.side_data.get(Type.DISPLAYMATRIX)
    if data is None:
        degrees = str(src.video.metadata.get("rotate", "0")).strip()  # old FFmpeg: a clockwise tag
        try:
            quarter, rest = divmod(-int(float(degrees)), 90)
        except ValueError:
            quarter, rest = 0, 0
        if rest:
            raise ValueError(
                f"Video {src.path} asks to be shown rotated by {degrees} degrees; srlib applies quarter "
                "turns only. Re-encode it upright first (ffmpeg applies the rotation when it re-encodes)."
            )
        return quarter % 4, False
    m = np.frombuffer(bytes(data), dtype=np.int32)
    a, b, c, d = (float(v) / 65536 for v in (m[0], m[1], m[3], m[4]))
    norm = max(abs(a), abs(b), abs(c), abs(d))
    signs = tuple(
        round(v / norm) if norm and abs(abs(v) / norm - round(abs(v) / norm)) < 0.01 else None
        for v in (a, b, c, d)
    )
    for k, (cos, sin) in enumerate(_QUARTERS):
        if signs == (cos, -sin, sin, cos):
            return k, False
        if signs == (-cos, -sin, -sin, cos):
            return k, True
    raise ValueError(
        f"Video {src.path} has a display matrix that is not a quarter turn or mirror "
        f"({a:.3f}, {b:.3f}, {c:.3f}, {d:.3f}); srlib cannot show it upright. Re-encode it upright first."
    )


def _upright(rgb: np.ndarray, turn: tuple[int, bool]) -> np.ndarray:
    """``rgb`` (h, w, 3) as it is meant to be shown: ``turn[0]`` quarter turns counter-clockwise, then
    mirrored left-right when ``turn[1]``."""
    k, mirrored = turn
    if k:
        rgb = np.rot90(rgb, k)
    if mirrored:
        rgb = rgb[:, ::-1]
    return np.ascontiguousarray(rgb) if (k or mirrored) else rgb


def _decode(src: _Source, stages: _Stages, batch_size: int) -> None:
    """The decode stage: batches of RGB frames (with the audio packets read before them) -> queue."""
    video, audio_ids = src.video, {s.index for s in (*src.audio, *src.others)}
    video.thread_type = "AUTO"
    if src.threads:
        video.codec_context.thread_count = src.threads
    step, tb = _frame_step(src), video.time_base
    pending = _Batch(audio=[], first=0)
    frames: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    last_pts: int | None = None
    flags = _sws_flags()

    def send() -> bool:
        nonlocal pending, frames
        if frames:
            pending.frames = np.stack(frames)
        ok = stages.put(stages.decoded, pending)
        pending, frames = _Batch(audio=[], first=src.decoded), []
        return ok

    ranged = src.lo_pts is not None
    if ranged and src.seek:
        src.container.seek(src.lo_pts, stream=video, backward=True, any_frame=False)
    try:
        for packet in src.container.demux(video, *src.audio, *src.others):
            if stages.stop.is_set():
                return
            if packet.stream.index in audio_ids:
                if packet.size:  # not the empty packet that ends the stream
                    pending.audio.append(packet)
                    _note_end(src, packet)
                continue
            for frame in packet.decode():
                if ranged:
                    if frame.pts is None or frame.pts < src.lo_pts:
                        continue
                    if src.decoded == 0 and frame.pts != src.lo_pts:
                        raise SeekMissedError(f"first frame after the seek: {frame.pts}, not {src.lo_pts}")
                    if frame.pts > src.hi_pts:
                        break
                if size is None:
                    _check_pixels(src, frame.width, frame.height)
                size = same_size(size, frame, src.path, src.decoded)
                turn = _display_turn(frame, src)
                if src.turn is None:
                    src.turn = turn
                elif turn != src.turn:
                    raise ValueError(
                        f"Video {src.path} changes its rotation mid-stream (at frame {src.decoded}); "
                        "re-encode it with one orientation."
                    )
                pts = frame.pts if frame.pts is not None else (last_pts + step if last_pts is not None else 0)
                if last_pts is not None and pts <= last_pts:  # keep the encoder's timestamps increasing
                    pts = last_pts + 1
                duration = frame.duration or step
                rgb = frame.to_ndarray(format="rgb48le" if src.deep else "rgb24", interpolation=flags)
                frames.append(_upright(rgb, turn))
                pending.pts.append(pts)
                pending.durations.append(duration)
                last_pts = pts
                src.decoded += 1
                src.video_end = float((pts + duration) * tb)
                if src.video_start is None:
                    src.video_start = float(pts * tb)
                if len(frames) == batch_size and not send():
                    return
            if ranged and last_pts is not None and last_pts >= src.hi_pts:
                break
    except av.FFmpegError as err:
        raise ValueError(
            f"Decoding {src.path} failed after {src.decoded} frame(s) ({err}); the file looks truncated or "
            "corrupt."
        ) from err
    if src.decoded == 0:
        raise ValueError(f"No video frame could be decoded from {src.path}; the file is empty or corrupt.")
    if not ranged:
        _check_complete(src)
    elif last_pts != src.hi_pts:
        raise ValueError(
            f"Decoding {src.path} stopped at timestamp {last_pts}, before {src.hi_pts}, the end of the "
            "frames this segment needs; the file looks truncated or changed since the job started."
        )
    if (frames or pending.audio) and not send():
        return
    stages.put(stages.decoded, _END)


def _note_end(src: _Source, packet: Any) -> None:
    if packet.pts is not None and packet.time_base:
        end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        src.stream_ends[packet.stream.index] = max(end, src.stream_ends.get(packet.stream.index, end))


def _check_complete(src: _Source) -> None:
    """Refuse a clip that ends before the length its header declares (a truncated file)."""
    video, container = src.video, src.container
    if src.declared_frames and src.decoded < src.declared_frames:
        raise ValueError(
            f"Only {src.decoded} of the {src.declared_frames} frames the header of {src.path} declares "
            "could be decoded; the file looks truncated. Nothing was written."
        )
    period = float(1 / src.fps) if src.fps else 0.04
    end = src.video_end or 0.0
    if video.duration and video.time_base:
        start = float((video.start_time or 0) * video.time_base)
        declared, decoded = float(video.duration * video.time_base), end - start
    elif container.duration:
        start = (container.start_time or 0) / 1_000_000
        declared = container.duration / 1_000_000
        decoded = max([end, *src.stream_ends.values()]) - start
    else:
        return
    if declared - decoded > 1.5 * period + 0.01 * declared:
        raise ValueError(
            f"Decoded {decoded:.3f} s of the {declared:.3f} s the header of {src.path} declares; the file "
            "looks truncated. Nothing was written."
        )


def _even(x: torch.Tensor) -> torch.Tensor:
    """Pad an odd height or width by one replicated row/column (``yuv420p`` needs even sizes)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return x


class _FrameRun:
    """Frames in, frames out: a per-frame runner, or a temporal stream whose outputs lag its inputs."""

    def __init__(
        self,
        upscaler: Upscaler,
        output: OutputSize | None,
        scene_cut: float | None,
        stream: TemporalStream | None = None,
    ) -> None:
        self.upscaler, self.output = upscaler, output
        if stream is None and temporal_kind(upscaler.model)[0] != "frame":
            stream = TemporalStream(upscaler, scene_cut=scene_cut)
        self.stream = stream
        self._sizes: tuple[tuple[int, int], tuple[int, int]] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        lr = self.output.prepare(x) if self.output is not None else x
        self._sizes = (tuple(lr.shape[-2:]), tuple(x.shape[-2:]))
        return self._finish(self.upscaler(lr) if self.stream is None else self.stream.push(lr))

    def flush(self) -> torch.Tensor | None:
        return None if self.stream is None else self._finish(self.stream.flush())

    def reset(self) -> None:
        """Forget a temporal model's window or state (a new segment starts)."""
        if self.stream is not None:
            self.stream.reset()

    def _finish(self, sr: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | None:
        if isinstance(sr, list):
            if not sr:
                return None
            sr = torch.stack(sr)
        if self.output is not None and self._sizes is not None:
            sr = self.output.finish(sr, *self._sizes)
        return sr


def _quantise(y: torch.Tensor, deep: bool) -> np.ndarray:
    """``(B, 3, h, w)`` in [0, 1] -> ``(B, h, w, 3)`` uint8, or uint16 when ``deep``."""
    top = 65535.0 if deep else 255.0
    q = _even(y).mul(top).round_().clamp_(0, top).permute(0, 2, 3, 1)
    return q.to(torch.int32).numpy().astype(np.uint16) if deep else q.to(torch.uint8).numpy()


def _as_float(frames: np.ndarray) -> torch.Tensor:
    """``(B, h, w, 3)`` uint8 or uint16 frames -> ``(B, 3, h, w)`` float32 in [0, 1]."""
    top = 65535.0 if frames.dtype == np.uint16 else 255.0
    return torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2).div_(top)


def _compute(stages: _Stages, run: _FrameRun, name: str) -> None:
    """The compute stage: decoded batches -> model (and final resize) -> uint8 batches -> queue.

    A temporal model's outputs lag its inputs: each output batch carries the timestamps of the
    frames it holds (the oldest waiting ones), and the frames still held at the end follow last.
    """
    waiting: list[tuple[int, int]] = []  # (pts, duration) of the frames not output yet
    done = 0
    deep = False  # the frames are 16-bit (decoded for a deep output)

    def send(item: _Batch, y: torch.Tensor | None) -> bool:
        nonlocal done
        n = 0 if y is None else y.shape[0]
        item.frames = _quantise(y, deep) if y is not None else None
        item.first, item.pts, item.durations = done, [p for p, _ in waiting[:n]], [d for _, d in waiting[:n]]
        del waiting[:n]
        done += n
        return stages.put(stages.upscaled, item)

    while True:
        item = stages.get(stages.decoded)
        if item is _STOPPED:
            return
        if item is _END:
            tail = run.flush()
            if tail is None or send(_Batch(audio=[], first=done), tail):
                stages.put(stages.upscaled, _END)
            return
        y = None
        if item.frames is not None:
            deep = item.frames.dtype == np.uint16
            x = _as_float(item.frames)
            waiting += zip(item.pts, item.durations, strict=True)
            try:
                y = run(x)
            except BaseException as err:
                last = item.first + len(item.frames) - 1
                err.add_note(f"(while upscaling frames {item.first}-{last} of {name})")
                raise
        if not send(item, y):
            return


@contextmanager
def _progress(description: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(frames)``; a rich bar with frames/s and ETA on stderr when ``enabled``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TextColumn("{task.fields[rate]:.2f} frames/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    start = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, rate=0.0)

        def advance(n: int) -> None:
            done = bar.tasks[0].completed + n
            bar.update(task, advance=n, rate=done / max(time.perf_counter() - start, 1e-9))

        yield advance


def _grid_rate(src: _Source) -> Fraction | None:
    """The frame rate of a constant-rate output: the input's timestamp grid (``r_frame_rate``) when it is
    a plausible frame rate, else its average rate."""
    base = src.video.base_rate
    if base and 0 < base <= _CFR_MAX_RATE:
        return Fraction(base)
    return src.fps


def _bits(pix_fmt: str | None) -> int:
    """Bits per component of a pixel format (8 when unknown)."""
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except Exception:  # None, or a name FFmpeg does not know
        return 8


def output_pix_fmt(pix_fmt: str | None, codec: str, src_pix_fmt: str | None) -> str:
    """The pixel format to encode: ``pix_fmt`` if given (checked against the encoder), else
    ``yuv420p10le`` for an input of more than 8 bits per component (where the encoder has it) and
    ``yuv420p`` otherwise."""
    formats = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    if pix_fmt in (None, "auto"):
        deep = _bits(src_pix_fmt) > 8 and "yuv420p10le" in formats
        return "yuv420p10le" if deep else "yuv420p"
    if formats and pix_fmt not in formats:
        raise ValueError(
            f"pix_fmt {pix_fmt!r} cannot be written by the encoder {codec}; it writes {', '.join(formats)}."
        )
    return pix_fmt


def warn_hdr(src: Any) -> None:
    """Name what an HDR input loses: its static metadata (its colour tags are kept)."""
    trc = getattr(src.video.codec_context, "color_trc", 2)
    if trc in (_AVCOL_TRC_SMPTE2084, _AVCOL_TRC_ARIB_STD_B67):
        log.warning(
            "%s is HDR (transfer %s): its primaries, transfer and matrix tags are kept, but HDR10 static "
            "metadata (mastering display, content light level) is not copied: PyAV cannot attach it to "
            "encoded frames; add it afterwards with a tool such as mkvmerge if players need it",
            src.path,
            "PQ" if trc == _AVCOL_TRC_SMPTE2084 else "HLG",
        )


def copy_streams(out: Any, streams: list[Any], dst: Path) -> dict[int, Any]:
    """Output streams copying ``streams`` (audio, subtitles, data, attachments) of the input, with their
    metadata (language, title) and dispositions. One that the output's container cannot hold is named
    in a warning and left out (``.mkv`` holds them all)."""
    copies: dict[int, Any] = {}
    for stream in streams:
        try:
            copy = out.add_stream_from_template(stream)
        except (ValueError, av.FFmpegError) as err:
            log.warning(
                "%s: %s stream %d (%s) is not copied: %s holds no such stream (%s); write .mkv to keep it",
                dst,
                stream.type,
                stream.index,
                stream.codec_context.name if stream.codec_context else "?",
                out.format.name,
                err,
            )
            continue
        if stream.time_base:
            copy.time_base = stream.time_base
        copy.metadata.update(stream.metadata)
        copy.disposition = stream.disposition
        copies[stream.index] = copy
    return copies


def stores_frame_times(fmt: Any) -> bool:
    """Whether the muxer ``fmt`` (an ``av.ContainerFormat``) keeps each frame's own time (not AVI)."""
    return bool(fmt.flags & _AVFMT_VARIABLE_FPS)


def encoder_options(fmt: Any, options: dict[str, str]) -> dict[str, str]:
    """The encoder options for the muxer ``fmt``: B-frames off where it keeps no reordering (a constant
    rate only: AVI) or cannot store negative decoding times (TS, FLV: B-frames make the first decoding
    time negative, and the muxer would shift every timestamp by that delay)."""
    flags = fmt.flags
    shifts = not flags & _AVFMT_TS_NEGATIVE and fmt.name not in _PTS_ONLY_MUXERS
    if not flags & _AVFMT_VARIABLE_FPS or shifts:
        return {**options, "bf": "0"}
    return dict(options)


def copy_colour_tags(in_ctx: Any, out_ctx: Any) -> None:
    """Keep the input's colour tags (2 = unspecified) on an encoder; its range is limited ("MPEG"),
    as :func:`yuv_frame` converts."""
    for tag in ("colorspace", "color_primaries", "color_trc"):
        if getattr(in_ctx, tag, 2) not in (0, 2):
            setattr(out_ctx, tag, getattr(in_ctx, tag))
    out_ctx.color_range = 1


def yuv_frame(rgb: np.ndarray, bt709: bool, pix_fmt: str = "yuv420p") -> Any:
    """An ``(h, w, 3)`` uint8 (or uint16) RGB frame as a limited-range ``pix_fmt`` ``av.VideoFrame``."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
    return frame.reformat(
        format=pix_fmt,
        dst_colorspace="ITU709" if bt709 else "ITU601",
        dst_color_range="MPEG",
        interpolation=_sws_flags(),
    )


class _Sink:
    """The encode stage: owns the output container; muxes audio packets, encodes upscaled frames.

    Frame times are rescaled from the input's time base to the encoder's: the input's own for muxers
    that store each frame's time, a ``1/fps`` grid for those that store a constant rate only (AVI), where
    each frame goes to the nearest slot and B-frames are off (such a muxer keeps no reordering).
    B-frames are off too where the muxer cannot store negative decoding times (TS, FLV: it would shift
    every timestamp by the encoder's delay). Every
    packet gets its frame's duration, and the last one a duration that makes the declared length the
    input's (MP4 counts decoding times, which B-frames shift, plus the last packet's duration).
    """

    def __init__(
        self, out: Any, dst: Path, src: _Source, codec: str, options: dict[str, str], pix_fmt: str = "yuv420p"
    ) -> None:
        self.out, self.dst, self.src, self.codec, self.pix_fmt = out, dst, src, codec, pix_fmt
        self.size: tuple[int, int] | None = None
        self.early_audio: list[Any] = []  # audio packets demuxed before the first output frame
        self.frames = 0
        self.bt709 = src.video.codec_context.colorspace == _AVCOL_SPC_BT709
        self.in_tb = src.video.time_base
        self.grid: Fraction | None = None
        if not stores_frame_times(out.format):
            self.grid = _grid_rate(src)
            if not self.grid:
                raise ValueError(
                    f"{dst} ({out.format.name}) stores a constant frame rate, and {src.path} declares none; "
                    "write .mkv or .mp4 instead."
                )
        options = encoder_options(out.format, options)
        tb = 1 / self.grid if self.grid else self.in_tb
        self.tb = Fraction(tb)
        try:
            self.video = out.add_stream(codec, rate=src.fps, options=options)
            self.audio = {s.index: out.add_stream_from_template(s) for s in src.audio}
        except (ValueError, av.FFmpegError) as err:
            raise self._unfit(err) from err
        self.video.pix_fmt = pix_fmt
        self.video.time_base = tb
        self.video.codec_context.time_base = tb
        copy_colour_tags(src.video.codec_context, self.video.codec_context)
        for stream in src.audio:
            self.audio[stream.index].time_base = stream.time_base
            self.audio[stream.index].metadata.update(stream.metadata)
            self.audio[stream.index].disposition = stream.disposition
        self.audio.update(copy_streams(out, src.others, dst))
        out.metadata.update(src.container.metadata)
        if chapters := src.container.chapters():
            out.set_chapters(chapters)
        self.last_pts: int | None = None
        self.last_time = 0.0
        self.start: int | None = None  # first frame's pts (encoder time base)
        self.end = 0  # end of the latest frame (pts + duration)
        self.durations: dict[int, int] = {}  # pts -> duration of frames not yet out of the encoder
        self.first_dts: int | None = None
        self.held: Any = None  # the latest video packet, muxed once the next one (or the end) is known

    def _unfit(self, err: Exception) -> ValueError:
        kinds = ", ".join([self.codec, *(s.codec_context.name for s in self.src.audio)])
        return ValueError(
            f"Cannot write {self.dst} as {self.out.format.name} with the codecs {kinds} ({err}); the format "
            "may not hold them: try .mkv, or another codec."
        )

    def _start(self, height: int, width: int) -> None:
        self.video.height, self.video.width = height, width
        self.size = (height, width)
        try:
            self.out.start_encoding()
        except av.FFmpegError as err:
            raise self._unfit(err) from err

    def _time(self, pts: int, duration: int) -> tuple[int, int]:
        """A frame's ``(pts, duration)`` in the input's time base -> the encoder's."""
        if self.grid is None:
            return pts, duration
        slot = (Fraction(pts) * self.in_tb * self.grid + Fraction(1, 2)).__floor__()
        if self.last_pts is not None and slot <= self.last_pts:
            seconds = float(pts * self.in_tb)
            raise ValueError(
                f"{self.src.path} has frames at {self.last_time:.3f} s and {seconds:.3f} s, closer than one "
                f"frame at {float(self.grid):g} frames/s; {self.dst.suffix or self.out.format.name} stores a "
                "constant frame rate, so both cannot be kept. Write .mkv or .mp4 instead (they keep every "
                "frame's time)."
            )
        self.last_time = float(pts * self.in_tb)
        return slot, max(1, round(Fraction(duration) * self.in_tb * self.grid))

    def _mux_video(self, packets: list[Any]) -> None:
        for packet in packets:
            if packet.pts is not None:
                packet.duration = self.durations.pop(packet.pts, packet.duration)
            if self.first_dts is None and packet.dts is not None:
                self.first_dts = packet.dts
            if self.held is not None:
                self.out.mux(self.held)
            self.held = packet

    def write(self, item: _Batch) -> int:
        """Mux ``item``'s audio packets and encode its frames; returns the number of frames."""
        if self.size is None:
            if item.frames is None:  # a temporal model's first outputs lag: the audio waits for them
                self.early_audio += item.audio
                return 0
            self._start(*item.frames.shape[1:3])
        for packet in [*self.early_audio, *item.audio]:
            if packet.stream_index not in self.audio:
                continue  # a stream the output's container cannot hold (named in a warning)
            packet.stream = self.audio[packet.stream_index]
            self.out.mux(packet)
        self.early_audio = []
        if item.frames is None:
            return 0
        for rgb, in_pts, in_duration in zip(item.frames, item.pts, item.durations, strict=True):
            pts, duration = self._time(in_pts, in_duration)
            frame = yuv_frame(rgb, self.bt709, self.pix_fmt)
            frame.pts, frame.time_base, frame.duration = pts, self.tb, duration
            self.durations[pts] = duration
            self.last_pts, self.end = pts, max(self.end, pts + duration)
            if self.start is None:
                self.start = pts
            self._mux_video(self.video.encode(frame))
        self.frames += len(item.frames)
        return len(item.frames)

    def finish(self) -> None:
        if self.size is None:
            raise ValueError(f"No video frame was decoded from {self.src.path}.")
        self._mux_video(self.video.encode(None))
        last = self.held
        if last is None:
            return
        if (
            self.out.format.name in _DTS_DURATION_MUXERS
            and last.dts is not None
            and self.first_dts is not None
            and self.start is not None
        ):
            # (last dts + its duration) - first dts = the frames' span, end of the last one included.
            span = self.end - self.start
            packet_tb = last.time_base or self.tb
            if packet_tb != self.tb:
                span = round(Fraction(span) * self.tb / packet_tb)
            last.duration = max(1, span + self.first_dts - last.dts)
        self.out.mux(last)
        self.held = None


def _describe(stream: Any, number: int) -> str:
    ctx = stream.codec_context
    return f"v:{number} {ctx.name} {ctx.width}x{ctx.height}"


def _pick_stream(container: Any, path: Path, video_stream: int | None) -> Any:
    """The video stream to upscale: the only one, or number ``video_stream`` among the video streams.

    Cover pictures (``attached_pic``) are not counted when there is a moving-picture stream.
    """
    from av.stream import Disposition

    streams = list(container.streams.video)
    moving = [s for s in streams if not s.disposition & Disposition.attached_pic] or streams
    listing = ", ".join(_describe(s, n) for n, s in enumerate(streams))
    if video_stream is not None:
        if (
            isinstance(video_stream, bool)
            or not isinstance(video_stream, int)
            or not (0 <= video_stream < len(streams))
        ):
            raise ValueError(
                f"video_stream={video_stream!r} does not name a video stream of {path}; it has "
                f"{len(streams)} ({listing}): pick a number from 0 to {len(streams) - 1}."
            )
        chosen = streams[video_stream]
    elif len(moving) > 1:
        raise ValueError(
            f"Video {path} has {len(moving)} video streams ({listing}) and srlib upscales one; choose it "
            "with video_stream=N (--video-stream N on the command line), N counted from 0."
        )
    else:
        chosen = moving[0]
    for n, stream in enumerate(streams):
        if stream is not chosen:
            log.warning("%s: video stream %s is neither upscaled nor copied", path, _describe(stream, n))
    return chosen


def _open_source(src: Path, video_stream: int | None, max_pixels: int | None) -> _Source:
    limit = max_image_pixels(max_pixels)
    container = open_video(src)
    try:
        video = _pick_stream(container, src, video_stream)
        rate = video.average_rate or video.guessed_rate or video.base_rate
        source = _Source(
            path=src,
            container=container,
            video=video,
            audio=list(container.streams.audio),
            others=[s for s in container.streams if s.type in ("subtitle", "data", "attachment")],
            fps=Fraction(rate) if rate else None,
            declared_frames=int(video.frames or 0),
            max_pixels=limit,
        )
        _check_pixels(source, video.codec_context.width or 0, video.codec_context.height or 0)
    except BaseException:
        container.close()
        raise
    return source


def _expected_frames(src: _Source) -> int | None:
    if src.declared_frames:
        return src.declared_frames
    video = src.video
    seconds = (
        float(video.duration * video.time_base)
        if video.duration and video.time_base
        else (src.container.duration or 0) / 1_000_000
    )
    return round(seconds * float(src.fps)) if seconds and src.fps else None


def _make_runner(
    model: nn.Module | Upscaler | TemporalStream,
    *,
    device: str | torch.device | None,
    dtype: str | torch.dtype | None,
    tile: int | None,
    tile_overlap: int,
    output: OutputSize | None,
    scene_cut: float | None = DEFAULT_SCENE_CUT,
) -> tuple[Upscaler, _FrameRun]:
    stream = model if isinstance(model, TemporalStream) else None
    if isinstance(model, (Upscaler, TemporalStream)):
        given = [n for n, v in (("device", device), ("tile", tile)) if v is not None]
        if dtype != "auto":
            given.append("dtype")
        if given:
            what = type(model).__name__
            raise ValueError(
                f"{' and '.join(given)} cannot be given with a ready {what}; set them when building it."
            )
        upscaler = model.upscaler if stream is not None else model
    elif isinstance(model, nn.Module):
        upscaler = Upscaler(model, device=device, dtype=dtype, tile=tile, tile_overlap=tile_overlap)
    else:
        raise TypeError(
            f"model must be an nn.Module, an Upscaler or a TemporalStream, got {type(model).__name__}."
        )
    if output is not None and not isinstance(output, OutputSize):
        raise TypeError(f"output must be an OutputSize, got {type(output).__name__}.")
    return upscaler, _FrameRun(upscaler, output, scene_cut, stream)


def upscale_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model: nn.Module | Upscaler | TemporalStream,
    *,
    batch_size: int = 4,
    tile: int | None = None,
    tile_overlap: int = 16,
    dtype: str | torch.dtype | None = "auto",
    device: str | torch.device | None = None,
    output: OutputSize | None = None,
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "medium",
    progress: bool = True,
    overwrite: bool = False,
    video_stream: int | None = None,
    max_pixels: int | None = None,
    scene_cut: float | None = DEFAULT_SCENE_CUT,
    segment_frames: int | None = None,
    restart: bool = False,
    pix_fmt: str | None = None,
) -> VideoReport:
    """Upscale every frame of the video ``src`` with ``model`` and write the result to ``dst``.

    Decoding, the model and encoding run in three overlapping threads joined by bounded queues (see
    the module docstring). Each frame keeps its timestamp and duration, so the output has the input's
    frame count, frame rate and duration (an output container that holds a constant frame rate only,
    such as AVI, puts each frame in the nearest slot of the input's frame grid); audio streams are copied
    packet for packet, and so are subtitle, data and attachment streams (one the output's container
    cannot hold is named in a warning), with the container's metadata and chapters. A display matrix
    (rotation, mirroring) is applied to the frames: the output is upright and carries none. The output is
    ``yuv420p`` (10-bit ``yuv420p10le`` for a deeper input, or ``pix_fmt``): an odd final height or width
    is padded by one replicated row or column to the next even number.

    Args:
        src: the input video (any container and codec FFmpeg reads).
        dst: the output file; its extension picks the container (``.mp4``, ``.mkv``, ``.mov``, ...).
        model: an srlib-contract network (zoo model, ``OnnxRuntimeModel``, ...) or a ready
            :class:`~srlib.inference.engine.Upscaler` or :class:`~srlib.inference.temporal.TemporalStream`
            (then ``device``, ``dtype`` and ``tile`` must be left unset: its own settings are used; a
            stream also keeps its own ``scene_cut``, and every frame goes through its ``push``).
        batch_size: frames per model call.
        tile: tile size in input pixels (``None``: whole frames).
        tile_overlap: input pixels shared by neighbouring tiles.
        dtype: ``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"`` or a ``torch.dtype`` (see
            :func:`srlib.precision.resolve_dtype`).
        device: where the model runs (default: where its parameters are).
        output: the final size (``outscale``, ``size``, ``height``, filter, ``FramePairPolicy``);
            ``None`` keeps the model's scale.
        codec: the FFmpeg video encoder (``"libx264"`` = H.264).
        crf: constant rate factor given to the encoder (lower is better quality; encoders without
            the option ignore it).
        preset: encoder speed preset (``"ultrafast"`` ... ``"veryslow"`` for libx264).
        progress: show a rich progress bar with frames/s and ETA on stderr.
        overwrite: replace an existing ``dst``.
        video_stream: which video stream to upscale, counted from 0 among the video streams (needed
            when there are two or more; the others are neither upscaled nor copied).
        max_pixels: the largest input frame (pixels; default ``$SRLIB_MAX_IMAGE_PIXELS`` or 100
            megapixels, the images' limit), checked from the header before any work and on the first
            decoded frame.
        scene_cut: for temporal models, the scene-cut threshold at which the window is flushed and
            the recurrent state reset (see :mod:`srlib.inference.temporal`); ``None`` never cuts.
        segment_frames: cut the job into segments of this many frames, each encoded on its own and
            recorded in a journal next to ``dst``, so a rerun after a crash resumes at the first
            unfinished segment (:mod:`srlib.inference.segments`; containers that keep each frame's
            time only). ``None``: one pass, nothing kept on failure.
        restart: with ``segment_frames``, discard an earlier run's journal instead of resuming it.
        pix_fmt: the output's pixel format (one the encoder writes: ``yuv420p10le``, ``yuv444p``, ...);
            ``None``: 10-bit ``yuv420p10le`` for an input of more than 8 bits per component, else
            ``yuv420p``. A deep output is computed from 16-bit decoded frames.

    Returns:
        A :class:`VideoReport` of what was written.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``dst`` exists and ``overwrite`` is False.
        ValueError: ``dst`` is ``src``; an unknown output extension or encoder; an input that cannot be
            opened, has no video stream, two or more without ``video_stream``, frames over ``max_pixels``,
            a display matrix that is not a quarter turn or mirror, changes frame size, fails to decode or
            is shorter than its header declares (truncated); frames closer than one slot of a
            constant-rate output. Nothing is left at ``dst`` (nor a temporary file) after any error,
            including one raised by the model.

    Shape:
        - frames ``(h, w)`` -> ``(h*s, w*s)`` at the model's scale ``s``, or the size ``output`` gives
          (rounded up to even numbers).

    """
    if segment_frames is not None:
        from srlib.inference.segments import upscale_video_segmented

        return upscale_video_segmented(
            src,
            dst,
            model,
            segment_frames=segment_frames,
            restart=restart,
            batch_size=batch_size,
            tile=tile,
            tile_overlap=tile_overlap,
            dtype=dtype,
            device=device,
            output=output,
            codec=codec,
            crf=crf,
            preset=preset,
            progress=progress,
            overwrite=overwrite,
            video_stream=video_stream,
            max_pixels=max_pixels,
            scene_cut=scene_cut,
            pix_fmt=pix_fmt,
        )
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    _check_paths(src, dst, overwrite)
    out_format = _output_format(dst)
    _check_codec(codec)
    upscaler, run = _make_runner(
        model,
        device=device,
        dtype=dtype,
        tile=tile,
        tile_overlap=tile_overlap,
        output=output,
        scene_cut=scene_cut,
    )
    options = {"crf": str(crf), "preset": str(preset)}
    source = _open_source(src, video_stream, max_pixels)
    try:
        pix_fmt = output_pix_fmt(pix_fmt, codec, source.video.codec_context.pix_fmt)
    except BaseException:
        source.container.close()
        raise
    source.deep = _bits(pix_fmt) > 8
    warn_hdr(source)
    sink: _Sink | None = None

    def write(f: IO[bytes]) -> None:
        nonlocal sink
        stages = _Stages()
        threads = [
            stages.thread("srlib-video-decode", lambda: _decode(source, stages, int(batch_size))),
            stages.thread("srlib-video-compute", lambda: _compute(stages, run, str(src))),
        ]
        out = av.open(f, "w", format=out_format)
        finished = False
        try:
            sink = _Sink(out, dst, source, codec, options, pix_fmt)
            for t in threads:
                t.start()
            with _progress(src.name, _expected_frames(source), progress) as advance:
                while True:
                    item = stages.get(stages.upscaled)
                    if item is _STOPPED or item is _END:
                        break
                    advance(sink.write(item))
            if stages.error is None:
                sink.finish()
                finished = True
        except BaseException as err:
            stages.fail(err)
        finally:
            stages.stop.set()
            for t in threads:
                if t.ident is not None:
                    t.join()
            try:
                out.close()
            except Exception:  # the trailer of an abandoned file: the error that stopped us matters
                if finished:
                    raise
        if stages.error is not None:
            raise stages.error
        if not overwrite and dst.exists():  # appeared while we worked: do not replace it
            raise FileExistsError(f"{dst} appeared while upscaling; pass overwrite=True to replace it.")

    try:
        atomic_write(dst, write)
    finally:
        source.container.close()
    assert sink is not None
    seconds = time.perf_counter() - started
    h_in, w_in = source.video.codec_context.height, source.video.codec_context.width
    turns, mirrored = source.turn or (0, False)
    if turns % 2:
        h_in, w_in = w_in, h_in
    h_out, w_out = sink.size or (0, 0)
    report = VideoReport(
        src=src,
        dst=dst,
        frames=sink.frames,
        fps=float(source.fps) if source.fps else 0.0,
        duration=(source.video_end or 0.0) - (source.video_start or 0.0),
        seconds=seconds,
        frames_per_second=sink.frames / seconds if seconds > 0 else 0.0,
        width_in=int(w_in),
        height_in=int(h_in),
        width_out=int(w_out),
        height_out=int(h_out),
        audio_streams=len(source.audio),
        rotation=90 * turns,
        mirrored=mirrored,
        scene_cuts=run.stream.scene_cuts if run.stream is not None else 0,
    )
    log.info(
        "%s -> %s: %d frames %dx%d -> %dx%d in %.1f s (%.2f frames/s, %s)",
        src,
        dst,
        report.frames,
        w_in,
        h_in,
        w_out,
        h_out,
        seconds,
        report.frames_per_second,
        upscaler.dtype,
    )
    return report
