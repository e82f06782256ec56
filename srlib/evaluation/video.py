"""Video models on paired clips: every frame scored, flicker measured, cost per output frame.

:func:`evaluate_video_pairs` is what ``python -m srlib.evaluate --video-pairs DIR`` runs. Each clip
pair of ``DIR`` (``lr/NAME.mp4`` + ``hr/NAME.mp4``) is decoded once, every HR frame matched to the LR
frame nearest in time (:class:`srlib.data.video.VideoFramePairDataset` with ``every_n=1``: the
frames are cached next to the clips), and each model runs over the LR frames in order through a
:class:`~srlib.inference.temporal.TemporalStream` (a window, a state, or frame by frame), so
temporal and per-frame models are scored the same way. Per model and clip: the mean per-frame
protocol Y-PSNR/SSIM and ``tdiff_psnr`` (:class:`srlib.metrics.TemporalScores`); per model: FLOPs
per output frame and frames/s at ``speed_size`` (:func:`srlib.evaluation.measure_cost`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from srlib._version import __version__
from srlib.evaluation.cost import device_name, measure_cost
from srlib.evaluation.results import PROTOCOL, ModelCost
from srlib.evaluation.table import _build, _model_spec, _unique_labels
from srlib.inference.engine import Upscaler
from srlib.inference.temporal import TemporalStream
from srlib.metrics import TemporalScores

__all__ = ["ClipScore", "VideoEvaluation", "VideoRow", "evaluate_clips", "evaluate_video_pairs"]

log = logging.getLogger(__name__)

#: The protocol of paired clips: the clips' own LR frames, not a bicubic LR made from the HR.
VIDEO_PROTOCOL = PROTOCOL.split(", LR = ")[0] + ", LR = each clip's own LR frame nearest in time"


@dataclass
class ClipScore:
    """One model on one clip: mean per-frame PSNR (dB) / SSIM and ``tdiff_psnr`` (dB)."""

    clip: str
    frames: int
    psnr: float
    ssim: float
    tdiff_psnr: float


@dataclass
class VideoRow:
    """One model on every clip of a folder, with its cost per output frame."""

    model: str
    source: str
    clips: list[ClipScore]
    cost: ModelCost | None
    status: str = "ok"
    note: str = ""

    def mean(self, key: str) -> float:
        """The frame-weighted mean of ``key`` over the clips."""
        total = sum(c.frames for c in self.clips)
        return sum(getattr(c, key) * c.frames for c in self.clips) / total if total else float("nan")


@dataclass
class VideoEvaluation:
    """Models x one folder of clip pairs at one scale; writes markdown and JSON."""

    data: str
    scale: int
    rows: list[VideoRow]
    device: str
    device_name: str
    dtype: str
    speed_size: tuple[int, int]
    profiles: dict[str, list[torch.Tensor]] = field(default_factory=dict, repr=False)

    def to_markdown(self) -> str:
        w, h = self.speed_size
        lines = [
            f"Video pairs {self.data}, x{self.scale}: every frame, {VIDEO_PROTOCOL}; tdiff_psnr = PSNR of "
            "the "
            f"frame-to-frame differences (higher = steadier). FLOPs and frames/s per output frame at {w}x{h} "
            f"LR on {self.device_name} ({self.dtype}).",
            "",
            "| model | frames | PSNR | SSIM | tdiff PSNR | GFLOPs/frame | frames/s | params |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.rows:
            if row.status != "ok":
                lines.append(f"| {row.model} | {row.note} | | | | | | |")
                continue
            cost = row.cost
            gflops = f"{cost.flops / 1e9:.2f}" if cost else ""
            fps = f"{cost.fps:.2f}" if cost and cost.fps else ""
            params = f"{cost.params:,}" if cost else ""
            frames = sum(c.frames for c in row.clips)
            lines.append(
                f"| {row.model} | {frames} | {row.mean('psnr'):.2f} | {row.mean('ssim'):.4f} | "
                f"{row.mean('tdiff_psnr'):.2f} | {gflops} | {fps} | {params} |"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        models = {}
        for row in self.rows:
            entry: dict[str, Any] = {"source": row.source, "status": row.status, "note": row.note}
            if row.status == "ok":
                entry |= {key: row.mean(key) for key in ("psnr", "ssim", "tdiff_psnr")}
                entry["frames"] = sum(c.frames for c in row.clips)
                entry["clips"] = [asdict(c) for c in row.clips]
                if row.cost is not None:
                    entry |= {
                        "flops": row.cost.flops,
                        "fps": row.cost.fps,
                        "params": row.cost.params,
                    }
            models[row.model] = entry
        return {
            "srlib_version": __version__,
            "data": self.data,
            "scale": self.scale,
            "protocol": VIDEO_PROTOCOL,
            "device": self.device,
            "device_name": self.device_name,
            "dtype": self.dtype,
            "speed_size": list(self.speed_size),
            "models": models,
        }


def _clips(root: Path, scale: int, policy: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Every frame pair of every clip, grouped by clip, in time order."""
    from srlib.data.video import VideoFramePairDataset

    dataset = VideoFramePairDataset(root, scale, sampling={"every_n": 1}, policy=policy, augment=False)
    clips: dict[str, list[dict[str, Any]]] = {}
    for index, (name, *_rest) in enumerate(dataset.items):
        clips.setdefault(name.rsplit("_f", 1)[0], []).append(dataset[index])
    return clips


