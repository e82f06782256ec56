"""Discriminators: own registry, published parameter counts and key layouts, shapes, errors."""

from __future__ import annotations

import pytest
import torch

import srlib
from srlib.models import (
    UNetDiscriminatorSN,
    VGGDiscriminator,
    create_discriminator,
    create_model,
    list_discriminators,
    list_models,
    load_discriminator_weights,
)

SMALL_VGG = {"num_feat": 4, "hidden": 8}


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _minisrgan_shapes() -> dict[str, tuple]:
    """The published MiniSRGAN discriminator's state-dict keys and shapes, written from intelAI's
    srgan_model.py / ops.py (conv -> body Sequential [Conv2d, BatchNorm2d?, act]; discrim_block ->
    body Sequential [conv, conv stride 2]; tail [Linear, act, Linear, Sigmoid])."""
    shapes: dict[str, tuple] = {
        "conv01.body.0.weight": (64, 3, 3, 3),
        "conv01.body.0.bias": (64,),
        "conv02.body.0.weight": (64, 64, 3, 3),
        "conv02.body.0.bias": (64,),
    }
    for i in range(3):
        cin, cout = 64 * 2**i, 64 * 2 ** (i + 1)
        for j, c_in in enumerate((cin, cout)):
            pre = f"body.{i}.body.{j}.body"
            shapes[f"{pre}.0.weight"] = (cout, c_in, 3, 3)
            shapes[f"{pre}.0.bias"] = (cout,)
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{pre}.1.{name}"] = (cout,)
            shapes[f"{pre}.1.num_batches_tracked"] = ()
    # linear_size = (96 // 2**4)**2 * 512 = 18432
    shapes |= {"tail.0.weight": (1024, 18432), "tail.0.bias": (1024,), "tail.2.weight": (1, 1024)}
    shapes["tail.2.bias"] = (1,)
    return shapes


def _unet_shapes(f: int = 64) -> dict[str, tuple]:
    """Real-ESRGAN UNetDiscriminatorSN keys: plain conv0/conv9, spectral-normed conv1..conv8."""
    convs = {1: (2 * f, f, 4), 2: (4 * f, 2 * f, 4), 3: (8 * f, 4 * f, 4), 4: (4 * f, 8 * f, 3)}
    convs |= {5: (2 * f, 4 * f, 3), 6: (f, 2 * f, 3), 7: (f, f, 3), 8: (f, f, 3)}
    shapes: dict[str, tuple] = {"conv0.weight": (f, 3, 3, 3), "conv0.bias": (f,)}
    for i, (cout, cin, k) in convs.items():
        shapes[f"conv{i}.weight_orig"] = (cout, cin, k, k)
        shapes[f"conv{i}.weight_u"] = (cout,)
        shapes[f"conv{i}.weight_v"] = (cin * k * k,)
    shapes |= {"conv9.weight": (1, f, 3, 3), "conv9.bias": (1,)}
    return shapes


def test_own_namespace():
    names = list_discriminators()
    assert names == sorted(
        ["minisrgan_discriminator", "unet_discriminator", "vgg_discriminator", "vgg_discriminator_pooled"]
    )
    assert not set(names) & set(list_models())
    assert list_discriminators("vgg*") == ["vgg_discriminator", "vgg_discriminator_pooled"]
    with pytest.raises(ValueError, match="is a discriminator"):
        create_model("unet_discriminator")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("minisrgan_discriminator", 23_565_377),  # published figure
        ("vgg_discriminator", 23_565_377),  # same layout, slope 0.2
        ("vgg_discriminator_pooled", 23_565_377),  # 6x6 pooled grid keeps the head's width
        ("unet_discriminator", 4_376_897),  # Real-ESRGAN netD (weight_orig counted; u/v are buffers)
    ],
)
def test_parameter_counts(name, expected):
    assert _n_params(create_discriminator(name)) == expected


def test_minisrgan_key_layout_and_slope():
    d = create_discriminator("minisrgan_discriminator")
    own = d.state_dict()
    expected = _minisrgan_shapes()
    assert sorted(own) == sorted(expected)
    assert all(tuple(own[k].shape) == expected[k] for k in own)
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.01}
    assert {m.negative_slope for m in create_discriminator("vgg_discriminator").modules()
            if isinstance(m, torch.nn.LeakyReLU)} == {0.2}  # fmt: skip


def test_unet_key_layout_matches_realesrgan():
    own = create_discriminator("unet_discriminator").state_dict()
    expected = _unet_shapes()
    assert sorted(own) == sorted(expected)
    assert all(tuple(own[k].shape) == expected[k] for k in own)


def test_vgg_output_shapes_and_fixed_size_error():
    torch.manual_seed(0)
    fixed = VGGDiscriminator(**SMALL_VGG).eval()
    assert fixed(torch.rand(2, 3, 96, 96)).shape == (2, 1)
    with pytest.raises(ValueError, match="vgg_discriminator_pooled"):
        fixed(torch.rand(2, 3, 128, 128))
    pooled = create_discriminator("vgg_discriminator_pooled", **SMALL_VGG).eval()
    for size in ((128, 128), (40, 72), (8, 8)):
        y = pooled(torch.rand(3, 3, *size))
        assert y.shape == (3, 1) and torch.isfinite(y).all()


