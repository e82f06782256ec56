"""Temporal profiles: one pixel row over time per entry, labelled, written as a PNG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from srlib.evaluation.visuals import profile_row, temporal_profile, write_temporal_profile


def _clip(t: int = 6, h: int = 12, w: int = 20, seed: int = 0) -> torch.Tensor:
    return torch.rand(t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_writes_a_png_of_the_documented_size(tmp_path: Path) -> None:
    hr = _clip()
    frames = {"GT": hr, "model A": [f for f in hr], "model B": [f[None] for f in hr]}
    out = write_temporal_profile(tmp_path / "profile.png", frames, row=5, zoom=2, time_zoom=3)
    assert out == tmp_path / "profile.png"
    with Image.open(out) as png:
        assert png.format == "PNG" and png.mode == "RGB"
        # width: 3 panels of 20·2 columns with 4-pixel gaps; height: 14-pixel label bar + 6·2·3 lines.
        assert png.size == (3 * 40 + 2 * 4, 14 + 36)
    assert [p.name for p in tmp_path.iterdir()] == ["profile.png"]  # no temporary left behind


def test_each_line_is_the_row_of_one_frame() -> None:
    hr = _clip()
    sr = (hr + 0.1 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    image = temporal_profile({"GT": hr, "sr": sr}, row=7, labels=False)
    assert image.dtype == torch.uint8 and image.shape == (3, 6, 2 * 20 + 4)
    expected = (hr[:, :, 7, :].permute(1, 0, 2) * 255).round().byte()
    assert torch.equal(image[:, :, :20], expected)
    assert torch.equal(image[:, :, 24:], (sr[:, :, 7, :].permute(1, 0, 2) * 255).round().byte())
    assert bool((image[:, :, 20:24] == 255).all())  # white gap
    # A column range and uint8 / gray frames.
    gray = (hr[:, :1] * 255).round().byte()
    part = temporal_profile({"GT": gray}, row=2, columns=(5, 15), labels=False)
    assert part.shape == (3, 6, 10) and torch.equal(part[0], part[2])
    assert torch.equal(part[0], gray[:, 0, 2, 5:15])


def test_the_default_row_is_the_most_detailed_one_of_the_ground_truth() -> None:
    hr = torch.full((4, 3, 16, 16), 0.5)
    hr[:, :, 9, ::2] = 1.0
    assert profile_row(hr) == 9
    flat_sr = torch.full_like(hr, 0.5)
    assert torch.equal(
        temporal_profile({"GT": hr, "sr": flat_sr}), temporal_profile({"GT": hr, "sr": flat_sr}, row=9)
    )


def test_bad_input_names_the_entry() -> None:
    hr = _clip()
    with pytest.raises(ValueError, match="'short' has 5 frames"):
        temporal_profile({"GT": hr, "short": hr[:5]})
    with pytest.raises(ValueError, match="row 12 is outside"):
        temporal_profile({"GT": hr}, row=12)
    with pytest.raises(ValueError, match="at least one entry"):
        temporal_profile({})
    with pytest.raises(ValueError, match="columns"):
        temporal_profile({"GT": hr}, columns=(10, 5))
    with pytest.raises(ValueError, match=r"\(T, 3, H, W\)"):
        temporal_profile({"GT": hr[0]})