def _score_clip(
    upscaler: Upscaler,
    name: str,
    frames: list[dict[str, Any]],
    scale: int,
    scene_cut: float | None,
    row: int,
) -> tuple[ClipScore, list[torch.Tensor]]:
    """Stream one clip's LR frames through the model; score each output against its HR frame."""
    stream, scorer = TemporalStream(upscaler, scene_cut=scene_cut), TemporalScores(crop_border=scale)
    targets = iter(frames)
    rows: list[torch.Tensor] = []

    def take(outputs: list[torch.Tensor]) -> None:
        for sr in outputs:  # in order: the stream returns every frame once, lagging by its window
            scorer.add(sr, next(targets)["hr"].float().div(255))
            rows.append(sr[:, row].clone())

    for frame in frames:
        take(stream.push(frame["lr"].float().div(255)))
    take(stream.flush())
    s = scorer.compute()
    return ClipScore(name, s.frames, s.psnr, s.ssim, s.tdiff_psnr), rows


def evaluate_clips(
    net: torch.nn.Module,
    clips: Sequence[tuple],
    scale: int,
    *,
    dtype: str = "fp32",
    scene_cut: float | None = None,
) -> tuple[dict[str, float], list[torch.Tensor]]:
    """Score a network on in-memory clips, streamed frame by frame as :func:`evaluate_video_pairs` does.

    Args:
        net: an image or video network.
        clips: ``(name, hr, lr)`` (or ``(name, hr)``: the protocol's LR of each frame) with ``hr``
            ``(T, 3, H, W)`` and ``lr`` ``(T, 3, h, w)`` uint8: a clip validation set's samples.
        scale, dtype, scene_cut: as for :func:`evaluate_video_pairs`.

    Returns:
        The frame-weighted means (``psnr``, ``ssim``, ``tdiff_psnr``, ``frames``, ``clips``) and the
        outputs of the first clip's frames.
    """
    from srlib.metrics import protocol_lr

    upscaler = Upscaler(net, dtype=dtype)
    scores, first = [], []
    for k, (name, hr, *lr) in enumerate(clips):
        low = lr[0] if lr else protocol_lr(hr, scale).mul(255).round().to(torch.uint8)
        frames = [{"lr": low[t], "hr": hr[t]} for t in range(hr.shape[0])]
        score, _ = _score_clip(upscaler, str(name), frames, int(scale), scene_cut, 0)
        scores.append(score)
        if k == 0:
            stream = TemporalStream(upscaler, scene_cut=scene_cut)
            for f in frames:
                first += stream.push(f["lr"].float().div(255))
            first += stream.flush()
    total = sum(c.frames for c in scores)
    means = {
        key: round(sum(getattr(c, key) * c.frames for c in scores) / total, 4)
        for key in ("psnr", "ssim", "tdiff_psnr")
    }
    return {**means, "frames": total, "clips": len(scores)}, first


