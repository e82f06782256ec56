"""Segmented, resumable video upscaling: fixed-length segments, a journal, a final stream-copy join.

:func:`upscale_video_segmented` (``upscale_video(..., segment_frames=N)``, the command line's default)
cuts the video into segments of ``N`` frames. Each segment is decoded from the keyframe before it,
upscaled, encoded on its own (it starts with a keyframe) and written atomically to a hidden folder next to
the output, ``.OUT.srlib-segments/``; the folder's ``journal.json`` lists the finished segments (frame
range, timestamp range, size and SHA-256 of the segment file) under the job's identity: the input's
fingerprint, the model's weights hash, every setting that changes the pixels, and srlib's version.

A rerun with the same identity (the default; ``restart=True`` discards the journal) reuses every finished
segment whose file still matches its size and hash and redoes the rest, so an interrupted job redoes at
most the segment it was working on. A journal written for another input, model, settings or srlib
version is refused with a message naming what differs. Once every segment is there, they are joined by
stream copy with the input's timestamps, the audio streams are copied from the input (interleaved by
time, never held in memory), the output appears atomically and the folder is removed.

A segment does not depend on how the job ran: temporal models warm up on the frames before it (a
window model on its ``k`` previous frames and sees its ``k`` next ones, so its output equals an unsegmented
run; a recurrent model's state runs over :data:`RECURRENT_WARMUP` frames first), and the same settings
always give the same segments, whether the job ran in one go, resumed, or on several workers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import torch
from torch import nn

from srlib._fs import atomic_write, write_json
from srlib._version import __version__
from srlib.inference.engine import Upscaler
from srlib.inference.output_size import OutputSize
from srlib.inference.temporal import DEFAULT_SCENE_CUT, TemporalStream, temporal_kind
from srlib.inference.video import (
    _AVCOL_SPC_BT709,
    _DTS_DURATION_MUXERS,
    _END,
    _STOPPED,
    SeekMissedError,
    VideoReport,
    _Batch,
    _bits,
    _check_codec,
    _check_paths,
    _compute,
    _decode,
    _FrameRun,
    _make_runner,
    _open_source,
    _output_format,
    _progress,
    _Source,
    _Stages,
    copy_colour_tags,
    copy_streams,
    encoder_options,
    output_pix_fmt,
    stores_frame_times,
    warn_hdr,
    yuv_frame,
)

__all__ = [
    "JOURNAL_NAME",
    "RECURRENT_WARMUP",
    "SEGMENT_FRAMES",
    "JournalMismatchError",
    "OutputBusyError",
    "can_segment",
    "count_segments",
    "segment_folder",
    "upscale_video_segmented",
]

log = logging.getLogger(__name__)

SEGMENT_FRAMES = 300
"""Frames per segment on the command line (12 s at 25 frames/s): what a crash can cost."""
RECURRENT_WARMUP = 16
"""Frames a recurrent model runs over before a segment starts, to build its state (outputs dropped)."""
JOURNAL_NAME = "journal.json"
TIMES_NAME = "frame-times.json"  # every frame's pts, cached for the next run on the same input
JOURNAL_FORMAT = 1
_MAGIC = b"SRLIBSEG1\n"
_HASH_EDGE = 1 << 20  # bytes hashed at each end of the input for its fingerprint


class JournalMismatchError(ValueError):
    """A journal next to the output was written for another input, model, settings or srlib version."""


class OutputBusyError(RuntimeError):
    """Another process is writing the same output (it holds the segment folder's lock)."""


def count_segments(
    src: str | os.PathLike,
    segment_frames: int,
    video_stream: int | None = None,
    max_pixels: int | None = None,
) -> int:
    """How many segments of ``segment_frames`` frames :func:`upscale_video_segmented` cuts ``src`` into.

    Raises:
        ValueError: the video cannot be opened or cut (frames without timestamps, duplicates).
    """
    if isinstance(segment_frames, bool) or int(segment_frames) < 1:
        raise ValueError(f"segment_frames must be at least 1, got {segment_frames!r}.")
    probe = _open_source(Path(src), video_stream, max_pixels)
    try:
        frames = len(_frame_times(probe))
    finally:
        probe.container.close()
    return -(-frames // int(segment_frames))


def can_segment(dst: str | os.PathLike) -> bool:
    """Whether ``dst``'s container keeps each frame's time, so segments can be joined into it (not AVI)."""
    return stores_frame_times(av.ContainerFormat(_output_format(Path(dst)), "w"))


def segment_folder(dst: str | os.PathLike) -> Path:
    """The hidden folder next to ``dst`` that holds its segments and journal."""
    dst = Path(dst)
    return dst.parent / f".{dst.name}.srlib-segments"


# -- the plan: every frame's timestamp, cut into segments ------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, stop)`` of the video, and the frames decoded around them for temporal models."""

    index: int
    first: int
    stop: int
    decode_first: int  # warm-up: the frames from here to ``first`` are decoded and run, not written
    decode_last: int  # look-ahead: the frames after ``stop - 1`` up to here are decoded too


def _frame_times(src: _Source) -> list[int]:
    """Every video frame's timestamp, in presentation order, from the packets (nothing decoded)."""
    times = [p.pts for p in src.container.demux(src.video) if p.size]
    if any(t is None for t in times):
        raise ValueError(
            f"Video {src.path} has frames without timestamps, so it cannot be cut into segments; upscale it "
            "in one pass (segment_frames=None, --segment-frames 0 on the command line)."
        )
    times.sort()
    if any(a == b for a, b in itertools.pairwise(times)):
        raise ValueError(
            f"Video {src.path} has two frames with the same timestamp, so it cannot be cut into segments; "
            "upscale it in one pass (segment_frames=None, --segment-frames 0 on the command line)."
        )
    src.container.seek(0)
    return times


def plan_segments(frames: int, segment_frames: int, warmup: int, lookahead: int) -> list[Segment]:
    """Cut ``frames`` frames into segments of ``segment_frames`` (the last may be shorter)."""
    return [
        Segment(
            index=i,
            first=first,
            stop=min(first + segment_frames, frames),
            decode_first=max(0, first - warmup),
            decode_last=min(frames, first + segment_frames + lookahead) - 1,
        )
        for i, first in enumerate(range(0, frames, segment_frames))
    ]


# -- identity: what makes two runs give the same segments ------------------------------------------------


def _edge_digest(path: Path) -> Any:
    """SHA-256 (still open) of a file's size and its first and last MiB."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(_HASH_EDGE))
        f.seek(max(0, size - _HASH_EDGE))
        digest.update(f.read(_HASH_EDGE))
    return digest


def _input_fingerprint(path: Path, times: list[int]) -> str:
    """SHA-256 of the input's size, its first and last MiB and its frame timestamps."""
    digest = _edge_digest(path)
    digest.update(struct.pack(f"<{len(times)}q", *times))
    return digest.hexdigest()


def _times_key(src: _Source) -> str:
    """What the cached frame times of ``src`` are valid for: this file (edges, size, mtime), this stream."""
    stat = src.path.stat()
    return f"{_edge_digest(src.path).hexdigest()}:{stat.st_mtime_ns}:{src.video.index}"


def _cached_frame_times(src: _Source, folder: Path) -> tuple[list[int], bool]:
    """:func:`_frame_times`, read from the segment folder when a run on this very file wrote them there
    (each of a queued job's segment tasks would demux the whole input again); ``(times, from_cache)``."""
    try:
        cached = json.loads((folder / TIMES_NAME).read_text())
        if cached["key"] == _times_key(src):
            return [int(t) for t in cached["times"]], True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return _frame_times(src), False


def model_hash(model: nn.Module) -> str:
    """SHA-256 of a network's class, its ``repr`` (layers and their settings), its ``scale`` and every
    tensor of its ``state_dict`` (names, dtypes, shapes, data)."""
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    digest = hashlib.sha256(f"{kind}\n{model!r}\nscale={getattr(model, 'scale', None)}".encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        if t.numel():  # flattened: one stride, whatever the memory format (channels_last)
            digest.update(t.flatten().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _identity(
    src: Path,
    times: list[int],
    upscaler: Upscaler,
    settings: dict[str, Any],
) -> dict[str, Any]:
    return {
        "input": {"name": src.name, "fingerprint": _input_fingerprint(src, times), "frames": len(times)},
        "model": {"class": type(upscaler.model).__name__, "weights_sha256": model_hash(upscaler.model)},
        "settings": settings,
        "srlib_version": __version__,
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    what = []
    if old.get("input", {}).get("fingerprint") != new["input"]["fingerprint"]:
        what.append(f"input (journal: {old.get('input', {}).get('name')!r})")
    if old.get("model") != new["model"]:
        what.append("model weights")
    old_settings = old.get("settings", {})
    what += [
        f"{k} ({old_settings.get(k)!r} -> {v!r})"
        for k, v in new["settings"].items()
        if old_settings.get(k) != v
    ]
    if old.get("srlib_version") != new["srlib_version"]:
        what.append(f"srlib version ({old.get('srlib_version')} -> {new['srlib_version']})")
    return what


# -- segment files: encoded packets with their exact timestamps ------------------------------------------


def _store_segment(
    folder: Path,
    segment: Segment,
    times: list[int],
    header: dict[str, Any],
    payloads: list[bytes],
    codec: str,
) -> dict[str, Any]:
    """Write a finished segment's file; returns its journal entry."""
    name = f"seg-{segment.index:06d}.bin"
    size, digest = _write_segment(folder / name, header, payloads)
    packets = header["packets"]
    return {
        "index": segment.index,
        "file": name,
        "frames": [segment.first, segment.stop],
        "pts": [times[segment.first], times[segment.stop - 1]],
        "time_base": header["time_base"],
        "codec": codec,
        "width": header["width"],
        "height": header["height"],
        "packets": len(packets),
        "first_dts": packets[0][1],
        "start": min(q[0] for q in packets),
        "end": max(q[0] + q[2] for q in packets),
        "bytes": size,
        "sha256": digest,
        "finished_at": time.time(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def _write_segment(path: Path, header: dict[str, Any], payloads: list[bytes]) -> tuple[int, str]:
    """Write a segment file atomically; returns its size and SHA-256."""
    head = json.dumps(header).encode()
    blob = b"".join([_MAGIC, struct.pack("<Q", len(head)), head, *payloads])
    atomic_write(path, lambda f: f.write(blob))
    return len(blob), hashlib.sha256(blob).hexdigest()


def _read_segment(
    path: Path, entry: dict[str, Any], verify: bool = True
) -> tuple[dict[str, Any], list[bytes]]:
    """A segment file's header and packets, checked against its journal entry (the SHA-256 too
    unless ``verify`` is False: the join reads files already verified, and checks their size only)."""
    blob = path.read_bytes()
    if len(blob) != entry["bytes"] or (verify and hashlib.sha256(blob).hexdigest() != entry["sha256"]):
        raise ValueError(
            f"Segment file {path} does not match its journal ({len(blob)} bytes, journal {entry['bytes']}); "
            "it was truncated or changed."
        )
    start = len(_MAGIC) + 8
    (size,) = struct.unpack("<Q", blob[len(_MAGIC) : start])
    header = json.loads(blob[start : start + size])
    payloads, offset = [], start + size
    for packet in header["packets"]:
        payloads.append(blob[offset : offset + packet[4]])
        offset += packet[4]
    return header, payloads


def _segment_ok(folder: Path, entry: dict[str, Any]) -> bool:
    path = folder / entry["file"]
    try:
        _read_segment(path, entry)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        log.warning("%s: %s; redoing segment %s", path, err, entry.get("index"))
        return False
    return True


class _SegmentEncoder:
    """Encodes one segment's frames (those inside its timestamp range) into packets with exact times.

    The encoder writes its parameter sets in band (no global header), so segments join by stream copy
    and the muxer of the final file takes its header from the first packet.
    """

    def __init__(
        self, src: _Source, codec: str, options: dict[str, str], keep: tuple[int, int], pix_fmt: str
    ) -> None:
        self.src, self.codec, self.options, self.keep, self.pix_fmt = src, codec, options, keep, pix_fmt
        self.tb = Fraction(src.video.time_base)
        self.bt709 = src.video.codec_context.colorspace == _AVCOL_SPC_BT709
        self.encoder: Any = None
        self.size: tuple[int, int] | None = None
        self.durations: dict[int, int] = {}
        self.packets: list[list[int]] = []  # [pts, dts, duration, keyframe, size]
        self.payloads: list[bytes] = []
        self.frames = 0

    def _open(self, height: int, width: int) -> None:
        ctx = av.CodecContext.create(self.codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, self.pix_fmt
        ctx.time_base = self.tb
        if self.src.fps:
            ctx.framerate = self.src.fps
        copy_colour_tags(self.src.video.codec_context, ctx)
        if self.src.threads:
            ctx.thread_count = self.src.threads
        ctx.options = dict(self.options)
        ctx.open()
        self.encoder, self.size = ctx, (height, width)

    def _take(self, packets: list[Any]) -> None:
        for p in packets:
            duration = self.durations.pop(p.pts, p.duration or 0)
            self.packets.append([p.pts, p.dts, duration, int(p.is_keyframe), p.size])
            self.payloads.append(bytes(p))

    def write(self, item: _Batch) -> int:
        if item.frames is None:
            return 0
        lo, hi = self.keep
        written = 0
        for rgb, pts, duration in zip(item.frames, item.pts, item.durations, strict=True):
            if not lo <= pts <= hi:
                continue
            if self.encoder is None:
                self._open(*rgb.shape[:2])
            frame = yuv_frame(rgb, self.bt709, self.pix_fmt)
            frame.pts, frame.time_base, frame.duration = pts, self.tb, duration
            self.durations[pts] = duration
            self._take(self.encoder.encode(frame))
            written += 1
        self.frames += written
        return written

    def finish(self) -> dict[str, Any]:
        if self.encoder is None:
            raise ValueError(f"No frame of this segment was decoded from {self.src.path}.")
        self._take(self.encoder.encode(None))
        height, width = self.size
        return {
            "codec": self.codec,
            "width": width,
            "height": height,
            "time_base": [self.tb.numerator, self.tb.denominator],
            "frames": self.frames,
            "packets": self.packets,
        }


def _run_segment(
    segment: Segment,
    times: list[int],
    open_source: Any,
    run: _FrameRun,
    codec: str,
    options: dict[str, str],
    batch_size: int,
    advance: Any,
    pix_fmt: str,
) -> tuple[dict[str, Any], list[bytes]]:
    """Decode, upscale and encode one segment in the three overlapping stages."""
    src_path = ""
    for seek in (True, False):
        source = open_source()
        src_path = str(source.path)
        source.audio, source.others, source.seek = [], [], seek
        source.lo_pts, source.hi_pts = times[segment.decode_first], times[segment.decode_last]
        keep = (times[segment.first], times[segment.stop - 1])
        encoder = _SegmentEncoder(source, codec, options, keep, pix_fmt)
        stages = _Stages()
        threads = [
            stages.thread("srlib-video-decode", lambda s=source, st=stages: _decode(s, st, batch_size)),
            stages.thread("srlib-video-compute", lambda st=stages, name=src_path: _compute(st, run, name)),
        ]
        try:
            for t in threads:
                t.start()
            while True:
                item = stages.get(stages.upscaled)
                if item is _STOPPED or item is _END:
                    break
                advance(encoder.write(item))
        except BaseException as err:
            stages.fail(err)
        finally:
            stages.stop.set()
            for t in threads:
                if t.ident is not None:
                    t.join()
            source.container.close()
        if isinstance(stages.error, SeekMissedError) and seek:
            log.warning(
                "%s: seeking missed segment %d's first frame; decoding from the start",
                source.path,
                segment.index,
            )
            run.reset()
            continue
        if stages.error is not None:
            raise stages.error
        header = encoder.finish()
        want = segment.stop - segment.first
        if header["frames"] != want:
            raise ValueError(
                f"Segment {segment.index} of {source.path} gave {header['frames']} frames, not {want}; the "
                "file looks truncated or changed since the job started."
            )
        return header, encoder.payloads
    raise AssertionError("unreachable")


# -- the journal and its lock -----------------------------------------------------------------------------


def _flock(path: Path, mode: int) -> int | None:
    """An open descriptor of ``path`` holding ``flock(mode)``, or ``None`` if ``LOCK_NB`` and busy."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, mode)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _lock(folder: Path, dst: Path, shared: bool = False) -> Iterator[None]:
    """Hold the segment folder's lock: exclusive for a job run alone, shared for workers that split one
    job. The OS releases it when the process dies (kill -9 included)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = _flock(folder / "lock", (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    if fd is None:
        holder = (folder / "lock").read_text(errors="replace").strip() or "another process"
        raise OutputBusyError(
            f"{dst} is being written by another srlib job (pid {holder}); wait for it to finish, or stop "
            "it: it leaves its finished segments for the next run."
        )
    try:
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _journal_lock(folder: Path) -> Iterator[None]:
    """Serialise journal reads-and-writes between the processes sharing a job (held briefly)."""
    fd = _flock(folder / "journal.lock", fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def _read_done(folder: Path) -> dict[str, Any]:
    """The finished segments the journal lists now (another process may have added some)."""
    with _journal_lock(folder):
        return json.loads((folder / JOURNAL_NAME).read_text())["segments"]


def _add_done(folder: Path, index: int, entry: dict[str, Any]) -> None:
    with _journal_lock(folder):
        journal = json.loads((folder / JOURNAL_NAME).read_text())
        journal["segments"][str(index)] = entry
        write_json(folder / JOURNAL_NAME, journal)


def _load_journal(folder: Path, identity: dict[str, Any], restart: bool, dst: Path) -> dict[str, Any]:
    path = folder / JOURNAL_NAME
    fresh = {"srlib_journal": JOURNAL_FORMAT, **identity, "segments": {}}
    if restart or not path.exists():
        for stale in folder.glob("seg-*.bin"):
            stale.unlink()
        return fresh
    try:
        journal = json.loads(path.read_text())
        if journal.get("srlib_journal") != JOURNAL_FORMAT:
            raise ValueError(f"journal format {journal.get('srlib_journal')!r}")
    except (OSError, ValueError) as err:
        raise JournalMismatchError(
            f"The journal {path} cannot be read ({err}); pass restart=True (--restart) to discard it and "
            "start again."
        ) from err
    differ = _differences(journal, identity)
    if differ:
        raise JournalMismatchError(
            f"A partial upscale of {dst} exists ({path}) for other settings: {'; '.join(differ)}. Rerun with "
            "the same ones to resume it, or pass restart=True (--restart) to discard its "
            f"{len(journal.get('segments', {}))} finished segment(s)."
        )
    return journal


# -- the join: stream copy with the input's timestamps, the audio interleaved ------------------------------


def _video_packets(folder: Path, entries: list[dict[str, Any]]) -> Iterator[tuple[list, bytes]]:
    """Every segment's packets in order, as ``([pts, dts, duration, key, size], payload)``."""
    for entry in entries:
        header, payloads = _read_segment(folder / entry["file"], entry, verify=False)
        yield from zip(header["packets"], payloads, strict=True)


def _seconds(packet: Any) -> float:
    return float((packet.dts if packet.dts is not None else packet.pts or 0) * packet.time_base)


def _join(
    dst: Path, out_format: str, source: _Source, folder: Path, entries: list[dict], overwrite: bool
) -> None:
    """Mux every segment's packets and the input's other streams (interleaved by time) into ``dst``,
    with the input's metadata and chapters."""
    first = entries[0]
    tb = Fraction(*first["time_base"])
    start, end = min(e["start"] for e in entries), max(e["end"] for e in entries)
    first_dts, total = first["first_dts"], sum(e["packets"] for e in entries)

    def write(f: IO[bytes]) -> None:
        out = av.open(f, "w", format=out_format)
        try:
            video = out.add_mux_stream(
                first["codec"], rate=source.fps, width=first["width"], height=first["height"]
            )
            video.time_base = tb
            video.metadata.update(source.video.metadata)
            video.metadata.pop("rotate", None)  # the frames were turned upright
            copies = copy_streams(out, [*source.audio, *source.others], dst)
            out.metadata.update(source.container.metadata)
            chapters = source.container.chapters()
            if chapters:
                out.set_chapters(chapters)
            muxed = [source.container.streams[i] for i in copies]
            others = (p for p in source.container.demux(*muxed) if p.size) if muxed else iter(())
            other = next(others, None)

            def mux_other() -> Any:
                other.stream = copies[other.stream_index]
                out.mux(other)
                return next(others, None)

            last_dts: int | None = None
            for n, ((pts, dts, duration, key, _), payload) in enumerate(_video_packets(folder, entries)):
                # Each segment's encoder starts its decoding times before its first frame by its
                # B-frame delay, which with a variable rate can reach back past the previous segment's
                # last one: keep them increasing (a decoding time never passes its presentation time).
                if last_dts is not None and dts <= last_dts:
                    dts = last_dts + 1
                    if dts > pts:
                        raise ValueError(
                            f"Cannot join the segments of {dst}: the frames at {float(pts * tb):.3f} s are "
                            "too close in the input's time base; upscale in one pass (segment_frames=None)."
                        )
                last_dts = dts
                packet = av.Packet(payload)
                packet.pts, packet.dts, packet.time_base = pts, dts, tb
                packet.is_keyframe = bool(key)
                packet.duration = duration
                if n == total - 1 and out.format.name in _DTS_DURATION_MUXERS:
                    packet.duration = max(1, end - start + first_dts - dts)
                seconds = float(dts * tb)
                while other is not None and _seconds(other) <= seconds:
                    other = mux_other()
                packet.stream = video
                out.mux(packet)
            while other is not None:
                other = mux_other()
        finally:
            out.close()
        if not overwrite and dst.exists():
            raise FileExistsError(f"{dst} appeared while upscaling; pass overwrite=True to replace it.")

    atomic_write(dst, write)


# -- the job ----------------------------------------------------------------------------------------------


def upscale_video_segmented(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model: nn.Module | Upscaler | TemporalStream,
    *,
    segment_frames: int = SEGMENT_FRAMES,
    restart: bool = False,
    keep_segments: bool = False,
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
    only_segments: list[int] | None = None,
    shared: bool = False,
    pix_fmt: str | None = None,
    codec_threads: int | None = None,
) -> VideoReport:
    """Upscale ``src`` into ``dst`` in segments of ``segment_frames`` frames, resuming a journal.

    Takes :func:`~srlib.inference.video.upscale_video`'s arguments, and:

    Args:
        segment_frames: frames per segment (at least 1).
        restart: discard a journal (and its segments) left by an earlier run instead of resuming it.
        keep_segments: keep the segment folder after the output is written.
        only_segments: compute only these segments (those no other process holds) and stop before
            the join; ``None`` computes what is missing (waiting for segments another process holds)
            and joins.
        codec_threads: threads of the decoder and of each segment's encoder (``None``: FFmpeg's choice,
            all cores); a queue worker sets it to its share of the machine.
        shared: several processes (queue workers) work on this job at once: the folder lock is shared
            and ``restart`` is ignored; each segment has its own lock, and one process joins.

    Returns:
        A :class:`~srlib.inference.video.VideoReport`; ``segments`` is the number of segments and
        ``segments_reused`` how many came from an earlier run.

    Raises:
        JournalMismatchError: a journal for another input, model, settings or srlib version exists.
        OutputBusyError: another process is writing ``dst``.
        ValueError: as :func:`~srlib.inference.video.upscale_video`, and an output container that
            stores a constant frame rate only (AVI: upscale in one pass instead).
    """
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if isinstance(segment_frames, bool) or int(segment_frames) < 1:
        raise ValueError(f"segment_frames must be at least 1, got {segment_frames!r}.")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    _check_paths(src, dst, overwrite)
    out_format = _output_format(dst)
    fmt = av.ContainerFormat(out_format, "w")
    if not stores_frame_times(fmt):
        raise ValueError(
            f"{dst} ({out_format}) stores a constant frame rate, which segments cannot be joined into; write "
            ".mp4 or .mkv, or upscale in one pass (segment_frames=None, --segment-frames 0)."
        )
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
    kind, radius = temporal_kind(upscaler.model)
    warmup = {"window": radius, "recurrent": RECURRENT_WARMUP}.get(kind, 0)
    lookahead = radius if kind == "window" else 0
    options = encoder_options(fmt, {"crf": str(crf), "preset": str(preset)})

    deep = False

    def open_source() -> _Source:
        source = _open_source(src, video_stream, max_pixels)
        source.deep, source.threads = deep, int(codec_threads or 0)
        return source

    probe = open_source()
    try:
        pix_fmt = output_pix_fmt(pix_fmt, codec, probe.video.codec_context.pix_fmt)
        deep = _bits(pix_fmt) > 8
        warn_hdr(probe)
        times, times_cached = _cached_frame_times(probe, segment_folder(dst))
        times_key = None if times_cached else _times_key(probe)
        tb = Fraction(probe.video.time_base)
        fps = float(probe.fps) if probe.fps else 0.0
        width_in, height_in = probe.video.codec_context.width, probe.video.codec_context.height
        audio_streams = len(probe.audio)
    finally:
        probe.container.close()
    segments = plan_segments(len(times), int(segment_frames), warmup, lookahead)
    settings = {
        "dtype": str(upscaler.dtype),
        "tile": upscaler.tile,
        "tile_overlap": upscaler.tile_overlap if upscaler.tile else None,
        "output": repr(output),
        "codec": codec,
        "pix_fmt": pix_fmt,
        "encoder_options": options,
        "segment_frames": int(segment_frames),
        "warmup": warmup,
        "lookahead": lookahead,
        "scene_cut": scene_cut,
        "video_stream": video_stream,
    }
    identity = _identity(src, times, upscaler, settings)
    folder = segment_folder(dst)
    wanted = segments if only_segments is None else [segments[i] for i in only_segments]
    with _lock(folder, dst, shared=shared):
        if times_key is not None:
            write_json(folder / TIMES_NAME, {"key": times_key, "times": times})
        with _journal_lock(folder):
            journal = _load_journal(folder, identity, restart and not shared, dst)
            if only_segments is None:  # the one run that joins checks every finished segment first
                for key in [k for k, entry in journal["segments"].items() if not _segment_ok(folder, entry)]:
                    del journal["segments"][key]
            write_json(folder / JOURNAL_NAME, journal)
        done = journal["segments"]
        reused = sum(str(s.index) in done for s in wanted)
        with _progress(src.name, sum(s.stop - s.first for s in wanted), progress) as advance:
            advance(sum(s.stop - s.first for s in wanted if str(s.index) in done))
            for segment in wanted:
                if str(segment.index) in done:
                    continue
                # A worker leaves a segment another one holds; the joiner waits for it (or takes it
                # over if that worker dies: the OS releases the dead one's lock).
                wait = only_segments is None
                fd = _flock(
                    folder / f"seg-{segment.index:06d}.lock", fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
                )
                if fd is None:
                    continue
                try:
                    done = _read_done(folder)
                    if str(segment.index) in done:
                        advance(segment.stop - segment.first)
                        continue
                    run.reset()
                    header, payloads = _run_segment(
                        segment, times, open_source, run, codec, options, int(batch_size), advance, pix_fmt
                    )
                    entry = _store_segment(folder, segment, times, header, payloads, codec)
                    _add_done(folder, segment.index, entry)
                    done[str(segment.index)] = entry
                finally:
                    os.close(fd)
        done = _read_done(folder)
        entries = [done[str(i)] for i in range(len(segments))] if only_segments is None else []
        if entries:
            claim = _flock(folder / "join.lock", fcntl.LOCK_EX | fcntl.LOCK_NB)
            if claim is None:
                raise OutputBusyError(f"{dst} is being joined by another srlib worker.")
            try:
                source = open_source()
                try:
                    _join(dst, out_format, source, folder, entries, overwrite)
                finally:
                    source.container.close()
            finally:
                os.close(claim)
    if entries and not keep_segments:
        shutil.rmtree(folder, ignore_errors=True)
    seconds = time.perf_counter() - started
    frames = sum(s.stop - s.first for s in wanted)
    kept = [done[str(s.index)] for s in wanted]
    duration = float((max(e["end"] for e in kept) - min(e["start"] for e in kept)) * tb) if kept else 0.0
    return VideoReport(
        src=src,
        dst=dst,
        frames=frames,
        fps=fps,
        duration=duration,
        seconds=seconds,
        frames_per_second=frames / seconds if seconds > 0 else 0.0,
        width_in=int(width_in),
        height_in=int(height_in),
        width_out=int(kept[0]["width"]) if kept else 0,
        height_out=int(kept[0]["height"]) if kept else 0,
        audio_streams=audio_streams,
        segments=len(wanted),
        segments_reused=reused,
    )
