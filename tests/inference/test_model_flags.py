"""ModelInfo flags are facts about the built networks: checked for every registered model."""

from __future__ import annotations

import pytest
import torch

import srlib
from srlib.inference.engine import Upscaler

#: Narrow versions of the zoo's networks (same depth, so the same receptive field), to keep this fast.
_HAT = {"embed_dim": 12, "num_heads": (2,) * 6, "num_feat": 8, "depths": (2,) * 6, "squeeze_factor": 4}
LIGHT = {
    "edsr_baseline": {"num_feat": 8},
    "hat": {"embed_dim": 12, "num_heads": (2,) * 6, "num_feat": 8, "depths": (2,) * 6, "squeeze_factor": 4},
    "hat_s": {
        "embed_dim": 12,
        "num_heads": (2,) * 6,
        "num_feat": 8,
        "depths": (2,) * 6,
        "squeeze_factor": 4,
        "compress_ratio": 3,
    },
    "hat_lite": {"embed_dim": 12, "num_feat": 8, "squeeze_factor": 4},
    "minisrresnet": {"num_feat": 8},
    "mobilesr": {"num_feat": 8},
    "rrdbnet": {"num_feat": 8, "num_grow_ch": 4, "num_block": 3},
    "srvgg_compact": {"num_feat": 8},
    "srvgg_compact_general": {"num_feat": 8},
    "tinysrgan": {"num_feat": 8},
    "vdsr": {"num_feat": 8},
}


#: Video models take clips; their flags are checked in tests/models/test_temporal.py.
IMAGE_MODELS = [n for n in srlib.list_models() if not srlib.models.model_info(n).temporal]


def _build(name: str) -> torch.nn.Module:
    scales = srlib.models.get_model_entry(name).scales
    torch.manual_seed(0)
    return srlib.create_model(name, scale=2 if 2 in scales else scales[-1], **LIGHT.get(name, {})).eval()


def _receptive_radius(net: torch.nn.Module, size: int = 96) -> int:
    """LR pixels around a point that can change the output there (measured with a gradient)."""
    x = torch.rand(1, 3, size, size, requires_grad=True)
    y = net(x)
    c = y.shape[-1] // 2
    y[0, :, c, c].sum().backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(0) > 0, as_tuple=True)
    centre = size // 2
    return int(max((rows - centre).abs().max(), (cols - centre).abs().max()))


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_size_multiple_holds(name: str) -> None:
    net = _build(name)
    info = srlib.model_info(net)
    m = info.size_multiple
    h, w = 3 * m + (1 if m == 1 else 0) + 10, 2 * m + 7  # odd sizes when the model pads itself
    if m > 1:
        h, w = 4 * m, 3 * m
    with torch.inference_mode():
        out = net(torch.rand(1, 3, h, w))
    assert tuple(out.shape[-2:]) == (h * info.scale, w * info.scale)
    # The engine pads any size to the multiple and crops back.
    assert Upscaler(net, dtype="fp32")(torch.rand(1, 3, h + 1, w + 3)).shape[-2:] == (
        (h + 1) * info.scale,
        (w + 3) * info.scale,
    )


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_supports_half_means_bf16_stays_close(name: str) -> None:
    net = _build(name)
    x = torch.rand(1, 3, 24, 20)
    full = Upscaler(net, dtype="fp32")(x)
    if srlib.model_info(net).supports_half:
        up = Upscaler(net, dtype="bf16")
        assert up.pure and up.precision == "bf16"  # bf16 weights, not autocast
        assert all(p.dtype == torch.bfloat16 for p in up.model.parameters())
        assert all(p.dtype == torch.float32 for p in net.parameters())  # the caller's copy is untouched
        half = up(x)
        assert torch.isfinite(half).all() and half.dtype == torch.float32
        mse = float(((half - full) ** 2).mean())
        assert mse < 10 ** (-35 / 10), (
            f"bf16 output only {-10 * torch.log10(torch.tensor(mse)):.1f} dB from fp32"
        )
    else:
        with pytest.raises(ValueError, match="does not support"):
            Upscaler(net, dtype="bf16")


@pytest.mark.parametrize("name", [n for n in IMAGE_MODELS if n != "bicubic"])
def test_pure_bf16_runs_every_layer_in_bf16(name: str) -> None:
    """In pure bf16 the convolutions and linear layers compute in bf16 (no hidden float32 copies)."""
    up = Upscaler(_build(name), dtype="bf16")
    layers = [
        m
        for m in up.model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))
    ]
    seen: list[torch.dtype] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype)) for m in layers]
    try:
        up(torch.rand(1, 3, 24, 20))
    finally:
        for h in hooks:
            h.remove()
    assert seen and set(seen) == {torch.bfloat16}


def test_user_modules_and_fp32_keep_float32_weights() -> None:
    """A module srlib does not know runs under autocast with its own weights (no cast, no copy)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1))
    up = Upscaler(net, dtype="bf16")
    assert not up.pure and up.precision == "bf16-autocast" and up.model is net
    assert up(torch.rand(1, 3, 8, 8)).dtype == torch.float32
    assert Upscaler(_build("fsrcnn"), dtype="fp32").precision == "fp32"


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_supports_tiling_means_tiles_give_the_whole(name: str) -> None:
    net = _build(name)
    info = srlib.model_info(net)
    if not info.supports_tiling:
        with pytest.raises(ValueError, match="cannot be run in tiles"):
            Upscaler(net, tile=32)
        return
    radius = _receptive_radius(net)
    local = radius < 40
    overlap = 4 * radius + 4 if local else 16  # a quarter of the overlap must cover the radius
    tile = max(2 * overlap, 32)
    x = torch.rand(1, 3, tile + tile // 2, tile + tile // 3, generator=torch.Generator().manual_seed(1))
    whole = Upscaler(net, dtype="fp32")(x)
    tiled = Upscaler(net, dtype="fp32", tile=tile, tile_overlap=overlap)(x)
    if local:  # a convolutional network: the same image within 1/255
        assert float((tiled - whole).abs().max()) <= 1 / 255
    else:  # attention across the image (HAT): close, not equal
        assert float((tiled - whole).abs().mean()) < 0.05


def test_tiles_smaller_than_the_model_needs_are_refused() -> None:
    net = srlib.create_model("srvgg_compact", num_feat=4, num_conv=2)
    with pytest.raises(ValueError, match="smaller than"):
        Upscaler(net, tile=4)
    with pytest.raises(ValueError, match="overlap"):
        Upscaler(net, tile=32, tile_overlap=30)


def test_a_model_without_half_support_asked_for_bf16_names_the_fix() -> None:
    class FullPrecisionOnly(torch.nn.Module):
        scale, supports_half = 2, False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x, scale_factor=2)

    with pytest.raises(ValueError, match=r"FullPrecisionOnly does not support torch.bfloat16 .*--dtype fp32"):
        Upscaler(FullPrecisionOnly(), dtype="bf16")
    assert Upscaler(FullPrecisionOnly(), dtype="auto").dtype == torch.float32  # auto falls back quietly
