"""MiniSRResNet / MiniSRGAN / TinySRGAN: counts, shared PReLU, strict loading and Set5 behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import srlib
from srlib.models import create_model, load_model, load_state_dict, load_weights, model_info
from srlib.models.srresnet import MiniSRResNet, prelu_keys
from tests.models.conftest import README_BICUBIC, WEIGHTS, need

# file, expected detected name, README Set5 x4 Y-PSNR (4 images, crop 4), number of aliased PReLU keys
SEED_FILES = [
    ("miniSRResNET.safetensors", "minisrresnet", 31.25, 11),
    ("miniSRGAN.safetensors", "minisrresnet", 29.72, 11),
    ("tinySRGAN.safetensors", "tinysrgan", 29.90, 9),
]


@pytest.mark.parametrize(
    ("name", "shared", "expected"),
    [
        ("minisrresnet", False, 942_734),
        ("minisrresnet", True, 942_724),
        ("minisrgan", False, 942_734),
        ("minisrgan", True, 942_724),
        ("tinysrgan", False, 203_724),
        ("tinysrgan", True, 203_716),
    ],
)
def test_parameter_counts(name: str, shared: bool, expected: int) -> None:
    net = create_model(name, shared_prelu=shared)
    assert model_info(net).params == expected


def test_default_is_per_layer_prelu() -> None:
    net = create_model("minisrgan")
    assert net.shared_prelu is False
    slopes = [m for m in net.modules() if isinstance(m, nn.PReLU)]
    assert len(slopes) == 11 and len({id(m) for m in slopes}) == 11


def test_shared_prelu_aliases_one_parameter() -> None:
    net = create_model("tinysrgan", shared_prelu=True)
    state = net.state_dict(keep_vars=True)
    keys = prelu_keys(state)
    assert len(keys) == 9
    assert len({state[k].data_ptr() for k in keys}) == 1


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_and_range(scale: int) -> None:
    torch.manual_seed(0)
    net = create_model("tinysrgan", scale=scale).eval()
    out = net(torch.rand(2, 3, 7, 9))
    assert out.shape == (2, 3, 7 * scale, 9 * scale)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_bad_arguments_fail_clearly() -> None:
    with pytest.raises(ValueError, match="scale"):
        create_model("minisrgan", scale=8)
    with pytest.raises(ValueError, match="unknown argument"):
        create_model("minisrgan", n_feats=64)


@pytest.mark.parametrize(("filename", "arch", "readme_psnr", "aliases"), SEED_FILES)
def test_seed_file_loads_strictly_by_detection(
    filename: str, arch: str, readme_psnr: float, aliases: int
) -> None:
    path = need(WEIGHTS / filename)
    net = load_model(path)
    assert isinstance(net, MiniSRResNet) and not net.training
    assert net.srlib_arch == arch and net.shared_prelu is True and net.scale == 4
    file_state = load_state_dict(path)
    own = net.state_dict()
    assert set(own) == set(file_state)
    assert all(torch.equal(own[k], file_state[k]) for k in own)
    assert len(prelu_keys(file_state)) == aliases


@pytest.mark.parametrize("name", ["minisrresnet", "minisrgan"])
def test_seed_files_load_into_created_models(name: str) -> None:
    path = need(WEIGHTS / "miniSRGAN.safetensors")
    shared = load_weights(create_model(name, shared_prelu=True), path).eval()
    per_layer = load_weights(create_model(name), path).eval()  # same keys; the clones fill each PReLU
    x = torch.rand(1, 3, 12, 12)
    torch.testing.assert_close(per_layer(x), shared(x))
    # README: MiniSRGAN's shared slope is -0.0091.
    assert shared.conv01.body[1].weight.item() == pytest.approx(-0.0091, abs=1e-4)


def test_differing_slopes_refuse_the_shared_form(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = create_model("tinysrgan")
    with torch.no_grad():
        for i, m in enumerate(m for m in src.modules() if isinstance(m, nn.PReLU)):
            m.weight.fill_(0.05 * i)
    with pytest.raises(ValueError, match="shared_prelu=False"):
        load_weights(create_model("tinysrgan", shared_prelu=True), src.state_dict())
    # Saved in the upstream layout (.pth), detection picks the per-layer form and reproduces it.
    path = tmp_path / "per_layer.pth"
    torch.save(src.state_dict(), path)
    back = load_model(path)
    assert back.shared_prelu is False
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(back(x), src.eval()(x))


def test_upstream_layout_round_trip_shared(tmp_path: Path) -> None:
    """The published layout (11 aliased keys) saved from our shared model loads back into an equal one."""
    torch.manual_seed(1)
    src = create_model("minisrgan", scale=2, shared_prelu=True).eval()
    with torch.no_grad():
        src.conv01.body[1].weight.fill_(0.3)
    path = tmp_path / "latest_trained_model.pt"
    torch.save({k: v.clone() for k, v in src.state_dict().items()}, path)
    back = load_model(path)
    assert (back.scale, back.shared_prelu) == (2, True)
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(back(x), src(x))
    saved = srlib.save_model(back, tmp_path / "ours")
    again = load_model(saved)
    assert again.shared_prelu is True and model_info(again).params == model_info(src).params
    torch.testing.assert_close(again(x), src(x))


@pytest.mark.parametrize(("filename", "arch", "readme_psnr", "aliases"), SEED_FILES)
def test_seed_file_beats_bicubic_on_set5(
    set5_subset: Path, bicubic_psnr: float, filename: str, arch: str, readme_psnr: float, aliases: int
) -> None:
    from srlib.evaluation import evaluate_folder

    net = load_model(need(WEIGHTS / filename))
    # bf16 autocast (AMX) is ~2.5x faster than fp32 here and within 0.01 dB of it on these files.
    score = evaluate_folder(net, set5_subset, 4, dtype="auto").psnr
    assert bicubic_psnr == pytest.approx(README_BICUBIC, abs=0.05)
    assert score > bicubic_psnr + 1.5
    assert score == pytest.approx(readme_psnr, abs=0.1)


def test_input_range_matters(one_image: Path) -> None:
    """Feeding the network [0, 1] where the original reads [-1, 1] collapses the score."""
    from srlib.evaluation import evaluate_folder

    net = load_model(need(WEIGHTS / "tinySRGAN.safetensors"))

    class WrongRange(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.scale = inner, inner.scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner((x + 1.0) * 0.5)  # the inner network then sees x in [0, 1]

    right = evaluate_folder(net, one_image, 4, dtype="auto").psnr
    wrong = evaluate_folder(WrongRange(net), one_image, 4, dtype="auto").psnr
    assert right > 30.0
    assert wrong < right - 10.0
