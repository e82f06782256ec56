"""TemporalStream: window lag and reflection, carried state, scene cuts, tiles, bounded memory."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlib.inference.engine import tile_starts
from srlib.inference.temporal import TemporalStream, _reflect, scene_change, temporal_kind


class MeanWindow(nn.Module):
    """A 'sliding-window model' whose output is the window's weighted mean, upscaled x2 (nearest)."""

    scale = 2

    def __init__(self, radius: int = 1) -> None:
        super().__init__()
        self.radius = radius
        self.weights = torch.arange(1.0, 2 * radius + 2)  # position-dependent: catches order errors
        self.calls = 0

    def forward_window(self, window: Tensor) -> Tensor:
        self.calls += 1
        w = self.weights.to(window)[None, :, None, None, None]
        mean = (window * w).sum(1) / w.sum()
        return F.interpolate(mean, scale_factor=2, mode="nearest")


class Accumulate(nn.Module):
    """A 'recurrent model': the state is the running sum of frames, the output its running mean."""

    scale = 2

    def init_state(self, frame: Tensor) -> Tensor:
        return torch.zeros(frame.shape[0], 4, *frame.shape[-2:], device=frame.device)

    def step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        total, count = state[:, :3] + frame, state[:, 3:] + 1
        out = F.interpolate(total / count, scale_factor=2, mode="nearest")
        return out, torch.cat([total, count], 1)


def constant_frames(values: list[float], size: int = 8) -> Tensor:
    return torch.tensor(values)[:, None, None, None].expand(-1, 3, size, size).clone()


def expected_window(values: list[float], radius: int) -> list[float]:
    w = torch.arange(1.0, 2 * radius + 2)
    n = len(values)
    return [
        float(sum(w[d + radius] * values[_reflect(c + d, n)] for d in range(-radius, radius + 1)) / w.sum())
        for c in range(n)
    ]


def run_all(stream: TemporalStream, frames: Tensor, batch: int) -> list[Tensor]:
    out: list[Tensor] = []
    for i in range(0, frames.shape[0], batch):
        out += stream.push(frames[i : i + batch])
    return out + stream.flush()


def test_kinds_from_the_interface_attributes() -> None:
    assert temporal_kind(MeanWindow(radius=2)) == ("window", 2)
    assert temporal_kind(Accumulate()) == ("recurrent", 0)
    assert temporal_kind(nn.Conv2d(3, 3, 1)) == ("frame", 0)


def test_reflect() -> None:
    assert [_reflect(i, 4) for i in range(-3, 7)] == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert _reflect(-5, 1) == 0 and _reflect(7, 2) == 1


@pytest.mark.parametrize("batch", [1, 3, 16])
@pytest.mark.parametrize("radius", [1, 2])
def test_window_outputs_every_frame_in_order_with_reflected_ends(batch: int, radius: int) -> None:
    values = [0.1 * i for i in range(7)]
    stream = TemporalStream(MeanWindow(radius), dtype="fp32", scene_cut=None)
    out = run_all(stream, constant_frames(values), batch)
    assert len(out) == len(values)
    assert all(o.shape == (3, 16, 16) for o in out)
    got = [float(o.mean()) for o in out]
    assert got == pytest.approx(expected_window(values, radius), abs=1e-6)


def test_window_lags_by_its_radius_and_holds_at_most_its_window() -> None:
    model = MeanWindow(radius=2)
    stream = TemporalStream(model, dtype="fp32", scene_cut=None)
    assert stream.delay == 2
    assert stream.push(torch.rand(1, 3, 8, 8)) == []
    assert stream.push(torch.rand(1, 3, 8, 8)) == []
    for _ in range(40):
        assert len(stream.push(torch.rand(1, 3, 8, 8))) == 1
        assert len(stream._window) <= 5
    assert len(stream.flush()) == 2


def test_short_scene_is_padded_by_reflection() -> None:
    stream = TemporalStream(MeanWindow(radius=2), dtype="fp32", scene_cut=None)
    out = run_all(stream, constant_frames([0.3, 0.5]), 1)
    assert [float(o.mean()) for o in out] == pytest.approx(expected_window([0.3, 0.5], 2), abs=1e-6)


def test_recurrent_state_is_carried_across_pushes() -> None:
    values = [0.2, 0.4, 0.6, 0.8]
    stream = TemporalStream(Accumulate(), dtype="fp32", scene_cut=None)
    out = run_all(stream, constant_frames(values), 3)
    means = [sum(values[: i + 1]) / (i + 1) for i in range(len(values))]
    assert [float(o.mean()) for o in out] == pytest.approx(means, abs=1e-6)


def test_a_scene_cut_resets_the_state_and_splits_the_window() -> None:
    values = [0.1, 0.1, 0.1, 0.9, 0.9]
    rec = TemporalStream(Accumulate(), dtype="fp32")
    out = run_all(rec, constant_frames(values), 5)
    assert [float(o.mean()) for o in out] == pytest.approx(values, abs=1e-6)  # nothing mixed across
    assert rec.scene_cuts == 1
    win = TemporalStream(MeanWindow(radius=1), dtype="fp32")
    out = run_all(win, constant_frames(values), 2)
    assert [float(o.mean()) for o in out] == pytest.approx(values, abs=1e-6)
    assert scene_change(constant_frames([0.1]), constant_frames([0.9])) == pytest.approx(0.8, abs=1e-5)


@pytest.mark.parametrize("model", [MeanWindow(radius=1), Accumulate()], ids=["window", "recurrent"])
def test_tiles_give_the_untiled_result(model: nn.Module) -> None:
    torch.manual_seed(0)
    frames = torch.rand(5, 3, 30, 44)
    whole = run_all(TemporalStream(model, dtype="fp32", scene_cut=None), frames, 2)
    tiled_stream = TemporalStream(model, dtype="fp32", tile=16, tile_overlap=8, scene_cut=None)
    tiled = run_all(tiled_stream, frames, 2)
    assert len(tiled) == len(whole) == 5
    for a, b in zip(tiled, whole, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    if isinstance(model, Accumulate):
        assert len(tiled_stream._states) == 0  # flushed at the end ...
        tiled_stream.push(frames[:1])
        grid = len(tile_starts(30, 16, 8)) * len(tile_starts(44, 16, 8))
        assert len(tiled_stream._states) == grid == 15  # ... and one state per tile of the fixed grid


def test_per_frame_models_pass_through() -> None:
    import srlib

    model = srlib.create_model("bicubic", scale=2)
    stream = TemporalStream(model, dtype="fp32")
    frames = torch.rand(3, 3, 8, 8)
    out = stream.push(frames) + stream.flush()
    torch.testing.assert_close(torch.stack(out), stream.upscaler(frames))


def test_bad_frames_are_refused() -> None:
    stream = TemporalStream(MeanWindow(), dtype="fp32")
    with pytest.raises(ValueError, match=r"\(B, 3, h, w\)"):
        stream.push(torch.rand(1, 1, 3, 8, 8))


@pytest.mark.parametrize("model", [MeanWindow(radius=2), Accumulate()], ids=["window", "recurrent"])
def test_image_paths_refuse_video_models_by_name(model: nn.Module) -> None:
    from srlib.inference.engine import Upscaler

    with pytest.raises(ValueError, match=r"video model.*upscale_video.*vsr_frame"):
        Upscaler(model, dtype="fp32")(torch.rand(1, 3, 8, 8))
