"""SRVGGNetCompact (Real-ESRGAN): parameter counts, upstream key layout, checkpoint detection."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import srlib
from srlib.models import SRVGGNetCompact, create_model, detect_architecture, list_models
from srlib.models.srvgg import _detect
from tests.models.conftest import assert_detects_no_other_model


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _upstream_state(num_conv: int, scale: int, num_feat: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict laid out like Real-ESRGAN's srvgg_arch.py (built from its key scheme, not
    from srlib's module): a flat ``body`` list of conv / PReLU / conv / PReLU ... / conv."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    shapes = [(num_feat, 3)] + [(num_feat, num_feat)] * num_conv + [(3 * scale * scale, num_feat)]
    for i, (out_ch, in_ch) in enumerate(shapes):
        state[f"body.{2 * i}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=g) * 0.05
        state[f"body.{2 * i}.bias"] = torch.randn(out_ch, generator=g) * 0.01
        if i < len(shapes) - 1:
            state[f"body.{2 * i + 1}.weight"] = torch.rand(num_feat, generator=g) * 0.3
    return state


def test_registered_names_and_defaults():
    assert {"srvgg_compact", "srvgg_compact_general"} <= set(list_models("srvgg"))
    assert create_model("srvgg_compact").num_conv == 16
    assert create_model("srvgg_compact_general").num_conv == 32
    assert create_model("srvgg_compact").scale == 4


@pytest.mark.parametrize(
    ("name", "scale", "expected"),
    [
        # 3*64*9+64 + 64 + n*(64*64*9+64+64) + 64*3s²*9+3s²
        ("srvgg_compact", 4, 621_424),  # realesr-animevideov3
        ("srvgg_compact_general", 4, 1_213_296),  # realesr-general-x4v3
        ("srvgg_compact", 2, 600_652),
    ],
)
def test_parameter_counts(name, scale, expected):
    assert _n_params(create_model(name, scale=scale)) == expected


@pytest.mark.parametrize("num_conv", [16, 32])
def test_key_layout_matches_upstream(num_conv):
    upstream = _upstream_state(num_conv, 4)
    own = create_model("srvgg_compact", num_conv=num_conv).state_dict()
    assert list(own) == list(upstream)
    assert all(own[k].shape == upstream[k].shape for k in own)


def test_forward_shape_range_and_nearest_base():
    torch.manual_seed(0)
    net = SRVGGNetCompact(scale=3, num_conv=2, num_feat=8).eval()
    x = torch.rand(2, 3, 5, 7)
    y = net(x)
    assert y.shape == (2, 3, 15, 21)
    assert y.min() >= 0.0 and y.max() <= 1.0
    # With the last conv zeroed, the network is exactly the nearest-neighbour upsampled input.
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    torch.testing.assert_close(net(x), F.interpolate(x, scale_factor=3, mode="nearest"), rtol=0, atol=0)


def test_training_mode_does_not_clamp_and_backward():
    torch.manual_seed(0)
    net = SRVGGNetCompact(scale=2, num_conv=1, num_feat=8).train()
    with torch.no_grad():
        net.body[-1].bias.fill_(5.0)
    y = net(torch.rand(1, 3, 6, 6))
    assert y.max() > 1.0
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_bf16_autocast_runs_convs_in_bf16_and_channels_last():
    torch.manual_seed(0)
    net = SRVGGNetCompact(scale=2, num_conv=2, num_feat=16).eval()
    x = torch.rand(1, 3, 12, 12)
    ref = net(x)
    dtypes: list[torch.dtype] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    for h in hooks:
        h.remove()
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
    assert (y.float() - ref).abs().max() < 0.05
    y_cl = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(y_cl, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("num_conv", "scale"), [(16, 4), (32, 4), (16, 2), (4, 1)])
def test_realesrgan_pth_round_trip(tmp_path, num_conv, scale):
    """A Real-ESRGAN-style file ({'params': state}) loads through detection into an equal model."""
    state = _upstream_state(num_conv, scale)
    path = tmp_path / "realesr-animevideov3.pth"
    torch.save({"params": state}, path)
    loaded = srlib.load_model(path)
    assert isinstance(loaded, SRVGGNetCompact)
    assert (loaded.scale, loaded.num_conv, loaded.act_type) == (scale, num_conv, "prelu")
    assert not loaded.training
    for k, v in state.items():
        assert torch.equal(loaded.state_dict()[k], v), k
    expected = create_model("srvgg_compact", scale=scale, num_conv=num_conv)
    expected.load_state_dict(state)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected.eval()(x), rtol=0, atol=0)


def test_srlib_safetensors_round_trip(tmp_path):
    net = create_model("srvgg_compact_general", scale=2)
    loaded = srlib.load_model(srlib.save_model(net, tmp_path / "general"))
    assert type(loaded) is SRVGGNetCompact and loaded.num_conv == 32 and loaded.scale == 2
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x), rtol=0, atol=0)


def test_detection_infers_hyperparameters():
    name, kwargs = detect_architecture(_upstream_state(3, 3, num_feat=16))
    assert name == "srvgg_compact"
    assert kwargs == {"scale": 3, "num_feat": 16, "num_conv": 3, "act_type": "prelu"}


def test_detector_rejects_other_layouts():
    state = _upstream_state(2, 4)
    assert _detect({**state, "conv_first.weight": torch.zeros(64, 3, 3, 3)}) is None
    odd_width = dict(state)
    odd_width["body.6.weight"] = torch.zeros(5, 64, 3, 3)  # 5 is not 3·s²
    odd_width["body.6.bias"] = torch.zeros(5)
    assert _detect(odd_width) is None
    no_prelu = {k: v for k, v in state.items() if v.ndim != 1 or k.endswith(".bias")}
    assert _detect(no_prelu) is None
    assert_detects_no_other_model(_detect, lambda n: n.startswith("srvgg"))


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="Did you mean 'srvgg_compact'"):
        create_model("srvgg_compat")
    with pytest.raises(ValueError, match=r"Valid arguments: \[.*'num_conv'"):
        create_model("srvgg_compact", num_convs=8)
    with pytest.raises(ValueError, match="act_type"):
        SRVGGNetCompact(act_type="gelu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="RGB input with 3 channels"):
        SRVGGNetCompact(num_conv=1, num_feat=4)(torch.rand(1, 1, 4, 4))
