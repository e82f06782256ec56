"""comparison.png: the whole images, then the most detailed window of each, zoomed, all labelled."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from srlib.evaluation.visuals import detail_window, render_panels, write_comparison


def _panels() -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    hr = torch.full((3, 64, 80), 0.5)
    hr[:, 20:36, 40:56] = torch.rand(3, 16, 16, generator=g)  # the detailed window
    return [("bicubic 20.00 dB", hr * 0.9), ("model 25.00 dB", hr.clone()), ("ground truth", hr)]


def test_render_panels_lays_out_labelled_zoomed_panels() -> None:
    sheet = render_panels([("a", torch.zeros(3, 8, 8)), ("gray", torch.ones(1, 8, 6))], zoom=3)
    assert sheet.size == (24 + 4 + 18, 24 + 14)
    pixels = np.asarray(sheet)
    assert (pixels[14:, :24] == 0).all() and (pixels[14:, 28:] == 255).all()  # gray panel shown as RGB


def test_write_comparison_adds_the_zoomed_detail_of_the_ground_truth(tmp_path) -> None:
    panels = _panels()
    path = write_comparison(tmp_path / "comparison.png", panels, detail=16)
    sheet = np.asarray(Image.open(path).convert("RGB"))
    whole_h = 64 + 14
    zoom = 80 // 16  # the detail row is about as wide as one whole panel
    assert sheet.shape[0] == whole_h + 8 + 16 * zoom + 14
    top, left, side = detail_window(panels[-1][1], 16)
    assert (top, left, side) == (20, 40, 16)
    # The zoomed ground truth (third panel of the lower row) is the window, each pixel zoom x zoom.
    x0, y0 = 2 * (16 * zoom + 4), whole_h + 8 + 14
    shown = sheet[y0 : y0 + 16 * zoom : zoom, x0 : x0 + 16 * zoom : zoom]
    expected = panels[-1][1][:, 20:36, 40:56].mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(shown, expected)
    assert not list(tmp_path.glob(".*tmp"))  # written atomically
