"""What an evaluation reports: per-image and mean scores, a model's cost, the table and its formats.

:class:`EvaluationTable` writes itself as markdown (:meth:`~EvaluationTable.to_markdown`), CSV
(:meth:`~EvaluationTable.to_csv`, columns :data:`CSV_COLUMNS`) and JSON (:meth:`~EvaluationTable.to_dict`);
:func:`format_table` prints the per-image scores of one (model, set, scale).

Example:
    >>> result = EvaluationResult("net", "Set5", 2, 30.0, 0.9, [ImageScore("bird", 30.0, 0.9)])
    >>> print(format_table(result))
    net on Set5, x2 (Y channel, 2px border)
    image     PSNR    SSIM
    bird     30.00  0.9000
    mean     30.00  0.9000
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Any

from srlib._version import __version__

__all__ = [
    "CSV_COLUMNS",
    "PROTOCOL",
    "UNAVAILABLE",
    "EvaluationResult",
    "EvaluationTable",
    "ImageScore",
    "ModelCost",
    "TableRow",
    "format_table",
]

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
