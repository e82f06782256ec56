"""Tests for srlib.models.hat: HAT / HAT-S / HAT-lite.

Fidelity is checked against an independent, loop-based transcription of the official algorithm
(XPixelGroup/HAT ``hat/archs/hat_arch.py``: ``calculate_rpi_sa``, ``calculate_rpi_oca``,
``calculate_mask``, ``WindowAttention``, ``OCAB`` with ``nn.Unfold``) and against state dicts built in the
official key layout, key by key, from that file's module structure.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srlib
from srlib.models import hat as hat_mod
from srlib.models.hat import HAT, checkpoint_filter_fn, shifted_window_mask

# --------------------------------------------------------------------------------------------------
# Official layout and official algorithm, written out independently of srlib.models.hat
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def official_rpi_sa(ws: int) -> torch.Tensor:
    """calculate_rpi_sa: index[i, j] = (dy_ij + ws - 1) * (2ws - 1) + (dx_ij + ws - 1), by loops."""
    coords = [(y, x) for y in range(ws) for x in range(ws)]
    return torch.tensor(
        [
            [(yi - yj + ws - 1) * (2 * ws - 1) + (xi - xj + ws - 1) for (yj, xj) in coords]
            for (yi, xi) in coords
        ]
    )


@functools.lru_cache(maxsize=8)
def official_rpi_oca(ws: int, wse: int) -> torch.Tensor:
    """calculate_rpi_oca: offsets key(ext) - query(ori), shifted by ws - wse + 1, row stride ws + wse - 1."""
    ori = [(y, x) for y in range(ws) for x in range(ws)]
    ext = [(y, x) for y in range(wse) for x in range(wse)]
    shift, stride = ws - wse + 1, ws + wse - 1
    return torch.tensor(
        [[(ky - qy + shift) * stride + (kx - qx + shift) for (ky, kx) in ext] for (qy, qx) in ori]
    )


def official_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """calculate_mask with its slice loop, then window_partition and the -100 fill."""
    img = torch.zeros(1, h, w, 1)
    slices = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    cnt = 0
    for hs in slices:
        for wsl in slices:
            img[:, hs, wsl, :] = cnt
            cnt += 1
    win = official_partition(img, ws).reshape(-1, ws * ws)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def official_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    return x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)


def official_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


def official_layout(
    *,
    embed_dim: int,
    depths: list[int],
    num_heads: list[int],
    window_size: int,
    compress_ratio: int,
    squeeze_factor: int,
    mlp_ratio: float,
    upscale: int,
    overlap_ratio: float = 0.5,
    upsampler: str = "pixelshuffle",
    num_feat: int = 64,
) -> OrderedDict[str, tuple[int, ...]]:
    """Key -> shape of an official HAT ``state_dict()``, in its order (own params, own buffers, children)."""
    e, ws = embed_dim, window_size
    wse = int(ws * overlap_ratio) + ws
    hidden = int(e * mlp_ratio)
    out: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    out["relative_position_index_SA"] = (ws * ws, ws * ws)
    out["relative_position_index_OCA"] = (ws * ws, wse * wse)

    def conv(name: str, cin: int, cout: int, k: int) -> None:
        out[f"{name}.weight"] = (cout, cin, k, k)
        out[f"{name}.bias"] = (cout,)

    def linear(name: str, cin: int, cout: int) -> None:
        out[f"{name}.weight"] = (cout, cin)
        out[f"{name}.bias"] = (cout,)

    def norm(name: str) -> None:
        out[f"{name}.weight"] = (e,)
        out[f"{name}.bias"] = (e,)

    conv("conv_first", 3, e, 3)
    norm("patch_embed.norm")
    for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
        group = f"layers.{i}.residual_group"
        for j in range(depth):
            blk = f"{group}.blocks.{j}"
            norm(f"{blk}.norm1")
            out[f"{blk}.attn.relative_position_bias_table"] = ((2 * ws - 1) ** 2, heads)
            linear(f"{blk}.attn.qkv", e, 3 * e)
            linear(f"{blk}.attn.proj", e, e)
            conv(f"{blk}.conv_block.cab.0", e, e // compress_ratio, 3)
            conv(f"{blk}.conv_block.cab.2", e // compress_ratio, e, 3)
            conv(f"{blk}.conv_block.cab.3.attention.1", e, e // squeeze_factor, 1)
            conv(f"{blk}.conv_block.cab.3.attention.3", e // squeeze_factor, e, 1)
            norm(f"{blk}.norm2")
            linear(f"{blk}.mlp.fc1", e, hidden)
            linear(f"{blk}.mlp.fc2", hidden, e)
        oca = f"{group}.overlap_attn"
        out[f"{oca}.relative_position_bias_table"] = ((ws + wse - 1) ** 2, heads)
        norm(f"{oca}.norm1")
        linear(f"{oca}.qkv", e, 3 * e)
        linear(f"{oca}.proj", e, e)
        norm(f"{oca}.norm2")
        linear(f"{oca}.mlp.fc1", e, hidden)
        linear(f"{oca}.mlp.fc2", hidden, e)
        conv(f"layers.{i}.conv", e, e, 3)
    norm("norm")
    conv("conv_after_body", e, e, 3)
    if upsampler == "pixelshuffle":
        conv("conv_before_upsample.0", e, num_feat, 3)
        if upscale & (upscale - 1) == 0:
            for k in range(int(math.log2(upscale))):
                conv(f"upsample.{2 * k}", num_feat, 4 * num_feat, 3)
        else:
            conv("upsample.0", num_feat, 9 * num_feat, 3)
        conv("conv_last", num_feat, 3, 3)
    else:  # SwinIR-style UpsampleOneStep
        conv("upsample.0", e, 3 * upscale * upscale, 3)
    return out


def random_official_state(
    layout: OrderedDict[str, tuple[int, ...]], seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random, numerically tame tensors for every key; the index buffers by the official formulas."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in layout.items():
        if key == "relative_position_index_SA":
            state[key] = official_rpi_sa(math.isqrt(shape[0])).clone()
        elif key == "relative_position_index_OCA":
            state[key] = official_rpi_oca(math.isqrt(shape[0]), math.isqrt(shape[1])).clone()
        elif key.endswith("relative_position_bias_table"):
            state[key] = torch.randn(shape, generator=g) * 0.02
        elif "norm" in key.rsplit(".", 2)[-2] and key.endswith("weight"):
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("weight"):
            state[key] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        else:
            state[key] = 0.02 * torch.randn(shape, generator=g)
    return state


def _ref_window_attention(attn: nn.Module, win: torch.Tensor, rpi: torch.Tensor, mask) -> torch.Tensor:
    b_, n, c = win.shape
    heads = attn.relative_position_bias_table.shape[1]
    qkv = attn.qkv(win).reshape(b_, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
    a = q @ k.transpose(-2, -1)
    a = a + attn.relative_position_bias_table[rpi.view(-1)].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
    if mask is not None:
        nw = mask.shape[0]
        a = (a.view(b_ // nw, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, n, n)
    return attn.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(b_, n, c))


def _ref_hab(blk: nn.Module, x, h, w, ws, shift, rpi, mask) -> torch.Tensor:
    b, _, c = x.shape
    shortcut = x
    x = blk.norm1(x).view(b, h, w, c)
    conv_x = blk.conv_block(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, h * w, c)
    if shift:
        x = torch.roll(x, (-shift, -shift), (1, 2))
    win = official_partition(x, ws).view(-1, ws * ws, c)
    out = official_reverse(_ref_window_attention(blk.attn, win, rpi, mask if shift else None), ws, h, w)
    if shift:
        out = torch.roll(out, (shift, shift), (1, 2))
    x = shortcut + out.reshape(b, h * w, c) + conv_x * 0.01
    return x + blk.mlp(blk.norm2(x))


def _ref_ocab(oca: nn.Module, x, h, w, ws, wse, rpi) -> torch.Tensor:
    b, _, c = x.shape
    heads = oca.relative_position_bias_table.shape[1]
    d = c // heads
    shortcut = x
    qkv = oca.qkv(oca.norm1(x).view(b, h, w, c)).reshape(b, h, w, 3, c).permute(3, 0, 4, 1, 2)
    q = official_partition(qkv[0].permute(0, 2, 3, 1), ws).view(-1, ws * ws, c)
    kv = torch.cat((qkv[1], qkv[2]), dim=1)
    unfolded = nn.Unfold(kernel_size=(wse, wse), stride=ws, padding=(wse - ws) // 2)(kv)
    nw = unfolded.shape[-1]
    # 'b (nc ch owh oww) nw -> nc (b nw) (owh oww) ch'
    kvw = unfolded.view(b, 2, c, wse * wse, nw).permute(1, 0, 4, 3, 2).reshape(2, b * nw, wse * wse, c)
    b_ = q.shape[0]
    q = q.reshape(b_, -1, heads, d).permute(0, 2, 1, 3) * d**-0.5
    k = kvw[0].reshape(b_, -1, heads, d).permute(0, 2, 1, 3)
    v = kvw[1].reshape(b_, -1, heads, d).permute(0, 2, 1, 3)
    bias = oca.relative_position_bias_table[rpi.view(-1)].view(ws * ws, wse * wse, -1).permute(2, 0, 1)
    a = (q @ k.transpose(-2, -1) + bias.unsqueeze(0)).softmax(-1)
    out = official_reverse((a @ v).transpose(1, 2).reshape(b_, ws * ws, c).view(-1, ws, ws, c), ws, h, w)
    x = oca.proj(out.reshape(b, h * w, c)) + shortcut
    return x + oca.mlp(oca.norm2(x))


def official_forward(model: HAT, x: torch.Tensor) -> torch.Tensor:
    """HATModel.pre_process (reflect pad) + HAT.forward + crop, on ``model``'s weights."""
    ws, s = model.window_size, model.scale
    h, w = x.shape[-2:]
    x = F.pad(x, (0, (-w) % ws, 0, (-h) % ws), mode="reflect")
    hp, wp = x.shape[-2:]
    oca0 = model.layers[0].residual_group.overlap_attn
    wse = math.isqrt(oca0.relative_position_bias_table.shape[0]) - ws + 1
    rpi_sa, rpi_oca = official_rpi_sa(ws), official_rpi_oca(ws, wse)
    mask = official_mask(hp, wp, ws, ws // 2)
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
    feat = model.conv_first(x - mean)
    b, c = feat.shape[:2]
    t = model.patch_embed.norm(feat.flatten(2).transpose(1, 2))
    for layer in model.layers:
        res = t
        for j, blk in enumerate(layer.residual_group.blocks):
            t = _ref_hab(blk, t, hp, wp, ws, ws // 2 if j % 2 else 0, rpi_sa, mask)
        t = _ref_ocab(layer.residual_group.overlap_attn, t, hp, wp, ws, wse, rpi_oca)
        t = layer.conv(t.transpose(1, 2).reshape(b, c, hp, wp)).flatten(2).transpose(1, 2) + res
    body = model.norm(t).transpose(1, 2).reshape(b, c, hp, wp)
    feat = model.conv_after_body(body) + feat
    if model.upsampler == "pixelshuffle":
        out = model.conv_last(model.upsample(model.conv_before_upsample(feat)))
    else:
        out = model.upsample(feat)
    return (out + mean)[..., : h * s, : w * s].clamp(0, 1)


LITE = {
    "embed_dim": 48,
    "depths": [4, 4, 4, 4],
    "num_heads": [4, 4, 4, 4],
    "window_size": 16,
    "compress_ratio": 3,
    "squeeze_factor": 16,
    "mlp_ratio": 2.0,
    "upsampler": "pixelshuffledirect",
}
# A tiny official-style (pixel-shuffle tail) config: per-group heads, num_feat 16, window 8.
TINY = {
    "embed_dim": 24,
    "depths": [2, 3],
    "num_heads": [2, 3],
    "window_size": 8,
    "compress_ratio": 3,
    "squeeze_factor": 8,
    "mlp_ratio": 2.0,
    "upsampler": "pixelshuffle",
    "num_feat": 16,
}


def _save_official(tmp_path, config: dict, scale: int, seed: int = 0):
    layout = official_layout(upscale=scale, **config)
    state = random_official_state(layout, seed)
    path = tmp_path / "official_hat.pth"
    torch.save({"params_ema": state}, path)
    return path, layout, state


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: one intra-op thread is as fast, and on shared cores it avoids OpenMP
    spin-waiting (measured here: ~9 s vs ~42 s of CPU for this file). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts():
    torch.manual_seed(0)
    with torch.device("meta"):  # shapes only: no time spent on initialising 30M weights
        hat_s, hat = srlib.create_model("hat_s", scale=4), srlib.create_model("hat", scale=4)
    assert _params(hat_s) == 9_621_183 and round(_params(hat_s) / 1e6, 2) == 9.62
    assert _params(hat) == 20_772_507 and round(_params(hat) / 1e6, 2) == 20.77
    lite = {s: _params(srlib.create_model("hat_lite", scale=s)) for s in (2, 3, 4)}
    assert lite == {2: 803_324, 3: 809_819, 4: 818_912}
    assert all(n < 1_000_000 for n in lite.values())
    assert srlib.model_info(hat_s).params == 9_621_183


@pytest.mark.parametrize("name", ["hat_s", "hat"])
def test_official_full_size_layout_loads_strictly(tmp_path, name):
    with torch.device("meta"):
        expected = srlib.create_model(name, scale=4)
    config = {
        k: v
        for k, v in expected.srlib_config.items()
        if k in ("embed_dim", "compress_ratio", "squeeze_factor")
    }
    layout = official_layout(
        depths=[6] * 6, num_heads=[6] * 6, window_size=16, mlp_ratio=2.0, upscale=4, **config
    )
    # our module has exactly the official keys, in the same order, with the same shapes
    assert [(k, tuple(v.shape)) for k, v in expected.state_dict().items()] == list(layout.items())
    state = random_official_state(layout)
    path = tmp_path / f"{name}.pth"
    torch.save({"params_ema": state, "params": state}, path)
    model = srlib.load_model(path)
    assert isinstance(model, HAT) and not model.training and model.scale == 4
    for key in ("embed_dim", "compress_ratio", "squeeze_factor", "window_size", "upsampler"):
        assert model.srlib_config[key] == expected.srlib_config[key], key
    assert list(model.srlib_config["depths"]) == [6] * 6 and list(model.srlib_config["num_heads"]) == [6] * 6
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


# LITE: 12x20 LR pads to 16x32 (1x2 windows of 16); TINY: 20x20 pads to 24x24 (3x3 windows of 8), so the
# shifted attention meets interior, last-row, last-column and corner windows.
@pytest.mark.parametrize(
    ("config", "scale", "size"), [(LITE, 4, (12, 20)), (TINY, 3, (20, 20)), (TINY, 2, (20, 20))]
)
def test_official_layout_detects_loads_and_matches_official_algorithm(tmp_path, config, scale, size):
    path, layout, state = _save_official(tmp_path, config, scale)
    model = srlib.load_model(path)
    cfg = model.srlib_config
    assert model.scale == scale and cfg["upsampler"] == config["upsampler"]
    for key in ("embed_dim", "window_size", "compress_ratio", "squeeze_factor", "mlp_ratio"):
        assert cfg[key] == config[key], key
    assert list(cfg["depths"]) == config["depths"] and list(cfg["num_heads"]) == config["num_heads"]
    assert cfg["overlap_ratio"] == 0.5
    if config["upsampler"] == "pixelshuffle":
        assert cfg["num_feat"] == config["num_feat"]
    assert list(model.state_dict()) == list(layout)

    # the same tensors loaded by plain torch (strict) into a directly built model give identical outputs
    direct = HAT(scale=scale, **config).eval()
    direct.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        assert torch.equal(out, direct(x))
        reference = official_forward(model, x)
    assert out.shape == (1, 3, size[0] * scale, size[1] * scale)
    assert out.std() > 0.01  # not a degenerate constant image
    torch.testing.assert_close(out, reference, atol=2e-5, rtol=0)


def test_index_buffers_and_mask_match_official_formulas():
    model = HAT(scale=2, **{**TINY, "window_size": 8})
    assert torch.equal(model.relative_position_index_SA, official_rpi_sa(8))
    assert torch.equal(model.relative_position_index_OCA, official_rpi_oca(8, 12))
    assert model.relative_position_index_OCA.min() < 0  # the official formula's wrap-around, kept
    for h, w in [(8, 8), (16, 24), (32, 16)]:
        assert torch.equal(shifted_window_mask(h, w, 8, 4, torch.device("cpu")), official_mask(h, w, 8, 4))
    assert torch.equal(hat_mod.relative_position_index_oca(16, 24), official_rpi_oca(16, 24))


@pytest.mark.parametrize(("size", "scale"), [((20, 20), 4), ((17, 23), 3), ((5, 7), 2), ((16, 33), 2)])
def test_any_input_size_gives_exact_output_size(size, scale):
    torch.manual_seed(0)
    model = HAT(scale=scale, **TINY).eval()
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, size[0] * scale, size[1] * scale)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_hat_lite_output_size_and_range():
    torch.manual_seed(0)
    model = srlib.create_model("hat_lite", scale=4).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 13, 10))
    assert y.shape == (1, 3, 52, 40) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_shift_masks_cached_and_reused_for_every_size(monkeypatch):
    torch.manual_seed(0)
    model = HAT(scale=2, **TINY).eval()
    calls = []
    original = hat_mod.shifted_window_mask

    def counting(*args, **kwargs):
        calls.append(args[:2])
        return original(*args, **kwargs)

    monkeypatch.setattr(hat_mod, "shifted_window_mask", counting)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        first = model(x)
        second = model(x)  # repeated size: cache hit
        assert len(calls) == 1
        masks = model.shift_masks(x.device)
        assert masks is model.shift_masks(x.device)
        model(torch.rand(1, 3, 20, 12))  # another size: the patterns are size-independent
    assert len(calls) == 1 and len(model._mask_cache) == 1
    assert torch.equal(first, second)


