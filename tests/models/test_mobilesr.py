"""MobileSR: published architecture, parameter count, strict loading and Set5 behaviour of the seed file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import srlib
from srlib.models import create_model, load_model, load_weights, model_info
from srlib.models.mobilesr import MobileSR
from tests.models.conftest import README_BICUBIC, need
from tests.models.conftest import WEIGHTS as SHARED_WEIGHTS

SEED_FILE = SHARED_WEIGHTS / "mobile_sr.safetensors"

README_MOBILESR = 26.41


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_x4_matches_published() -> None:
    net = create_model("mobilesr")
    assert _params(net) == 121_222
    assert model_info(net).params == 121_222
    assert net.scale == 4


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_and_range(scale: int) -> None:
    torch.manual_seed(0)
    net = create_model("mobilesr", scale=scale).eval()
    out = net(torch.rand(2, 3, 9, 7))
    assert out.shape == (2, 3, 9 * scale, 7 * scale)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # x2/x3 keep the layers and drop only the second (parameter-free + conv + PReLU) stage.
    assert ("upsample2.1.weight" in net.state_dict()) == (scale == 4)


def test_layer_structure_is_the_fast_srgan_one() -> None:
    net = MobileSR()
    block = net.residual_blocks[0]
    assert len(net.residual_blocks) == 6
    assert (block.conv1.in_channels, block.conv1.out_channels, block.conv1.kernel_size) == (32, 192, (1, 1))
    assert block.conv2.groups == 192 and block.conv2.kernel_size == (3, 3)
    assert (block.conv3.in_channels, block.conv3.out_channels) == (192, 32)
    up = net.upsample1[0]
    assert isinstance(up, nn.Upsample) and up.mode == "bilinear" and up.align_corners is True
    assert net.prelu1.weight.numel() == 1


def test_bad_arguments_fail_clearly() -> None:
    with pytest.raises(ValueError, match="scale"):
        create_model("mobilesr", scale=8)
    with pytest.raises(ValueError, match="unknown argument"):
        create_model("mobilesr", width=3)


def test_published_weights_load_strictly_by_detection() -> None:
    net = load_model(need(SEED_FILE))
    assert isinstance(net, MobileSR) and not net.training
    assert net.srlib_arch == "mobilesr" and net.scale == 4
    file_state = srlib.models.load_state_dict(SEED_FILE)
    own = net.state_dict()
    assert set(own) == set(file_state)
    assert all(torch.equal(own[k], file_state[k]) for k in own)


def test_published_weights_load_into_created_model() -> None:
    net = load_weights(create_model("mobilesr"), need(SEED_FILE))
    assert net.prelu1.weight.item() == pytest.approx(0.842, abs=1e-3)  # README: prelu1 slope 0.842


def test_upstream_layout_round_trip(tmp_path: Path) -> None:
    """A state dict saved by the original code (same key names, .pt) loads back into an equal model."""
    torch.manual_seed(0)
    src = MobileSR().eval()
    for m in src.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial running statistics
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "generator.pt"
    torch.save(src.state_dict(), path)
    back = load_model(path)
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(back(x), src(x))
    saved = srlib.save_model(back, tmp_path / "ours")
    torch.testing.assert_close(load_model(saved)(x), src(x))


def test_one_stage_file_is_detected_as_x2(tmp_path: Path) -> None:
    path = tmp_path / "x2.pth"
    torch.save(MobileSR(scale=2).state_dict(), path)
    net = load_model(path)
    assert net.scale == 2
    assert load_model(path, scale=3).scale == 3  # bilinear stages have no weights: x3 is an override


def test_published_weights_near_readme_figure(set5_subset: Path, bicubic_psnr: float) -> None:
    """MobileSR's published weights are below bicubic in PSNR (see the weights README), so instead of
    "beats bicubic" check that the figure matches the README's independent re-implementation."""
    from srlib.evaluation import evaluate_folder

    score = evaluate_folder(load_model(need(SEED_FILE)), set5_subset, 4).psnr
    assert bicubic_psnr == pytest.approx(README_BICUBIC, abs=0.05)
    assert score == pytest.approx(README_MOBILESR, abs=0.1)
    assert bicubic_psnr - 1.5 < score < bicubic_psnr


def test_wrong_input_range_is_far_worse(one_image: Path) -> None:
    """Feeding [-1, 1] where the published network reads [0, 1] collapses the score."""
    from srlib.evaluation import evaluate_folder

    net = load_model(need(SEED_FILE))

    class WrongRange(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.scale = inner, inner.scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x * 2.0 - 1.0)

    right = evaluate_folder(net, one_image, 4).psnr
    wrong = evaluate_folder(WrongRange(net), one_image, 4).psnr
    assert right > 25.0
    assert wrong < right - 10.0
