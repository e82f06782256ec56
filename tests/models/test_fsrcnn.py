"""FSRCNN: paper configuration, yjn870 key layout, Y-channel mode, strict loading and Set5 score."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from srlib.models import create_model, load_model, load_state_dict, load_weights, model_info
from srlib.models.fsrcnn import FSRCNN
from srlib.ops import imresize, rgb_to_ycbcr
from tests.models.conftest import README_BICUBIC, need
from tests.models.conftest import WEIGHTS as SHARED_WEIGHTS

SEED_FILE = SHARED_WEIGHTS / "fsrcnn_x4.safetensors"

README_FSRCNN = 29.88


def _yjn870_layout(num_channels: int, d: int = 56, s: int = 12, m: int = 4) -> dict[str, tuple[int, ...]]:
    """Key -> shape of yjn870/FSRCNN-pytorch's ``FSRCNN`` (first_part / mid_part / last_part)."""
    shapes: dict[str, tuple[int, ...]] = {
        "first_part.0.weight": (d, num_channels, 5, 5),
        "first_part.0.bias": (d,),
        "first_part.1.weight": (d,),
    }
    layers = [(s, d, 1)] + [(s, s, 3)] * m + [(d, s, 1)]
    for i, (out_ch, in_ch, k) in enumerate(layers):
        shapes[f"mid_part.{2 * i}.weight"] = (out_ch, in_ch, k, k)
        shapes[f"mid_part.{2 * i}.bias"] = (out_ch,)
        shapes[f"mid_part.{2 * i + 1}.weight"] = (out_ch,)
    shapes["last_part.weight"] = (d, num_channels, 9, 9)  # ConvTranspose2d: (in, out, k, k)
    shapes["last_part.bias"] = (num_channels,)
    return shapes


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_parameter_count_is_scale_independent(scale: int) -> None:
    assert model_info(create_model("fsrcnn", scale=scale)).params == 12_809
    assert model_info(create_model("fsrcnn", scale=scale, in_chans=3)).params == 24_683


@pytest.mark.parametrize("in_chans", [1, 3])
def test_key_layout_is_yjn870(in_chans: int) -> None:
    own = {k: tuple(v.shape) for k, v in FSRCNN(in_chans=in_chans).state_dict().items()}
    assert own == _yjn870_layout(in_chans)


@pytest.mark.parametrize(("scale", "in_chans"), [(2, 1), (3, 3), (4, 1)])
def test_shapes_and_range(scale: int, in_chans: int) -> None:
    torch.manual_seed(0)
    net = create_model("fsrcnn", scale=scale, in_chans=in_chans).eval()
    assert isinstance(net.last_part, nn.ConvTranspose2d) and net.last_part.stride == (scale, scale)
    out = net(torch.rand(2, 3, 7, 9))
    assert out.shape == (2, 3, 7 * scale, 9 * scale)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_y_mode_takes_chroma_from_bicubic() -> None:
    torch.manual_seed(0)
    net = FSRCNN(scale=3).train()  # train mode: no clamp, so the colour maths is exact
    x = 0.25 + 0.5 * torch.rand(1, 3, 10, 10)
    out = net(x)
    torch.testing.assert_close(rgb_to_ycbcr(out)[:, 1:], rgb_to_ycbcr(imresize(x, 3.0))[:, 1:])
    torch.testing.assert_close(rgb_to_ycbcr(out)[:, :1], net.features(rgb_to_ycbcr(x)[:, :1]))


def test_bad_arguments_fail_clearly() -> None:
    with pytest.raises(ValueError, match="in_chans"):
        create_model("fsrcnn", in_chans=2)
    with pytest.raises(ValueError, match="unknown argument"):
        create_model("fsrcnn", num_channels=1)


def test_seed_file_loads_strictly_by_detection() -> None:
    net = load_model(need(SEED_FILE))
    assert isinstance(net, FSRCNN) and net.srlib_arch == "fsrcnn"
    assert (net.scale, net.in_chans) == (4, 1)
    file_state = load_state_dict(SEED_FILE)
    own = net.state_dict()
    assert set(own) == set(file_state)
    assert all(torch.equal(own[k], file_state[k]) for k in own)


def test_seed_file_loads_into_created_model() -> None:
    net = load_weights(create_model("fsrcnn", scale=4), need(SEED_FILE))
    assert torch.equal(net.last_part.bias, load_state_dict(SEED_FILE)["last_part.bias"])


def test_upstream_layout_round_trip(tmp_path: Path) -> None:
    """A random state dict in yjn870's layout (RGB, other widths) loads back into an equal model."""
    gen = torch.Generator().manual_seed(0)
    shapes = _yjn870_layout(3, d=32, s=8, m=2)
    state = {k: torch.randn(shape, generator=gen) * 0.1 for k, shape in shapes.items()}
    path = tmp_path / "fsrcnn_x3.pth"
    torch.save(state, path)
    net = load_model(path, scale=3)
    assert (net.scale, net.in_chans, net.srlib_config["d"], net.srlib_config["s"], net.srlib_config["m"]) == (
        3,
        3,
        32,
        8,
        2,
    )
    own = net.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in state)
    assert net(torch.rand(1, 3, 5, 5)).shape == (1, 3, 15, 15)


def test_seed_file_beats_bicubic_on_set5(set5_subset: Path) -> None:
    from srlib.evaluation import evaluate_folder

    bicubic = evaluate_folder(create_model("bicubic", scale=4), set5_subset, 4).psnr
    # bf16 autocast is faster than fp32 here (the transposed conv) and within 0.02 dB of it.
    score = evaluate_folder(load_model(need(SEED_FILE)), set5_subset, 4, dtype="auto").psnr
    assert bicubic == pytest.approx(README_BICUBIC, abs=0.05)
    assert score > bicubic + 1.5
    assert score == pytest.approx(README_FSRCNN, abs=0.1)