def test_pooled_head_equals_fixed_head_at_96():
    """At 96x96 the 6x6 pooling is the identity: MiniSRGAN weights work in the pooled variant."""
    torch.manual_seed(0)
    fixed = create_discriminator("minisrgan_discriminator", **SMALL_VGG).eval()
    pooled = create_discriminator("vgg_discriminator_pooled", negative_slope=0.01, **SMALL_VGG).eval()
    load_discriminator_weights(pooled, fixed.state_dict())
    x = torch.rand(2, 3, 96, 96)
    torch.testing.assert_close(pooled(x), fixed(x), rtol=0, atol=0)


def test_vgg_input_mapped_to_minus_one_one_and_sigmoid_option():
    torch.manual_seed(0)
    d = VGGDiscriminator(**SMALL_VGG, sigmoid=True).eval()
    seen = []
    d.conv01.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0]))
    x = torch.rand(1, 3, 96, 96)
    prob = d(x)
    torch.testing.assert_close(seen[0], x * 2 - 1)
    assert isinstance(d.tail[-1], torch.nn.Sigmoid) and 0 < prob.item() < 1
    logits_net = VGGDiscriminator(**SMALL_VGG).eval()
    logits_net.load_state_dict(d.state_dict())
    torch.testing.assert_close(prob, torch.sigmoid(logits_net(x)))


def test_unet_output_shape_skip_option_and_size_error():
    torch.manual_seed(0)
    d = create_discriminator("unet_discriminator", num_feat=8).eval()
    x = torch.rand(2, 3, 24, 40)
    y = d(x)
    assert y.shape == (2, 1, 24, 40)
    no_skip = create_discriminator("unet_discriminator", num_feat=8, skip_connection=False).eval()
    load_discriminator_weights(no_skip, d.state_dict())
    assert no_skip(x).shape == y.shape and not torch.allclose(no_skip(x), y)
    with pytest.raises(ValueError, match="divisible by 8"):
        d(torch.rand(1, 3, 20, 24))


def test_unet_is_spectrally_normalised():
    torch.manual_seed(0)
    d = UNetDiscriminatorSN(num_feat=8).train()
    for _ in range(15):  # power iterations run in training-mode forwards
        d(torch.rand(1, 3, 16, 16))
    w = d.conv4.weight.detach().reshape(d.conv4.weight.shape[0], -1)
    assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1.0) < 0.05


def _conv_output_dtypes(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[torch.dtype], torch.Tensor]:
    """Run ``model`` channels_last under CPU bf16 autocast; return every Conv2d's output dtype."""
    dtypes: list[torch.dtype] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    for h in hooks:
        h.remove()
    return dtypes, y


@pytest.mark.parametrize(
    ("name", "kwargs", "size"),
    [("vgg_discriminator_pooled", SMALL_VGG, 32), ("unet_discriminator", {"num_feat": 8}, 16)],
)
def test_backward_and_bf16_autocast(name, kwargs, size):
    torch.manual_seed(0)
    d = create_discriminator(name, **kwargs).train()
    x = torch.rand(2, 3, size, size)
    d(x).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in d.parameters())
    dtypes, y = _conv_output_dtypes(d, x)
    assert dtypes and all(dt == torch.bfloat16 for dt in dtypes)
    assert torch.isfinite(y.float()).all()


def test_realesrgan_netd_file_round_trip(tmp_path):
    """A Real-ESRGAN netD file ({'params': state}) loads into an equal discriminator."""
    torch.manual_seed(0)
    src = create_discriminator("unet_discriminator", num_feat=8).train()
    src(torch.rand(1, 3, 16, 16))  # move u/v away from their initial values
    path = tmp_path / "RealESRGAN_x4plus_netD.pth"
    torch.save({"params": src.state_dict()}, path)
    dst = load_discriminator_weights(create_discriminator("unet_discriminator", num_feat=8), path)
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(dst.eval()(x), src.eval()(x), rtol=0, atol=0)


def test_weight_errors_name_the_keys(tmp_path):
    d = create_discriminator("vgg_discriminator", **SMALL_VGG)
    state = d.state_dict()
    state.pop("tail.2.bias")
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \(1\): tail\.2\.bias") as err:
        load_discriminator_weights(d, state)
    assert "unexpected keys (1): extra.weight" in str(err.value)
    wide = create_discriminator("vgg_discriminator", num_feat=8, hidden=8).state_dict()
    with pytest.raises(ValueError, match="shape mismatches"):
        load_discriminator_weights(d, wide)
    with pytest.raises(FileNotFoundError):
        load_discriminator_weights(d, tmp_path / "missing.pth")


def test_registry_errors():
    with pytest.raises(ValueError, match="Did you mean 'vgg_discriminator'"):
        create_discriminator("vgg_discrimnator")
    with pytest.raises(
        ValueError, match=r"unknown argument\(s\) \['num_feats'\]. Valid arguments: \[.*'num_feat'"
    ):
        create_discriminator("unet_discriminator", num_feats=32)
    with pytest.raises(ValueError, match="registered discriminators"):
        create_discriminator("patchgan")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        create_discriminator("unet_discriminator", num_feat=4)(torch.rand(3, 16, 16))


def test_created_discriminator_records_config():
    d = create_discriminator("minisrgan_discriminator", **SMALL_VGG)
    assert d.srlib_arch == "minisrgan_discriminator"
    assert d.srlib_config["negative_slope"] == 0.01 and d.srlib_config["input_size"] == 96
    assert srlib.models.get_discriminator_entry("unet_discriminator").paper
