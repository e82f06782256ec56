"""What an evaluation shows: side-by-side crops of the most detailed window, quality against speed, and
temporal profiles of videos (one pixel row over time, the picture that shows flicker)."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from srlib._fs import atomic_write
from srlib.evaluation.results import EvaluationTable, ImageScore
from srlib.evaluation.scoring import OutputHook
from srlib.io import write_image

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "detail_window",
    "plot_quality_vs_speed",
    "profile_row",
    "render_panels",
    "temporal_profile",
    "write_comparison",
    "write_temporal_profile",
]

log = logging.getLogger(__name__)

_BAR, _GAP = 14, 4  # a panel's label bar and the space between panels, in pixels


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
        folder = self.folder / f"{_safe_name(data)}_x{scale}"
        for name, panels in self.panels.items():
            write_image(folder / f"{_safe_name(name)}.png", _as_tensor(render_panels(panels, zoom=self.zoom)))
        log.info("crops written to %s", folder)


def render_panels(
    panels: Sequence[tuple[str, Tensor]], *, zoom: int | tuple[int, int] = 1, labels: bool = True
) -> Image.Image:
    """Panels side by side: each ``(label, (C, H, W) float in [0, 1])``, zoomed ``zoom``x (nearest; a pair
    ``(rows, columns)`` zooms the two axes apart), 4 white pixels apart, under a 14-pixel label bar.

    Example:
        >>> sheet = render_panels([("a", torch.zeros(3, 8, 8)), ("b", torch.ones(1, 8, 8))], zoom=2)
        >>> sheet.size  # two 16-pixel panels, a 4-pixel gap, a 14-pixel label bar
        (36, 30)
    """
    from PIL import Image, ImageDraw

    zoom_y, zoom_x = (zoom, zoom) if isinstance(zoom, int) else zoom
    bar = _BAR if labels else 0
    rows = max(crop.shape[-2] for _, crop in panels) * zoom_y
    widths = [crop.shape[-1] * zoom_x for _, crop in panels]
    sheet = Image.new("RGB", (sum(widths) + _GAP * (len(panels) - 1), rows + bar), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for (label, crop), width in zip(panels, widths, strict=True):
        rgb = crop.expand(3, -1, -1) if crop.shape[0] == 1 else crop
        pixels = rgb.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
        tile = Image.fromarray(pixels).resize((width, crop.shape[-2] * zoom_y), Image.NEAREST)
        sheet.paste(tile, (x, bar))
        if labels:
            draw.text((x + 2, 1), label[: max(4, width // 6)], fill="black")
        x += width + _GAP
    return sheet


def write_comparison(
    path: str | os.PathLike, panels: Sequence[tuple[str, Tensor]], *, detail: int = 48
) -> Path:
    """The whole images side by side and, below them, the most detailed ``detail``-pixel square of the
    last panel (the ground truth) cut from every panel and zoomed to about the same width; atomic.

    Args:
        path: the PNG to write.
        panels: ``(label, (C, H, W) float in [0, 1])`` of one size, the ground truth last.
        detail: the side of the zoomed window in pixels.
    """
    top, left, side = detail_window(panels[-1][1], detail)
    window = (..., slice(top, top + side), slice(left, left + side))
    zoom = max(2, min(8, panels[-1][1].shape[-1] // side))
    whole = render_panels(panels)
    zoomed = render_panels([(label, image[window]) for label, image in panels], zoom=zoom)
    from PIL import Image, ImageDraw

    draw, x = ImageDraw.Draw(whole), 0
    for _, image in panels:  # mark the window on every whole image
        box = (x + left - 1, _BAR + top - 1, x + left + side, _BAR + top + side)
        draw.rectangle(box, outline=(255, 0, 0))
        x += image.shape[-1] + _GAP
    sheet = Image.new("RGB", (max(whole.width, zoomed.width), whole.height + 8 + zoomed.height), "white")
    sheet.paste(whole, (0, 0))
    sheet.paste(zoomed, (0, whole.height + 8))
    return write_image(path, _as_tensor(sheet))


def _as_tensor(sheet: Image.Image) -> Tensor:
    """A rendered RGB sheet as a ``(3, H, W)`` uint8 tensor (what :func:`srlib.io.write_image` takes)."""
    import numpy as np

    return torch.from_numpy(np.array(sheet)).permute(2, 0, 1).contiguous()


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


# ------------------------------------------------------------------------------ temporal profiles
#: Frames of one video: a ``(T, C, H, W)`` tensor or a sequence of ``(C, H, W)`` (or ``(1, C, H, W)``) frames.
Frames = Tensor | Sequence[Tensor]


def _frame(frames: Frames, t: int, name: str) -> Tensor:
    frame = frames[t]
    if frame.ndim == 4 and frame.shape[0] == 1:
        frame = frame[0]
    if frame.ndim != 3 or frame.shape[0] not in (1, 3):
        raise ValueError(
            f"temporal_profile: frame {t} of {name!r} has shape {tuple(frame.shape)}; give (T, 3, H, W) "
            "tensors or sequences of (3, H, W) frames (1 channel for gray)."
        )
    return frame


def _check_frames(frames_by_name: Mapping[str, Frames]) -> tuple[int, int, int]:
    """``(T, H, W)`` shared by every entry, or a ValueError naming the one that differs."""
    if not frames_by_name:
        raise ValueError("temporal_profile needs at least one entry (the ground truth, then each model).")
    shape, first = None, ""
    for name, frames in frames_by_name.items():
        if isinstance(frames, Tensor) and frames.ndim != 4:
            raise ValueError(
                f"temporal_profile: {name!r} has shape {tuple(frames.shape)}; give a (T, 3, H, W) tensor or "
                "a sequence of (3, H, W) frames."
            )
        if len(frames) == 0:
            raise ValueError(f"temporal_profile: {name!r} has no frames.")
        here = (len(frames), *_frame(frames, 0, name).shape[-2:])
        if shape is None:
            shape, first = here, name
        elif here != shape:
            raise ValueError(
                f"temporal_profile: {name!r} has {here[0]} frames of {here[1]}x{here[2]}, {first!r} has "
                f"{shape[0]} of {shape[1]}x{shape[2]}; every entry must show the same frames, same size."
            )
    return shape  # type: ignore[return-value]


def _columns(columns: tuple[int, int] | None, width: int) -> slice:
    if columns is None:
        return slice(0, width)
    left, right = int(columns[0]), int(columns[1])
    if not 0 <= left < right <= width:
        raise ValueError(f"columns must be (left, right) with 0 <= left < right <= {width}, got {columns}.")
    return slice(left, right)


def profile_row(frames: Frames, *, columns: tuple[int, int] | None = None) -> int:
    """The row with the most horizontal detail over the clip (mean gradient energy along it, over time).

    Flicker shows best where the row crosses edges and texture; :func:`temporal_profile` uses this row of
    the ground truth when it is given none.

    Example:
        >>> clip = torch.zeros(4, 3, 16, 16)
        >>> clip[:, :, 11, ::2] = 1.0  # stripes in row 11
        >>> profile_row(clip)
        11
    """
    _, height, width = _check_frames({"frames": frames})
    cols = _columns(columns, width)
    energy = torch.zeros(height, dtype=torch.float64)
    for t in range(len(frames)):
        gray = _frame(frames, t, "frames").float().mean(dim=0)[:, cols]
        energy += (gray[:, 1:] - gray[:, :-1]).abs().sum(dim=1).double().cpu()
    return int(energy.argmax())


def temporal_profile(
    frames_by_name: Mapping[str, Frames],
    row: int | None = None,
    *,
    columns: tuple[int, int] | None = None,
    zoom: int = 1,
    time_zoom: int = 1,
    labels: bool = True,
) -> Tensor:
    """Temporal profiles side by side: one pixel row of every frame stacked over time, one panel per entry.

    Each panel's line ``t`` is ``row`` of frame ``t``: a steady video gives smooth streaks (straight for a
    static scene, slanted for a pan), flicker gives noisy horizontal bands that the ground truth lacks.

    Args:
        frames_by_name: label → frames, ground truth first (it chooses the row when ``row`` is ``None``),
            then each model, all with the same number of frames and the same size; float in [0, 1] or
            uint8, 3 channels or 1 (gray).
        row: the pixel row to follow; default :func:`profile_row` of the first entry.
        columns: ``(left, right)`` column range to show (default the whole width).
        zoom: pixel repetition of both axes (nearest neighbour).
        time_zoom: extra repetition of the time axis (short clips are otherwise a few pixels tall).
        labels: a 14-pixel bar with each entry's label above its panel.

    Returns:
        A ``(3, bar + T·zoom·time_zoom, n·(w·zoom + 4) - 4)`` uint8 image (``w`` = shown columns, ``n`` =
        entries, ``bar`` = 14 with labels else 0), white between panels.

    Example:
        >>> hr = torch.rand(6, 3, 16, 20)
        >>> temporal_profile({"GT": hr, "model": [f for f in hr]}, row=3, time_zoom=2).shape
        torch.Size([3, 26, 44])
    """
    if int(zoom) < 1 or int(time_zoom) < 1:
        raise ValueError(f"zoom and time_zoom must be at least 1, got {zoom} and {time_zoom}.")
    frames_count, height, width = _check_frames(frames_by_name)
    cols = _columns(columns, width)
    if row is None:
        row = profile_row(next(iter(frames_by_name.values())), columns=columns)
    if not 0 <= int(row) < height:
        raise ValueError(f"row {row} is outside the frames' {height} rows.")
    panels = []
    for name, frames in frames_by_name.items():
        lines = []
        for t in range(frames_count):
            line = _frame(frames, t, name)[:, int(row), cols]
            line = line.float().div(255.0) if not line.is_floating_point() else line.float()
            lines.append(line.expand(3, -1).clamp(0, 1).cpu())
        panels.append((str(name), torch.stack(lines, dim=1)))  # (3, T, w)
    sheet = render_panels(panels, zoom=(zoom * time_zoom, zoom), labels=labels)
    return _as_tensor(sheet)


def write_temporal_profile(
    path: str | os.PathLike, frames_by_name: Mapping[str, Frames], row: int | None = None, **options: object
) -> Path:
    """Write :func:`temporal_profile` as a PNG (atomically: :func:`srlib.io.write_image`); returns the path.

    ``options`` are :func:`temporal_profile`'s keywords (``columns``, ``zoom``, ``time_zoom``, ``labels``).

    Example:
        >>> import tempfile
        >>> clip = torch.rand(8, 3, 12, 12)
        >>> out = write_temporal_profile(Path(tempfile.mkdtemp()) / "profile.png", {"GT": clip, "sr": clip})
        >>> out.suffix
        '.png'
    """
    return write_image(path, temporal_profile(frames_by_name, row, **options))  # type: ignore[arg-type]
