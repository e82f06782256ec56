"""Registry-wide contract tests: every model in list_models() is checked by registering it.

Image models (``frames == 1``, not recurrent) get the image contract: ``(B, 3, h, w)`` in,
``(B, 3, sh, sw)`` out. Temporal models (:func:`srlib.models.is_temporal`) get the clip contract:
``(B, T, 3, h, w)`` in, every frame's ``(B, T, 3, sh, sw)`` out, plus the streaming interface their
``ModelInfo`` declares (``forward_window`` for a sliding window, ``init_state``/``step`` for a recurrent
model) agreeing with ``model(clip)``. Both lists come from the registry, so a new model is tested by
registering it.

Each model is built once per session (``zoo_model`` in conftest.py) and every test gets its own deep copy,
so the big ones (HAT 20.8M parameters, RRDBNet, HAT-S) are initialised once, not once per test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch

import srlib
from srlib.models import is_temporal

MODELS = [name for name in srlib.list_models() if not is_temporal(name)]
TEMPORAL_MODELS = [name for name in srlib.list_models() if is_temporal(name)]
LR_SIZE = 16
FRAMES = 3

ZooModel = Callable[[str], torch.nn.Module]  # the ``zoo_model`` fixture (tests/models/conftest.py)


@pytest.mark.parametrize("name", MODELS)
def test_forward_shape_and_range(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval()
    x = torch.rand(2, 3, LR_SIZE, LR_SIZE + 4)
    with torch.inference_mode():
        y = net(x)
    s = net.scale
    assert y.shape == (2, 3, LR_SIZE * s, (LR_SIZE + 4) * s)
    assert y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_backward_reaches_every_parameter(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).train()
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        pytest.skip(f"{name} has no trainable parameters")
    y = net(torch.rand(2, 3, LR_SIZE, LR_SIZE))
    y.mean().backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"


@pytest.mark.parametrize("name", MODELS)
def test_bf16_autocast_channels_last(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, LR_SIZE, LR_SIZE).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = net(x)
    assert y.shape == ref.shape and torch.isfinite(y).all()
    # bf16 has ~3 significant digits: outputs stay close to fp32 ones.
    assert (y.float() - ref).abs().mean() < 0.05


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_bit_identical(name: str, zoo_model: ZooModel, tmp_path) -> None:
    net = zoo_model(name).eval()
    path = srlib.save_model(net, tmp_path / name)
    loaded = srlib.load_model(path)
    assert type(loaded) is type(net) and loaded.scale == net.scale
    a, b = net.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(1, 3, LR_SIZE, LR_SIZE)
    with torch.inference_mode():
        assert torch.equal(net(x), loaded(x))


@pytest.mark.parametrize("name", MODELS)
def test_bad_input_is_named(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval()
    with pytest.raises(ValueError, match="4-D"):
        net(torch.rand(3, LR_SIZE, LR_SIZE))
    with pytest.raises(ValueError, match="3 channels"):
        net(torch.rand(1, 4, LR_SIZE, LR_SIZE))


@pytest.mark.parametrize("name", MODELS)
def test_main_layers_run_in_bf16_under_autocast(name: str, zoo_model: ZooModel) -> None:
    """No silent fp32 fallback: every conv/linear layer computes in bf16 under CPU autocast."""
    net = zoo_model(name).eval().to(memory_format=torch.channels_last)
    layers = [
        m
        for m in net.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))
    ]
    if not layers:
        pytest.skip(f"{name} has no conv or linear layers")
    dtypes: list[torch.dtype] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype)) for m in layers]
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            net(torch.rand(1, 3, LR_SIZE, LR_SIZE).to(memory_format=torch.channels_last))
    finally:
        for h in hooks:
            h.remove()
    assert dtypes and all(d == torch.bfloat16 for d in dtypes), set(dtypes)


# --- the clip contract of temporal models ---------------------------------------------------------------


def _clip(
    batch: int = 1, frames: int = FRAMES, h: int = LR_SIZE, w: int = LR_SIZE, seed: int = 0
) -> torch.Tensor:
    return torch.rand(batch, frames, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a.float() - b.float()) ** 2).mean()))


def test_the_registry_has_both_kinds() -> None:
    assert MODELS and TEMPORAL_MODELS
    assert not set(MODELS) & set(TEMPORAL_MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_image_models_declare_no_time(name: str) -> None:
    info = srlib.model_info(name)
    assert (info.frames, info.recurrent, info.temporal) == (1, False, False)


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_model_info_matches_the_streaming_interface(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name)
    info = srlib.model_info(net)
    assert info == dataclasses.replace(srlib.model_info(name), scale=info.scale, params=info.params)
    assert info.temporal and info.frames % 2 == 1
    if info.frames > 1:
        assert net.radius == (info.frames - 1) // 2 and callable(net.forward_window)
    if info.recurrent:
        assert info.frames == 1 and callable(net.init_state) and callable(net.step)


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_clip_forward_shape_and_range(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval()
    clip = _clip(batch=2, w=LR_SIZE + 4)
    with torch.inference_mode():
        y = net(clip)
    s = net.scale
    assert y.shape == (2, FRAMES, 3, LR_SIZE * s, (LR_SIZE + 4) * s)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_clip_backward_reaches_every_parameter(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).train()
    net(_clip()).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_streaming_interface_gives_the_clip_output(name: str, zoo_model: ZooModel) -> None:
    """What a streaming runner calls (one window or one step at a time) equals ``model(clip)``."""
    net = zoo_model(name).eval()
    clip, info = _clip(frames=4), srlib.model_info(net)
    with torch.inference_mode():
        whole = net(clip)
        if info.recurrent:
            state, outs = net.init_state(clip[:, 0]), []
            for t in range(clip.shape[1]):
                out, state = net.step(clip[:, t], state)
                outs.append(out)
        else:
            k, t_len = net.radius, clip.shape[1]
            reflect = [abs(i) if i < t_len else 2 * (t_len - 1) - i for i in range(-k, t_len + k)]
            outs = [net.forward_window(clip[:, reflect[t : t + 2 * k + 1]]) for t in range(t_len)]
    torch.testing.assert_close(torch.stack(outs, dim=1), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_clip_bf16_autocast_channels_last(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval().to(memory_format=torch.channels_last)
    clip = _clip()
    with torch.inference_mode():
        ref = net(clip)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = net(clip)
    assert y.shape == ref.shape and torch.isfinite(y).all()
    assert (y.float() - ref).abs().mean() < 0.05
    if srlib.model_info(net).supports_half:  # the flag's promise, as tests/inference/test_model_flags.py
        assert _psnr(y, ref) >= 35.0


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_clip_main_layers_run_in_bf16_under_autocast(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval()
    layers = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers
    dtypes: list[torch.dtype] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype)) for m in layers]
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            net(_clip())
    finally:
        for h in hooks:
            h.remove()
    assert dtypes and all(d == torch.bfloat16 for d in dtypes), set(dtypes)


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_clip_save_load_round_trip_bit_identical(name: str, zoo_model: ZooModel, tmp_path) -> None:
    net = zoo_model(name).eval()
    loaded = srlib.load_model(srlib.save_model(net, tmp_path / name))
    assert type(loaded) is type(net) and loaded.scale == net.scale
    assert srlib.model_info(loaded) == srlib.model_info(net)
    a, b = net.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with torch.inference_mode():
        assert torch.equal(net(_clip()), loaded(_clip()))


@pytest.mark.parametrize("name", TEMPORAL_MODELS)
def test_clip_bad_input_is_named(name: str, zoo_model: ZooModel) -> None:
    net = zoo_model(name).eval()
    with pytest.raises(ValueError, match=rf"{name}.*\(B, T, 3, h, w\) clips.*per-frame model"):
        net(torch.rand(1, 3, LR_SIZE, LR_SIZE))
    with pytest.raises(ValueError, match="no frames"):
        net(torch.rand(1, 0, 3, LR_SIZE, LR_SIZE))
    with pytest.raises(ValueError, match="3 channels"):
        net(torch.rand(1, 2, 4, LR_SIZE, LR_SIZE))
    with pytest.raises(ValueError, match="float"):
        net(torch.zeros(1, 2, 3, LR_SIZE, LR_SIZE, dtype=torch.uint8))
