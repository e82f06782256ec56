"""Evaluate models on benchmark sets with the standard SR protocol: one table of quality and cost.

    python -m srlib.evaluate --model vdsr --weights vdsr.safetensors --data path/to/Set5 --scale 4
    python -m srlib.evaluate --model bicubic,fsrcnn_x4.safetensors --model vdsr.safetensors \\
        --data Set5 Set14 --scale 2 3 4 --md table.md --csv table.csv --json table.json \\
        --crops crops/ --plot quality_vs_speed.png

Every (model, set, scale) gets a row. Per image: modcrop the 8-bit ground truth, make the LR input
with MATLAB-compatible bicubic (``uint8``), run the model through :class:`srlib.inference.Upscaler`,
quantise its output to 8 bit and compute PSNR/SSIM on BT.601 Y (gray images on their gray values)
with ``scale`` border pixels ignored (:mod:`srlib.metrics.protocol`); LPIPS when its backbone file is
on this machine (else "unavailable"). Per (model, scale): parameters, size (fp32), FLOPs and the median
frames/s of one input of ``--speed-size`` after warm-up runs.

A weight file for another scale is not run at the requested one: it is skipped with a note, unless
:func:`srlib.models.resolve_model` rebuilds it (architectures whose weights serve every scale, VDSR).
A registered name that does not support a scale is skipped the same way. A run where nothing is left
to evaluate is an error.

Images are checked from their headers before any is decoded; one over the pixel limit
(``--max-pixels``, default ``$SRLIB_MAX_IMAGE_PIXELS`` or 100 megapixels) is refused, naming the file.
Failures print one ``error:`` line and exit with code 2 (``SRLIB_DEBUG=1`` adds the traceback).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import platform
import statistics
import sys
import time
from argparse import Namespace
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib._cli import ArgumentParser, check_writable, run_cli
from srlib._fs import atomic_write, write_json
from srlib._logging import setup_cli_logging
from srlib._version import __version__
from srlib.inference.engine import Upscaler
from srlib.io.images import list_images, read_image, scan_images
from srlib.metrics import protocol_pair, protocol_scores
from srlib.models import model_info, resolve_model

__all__ = [
    "EvaluationResult",
    "EvaluationTable",
    "ImageScore",
    "LpipsScorer",
    "ModelCost",
    "TableRow",
    "evaluate_folder",
    "evaluate_images",
    "evaluate_table",
    "load_images",
    "main",
    "measure_cost",
    "plot_quality_vs_speed",
    "resolve_model",
    "super_resolve",
]

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
UNAVAILABLE = "unavailable"
PROTOCOL = (
    "PSNR/SSIM on BT.601 Y (gray images on gray values), `scale` px border ignored, 8-bit outputs, "
    "LR = MATLAB bicubic of the modcropped 8-bit HR"
)


@dataclass
class ImageScore:
    """Scores of one image (``lpips`` is ``None`` when not measured)."""

    name: str
    psnr: float
    ssim: float
    lpips: float | None = None


@dataclass
class EvaluationResult:
    """Mean and per-image scores of one model on one folder at one scale."""

    model: str
    data: str
    scale: int
    psnr: float
    ssim: float
    per_image: list[ImageScore] = field(default_factory=list)
    lpips: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ModelCost:
    """What running a model costs at one input size (batch 1).

    Attributes:
        params: parameters.
        size_mb: parameters and buffers stored as fp32, in MB (2**20 bytes).
        flops: FLOPs of one forward (``torch.utils.flop_counter``; one multiply-add = 2 FLOPs).
        input_size: ``(width, height)`` of the LR input the FLOPs and speed are for.
        fps: median frames/s over ``runs`` timed runs (``None`` when not measured).
        runs: timed runs behind ``fps``; warm-up runs are not counted.
        warmup: untimed runs before them.
    """

    params: int
    size_mb: float
    flops: int
    input_size: tuple[int, int]
    fps: float | None
    runs: int
    warmup: int


@dataclass
class TableRow:
    """One (model, set, scale) of the table: its scores and cost, or why it was skipped."""

    model: str
    source: str
    data: str
    scale: int
    status: str = "ok"
    note: str = ""
    result: EvaluationResult | None = None
    cost: ModelCost | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as the JSON report writes it (``lpips`` is ``None`` when unavailable)."""
        res, cost = self.result, self.cost
        return {
            "model": self.model,
            "source": self.source,
            "data": self.data,
            "scale": self.scale,
            "status": self.status,
            "note": self.note,
            "images": len(res.per_image) if res else 0,
            "psnr": res.psnr if res else None,
            "ssim": res.ssim if res else None,
            "lpips": res.lpips if res else None,
            "params": cost.params if cost else None,
            "size_mb": cost.size_mb if cost else None,
            "flops": cost.flops if cost else None,
            "fps": cost.fps if cost else None,
            "fps_runs": cost.runs if cost else None,
            "per_image": [asdict(s) for s in res.per_image] if res else [],
        }


