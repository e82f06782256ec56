"""RRDBNet (ESRGAN / Real-ESRGAN): parameter counts, upstream key layouts, checkpoint detection."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import srlib
from srlib.models import RRDBNet, create_model, detect_architecture
from srlib.models.rrdbnet import _detect, checkpoint_filter_fn
from tests.models.conftest import assert_detects_no_other_model

TINY = {"num_feat": 8, "num_block": 2, "num_grow_ch": 4}


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _basicsr_shapes(scale: int, num_feat: int, num_block: int, num_grow_ch: int) -> dict[str, tuple]:
    """Key names and shapes of BasicSR/Real-ESRGAN's rrdbnet_arch.py, written from its naming scheme
    (not from srlib's module)."""
    in_ch = {4: 3, 2: 12, 1: 48}[scale]
    f, gc = num_feat, num_grow_ch
    convs = [("conv_first", f, in_ch)]
    for b in range(num_block):
        for r in (1, 2, 3):
            for c in range(1, 6):
                convs.append((f"body.{b}.rdb{r}.conv{c}", f if c == 5 else gc, f + (c - 1) * gc))
    convs += [(n, f, f) for n in ("conv_body", "conv_up1", "conv_up2", "conv_hr")] + [("conv_last", 3, f)]
    shapes: dict[str, tuple] = {}
    for name, out_ch, in_ch_ in convs:
        shapes[f"{name}.weight"] = (out_ch, in_ch_, 3, 3)
        shapes[f"{name}.bias"] = (out_ch,)
    return shapes


def _basicsr_state(
    scale: int, num_feat: int, num_block: int, num_grow_ch: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A random state dict in the BasicSR layout (one draw split into tensors: hundreds of small random
    ops are slow on a busy CPU)."""
    shapes = _basicsr_shapes(scale, num_feat, num_block, num_grow_ch)
    sizes = [torch.Size(sh).numel() for sh in shapes.values()]
    flat = torch.randn(sum(sizes), generator=torch.Generator().manual_seed(seed)) * 0.03
    return {k: t.view(sh) for (k, sh), t in zip(shapes.items(), flat.split(sizes), strict=True)}


def _flat(state: dict[str, torch.Tensor], keys) -> torch.Tensor:
    return torch.cat([state[k].reshape(-1) for k in keys])


def _to_esrgan_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """xinntao/ESRGAN RRDBNet_arch.py names (RRDB_trunk / RDBk / trunk_conv / upconvk / HRconv)."""
    out = {}
    for k, v in state.items():
        if k.startswith("body."):
            _, b, rdb, rest = k.split(".", 3)
            k = f"RRDB_trunk.{b}.{rdb.upper()}.{rest}"
        for new, old in (("conv_body", "trunk_conv"), ("conv_up1", "upconv1"), ("conv_up2", "upconv2")):
            k = k.replace(new + ".", old + ".")
        k = k.replace("conv_hr.", "HRconv.")
        out[k] = v
    return out


def _to_old_sequential_layout(state: dict[str, torch.Tensor], num_block: int) -> dict[str, torch.Tensor]:
    """The original ESRGAN sequential layout, following ESRGAN's transer_RRDB_models.py mapping."""
    plain = {"conv_first": "0", "conv_body": f"1.sub.{num_block}", "conv_up1": "3", "conv_up2": "6"}
    plain |= {"conv_hr": "8", "conv_last": "10"}
    out = {}
    for k, v in state.items():
        name, kind = k.rsplit(".", 1)
        if name.startswith("body."):
            _, b, rdb, conv = name.split(".")
            out[f"model.1.sub.{b}.{rdb.upper()}.{conv}.0.{kind}"] = v
        else:
            out[f"model.{plain[name]}.{kind}"] = v
    return out


def test_parameter_count_x4_matches_published():
    net = create_model("rrdbnet")
    assert (net.scale, len(net.body)) == (4, 23)
    assert _n_params(net) == 16_697_987


@pytest.mark.parametrize(("scale", "expected"), [(2, 16_703_171), (1, 16_723_907)])
def test_parameter_counts_unshuffle_variants(scale, expected):
    # conv_first grows from 3 to 12 (x2) or 48 (x1) input channels: +9*64*9 / +45*64*9.
    assert _n_params(RRDBNet(scale=scale)) == expected


@pytest.mark.parametrize(
    ("scale", "config"),
    [(4, {"num_feat": 64, "num_block": 23, "num_grow_ch": 32})] + [(s, TINY) for s in (4, 2, 1)],
)
def test_key_layout_matches_basicsr(scale, config):
    upstream = _basicsr_shapes(scale, **config)
    own = RRDBNet(scale=scale, **config).state_dict()
    assert list(own) == list(upstream)
    assert all(tuple(own[k].shape) == upstream[k] for k in own)


@pytest.mark.parametrize(("scale", "size"), [(4, (5, 6)), (2, (7, 9)), (1, (6, 5))])
def test_forward_shapes_any_size(scale, size):
    torch.manual_seed(0)
    net = RRDBNet(scale=scale, **TINY).eval()
    y = net(torch.rand(2, 3, *size))
    assert y.shape == (2, 3, size[0] * scale, size[1] * scale)
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_pixel_unshuffle_matches_basicsr_channel_order():
    # BasicSR's pixel_unshuffle: view(b, c, h/s, s, w/s, s).permute(0, 1, 3, 5, 2, 4),
    # i.e. output channel = c*s*s + i*s + j.
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    ref = x.view(2, 3, 2, 2, 3, 2).permute(0, 1, 3, 5, 2, 4).reshape(2, 12, 2, 3)
    assert torch.equal(F.pixel_unshuffle(x, 2), ref)


def test_odd_sizes_are_reflect_padded_then_cropped():
    torch.manual_seed(0)
    net = RRDBNet(scale=2, **TINY).eval()
    x = torch.rand(1, 3, 7, 9)
    padded = F.pad(x, (0, 1, 0, 1), mode="reflect")
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(padded)[..., :14, :18], rtol=0, atol=0)
    assert net(torch.rand(1, 3, 1, 1)).shape == (1, 3, 2, 2)  # too small for reflect: replicate


def test_backward_and_bf16_autocast():
    torch.manual_seed(0)
    net = RRDBNet(scale=4, **TINY).train()
    net(torch.rand(2, 3, 6, 6)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    net.eval()
    dtypes: list[torch.dtype] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    x = torch.rand(1, 3, 6, 6).to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = net.to(memory_format=torch.channels_last)(x)
    for h in hooks:
        h.remove()
    assert len(dtypes) == 6 + 2 * 15 and all(d == torch.bfloat16 for d in dtypes)
    with torch.no_grad():
        assert (y.float() - net(x)).abs().max() < 0.05


def _assert_same_model(loaded: torch.nn.Module, state: dict, **kwargs) -> None:
    expected = RRDBNet(**kwargs)
    expected.load_state_dict(state)
    assert torch.equal(_flat(loaded.state_dict(), state), _flat(state, state))
    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected.eval()(x), rtol=0, atol=0)


def test_realesrgan_x4plus_file_with_params_ema_loads(tmp_path):
    """RealESRGAN_x4plus layout (23 blocks; narrow here to stay fast, the full-width key shapes are
    checked above); `params_ema` wins over `params` as in Real-ESRGAN's loader."""
    config = {"num_feat": 16, "num_block": 23, "num_grow_ch": 8}
    state = _basicsr_state(4, **config)
    path = tmp_path / "RealESRGAN_x4plus.pth"
    torch.save({"params": _basicsr_state(4, **config, seed=1), "params_ema": state}, path)
    loaded = srlib.load_model(path)
    assert isinstance(loaded, RRDBNet) and not loaded.training
    assert loaded.srlib_config == {"scale": 4, **config}
    _assert_same_model(loaded, state, scale=4, **config)


@pytest.mark.parametrize("scale", [2, 1])
def test_unshuffle_variant_files_load(tmp_path, scale):
    state = _basicsr_state(scale, **TINY)
    path = tmp_path / f"RealESRGAN_x{scale}plus.pth"
    torch.save({"params_ema": state}, path)
    loaded = srlib.load_model(path)
    assert loaded.scale == scale
    _assert_same_model(loaded, state, scale=scale, **TINY)


@pytest.mark.parametrize("layout", ["esrgan", "old_sequential"])
def test_older_esrgan_layouts_load(tmp_path, layout):
    state = _basicsr_state(4, **TINY)
    if layout == "esrgan":
        foreign = _to_esrgan_layout(state)
        assert "RRDB_trunk.1.RDB3.conv5.weight" in foreign and "HRconv.bias" in foreign
    else:
        foreign = _to_old_sequential_layout(state, TINY["num_block"])
        assert "model.1.sub.0.RDB1.conv1.0.weight" in foreign and "model.10.bias" in foreign
    assert checkpoint_filter_fn(foreign).keys() == state.keys()
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(foreign, path)
    loaded = srlib.load_model(path)
    assert loaded.srlib_config == {"scale": 4, **TINY}
    _assert_same_model(loaded, state, scale=4, **TINY)


def test_load_weights_maps_foreign_names_into_existing_model():
    state = _basicsr_state(4, **TINY)
    net = srlib.load_weights(create_model("rrdbnet", **TINY), _to_esrgan_layout(state))
    assert torch.equal(net.state_dict()["body.1.rdb2.conv3.weight"], state["body.1.rdb2.conv3.weight"])


def test_srlib_safetensors_round_trip(tmp_path):
    net = create_model("rrdbnet", scale=2, **TINY)
    loaded = srlib.load_model(srlib.save_model(net, tmp_path / "rrdb"))
    assert loaded.scale == 2 and len(loaded.body) == TINY["num_block"]
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x), rtol=0, atol=0)


def test_detection_and_rejections():
    name, kwargs = detect_architecture(_basicsr_state(2, num_feat=16, num_block=3, num_grow_ch=8))
    assert (name, kwargs) == ("rrdbnet", {"scale": 2, "num_feat": 16, "num_block": 3, "num_grow_ch": 8})
    bad = _basicsr_state(4, **TINY)
    bad["conv_first.weight"] = torch.zeros(8, 5, 3, 3)  # 5 input channels: no supported scale
    assert _detect(bad) is None
    assert_detects_no_other_model(_detect, lambda n: n == "rrdbnet")


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="supported scales: \\[1, 2, 4\\]"):
        create_model("rrdbnet", scale=3)
    with pytest.raises(ValueError, match="scale 1, 2 or 4"):
        RRDBNet(scale=3)
    with pytest.raises(ValueError, match=r"Valid arguments: \[.*'num_block'"):
        create_model("rrdbnet", num_blocks=6)
    with pytest.raises(ValueError, match="Did you mean 'rrdbnet'"):
        create_model("rrdb_net")
