import math

import pytest
import torch

import srlib
from srlib.evaluation import evaluate_folder
from srlib.models import VDSR
from srlib.models.vdsr import checkpoint_filter_fn
from tests.conftest import shared_path


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("depth", "expected"), [(12, 443_520), (18, 664_704), (24, 885_888), (30, 1_107_072)]
)
def test_depth_ablation_parameter_counts(depth: int, expected: int) -> None:
    assert _params(srlib.create_model("vdsr", depth=depth)) == expected


def test_bn_adds_128_params_per_layer_and_block_residual_none() -> None:
    base = _params(srlib.create_model("vdsr"))
    assert _params(srlib.create_model("vdsr", norm="bn")) == base + 128 * 18
    assert _params(srlib.create_model("vdsr", block_residual=True)) == base


def test_reference_structure() -> None:
    net = srlib.create_model("vdsr")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20 and all(c.bias is None for c in convs)
    assert convs[0].in_channels == 1 and convs[-1].out_channels == 1
    rgb = srlib.create_model("vdsr", in_chans=3)
    assert _params(rgb) == 664_704 + 2 * 64 * 9 * 2


def test_block_residual_changes_the_function() -> None:
    torch.manual_seed(0)
    a = VDSR(depth=3).eval()
    b = VDSR(depth=3, block_residual=True).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 8, 8)
    assert not torch.allclose(a(x), b(x))


def test_zero_residual_is_bicubic() -> None:
    net = VDSR(scale=2, depth=2, in_chans=3).eval()
    torch.nn.init.zeros_(net.tail.weight)
    x = torch.rand(1, 3, 10, 10)
    assert torch.allclose(net(x), srlib.create_model("bicubic", scale=2)(x), atol=1e-6)


def test_filter_maps_reference_keys() -> None:
    mapped = checkpoint_filter_fn(
        {"input.weight": 1, "residual_layer.7.conv.weight": 2, "output.weight": 3}  # type: ignore[dict-item]
    )
    assert mapped == {"head.weight": 1, "body.7.conv.weight": 2, "tail.weight": 3}


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="in_chans"):
        VDSR(in_chans=2)
    with pytest.raises(ValueError, match="norm"):
        VDSR(norm="gn")


def test_reference_weights_load_strictly_both_ways() -> None:
    path = shared_path("weights", "vdsr_model_epoch_50.safetensors")
    detected = srlib.load_model(path, scale=3)
    assert detected.srlib_config["depth"] == 18 and detected.in_chans == 1 and detected.scale == 3
    explicit = srlib.load_weights(srlib.create_model("vdsr", scale=3), path)
    for k, v in detected.state_dict().items():
        assert torch.equal(v, explicit.state_dict()[k])


# The VDSR paper's Set5 table (Kim et al. 2016, Table 3): 37.53 / 33.66 / 31.35 dB.
@pytest.mark.parametrize(("scale", "paper"), [(2, 37.53), (3, 33.66), (4, 31.35)])
def test_reference_weights_reproduce_paper_set5(scale: int, paper: float, set5) -> None:
    net = srlib.load_model(shared_path("weights", "vdsr_model_epoch_50.safetensors"), scale=scale)
    result = evaluate_folder(net, set5, scale)
    assert abs(result.psnr - paper) < 0.1, f"x{scale}: measured {result.psnr:.3f} dB, paper {paper}"


def _first_losses(net: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, steps: int = 3) -> list[float]:
    """MSE of the first ``steps`` Adam steps (lr 1e-4, as the VDSR recipes) on one batch."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    losses = []
    net.train()
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(net(lr), hr)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("depth", [12, 18, 24, 30])
def test_every_ablation_variant_starts_at_the_plain_networks_loss(depth: int) -> None:
    """He-initialised residual units without scaling started at MSE ~20 (plain VDSR: ~1e-3); every
    variant now starts within 10x of the plain network and its losses stay finite."""
    from skimage import data

    image = torch.from_numpy(data.astronaut()[100:196, 150:246].copy()).permute(2, 0, 1).float() / 255
    hr = torch.stack([image[:, i : i + 32, j : j + 32] for i in (0, 48) for j in (0, 48)])
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    losses = {}
    for norm, residual in ((None, False), ("bn", False), ("bn", True), (None, True)):
        torch.manual_seed(0)
        net = VDSR(scale=2, depth=depth, norm=norm, block_residual=residual)
        losses[(norm, residual)] = _first_losses(net, lr, hr)
    plain = max(losses[(None, False)])
    for variant, values in losses.items():
        assert all(math.isfinite(v) for v in values), (variant, values)
        assert max(values) < 10 * plain, (variant, values, plain)


def test_the_plain_network_keeps_the_reference_init() -> None:
    torch.manual_seed(0)
    net = VDSR(depth=18)
    assert float(net.tail.weight.std()) == pytest.approx((2 / 9) ** 0.5, rel=0.15)  # He, fan-out 9
    torch.manual_seed(0)
    bn = VDSR(depth=18, norm="bn", block_residual=True)
    assert float(bn.tail.weight.abs().max()) == 0.0  # the variants start as bicubic
    assert float(bn.body[0].norm.weight[0]) == pytest.approx(18**-0.5)
