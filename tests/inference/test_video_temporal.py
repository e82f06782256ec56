"""upscale_video with temporal models: every frame out, in order, on its own timestamp, audio kept."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from srlib.inference import upscale_video
from tests.inference.test_temporal_stream import Accumulate, MeanWindow, expected_window
from tests.inference.test_video_upscale import FRAMES, _video_facts, make_clip


def _red_means(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.to_ndarray(format="rgb24")[..., 0].mean()) for f in container.decode(video=0)]


@pytest.mark.parametrize("batch_size", [1, 5])
def test_a_window_model_streams_every_frame_with_its_timestamp(tmp_path: Path, batch_size: int) -> None:
    src = make_clip(tmp_path / "in.mp4")
    dst = tmp_path / "out.mp4"
    model = MeanWindow(radius=2)
    report = upscale_video(
        src, dst, model, batch_size=batch_size, dtype="fp32", progress=False, scene_cut=None
    )
    before, after = _video_facts(src), _video_facts(dst)
    assert report.frames == after["frames"] == FRAMES
    assert after["times"] == pytest.approx(before["times"], abs=1e-3)
    assert after["audio"] == 1 and after["size"] == (64, 48)
    expected = expected_window(_red_means(src), 2)  # the window's weighted mean of each frame's red
    assert _red_means(dst) == pytest.approx(expected, abs=3.0)
    assert not np.allclose(_red_means(dst), _red_means(src), atol=3.0)  # neighbours really were used


def test_a_recurrent_model_carries_its_state_through_the_video(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", audio=False)
    dst = tmp_path / "out.mkv"
    upscale_video(src, dst, Accumulate(), batch_size=4, dtype="fp32", progress=False, scene_cut=None)
    red = _red_means(src)
    running = [float(np.mean(red[: i + 1])) for i in range(len(red))]
    assert _red_means(dst) == pytest.approx(running, abs=3.0)
    assert _video_facts(dst)["times"] == pytest.approx(_video_facts(src)["times"], abs=1e-3)


def test_a_scene_cut_resets_the_window(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", audio=False)  # its green bar jumps back between frames 9 and 10
    report = upscale_video(src, tmp_path / "out.mp4", MeanWindow(radius=2), dtype="fp32", progress=False)
    assert report.scene_cuts == 1
    red, out = _red_means(src), _red_means(tmp_path / "out.mp4")
    expected = expected_window(red[:10], 2) + expected_window(red[10:], 2)  # no frame mixed across the cut
    assert out == pytest.approx(expected, abs=3.0)