@pytest.mark.parametrize(("h", "w"), [(8, 8), (16, 8), (8, 24), (24, 32), (40, 16)])
def test_shift_mask_patterns_rebuild_the_official_mask(h, w):
    ws, shift = 8, 4
    patterns = torch.cat([torch.zeros(1, ws * ws, ws * ws), hat_mod.shift_mask_patterns(ws, shift, "cpu")])
    nh, nw = h // ws, w // ws
    rows = (torch.arange(nh) == nh - 1).long()[:, None] * 2
    cols = (torch.arange(nw) == nw - 1).long()[None, :]
    rebuilt = patterns[(rows + cols).flatten()]  # window order row-major, as window_partition
    assert torch.equal(rebuilt, official_mask(h, w, ws, shift))


def test_bf16_autocast_channels_last():
    torch.manual_seed(0)
    model = srlib.create_model("hat_lite", scale=2).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 16, 20).contiguous(memory_format=torch.channels_last)
    seen = {}

    def hook(name):
        def fn(_module, _inputs, output):
            seen[name] = (output.dtype, output.is_contiguous(memory_format=torch.channels_last))

        return fn

    model.conv_first.register_forward_hook(hook("conv_first"))
    model.layers[0].residual_group.blocks[1].conv_block.cab[0].register_forward_hook(hook("cab"))
    model.conv_after_body.register_forward_hook(hook("conv_after_body"))
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(x)
    assert y.shape == (1, 3, 32, 40) and torch.isfinite(y).all()
    assert all(dtype == torch.bfloat16 for dtype, _ in seen.values()), seen
    assert all(cl for _, cl in seen.values()), seen
    assert (y.float() - ref).abs().mean() < 0.02


