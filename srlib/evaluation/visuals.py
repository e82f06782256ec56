"""What an evaluation shows: side-by-side crops of the most detailed window, and quality against speed."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from srlib._fs import atomic_write
from srlib.evaluation.results import EvaluationTable, ImageScore
from srlib.evaluation.scoring import OutputHook

__all__ = ["detail_window", "plot_quality_vs_speed"]

log = logging.getLogger(__name__)


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
