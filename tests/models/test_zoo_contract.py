"""Registry-wide contract tests: every model in list_models() is checked by registering it.

Each model is built once per session (``zoo_model`` in conftest.py) and every test gets its own deep copy,
so the big ones (HAT 20.8M parameters, RRDBNet, HAT-S) are initialised once, not once per test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import srlib

MODELS = srlib.list_models()
LR_SIZE = 16

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
