"""The video models vsr_window / vsr_recurrent and their per-frame counterpart vsr_frame.

The registry-wide clip contract (shapes, range, bf16, save/load, errors, the streaming interface
against ``model(clip)``) is in test_zoo_contract.py; this file checks what is particular to them:
time padding, causality, matched FLOPs, ONNX export, checkpoint detection and that they learn.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import srlib
from srlib.models import (
    ModelInfo,
    VSRFrame,
    VSRRecurrent,
    VSRWindow,
    create_model,
    detect_architecture,
    get_model_entry,
    is_temporal,
    list_models,
    model_info,
)
from srlib.models._vsr_blocks import reflect_index, reflect_indices
from srlib.models.vsr_frame import _detect as detect_frame
from srlib.models.vsr_recurrent import _detect as detect_recurrent
from srlib.models.vsr_window import _detect as detect_window

TINY = {"num_feat": 8, "num_conv": 1}
VIDEO_MODELS = ("vsr_frame", "vsr_window", "vsr_recurrent")


def _clip(frames: int = 5, h: int = 6, w: int = 7, seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, frames, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _tiny(name: str, scale: int = 2, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    extra = {"num_state": 4} if name == "vsr_recurrent" else {}
    net = create_model(name, scale=scale, **{**TINY, **extra, **kwargs})
    # A trained-looking tail: the default one starts near zero (output near bicubic), which would hide
    # differences between frames in these tests.
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.2)
    return net.eval()


def _flops_per_frame(name: str, h: int = 12, w: int = 16, scale: int = 4) -> float:
    net = create_model(name, scale=scale).eval()
    frames = 2
    x = _clip(frames=frames, h=h, w=w)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x[:, 0]) if not is_temporal(net) else net(x)
    return counter.get_total_flops() / (1 if not is_temporal(net) else frames)


# --- registry ---------------------------------------------------------------------------------------


def test_registry_declares_frames_and_recurrence() -> None:
    assert set(VIDEO_MODELS) <= set(list_models())
    window, recurrent, frame = (model_info(n) for n in ("vsr_window", "vsr_recurrent", "vsr_frame"))
    assert (window.frames, window.recurrent) == (5, False)
    assert (recurrent.frames, recurrent.recurrent) == (1, True)
    assert (frame.frames, frame.recurrent) == (1, False)
    # The registered frames are the default configuration's.
    assert get_model_entry("vsr_window").frames == create_model("vsr_window").frames == 5
    assert create_model("vsr_window").radius == 2
    for name in VIDEO_MODELS:
        info = model_info(name)
        assert info.scales == (2, 3, 4) and info.scale == 4 and info.size_multiple == 1
        assert info.supports_tiling and info.supports_half


def test_model_info_of_an_instance_follows_its_radius() -> None:
    assert model_info(create_model("vsr_window", radius=1, **TINY)).frames == 3
    assert model_info("vsr_window").frames == 5


def test_model_info_keeps_its_old_positional_fields() -> None:
    info = ModelInfo("x", 2, (2,), 3, 1, True, True, None, "p", "gan")
    assert (info.tag, info.frames, info.recurrent, info.temporal) == ("gan", 1, False, False)


def test_register_model_refuses_an_even_frame_count() -> None:
    with pytest.raises(ValueError, match="odd positive"):
        srlib.register_model(frames=4)


def test_is_temporal_for_names_instances_and_unregistered_modules() -> None:
    assert is_temporal("vsr_window") and is_temporal("vsr_recurrent")
    assert not is_temporal("vsr_frame") and not is_temporal("vdsr")
    assert is_temporal(_tiny("vsr_recurrent")) and not is_temporal(_tiny("vsr_frame"))

    class Stepper(nn.Module):
        def init_state(self, frame):
            return frame

        def step(self, frame, state):
            return frame, state

    class Window(nn.Module):
        radius = 1

        def forward_window(self, window):
            return window[:, 1]

    assert is_temporal(Stepper()) and is_temporal(Window()) and not is_temporal(nn.Conv2d(3, 3, 3))
    with pytest.raises(ValueError, match="Unknown model"):
        is_temporal("vsr_windoww")


def test_keyword_checks() -> None:
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['frames'\].*'radius'"):
        create_model("vsr_window", frames=5)
    with pytest.raises(ValueError, match="does not support scale 1"):
        create_model("vsr_recurrent", scale=1)
    with pytest.raises(ValueError, match="radius must be an integer >= 1"):
        VSRWindow(radius=0)
    with pytest.raises(ValueError, match="num_state >= 1"):
        VSRRecurrent(num_state=0)
    with pytest.raises(ValueError, match="scale 2, 3 or 4"):
        VSRFrame(scale=5)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_every_scale_gives_the_right_shapes(name: str, scale: int) -> None:
    net = _tiny(name, scale=scale)
    clip = _clip(frames=3)
    with torch.inference_mode():
        if name == "vsr_frame":
            assert net(clip[:, 0]).shape == (1, 3, 6 * scale, 7 * scale)
            return
        assert net(clip).shape == (1, 3, 3, 6 * scale, 7 * scale)
        if name == "vsr_window":
            assert net.forward_window(_clip(frames=5)).shape == (1, 3, 6 * scale, 7 * scale)
        else:
            state = net.init_state(clip[:, 0])
            assert state.shape == (1, 4 + 3 * scale**2 + 3, 6, 7) and not state.any()
            out, state2 = net.step(clip[:, 0], state)
            assert out.shape == (1, 3, 6 * scale, 7 * scale) and state2.shape == state.shape


def test_untrained_models_start_near_bicubic() -> None:
    x = _clip(frames=5, h=12, w=12)
    base = F.interpolate(x[:, 2], scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    torch.manual_seed(0)
    frame, window = create_model("vsr_frame").eval(), create_model("vsr_window").eval()
    with torch.inference_mode():
        assert (frame(x[:, 2]) - base).abs().mean() < 0.05
        assert (window.forward_window(x) - base).abs().mean() < 0.05


# --- time -------------------------------------------------------------------------------------------


def test_reflect_index() -> None:
    assert [reflect_index(i, 5) for i in range(-2, 7)] == [2, 1, 0, 1, 2, 3, 4, 3, 2]
    assert [reflect_index(i, 2) for i in range(-2, 4)] == [0, 1, 0, 1, 0, 1]
    assert {reflect_index(i, 1) for i in range(-3, 3)} == {0}
    assert reflect_indices(3, 1) == [[1, 0, 1], [0, 1, 2], [1, 2, 1]]


@pytest.mark.parametrize("frames", [1, 2, 6])
def test_window_pads_the_clip_ends_by_reflection(frames: int) -> None:
    net = _tiny("vsr_window")
    clip = _clip(frames=frames)
    with torch.inference_mode():
        whole = net(clip)
        last = frames - 1
        first = [reflect_index(i, frames) for i in (-2, -1, 0, 1, 2)]
        end = [reflect_index(i, frames) for i in (last - 2, last - 1, last, last + 1, last + 2)]
        torch.testing.assert_close(whole[:, 0], net.forward_window(clip[:, first]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(whole[:, -1], net.forward_window(clip[:, end]), rtol=1e-5, atol=1e-6)
    if frames == 6:  # -2, -1 mirror 2, 1; 6, 7 mirror 4, 3
        assert (first, end) == ([2, 1, 0, 1, 2], [3, 4, 5, 4, 3])


def test_window_reads_its_radius_and_nothing_beyond() -> None:
    net = _tiny("vsr_window")
    clip = _clip(frames=7)
    with torch.inference_mode():
        ref = net(clip)[:, 3]
        for t, changes in [(1, True), (5, True), (3, True), (0, False), (6, False)]:
            other = clip.clone()
            other[:, t] = torch.rand_like(other[:, t])
            moved = not torch.allclose(net(other)[:, 3], ref, atol=1e-6)
            assert moved == changes, t


def test_recurrent_is_causal_and_remembers() -> None:
    net = _tiny("vsr_recurrent")
    clip = _clip(frames=4)
    with torch.inference_mode():
        ref = net(clip)
        future = clip.clone()
        future[:, 2:] = torch.rand_like(future[:, 2:])
        torch.testing.assert_close(net(future)[:, :2], ref[:, :2], rtol=0, atol=0)
        past = clip.clone()
        past[:, 0] = torch.rand_like(past[:, 0])
        assert not torch.allclose(net(past)[:, 3], ref[:, 3], atol=1e-6)  # frame 0 reaches frame 3


def test_recurrent_streaming_in_pieces_gives_the_clip_output() -> None:
    """A stream fed one frame at a time, its state carried between calls (and clips), equals
    ``model(clip)``; ``init_state`` starts it again (a scene cut)."""
    net = _tiny("vsr_recurrent")
    clip = _clip(frames=6, batch=2)
    with torch.inference_mode():
        whole = net(clip)
        state, outs = net.init_state(clip[:, 0]), []
        for t in range(6):
            out, state = net.step(clip[:, t], state)
            outs.append(out)
        torch.testing.assert_close(torch.stack(outs, 1), whole, rtol=1e-5, atol=1e-6)
        restarted = net(clip[:, 3:])
        state = net.init_state(clip[:, 3])
        out, _ = net.step(clip[:, 3], state)
        torch.testing.assert_close(out, restarted[:, 0], rtol=1e-5, atol=1e-6)


def test_window_streaming_with_a_buffer_gives_the_clip_output() -> None:
    """A runner that holds 2k+1 frames, emits with a lag of k and pads the end by reflection."""
    net = _tiny("vsr_window")
    clip = _clip(frames=6)
    k, frames = net.radius, clip.shape[1]
    buffer: list[torch.Tensor] = []
    outs: list[torch.Tensor] = []
    with torch.inference_mode():
        for t in range(frames):
            buffer.append(clip[:, t])
            if t >= k:  # output t-k is ready: its window is frames t-2k .. t, reflected at the start
                centre = t - k
                window = [buffer[reflect_index(centre + d, frames)] for d in range(-k, k + 1)]
                outs.append(net.forward_window(torch.stack(window, 1)))
        for centre in range(frames - k, frames):  # flush
            window = [buffer[reflect_index(centre + d, frames)] for d in range(-k, k + 1)]
            outs.append(net.forward_window(torch.stack(window, 1)))
        torch.testing.assert_close(torch.stack(outs, 1), net(clip), rtol=1e-5, atol=1e-6)


def test_recurrent_tiles_on_one_grid_match_the_whole_frame_away_from_the_border() -> None:
    """The state is per-pixel local: a tile run with its own state gives the whole-frame output
    wherever the cone of the steps so far (4 LR pixels per step) stays inside the tile."""
    net = _tiny("vsr_recurrent", num_conv=2)  # head + 2 body + tail/to_state: 4 convolutions per step
    clip = _clip(frames=3, h=8, w=40)
    tile_width, steps, radius, s = 24, 3, 4, net.scale
    with torch.inference_mode():
        whole = net(clip)
        tiled = net(clip[..., :tile_width])
    safe = tile_width - steps * radius
    torch.testing.assert_close(tiled[..., : safe * s], whole[..., : safe * s], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(
        tiled[:, -1, ..., -s:], whole[:, -1, ..., (tile_width - 1) * s : tile_width * s]
    )


# --- errors -----------------------------------------------------------------------------------------


def test_forward_window_and_step_name_wrong_inputs() -> None:
    window, recurrent = _tiny("vsr_window"), _tiny("vsr_recurrent")
    with pytest.raises(ValueError, match="windows of 2\\*radius\\+1 = 5 frames, got 3"):
        window.forward_window(_clip(frames=3))
    with pytest.raises(ValueError, match="per-frame model"):
        window.forward_window(torch.rand(1, 3, 6, 6))
    frame = torch.rand(1, 3, 6, 6)
    with pytest.raises(
        ValueError, match=r"state of shape \(1, 3, 6, 6\), expected \(1, 19, 6, 6\).*init_state"
    ):
        recurrent.step(frame, frame)
    with pytest.raises(ValueError, match="expected"):
        recurrent.step(frame, recurrent.init_state(torch.rand(1, 3, 6, 8)))
    with pytest.raises(ValueError, match=r"step expects one \(B, 3, h, w\) frame"):
        recurrent.step(_clip(frames=2), recurrent.init_state(frame))
    with pytest.raises(ValueError, match="3 channels"):
        recurrent.init_state(torch.rand(1, 4, 6, 6))
    with pytest.raises(ValueError, match="4-D"):
        _tiny("vsr_frame")(_clip(frames=2))


# --- cost -------------------------------------------------------------------------------------------


def test_flops_per_output_frame_are_matched_and_in_budget() -> None:
    """FLOPs of convolutions scale with the pixels, so a 16x12 count gives the 256x144 figures."""
    pixels = 12 * 16
    macs = {n: _flops_per_frame(n) / 2 / pixels for n in VIDEO_MODELS}  # multiply-adds per LR pixel
    assert macs == {"vsr_frame": 104_976, "vsr_window": 110_160, "vsr_recurrent": 113_184}
    for a in VIDEO_MODELS:
        for b in VIDEO_MODELS:
            assert abs(macs[a] / macs[b] - 1) <= 0.15, (a, b)
        assert 60_000 <= macs[a] <= 120_000
    assert math.isclose(macs["vsr_frame"] * 256 * 144 / 1e9, 3.87, abs_tol=0.005)
    for scale in (2, 3):  # the recurrent head reads 3·s² channels of previous output: cheaper at x2
        frame, *temporal = (_flops_per_frame(n, scale=scale) for n in VIDEO_MODELS)
        assert all(abs(t / frame - 1) <= 0.15 for t in temporal), (scale, frame, temporal)


def test_parameter_counts() -> None:
    assert [model_info(create_model(n)).params for n in VIDEO_MODELS] == [105_504, 110_688, 113_552]


# --- export and checkpoints ---------------------------------------------------------------------------


class _Step(nn.Module):
    def __init__(self, net: VSRRecurrent) -> None:
        super().__init__()
        self.net = net

    def forward(self, frame: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.step(frame, state)


class _Window(nn.Module):
    def __init__(self, net: VSRWindow) -> None:
        super().__init__()
        self.net = net

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.net.forward_window(window)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    "exporter",
    [pytest.param("dynamo", marks=pytest.mark.slow), "torchscript"],  # dynamo: ~2-5 s each
)
@pytest.mark.parametrize("name", ["vsr_window", "vsr_recurrent"])
def test_onnx_export_of_the_streaming_call(name: str, exporter: str, tmp_path) -> None:
    """``forward_window`` and ``step`` export with dynamic batch and frame sizes (both exporters)."""
    onnx = pytest.importorskip("onnx")
    net = _tiny(name)

    def example(b: int, h: int, w: int) -> tuple[torch.Tensor, ...]:
        if name == "vsr_window":
            return (_clip(frames=5, h=h, w=w, batch=b),)
        frame = torch.rand(b, 3, h, w)
        with torch.no_grad():
            return frame, net.step(frame, net.init_state(frame))[1]

    if name == "vsr_window":
        module, names, outputs = _Window(net).eval(), ["window"], ["out"]
        dims = [{0: "b", 3: "h", 4: "w"}]
    else:
        module, names, outputs = _Step(net).eval(), ["frame", "state"], ["out", "next_state"]
        dims = [{0: "b", 2: "h", 3: "w"}] * 2
    path = tmp_path / f"{name}.onnx"
    if exporter == "dynamo":
        dynamic = torch.export.Dim.DYNAMIC
        shapes = tuple({axis: dynamic for axis in d} for d in dims)
        program = torch.onnx.export(
            module, example(1, 8, 8), dynamo=True, dynamic_shapes=shapes, verbose=False
        )
        program.save(str(path))
    else:
        axes = dict(zip(names, dims, strict=True))
        torch.onnx.export(
            module,
            example(1, 8, 8),
            str(path),
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            dynamo=False,
        )
    # The export restores the wrapper's training flag on the whole tree: an eval wrapper keeps net in eval.
    assert not net.training
    onnx.checker.check_model(onnx.load(str(path)))
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = example(2, 6, 10)  # another batch and size than the traced ones
    feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs, strict=True)}
    got = session.run(None, feed)
    with torch.inference_mode():
        want = module(*inputs)
    want = (want,) if isinstance(want, torch.Tensor) else want
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(torch.from_numpy(g), w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("vsr_frame", {"scale": 3, "num_feat": 8, "num_conv": 2}),
        ("vsr_window", {"scale": 2, "radius": 1, "num_feat": 8, "num_conv": 1}),
        ("vsr_window", {"scale": 4, "radius": 3, "num_feat": 8, "num_conv": 0}),
        ("vsr_recurrent", {"scale": 3, "num_feat": 8, "num_conv": 1, "num_state": 5}),
    ],
)
def test_a_bare_state_dict_is_recognised(name: str, kwargs: dict, tmp_path) -> None:
    """srlib's own weights without their metadata (a plain .pth) load by key detection."""
    net = create_model(name, **kwargs)
    assert detect_architecture(net.state_dict()) == (name, kwargs)
    path = tmp_path / "bare.pth"
    torch.save({"params": net.state_dict()}, path)
    loaded = srlib.load_model(path)
    assert type(loaded) is type(net) and loaded.srlib_config == net.srlib_config
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())


