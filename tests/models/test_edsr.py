"""EDSR baseline: paper parameter counts, EDSR-PyTorch key layout, mean shift and foreign round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import srlib
from srlib.models import create_model, detect_architecture, load_model, load_weights, model_info
from srlib.models.edsr import DIV2K_RGB_MEAN, EDSR


def _edsr_pytorch_layout(scale: int, n_feats: int = 64, n_resblocks: int = 16) -> dict[str, tuple[int, ...]]:
    """Key -> shape of sanghyun-son/EDSR-PyTorch ``src/model/edsr.py`` (MeanShift convs included)."""
    conv = (n_feats, n_feats, 3, 3)
    shapes: dict[str, tuple[int, ...]] = {
        "sub_mean.weight": (3, 3, 1, 1),
        "sub_mean.bias": (3,),
        "add_mean.weight": (3, 3, 1, 1),
        "add_mean.bias": (3,),
        "head.0.weight": (n_feats, 3, 3, 3),
        "head.0.bias": (n_feats,),
    }
    for i in range(n_resblocks):
        for j in (0, 2):  # ResBlock body: conv, ReLU, conv
            shapes[f"body.{i}.body.{j}.weight"] = conv
            shapes[f"body.{i}.body.{j}.bias"] = (n_feats,)
    shapes[f"body.{n_resblocks}.weight"] = conv
    shapes[f"body.{n_resblocks}.bias"] = (n_feats,)
    # Upsampler: (conv 4C, shuffle) per factor 2, or (conv 9C, shuffle 3).
    stages = {2: [(0, 4)], 3: [(0, 9)], 4: [(0, 4), (2, 4)]}[scale]
    for index, mult in stages:
        shapes[f"tail.0.{index}.weight"] = (mult * n_feats, n_feats, 3, 3)
        shapes[f"tail.0.{index}.bias"] = (mult * n_feats,)
    shapes["tail.1.weight"] = (3, n_feats, 3, 3)
    shapes["tail.1.bias"] = (3,)
    return shapes


@pytest.mark.parametrize(("scale", "expected"), [(2, 1_369_859), (3, 1_554_499), (4, 1_517_571)])
def test_parameter_counts_match_paper_baseline(scale: int, expected: int) -> None:
    net = create_model("edsr_baseline", scale=scale)
    assert model_info(net).params == expected
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == expected


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_key_layout_is_edsr_pytorch(scale: int) -> None:
    own = {k: tuple(v.shape) for k, v in EDSR(scale=scale).state_dict().items()}
    assert own == _edsr_pytorch_layout(scale)


def test_mean_shift_buffers_hold_the_div2k_mean() -> None:
    state = EDSR(scale=2).state_dict()
    mean = torch.tensor(DIV2K_RGB_MEAN)
    assert DIV2K_RGB_MEAN == (0.4488, 0.4371, 0.4040)
    torch.testing.assert_close(state["sub_mean.weight"], torch.eye(3).view(3, 3, 1, 1))
    torch.testing.assert_close(state["sub_mean.bias"], -255.0 * mean)
    torch.testing.assert_close(state["add_mean.bias"], 255.0 * mean)


def test_zero_residual_network_outputs_the_mean_colour() -> None:
    """With the last conv zeroed, the output is exactly add_mean: the DIV2K mean colour everywhere."""
    net = EDSR(scale=2).eval()
    with torch.no_grad():
        net.tail[1].weight.zero_()
        net.tail[1].bias.zero_()
    out = net(torch.rand(1, 3, 6, 6))
    torch.testing.assert_close(out, torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1).expand(1, 3, 12, 12))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_and_range(scale: int) -> None:
    torch.manual_seed(0)
    net = create_model("edsr_baseline", scale=scale).eval()
    out = net(torch.rand(1, 3, 7, 5))
    assert out.shape == (1, 3, 7 * scale, 5 * scale)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_bad_arguments_fail_clearly() -> None:
    with pytest.raises(ValueError, match="scale"):
        create_model("edsr_baseline", scale=8)
    with pytest.raises(ValueError, match="unknown argument"):
        create_model("edsr_baseline", n_resblocks=16)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_pytorch_checkpoint_round_trip(tmp_path: Path, scale: int) -> None:
    """A random state dict in EDSR-PyTorch's layout (plain .pt) is detected and loads into an equal model."""
    gen = torch.Generator().manual_seed(scale)
    layout = _edsr_pytorch_layout(scale)
    state = {k: torch.randn(shape, generator=gen) * 0.02 for k, shape in layout.items()}
    mean = torch.tensor(DIV2K_RGB_MEAN)
    state["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    state["add_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    state["sub_mean.bias"], state["add_mean.bias"] = -255.0 * mean, 255.0 * mean
    path = tmp_path / f"edsr_baseline_x{scale}.pt"
    torch.save(state, path)
    net = load_model(path)
    assert net.srlib_arch == "edsr_baseline" and net.scale == scale
    assert net.srlib_config["rgb_range"] == pytest.approx(255.0)
    own = net.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in state)
    # And back: our file has the same keys, so it loads into the upstream layout unchanged.
    saved = srlib.save_model(net, tmp_path / "ours")
    assert set(srlib.models.load_state_dict(saved)) == set(layout)


def test_basicsr_checkpoint_round_trip(tmp_path: Path) -> None:
    """BasicSR's EDSR names (conv_first, body.N.conv1/2, conv_after_body, upsample.K, conv_last;
    mean kept outside the state dict, weights under ``params``) map onto the same network."""
    torch.manual_seed(0)
    src = EDSR(scale=4, num_blocks=3).eval()
    renamed = {}
    for key, value in src.state_dict().items():
        if key.startswith(("sub_mean", "add_mean")):
            continue
        parts = key.split(".")
        if parts[0] == "head":
            new = f"conv_first.{parts[-1]}"
        elif parts[0] == "body" and parts[1] == "3":
            new = f"conv_after_body.{parts[-1]}"
        elif parts[0] == "body":
            new = f"body.{parts[1]}.conv{1 if parts[3] == '0' else 2}.{parts[-1]}"
        elif parts[:2] == ["tail", "0"]:
            new = f"upsample.{parts[2]}.{parts[-1]}"
        else:
            new = f"conv_last.{parts[-1]}"
        renamed[new] = value.clone()
    path = tmp_path / "EDSR_Mx4_basicsr.pth"
    torch.save({"params": renamed}, path)
    name, kwargs = detect_architecture(renamed)
    assert name == "edsr_baseline" and (kwargs["scale"], kwargs["num_blocks"]) == (4, 3)
    back = load_model(path)
    x = torch.rand(1, 3, 6, 6)
    torch.testing.assert_close(back(x), src(x))
    # load_weights maps the same names into a model built by hand.
    built = load_weights(create_model("edsr_baseline", scale=4, num_blocks=3), renamed).eval()
    torch.testing.assert_close(built(x), src(x))


def test_full_edsr_width_gets_residual_scaling() -> None:
    state = EDSR(scale=2, num_feat=256, num_blocks=1).state_dict()
    name, kwargs = detect_architecture(state)
    assert name == "edsr_baseline"
    assert (kwargs["num_feat"], kwargs["num_blocks"], kwargs["res_scale"]) == (256, 1, 0.1)