def test_training_backward_reaches_bias_tables():
    torch.manual_seed(0)
    model = HAT(scale=2, **TINY).train()
    y = model(torch.rand(2, 3, 10, 10))
    y.mean().backward()
    tables = [
        m.relative_position_bias_table for m in model.modules() if hasattr(m, "relative_position_bias_table")
    ]
    assert len(tables) == 2 + 3 + 2
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in tables)
    assert model.conv_first.weight.grad.abs().sum() > 0


def test_filter_drops_masks_and_fills_missing_index_buffers():
    model = HAT(scale=2, **TINY)
    state = {
        k: v.clone() for k, v in model.state_dict().items() if not k.startswith("relative_position_index")
    }
    state["layers.0.residual_group.blocks.1.attn_mask"] = torch.zeros(4, 64, 64)
    filtered = checkpoint_filter_fn(state, model)
    assert "layers.0.residual_group.blocks.1.attn_mask" not in filtered
    assert torch.equal(filtered["relative_position_index_SA"], official_rpi_sa(8))
    srlib.load_weights(HAT(scale=2, **TINY), state)  # strict load through the filter


def test_detector_ignores_other_architectures_and_srlib_round_trip(tmp_path):
    from srlib.models import detect_architecture

    vdsr = srlib.create_model("vdsr", scale=2)
    assert hat_mod._detect(vdsr.state_dict()) is None
    torch.manual_seed(0)
    model = HAT(scale=3, **TINY).eval()
    assert detect_architecture(model.state_dict())[0] == "hat"
    path = srlib.save_model(model, tmp_path / "tiny_hat")
    again = srlib.load_model(path)
    x = torch.rand(1, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_invalid_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="must divide embed_dim"):
        HAT(embed_dim=48, num_heads=5, depths=(1,))
    with pytest.raises(ValueError, match="one per group"):
        HAT(embed_dim=48, num_heads=(4, 4), depths=(1,))
    with pytest.raises(ValueError, match="upsampler"):
        HAT(upsampler="nearest+conv", depths=(1,))
    with pytest.raises(ValueError, match="scales 2\\*\\*n and 3"):
        HAT(scale=5, depths=(1,))
    with pytest.raises(ValueError, match="Valid arguments"):
        srlib.create_model("hat_lite", windowsize=8)