def evaluate_video_pairs(
    models: Sequence[str | os.PathLike],
    root: str | os.PathLike,
    *,
    scale: int,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
    policy: Mapping[str, Any] | None = None,
    speed_size: tuple[int, int] = (256, 144),
    speed_warmup: int = 2,
    speed_runs: int = 5,
    profile_clip: str | None = None,
    scene_cut: float | None = None,
) -> VideoEvaluation:
    """Score ``models`` (names or weight files; temporal or per-frame) on the clip pairs of ``root``.

    Args:
        models: registered names or weight files.
        root: a folder with ``lr/`` and ``hr/`` clips of the same names.
        scale: the SR scale.
        device, dtype: where and in what precision to run (``"fp32"``: the protocol's numbers).
        policy: a :class:`srlib.data.video.FramePairPolicy` mapping for pairs not exactly ``scale``
            apart (e.g. ``{"size_policy": "resize_hr"}`` for 144p/480p).
        speed_size, speed_warmup, speed_runs: the cost measurement (``speed_runs=0``: no timing).
        profile_clip: the clip whose temporal profile rows are kept (default: the first).
        scene_cut: the stream's scene-cut threshold (``None``: the clips are single shots).

    Returns:
        :class:`VideoEvaluation`; its ``profiles`` hold the middle pixel row of every frame of
        ``profile_clip`` per model and for ``"ground truth"``.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: unknown models, bad clips (named), clips of one frame, or nothing to evaluate.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"--video-pairs folder {root} does not exist (it holds lr/ and hr/ clips).")
    clips = _clips(root, int(scale), policy)
    if not clips:
        raise ValueError(f"No clip pairs in {root} (expected lr/NAME.mp4 and hr/NAME.mp4).")
    short = [name for name, frames in clips.items() if len(frames) < 2]
    if short:
        raise ValueError(
            f"Clip(s) {', '.join(short)} in {root} have one frame; tdiff_psnr needs two or more."
        )
    profile_clip = profile_clip or next(iter(clips))
    if profile_clip not in clips:
        raise ValueError(f"No clip {profile_clip!r} in {root}; its clips: {', '.join(clips)}.")
    middle = clips[profile_clip][0]["hr"].shape[-2] // 2
    profiles = {"ground truth": [f["hr"][:, middle].float() / 255 for f in clips[profile_clip]]}
    rows = []
    for spec in _unique_labels([_model_spec(str(m)) for m in models]):
        net, note = _build(spec, int(scale), None)
        if net is None:
            rows.append(VideoRow(spec.label, spec.source, [], None, "skipped", note))
            continue
        upscaler = Upscaler(net, device=device, dtype=dtype)
        cost = measure_cost(upscaler, input_size=speed_size, warmup=speed_warmup, runs=speed_runs)
        scores = []
        for name, frames in clips.items():
            log.info("%s on %s (%d frames)", spec.label, name, len(frames))
            score, row_over_time = _score_clip(upscaler, name, frames, int(scale), scene_cut, middle)
            scores.append(score)
            if name == profile_clip:
                profiles[spec.label] = row_over_time
        rows.append(VideoRow(spec.label, spec.source, scores, cost, "ok", note))
    if not any(r.status == "ok" for r in rows):
        raise ValueError("Nothing to evaluate: " + "; ".join(f"{r.model} {r.note}" for r in rows))
    return VideoEvaluation(
        data=root.name,
        scale=int(scale),
        rows=rows,
        device=str(torch.device(device)),
        device_name=device_name(device),
        dtype=dtype,
        speed_size=tuple(speed_size),  # type: ignore[arg-type]
        profiles=profiles,
    )