def test_detectors_reject_each_other_and_the_rest_of_the_zoo() -> None:
    detectors = {"vsr_frame": detect_frame, "vsr_window": detect_window, "vsr_recurrent": detect_recurrent}
    classes: set[type] = set()
    for other in list_models():
        cls = get_model_entry(other).cls
        if cls in classes:
            continue
        classes.add(cls)
        small = {"vsr_recurrent": {"num_state": 4}}.get(other, {})
        state = create_model(other, **({**TINY, **small} if other in detectors else {})).state_dict()
        for name, detect in detectors.items():
            assert (detect(state) is not None) == (name == other), (name, other)
    state = create_model("vsr_recurrent", **TINY, num_state=4).state_dict()
    assert detect_recurrent({k: v for k, v in state.items() if not k.startswith("to_state")}) is None
    assert (
        detect_window({**create_model("vsr_window", **TINY).state_dict(), "extra.weight": torch.zeros(1)})
        is None
    )


# --- learning -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_a_few_adam_steps_reduce_the_l1_loss(name: str) -> None:
    torch.manual_seed(0)
    net = create_model(name, scale=2, **TINY).train()
    lr, hr = _clip(frames=3, h=8, w=8, seed=1), _clip(frames=3, h=16, w=16, seed=2)
    if name == "vsr_frame":
        lr, hr = lr.flatten(0, 1), hr.flatten(0, 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = F.l1_loss(net(lr), hr)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses[::5]