@dataclass
class EvaluationTable:
    """Rows of :func:`evaluate_table` and the settings they were measured with."""

    rows: list[TableRow]
    device: str
    device_name: str
    dtype: str
    speed_size: tuple[int, int]
    speed_warmup: int
    speed_runs: int
    lpips_net: str | None
    lpips_available: bool
    lpips_reason: str = ""

    @property
    def evaluated(self) -> list[TableRow]:
        return [r for r in self.rows if r.status == "ok"]

    @property
    def skipped(self) -> list[TableRow]:
        return [r for r in self.rows if r.status != "ok"]

    def lpips_cell(self, row: TableRow) -> str:
        if self.lpips_net is None:
            return "not measured"
        if not self.lpips_available or row.result is None or row.result.lpips is None:
            return UNAVAILABLE
        return f"{row.result.lpips:.4f}"

    def speed_text(self) -> str:
        w, h = self.speed_size
        if self.speed_runs <= 0:
            return f"GFLOPs for one {w}x{h} input; frames/s not measured"
        return (
            f"GFLOPs and frames/s for one {w}x{h} input (batch 1); frames/s = median of "
            f"{self.speed_runs} timed runs after {self.speed_warmup} warm-up runs"
        )

    def to_markdown(self) -> str:
        """The table with a header naming the protocol and the machine, and the skipped rows."""
        lpips = (
            "not measured"
            if self.lpips_net is None
            else f"{self.lpips_net}"
            + ("" if self.lpips_available else f" ({UNAVAILABLE}: {self.lpips_reason})")
        )
        lines = [
            f"{PROTOCOL}. LPIPS: {lpips}.",
            f"{self.dtype} on {self.device} ({self.device_name}); {self.speed_text()}.",
            "",
            "| model | set | scale | PSNR | SSIM | LPIPS | params | MB (fp32) | GFLOPs | frames/s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.evaluated:
            res, cost = row.result, row.cost
            assert res is not None and cost is not None
            fps = "–" if cost.fps is None else f"{cost.fps:,.1f}" if cost.fps >= 10 else f"{cost.fps:.2f}"
            lines.append(
                f"| {row.model} | {row.data} | x{row.scale} | {res.psnr:.2f} | {res.ssim:.4f} | "
                f"{self.lpips_cell(row)} | {cost.params:,} | {cost.size_mb:.2f} | {cost.flops / 1e9:.2f} | "
                f"{fps} |"
            )
        notes = list(dict.fromkeys(f"- {r.model} at x{r.scale}: {r.note}" for r in self.rows if r.note))
        if notes:
            lines += ["", "Notes:", *notes]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """One line per row (skipped ones too, with empty numbers and the reason in ``note``)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        w, h = self.speed_size
        for row in self.rows:
            d = row.to_dict()
            lpips = "" if row.result is None else self.lpips_cell(row)
            values = {
                **d,
                "lpips": lpips,
                "speed_input": f"{w}x{h}",
                "dtype": self.dtype,
                "device": self.device,
            }
            writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
        return out.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: settings, then one object per row (per-image scores included)."""
        w, h = self.speed_size
        return {
            "srlib_version": __version__,
            "protocol": PROTOCOL,
            "device": self.device,
            "device_name": self.device_name,
            "dtype": self.dtype,
            "speed": {"input": f"{w}x{h}", "batch": 1, "warmup": self.speed_warmup, "runs": self.speed_runs},
            "lpips": {
                "net": self.lpips_net,
                "available": self.lpips_available,
                "reason": self.lpips_reason,
            },
            "rows": [r.to_dict() for r in self.rows],
        }


CSV_COLUMNS = (
    "model",
    "data",
    "scale",
    "status",
    "images",
    "psnr",
    "ssim",
    "lpips",
    "params",
    "size_mb",
    "flops",
    "speed_input",
    "fps",
    "fps_runs",
    "dtype",
    "device",
    "source",
    "note",
)


# ------------------------------------------------------------------------------------------ one model
def super_resolve(model: nn.Module, lr: Tensor, *, dtype: str | torch.dtype | None = "fp32") -> Tensor:
    """Run ``model`` on a ``(B, 3, h, w)`` [0, 1] batch through :class:`srlib.inference.Upscaler`.

    ``dtype`` (``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"``) picks the precision with
    :func:`srlib.precision.resolve_dtype`: ``"auto"`` uses reduced precision only where the device
    computes it natively. The output is on ``lr``'s device.
    """
    return Upscaler(model, device=lr.device, dtype=dtype)(lr).to(lr.device)


class LpipsScorer:
    """LPIPS of 8-bit outputs against their ground truth, from a backbone file on this machine only.

    Args:
        net: LPIPS backbone (``"alex"``, ``"vgg"``, ``"squeeze"``).
        weights: ``"imagenet"`` (torchvision's file in the local torch hub cache; when it is absent
            the scorer is unavailable, with the reason) or the path of a backbone state dict (must exist).
        device: where to compute.

    Raises:
        ValueError: ``weights="random"``: a randomly initialised backbone gives no meaningful score.
    """

    def __init__(self, net: str = "alex", *, weights: str = "imagenet", device: str | torch.device = "cpu"):
        from srlib.losses._backbone import hub_cache_file
        from srlib.losses.lpips_loss import LPIPSLoss, lpips_backbone_url

        if weights == "random":
            raise ValueError(
                "LPIPS with a random backbone is not a score; pass --lpips-weights FILE or 'imagenet'."
            )
        self.net, self.device = net, torch.device(device)
        self.loss: nn.Module | None = None
        self.reason = ""
        try:
            self.loss = LPIPSLoss(net, backbone_weights=weights).to(self.device)
        except FileNotFoundError:
            if weights != "imagenet":
                raise
            missing = hub_cache_file(lpips_backbone_url(net))
            self.reason = f"{missing} is absent and srlib never downloads it (or pass --lpips-weights FILE)"
            log.info("LPIPS %s is unavailable: %s", net, self.reason)

    @property
    def available(self) -> bool:
        return self.loss is not None

    def __call__(self, sr: Tensor, hr: Tensor, crop_border: int) -> float | None:
        """LPIPS of one ``(1, 3, H, W)`` output against its ``(1, C, H, W)`` ground truth, or ``None``."""
        if self.loss is None:
            return None
        sr = sr.clamp(0, 1).mul(255).round().div(255)
        hr = hr.expand(-1, 3, -1, -1) if hr.shape[1] == 1 else hr
        c = int(crop_border)
        if c > 0:
            sr, hr = sr[..., c:-c, c:-c], hr[..., c:-c, c:-c]
        with torch.inference_mode():
            return float(self.loss(sr.to(self.device), hr.to(self.device)))


OutputHook = Callable[[str, Tensor, Tensor, ImageScore], None]
#: One scored sample: ``(name, (C, H, W) uint8 ground truth)``, or
#: ``(name, ground truth, (3, h, w) uint8 LR)`` when the LR input is the user's own (paired images or
#: video frames) rather than the protocol's bicubic.
Sample = tuple[str, Tensor] | tuple[str, Tensor, Tensor]


def sample_input(sample: Sample, scale: int) -> tuple[Tensor, Tensor]:
    """``(lr, hr)`` floats in [0, 1] of one sample: its own LR when it has one, else the protocol's.

    A paired ground truth is cropped to ``scale`` times its LR (bottom/right), as the datasets do.

    Example:
        >>> hr = torch.zeros(3, 10, 9, dtype=torch.uint8)
        >>> [tuple(t.shape) for t in sample_input(("a", hr, torch.zeros(3, 2, 2, dtype=torch.uint8)), 4)]
        [(3, 2, 2), (3, 8, 8)]
    """
    if len(sample) == 2:
        return protocol_pair(sample[1], scale)
    _, hr, lr = sample
    h, w = lr.shape[-2] * scale, lr.shape[-1] * scale
    if hr.shape[-2] < h or hr.shape[-1] < w:
        raise ValueError(
            f"{sample[0]}: the LR input ({lr.shape[-1]}x{lr.shape[-2]}) times {scale} is larger than its "
            f"ground truth ({hr.shape[-1]}x{hr.shape[-2]}); pass the scale the pairs were made for."
        )
    lr_f = lr.float().div(255.0)
    if lr_f.shape[-3] == 1:
        lr_f = lr_f.repeat_interleave(3, dim=-3)
    return lr_f, hr[..., :h, :w].float().div(255.0)


def samples_of(dataset: Any) -> list[Sample]:
    """The samples of a validation dataset (items with ``"hr"``, ``"name"`` and maybe ``"lr"``, uint8)."""
    out: list[Sample] = []
    for index in range(len(dataset)):
        item = dataset[index]
        name = str(item.get("name") or index)
        out.append((name, item["hr"], item["lr"]) if "lr" in item else (name, item["hr"]))
    return out


def _score_images(
    upscaler: Upscaler,
    images: Sequence[Sample],
    scale: int,
    border: int,
    lpips: LpipsScorer | None = None,
    on_output: OutputHook | None = None,
) -> list[ImageScore]:
    """The protocol on each sample (:data:`Sample`): the one loop every evaluation runs."""
    scores = []
    for sample in images:
        name = sample[0]
        lr, hr = sample_input(sample, scale)
        sr = upscaler(lr[None])
        psnr, ssim = protocol_scores(sr, hr[None], crop_border=border)
        lp = lpips(sr, hr[None], border) if lpips is not None else None
        score = ImageScore(name, float(psnr[0]), float(ssim[0]), lp)
        scores.append(score)
        if on_output is not None:
            on_output(name, sr[0], hr, score)
    return scores


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present and len(present) == len(values) else None


def evaluate_folder(
    model: nn.Module,
    folder: str | os.PathLike,
    scale: int,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "fp32",
    crop_border: int | None = None,
    name: str | None = None,
    max_pixels: int | None = None,
    lpips: LpipsScorer | None = None,
) -> EvaluationResult:
    """Score ``model`` on every image of ``folder`` with the standard SR protocol.

    Args:
        model: any srlib-contract model (RGB [0, 1] in and out) for ``scale``.
        folder: folder of HR ground-truth images.
        scale: upscaling factor.
        device: where to run (default: the model's device).
        dtype: ``"fp32"`` (default, the protocol's numbers), ``"auto"`` (bf16/fp16 only where the device
            computes it natively; scores may move by ~0.01 dB), ``"bf16"`` or ``"fp16"``.
        crop_border: border ignored by the metrics (default: ``scale``).
        name: label for the report (default: the model class name).
        max_pixels: pixel limit per image, checked from the headers before decoding (default:
            ``$SRLIB_MAX_IMAGE_PIXELS``, else 100 megapixels).
        lpips: an :class:`LpipsScorer` to add LPIPS (``None``: not measured).

    Returns:
        :class:`EvaluationResult` with mean and per-image PSNR/SSIM.

    Raises:
        ValueError: unreadable, truncated or too large images (all listed, before any is decoded).
    """
    result = evaluate_images(
        model,
        load_images(folder, max_pixels=max_pixels),
        scale,
        device=device,
        dtype=dtype,
        crop_border=crop_border,
        name=name,
        lpips=lpips,
    )
    result.data = str(folder)
    return result


def load_images(folder: str | os.PathLike, *, max_pixels: int | None = None) -> list[tuple[str, Tensor]]:
    """``(stem, (C, H, W) uint8)`` of every image in ``folder``; all headers are checked before decoding."""
    paths = list_images(folder)
    scan_images(paths, max_pixels=max_pixels)
    return [(p.stem, read_image(p, channels="keep", max_pixels=max_pixels)) for p in paths]


def evaluate_images(
    model: nn.Module,
    images: Sequence[Sample],
    scale: int,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "fp32",
    crop_border: int | None = None,
    name: str | None = None,
    lpips: LpipsScorer | None = None,
    on_output: OutputHook | None = None,
) -> EvaluationResult:
    """Score ``model`` on samples (:data:`Sample`: a ground truth, or a ground truth and its own LR).

    See :func:`evaluate_folder`; samples with an LR input are scored on it instead of the protocol's.

    ``on_output(name, sr, hr, score)`` is called with each output and its ground truth (floats in [0, 1]).
    """
    model_scale = getattr(model, "scale", scale)
    if int(model_scale) != int(scale):
        raise ValueError(
            f"The model upscales x{model_scale} but evaluation asked for x{scale}; "
            f"pass --scale {model_scale} or a model built for x{scale}."
        )
    if not images:
        raise ValueError("No images to evaluate on.")
    upscaler = Upscaler(model, device=device, dtype=dtype)
    return _result(name or type(model).__name__, upscaler, images, scale, crop_border, lpips, on_output)


def _result(
    name: str,
    upscaler: Upscaler,
    images: Sequence[Sample],
    scale: int,
    crop_border: int | None,
    lpips: LpipsScorer | None,
    on_output: OutputHook | None,
) -> EvaluationResult:
    border = scale if crop_border is None else crop_border
    scores = _score_images(upscaler, images, scale, border, lpips, on_output)
    return EvaluationResult(
        model=name,
        data=f"{len(images)} images",
        scale=int(scale),
        psnr=sum(s.psnr for s in scores) / len(scores),
        ssim=sum(s.ssim for s in scores) / len(scores),
        per_image=scores,
        lpips=_mean_or_none([s.lpips for s in scores]) if lpips is not None and lpips.available else None,
    )


# ------------------------------------------------------------------------------------------- cost
def measure_cost(
    model: nn.Module | Upscaler,
    *,
    input_size: tuple[int, int] = (256, 144),
    warmup: int = 2,
    runs: int = 10,
    dtype: str | torch.dtype | None = "fp32",
    device: str | torch.device | None = None,
) -> ModelCost:
    """Parameters, fp32 size, FLOPs and median frames/s of ``model`` on one ``input_size`` input.

    Args:
        model: a network (run through an :class:`~srlib.inference.Upscaler` with ``dtype`` and
            ``device``) or an Upscaler.
        input_size: ``(width, height)`` of the LR input.
        warmup: untimed runs first.
        runs: timed runs; ``0`` skips the timing (``fps`` is ``None``).
        dtype, device: as :class:`~srlib.inference.Upscaler` (ignored for an Upscaler).

    Example:
        >>> import srlib
        >>> cost = measure_cost(srlib.create_model("fsrcnn", scale=2), input_size=(16, 8), warmup=0, runs=2)
        >>> cost.params, cost.flops > 0, cost.fps > 0, cost.runs
        (12809, True, True, 2)
    """
    from torch.utils.flop_counter import FlopCounterMode

    up = model if isinstance(model, Upscaler) else Upscaler(model, device=device, dtype=dtype)
    net = up.model
    params = sum(p.numel() for p in net.parameters())
    size = sum(
        t.numel() * (4 if t.is_floating_point() else t.element_size()) for t in net.state_dict().values()
    )
    w, h = input_size
    x = torch.rand(1, 3, h, w)
    with FlopCounterMode(display=False) as counter:
        up(x)
    times = []
    for i in range(max(0, warmup) + max(0, runs)):
        start = time.perf_counter()
        up(x)  # the output comes back on the CPU, so the time includes the device's work
        if i >= warmup:
            times.append(time.perf_counter() - start)
    fps = 1.0 / statistics.median(times) if times else None
    return ModelCost(params, size / 2**20, int(counter.get_total_flops()), (w, h), fps, len(times), warmup)


def device_name(device: str | torch.device) -> str:
    """What ``device`` is: the GPU's name, or the CPU's model name and logical CPU count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="ignore").splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{name or platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"


# ------------------------------------------------------------------------------------------ the table
@dataclass
class _Spec:
    label: str
    source: str
    is_file: bool
    loaded: nn.Module | None = None  # a weight file at its own scale, loaded once


def _model_spec(source: str) -> _Spec:
    path = Path(source).expanduser()
    is_file = path.suffix in WEIGHT_SUFFIXES or path.is_file()
    return _Spec(path.stem if is_file else source, source, is_file)


def _unique_labels(specs: list[_Spec]) -> list[_Spec]:
    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.label] = seen.get(spec.label, 0) + 1
    for spec in specs:
        if seen[spec.label] > 1 and spec.is_file:
            spec.label = spec.source
    return specs


def _build(spec: _Spec, scale: int, weights: str | None) -> tuple[nn.Module | None, str]:
    """The network of ``spec`` at ``scale``, or ``None`` and why it cannot run at that scale."""
    if spec.is_file:
        if spec.loaded is None:
            from srlib.models import load_model

            spec.loaded = load_model(spec.source)  # loading problems are errors, not skips
        native = int(getattr(spec.loaded, "scale", scale))
        if native == scale:
            return spec.loaded, ""
        try:
            net = resolve_model(spec.source, scale=scale)
        except ValueError as err:
            return None, f"skipped: {err}"
        return net, f"x{native} weights rebuilt at x{scale} (its weights serve every scale)"
    scales = model_info(spec.source).scales  # an unknown name is an error (close matches named)
    if scales and scale not in scales:
        return None, f"skipped: {spec.source} supports x{', x'.join(map(str, scales))} only"
    return resolve_model(spec.source, scale=scale, weights=weights), ""


def _data_label(spec: str, folder: Path) -> str:
    return folder.name if Path(spec).expanduser().is_dir() else spec


def evaluate_table(
    models: Sequence[str],
    data: Sequence[str | os.PathLike],
    scales: Sequence[int],
    *,
    weights: str | None = None,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
    speed_size: tuple[int, int] = (256, 144),
    speed_warmup: int = 2,
    speed_runs: int = 10,
    lpips: str | None = "alex",
    lpips_weights: str = "imagenet",
    crops: str | os.PathLike | None = None,
    crop_size: int = 48,
    crop_zoom: int = 4,
    max_pixels: int | None = None,
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]] = (),
    video_pairs: Sequence[str | os.PathLike] = (),
) -> EvaluationTable:
    """Models x benchmark sets x scales under the protocol, with each model's cost.

    Args:
        models: registered names or weight files (``.safetensors``, ``.pth``, ...).
        data: folders of HR images or catalogue names (``"Set5"``, ``"Urban100"``), resolved by
            :func:`srlib.data.resolve_image_dir` (test split).
        scales: upscaling factors. A weight file for another scale is skipped with a note unless
            :func:`srlib.models.resolve_model` rebuilds it (weights that serve every scale, VDSR); a name
            that does not support a scale is skipped too.
        weights: weight file loaded into the registered model (only with a single model).
        device, dtype: where and in what precision to run (``"fp32"``: the protocol's numbers).
        speed_size: ``(width, height)`` of the LR input for FLOPs and frames/s.
        speed_warmup, speed_runs: untimed and timed runs (``speed_runs=0``: no timing).
        lpips: LPIPS backbone (``"alex"``, ``"vgg"``, ``"squeeze"``) or ``None``.
        lpips_weights: ``"imagenet"`` (local torch hub cache; "unavailable" when absent) or a file.
        crops: folder for side-by-side crops per image (``SET_xS/IMAGE.png``), or ``None``.
        crop_size, crop_zoom: HR pixels of the crop and its nearest-neighbour zoom.
        max_pixels: pixel limit per image (see :func:`evaluate_folder`).
        pairs: ``(HR folder, LR folder)`` pairs of your own data, matched by name as
            :class:`srlib.data.PairedImageDataset` does; the models run on your LR images.
        video_pairs: folders laid out as ``lr/NAME.mp4`` + ``hr/NAME.mp4``
            (:class:`srlib.data.VideoPairDataModule`'s layout); whole frames matched by timestamp
            (every 25th frame, cached next to the clips).

    Returns:
        :class:`EvaluationTable`, rows in (scale, set, model) order.

    Raises:
        ValueError: bad settings, unknown model names, unreadable images, or nothing left to evaluate.
        FileNotFoundError: a missing folder, weight file or named LPIPS backbone file.
    """
    if not models or not (data or pairs or video_pairs) or not scales:
        raise ValueError("Give at least one model, one data set (or --pairs / --video-pairs) and one scale.")
    specs = _unique_labels([_model_spec(m) for m in models])
    if weights is not None and (len(specs) != 1 or specs[0].is_file):
        raise ValueError(
            "--weights goes with exactly one registered --model name; list weight files as --model."
        )
    if min(scales) < 1:
        raise ValueError(f"Scales must be positive integers, got {list(scales)}.")
    sets = []
    for spec in data:
        folder = resolve_data(str(spec))
        sets.append((_data_label(str(spec), folder), folder))
    for _, folder in sets:  # every header checked before anything is decoded
        scan_images(list_images(folder), max_pixels=max_pixels)
    images: dict[str, Any] = {label: load_images(folder, max_pixels=max_pixels) for label, folder in sets}
    images.update(_paired_sets(pairs, video_pairs))
    scorer = LpipsScorer(lpips, weights=lpips_weights, device=device) if lpips else None
    sheets = _CropSheets(Path(crops), crop_size, crop_zoom) if crops is not None else None
    rows: list[TableRow] = []
    for scale in dict.fromkeys(int(s) for s in scales):
        runners: list[tuple[Upscaler | None, ModelCost | None, str]] = []
        for spec in specs:
            net, note = _build(spec, scale, weights)
            if net is None:
                log.warning("%s at x%d %s", spec.label, scale, note)
                runners.append((None, None, note))
                continue
            upscaler = Upscaler(net, device=device, dtype=dtype)
            cost = measure_cost(upscaler, input_size=speed_size, warmup=speed_warmup, runs=speed_runs)
            runners.append((upscaler, cost, note))
        for label in images:
            samples = images[label](scale) if callable(images[label]) else images[label]
            hook = sheets.start() if sheets is not None else None
            if hook is not None and not any(s.source == "bicubic" for s in specs):
                reference = Upscaler(resolve_model("bicubic", scale=scale), device=device, dtype=dtype)
                _score_images(reference, samples, scale, scale, None, hook("bicubic"))
            for spec, (upscaler, cost, note) in zip(specs, runners, strict=True):
                if upscaler is None:
                    rows.append(TableRow(spec.label, spec.source, label, scale, "skipped", note))
                    continue
                log.info("%s on %s x%d", spec.label, label, scale)
                on_output = hook(spec.label) if hook is not None else None
                result = _result(spec.label, upscaler, samples, scale, None, scorer, on_output)
                result.data = label
                rows.append(TableRow(spec.label, spec.source, label, scale, "ok", note, result, cost))
            if sheets is not None:
                sheets.write(label, scale)
    if not any(r.status == "ok" for r in rows):
        notes = dict.fromkeys(f"{r.model} at x{r.scale} {r.note}" for r in rows)
        raise ValueError("Nothing to evaluate: " + "; ".join(notes))
    return EvaluationTable(
        rows=rows,
        device=str(torch.device(device)),
        device_name=device_name(device),
        dtype=dtype,
        speed_size=tuple(speed_size),  # type: ignore[arg-type]
        speed_warmup=speed_warmup,
        speed_runs=speed_runs,
        lpips_net=lpips,
        lpips_available=bool(scorer and scorer.available),
        lpips_reason=scorer.reason if scorer else "",
    )


def _paired_sets(
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], video_pairs: Sequence[str | os.PathLike]
) -> dict[str, Callable[[int], list[Sample]]]:
    """Loaders (by scale) of the user's own LR/HR data: image folder pairs and video clip pairs."""
    from functools import cache

    loaders: dict[str, Callable[[int], list[Sample]]] = {}
    for hr_dir, lr_dir in pairs:
        for folder, role in ((hr_dir, "HR"), (lr_dir, "LR")):
            if not Path(folder).expanduser().is_dir():
                raise FileNotFoundError(f"--pairs {role} folder {folder} does not exist.")

        @cache
        def load_pairs(scale: int, hr_dir: Any = hr_dir, lr_dir: Any = lr_dir) -> list[Sample]:
            from srlib.data.datasets import PairedImageDataset

            return samples_of(
                PairedImageDataset.from_folders(
                    Path(lr_dir).expanduser(), Path(hr_dir).expanduser(), scale=scale
                )
            )

        loaders[f"{Path(hr_dir).name} (pairs)"] = load_pairs
    for root in video_pairs:
        if not Path(root).expanduser().is_dir():
            raise FileNotFoundError(
                f"--video-pairs folder {root} does not exist (it holds lr/ and hr/ clips)."
            )

        @cache
        def load_video(scale: int, root: Any = root) -> list[Sample]:
            from srlib.data.video import VideoFramePairDataset

            return samples_of(
                VideoFramePairDataset(Path(root).expanduser(), scale, sampling={"every_n": 25}, augment=False)
            )

        loaders[f"{Path(root).name} (video)"] = load_video
    return loaders


# ------------------------------------------------------------------------------------------ crops
def detail_window(hr: Tensor, size: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square of ``size`` pixels with the most detail (gradient energy).

    Example:
        >>> img = torch.zeros(3, 64, 64)
        >>> img[:, 40:50, 10:20] = torch.rand(3, 10, 10)
        >>> top, left, side = detail_window(img, 16)
        >>> top <= 40 and top + side >= 50 and left <= 10 and left + side >= 20
        True
    """
    gray = hr.float().mean(dim=0, keepdim=True)[None]
    side = max(1, min(size, gray.shape[-2], gray.shape[-1]))
    energy = torch.zeros_like(gray)
    energy[..., :, 1:] += (gray[..., :, 1:] - gray[..., :, :-1]).abs()
    energy[..., 1:, :] += (gray[..., 1:, :] - gray[..., :-1, :]).abs()
    stride = max(1, side // 4)
    pooled = F.avg_pool2d(energy, side, stride=stride)[0, 0]
    index = int(pooled.flatten().argmax())
    return (index // pooled.shape[1]) * stride, (index % pooled.shape[1]) * stride, side


class _CropSheets:
    """Side-by-side crops per image: HR, bicubic, then each model, zoomed and labelled."""

    def __init__(self, folder: Path, size: int, zoom: int) -> None:
        if size < 4 or zoom < 1:
            raise ValueError(
                f"--crop-size must be at least 4 and --crop-zoom at least 1 (got {size}, {zoom})."
            )
        self.folder, self.size, self.zoom = folder, size, zoom
        self.panels: dict[str, list[tuple[str, Tensor]]] = {}

    def start(self) -> Callable[[str], OutputHook]:
        """Begin a (set, scale): returns ``for_model(label)``, the output hook that keeps its crops."""
        self.panels = {}

        def for_model(label: str) -> OutputHook:
            def keep(name: str, sr: Tensor, hr: Tensor, score: ImageScore) -> None:
                top, left, side = detail_window(hr, self.size)
                window = (..., slice(top, top + side), slice(left, left + side))
                panels = self.panels.setdefault(name, [])
                if not panels:
                    panels.append(("HR", hr[window].expand(3, -1, -1).clone()))
                panels.append((f"{label} {score.psnr:.2f} dB", sr[window].clone()))

            return keep

        return for_model

    def write(self, data: str, scale: int) -> None:
        from PIL import Image, ImageDraw

        folder = self.folder / f"{_safe_name(data)}_x{scale}"
        for name, panels in self.panels.items():
            side = panels[0][1].shape[-1] * self.zoom
            rows = panels[0][1].shape[-2] * self.zoom
            bar, gap = 14, 4
            sheet = Image.new("RGB", (len(panels) * (side + gap) - gap, rows + bar), "white")
            draw = ImageDraw.Draw(sheet)
            for i, (label, crop) in enumerate(panels):
                pixels = crop.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
                tile = Image.fromarray(pixels).resize((side, rows), Image.NEAREST)
                x = i * (side + gap)
                sheet.paste(tile, (x, bar))
                draw.text((x + 2, 1), label[: max(4, side // 6)], fill="black")
            buffer = io.BytesIO()
            sheet.save(buffer, format="PNG")
            atomic_write(folder / f"{_safe_name(name)}.png", lambda f, b=buffer: f.write(b.getvalue()))
        log.info("crops written to %s", folder)


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".") or "_"


# ------------------------------------------------------------------------------------------ the plot
def plot_quality_vs_speed(table: EvaluationTable, path: str | os.PathLike) -> Path:
    """PSNR against frames/s, one point per model, one panel per (set, scale); a PNG, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    rows = [r for r in table.evaluated if r.cost is not None and r.cost.fps]
    if not rows:
        raise ValueError("The plot needs frames/s: measure them (--speed-runs above 0).")
    sets = list(dict.fromkeys(r.data for r in rows))
    scales = list(dict.fromkeys(r.scale for r in rows))
    colours = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(r.model for r in rows))}
    fig = Figure(figsize=(4.5 * len(scales), 3.6 * len(sets)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(sets), len(scales), squeeze=False)
    w, h = table.speed_size
    for i, data in enumerate(sets):
        for j, scale in enumerate(scales):
            ax = axes[i][j]
            for row in (r for r in rows if r.data == data and r.scale == scale):
                assert row.result is not None and row.cost is not None and row.cost.fps
                point = (row.cost.fps, row.result.psnr)
                ax.scatter(*point, color=colours[row.model])
                ax.annotate(row.model, point, fontsize=8, xytext=(4, 4), textcoords="offset points")
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.margins(x=0.25, y=0.15)
            ax.set_title(f"{data} x{scale}")
            ax.set_xlabel(f"frames/s ({w}x{h} input, {table.dtype}, {table.device})")
            ax.set_ylabel("PSNR (dB, Y)")
            ax.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


# ------------------------------------------------------------------------------------------ the CLI
def resolve_data(data: str) -> Path:
    """A folder of HR images, or a catalogue name (its test split; DIV2K's valid split).

    Resolved by :func:`srlib.data.resolve_image_dir`, the rule every srlib entry point uses: an
    existing folder wins (``~`` expanded), else a catalogue name (case-insensitive, close matches
    suggested) found under the data directory; anything else raises FileNotFoundError saying what to do.
    """
    from srlib.data.download import resolve_image_dir

    return resolve_image_dir(data, split="test", kind="hr")


def format_table(result: EvaluationResult) -> str:
    """The per-image and mean table of one (model, set, scale)."""
    width = max([len(s.name) for s in result.per_image] + [5])
    lpips = result.lpips is not None
    head = f"{'image':<{width}}  {'PSNR':>7}  {'SSIM':>6}" + ("  LPIPS" if lpips else "")
    lines = [f"{result.model} on {result.data}, x{result.scale} (Y channel, {result.scale}px border)", head]
    for s in result.per_image:
        lines.append(
            f"{s.name:<{width}}  {s.psnr:7.2f}  {s.ssim:.4f}" + (f"  {s.lpips:.4f}" if lpips else "")
        )
    lines.append(
        f"{'mean':<{width}}  {result.psnr:7.2f}  {result.ssim:.4f}"
        + (f"  {result.lpips:.4f}" if lpips else "")
    )
    return "\n".join(lines)


def _split(values: Sequence[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``; an existing path is never split at its commas."""
    out = []
    for value in values:
        out += (
            [value]
            if Path(value).expanduser().exists()
            else [v.strip() for v in value.split(",") if v.strip()]
        )
    return out


def _scales(text: str) -> list[int]:
    try:
        scales = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}: give integers such as 2 3 4") from None
    if not scales or min(scales) < 1:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}: give integers such as 2 3 4")
    return scales


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: give WIDTHxHEIGHT such as 256x144")
    return int(w), int(h)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m srlib.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", action="append", required=True, help="registered name or weight file; repeat or comma-list"
    )
    parser.add_argument("--weights", help="weight file to load into a single registered --model")
    parser.add_argument(
        "--data",
        action="append",
        nargs="+",
        default=[],
        help="folders of HR images or benchmark names (Set5 Set14 BSD100 Urban100)",
    )
    parser.add_argument(
        "--pairs",
        action="append",
        nargs=2,
        default=[],
        metavar=("HR_DIR", "LR_DIR"),
        help="your own LR/HR image pairs (matched by name; repeatable); the models run on your LR",
    )
    parser.add_argument(
        "--video-pairs",
        action="append",
        default=[],
        metavar="DIR",
        help="paired clips DIR/lr/NAME.mp4 + DIR/hr/NAME.mp4 (every 25th frame, matched by timestamp)",
    )
    parser.add_argument("--scale", type=_scales, nargs="+", required=True, help="one or more: --scale 2 3 4")
    parser.add_argument("--json", help="write the table (with per-image scores) to this JSON file")
    parser.add_argument("--md", help="write the markdown table to this file")
    parser.add_argument("--csv", help="write the table to this CSV file")
    parser.add_argument("--crops", help="folder for side-by-side crops per image (PNG)")
    parser.add_argument("--crop-size", type=int, default=48, help="HR pixels of each crop (default 48)")
    parser.add_argument(
        "--crop-zoom", type=int, default=4, help="nearest-neighbour zoom of the crops (default 4)"
    )
    parser.add_argument("--plot", help="write a PSNR vs frames/s scatter plot to this PNG")
    parser.add_argument(
        "--lpips",
        default="alex",
        choices=["alex", "vgg", "squeeze", "none"],
        help="LPIPS backbone (default alex; 'unavailable' without its local file); none to skip",
    )
    parser.add_argument(
        "--lpips-weights",
        default="imagenet",
        help="backbone state dict file, or imagenet (torchvision's file in the local torch hub cache)",
    )
    parser.add_argument(
        "--speed-size", type=_size, default=(256, 144), help="LR input WxH for FLOPs and frames/s (256x144)"
    )
    parser.add_argument("--speed-warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--speed-runs", type=int, default=10, help="timed runs, median reported (0: none)")
    parser.add_argument("--per-image", action="store_true", help="print the per-image scores of every row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        default="fp32",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="fp32 (default: the protocol's numbers); auto = bf16/fp16 where the device has it natively",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse larger images (pixels; default $SRLIB_MAX_IMAGE_PIXELS or 100000000)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``python -m srlib.evaluate``)."""
    args = build_parser().parse_args(argv)
    setup_cli_logging(logging.INFO)
    return run_cli(lambda: _run(args), outputs=[args.json, args.md, args.csv, args.plot, args.crops])


def _run(args: Namespace) -> int:
    for path in (args.json, args.md, args.csv, args.plot):
        if path:
            check_writable(path)
    if args.crops:
        check_writable(args.crops, folder=True)
    if args.speed_warmup < 0 or args.speed_runs < 0:
        raise ValueError("--speed-warmup and --speed-runs must be 0 or more.")
    if args.plot and args.speed_runs == 0:
        raise ValueError("--plot needs frames/s: drop --speed-runs 0.")
    if not (args.data or args.pairs or args.video_pairs):
        raise ValueError(
            "Give --data SET (or a folder of HR images), --pairs HR_DIR LR_DIR or --video-pairs DIR."
        )
    table = evaluate_table(
        _split(args.model),
        _split([d for group in args.data for d in group]),
        [s for group in args.scale for s in group],
        weights=args.weights,
        device=args.device,
        dtype=args.dtype,
        speed_size=args.speed_size,
        speed_warmup=args.speed_warmup,
        speed_runs=args.speed_runs,
        lpips=None if args.lpips == "none" else args.lpips,
        lpips_weights=args.lpips_weights,
        crops=args.crops,
        crop_size=args.crop_size,
        crop_zoom=args.crop_zoom,
        max_pixels=args.max_pixels,
        pairs=[tuple(p) for p in args.pairs],
        video_pairs=args.video_pairs,
    )
    if args.per_image or len(table.evaluated) == 1:
        for row in table.evaluated:
            assert row.result is not None
            print(format_table(row.result) + "\n")
    markdown = table.to_markdown()
    print(markdown, end="")
    for path, text in ((args.md, markdown), (args.csv, table.to_csv())):
        if path:
            print(f"table written to {atomic_write(path, lambda f, t=text: f.write(t.encode()))}")
    if args.json:
        print(f"table written to {write_json(args.json, table.to_dict())}")
    if args.plot:
        print(f"plot written to {plot_quality_vs_speed(table, args.plot)}")
    if args.crops:
        print(f"crops written under {args.crops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
