from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import squeezenet1_1

from srlib.losses import LPIPSLoss

FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


@pytest.fixture(scope="module")
def squeeze_random() -> LPIPSLoss:
    return LPIPSLoss("squeeze", backbone_weights="random")


def test_identical_zero_different_positive(squeeze_random: LPIPSLoss) -> None:
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert float(squeeze_random(x, x)) == pytest.approx(0.0, abs=1e-6)
    value = squeeze_random(x, y)
    assert value.shape == () and float(value) > 0


def test_alex_random_and_gradient(srlib_log) -> None:
    loss = LPIPSLoss("alex", backbone_weights="random")
    assert any("meaningless" in r.getMessage() for r in srlib_log.records if r.levelno == logging.WARNING)
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    hr = torch.rand(1, 3, 32, 32)
    value = loss(sr, hr)
    assert float(value.detach()) > 0
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert float(loss(hr, hr)) == pytest.approx(0.0, abs=1e-6)


def test_frozen_and_eval(squeeze_random: LPIPSLoss) -> None:
    parent = nn.ModuleDict({"net": nn.Conv2d(3, 3, 3), "loss": squeeze_random})
    parent.train()
    assert parent["net"].training
    assert all(not m.training for m in squeeze_random.lpips.modules())
    assert [p for p in squeeze_random.parameters() if p.requires_grad] == []


def test_float32_under_autocast(squeeze_random: LPIPSLoss) -> None:
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = squeeze_random(x, y)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, squeeze_random(x, y))


@pytest.mark.parametrize("net", sorted(FILES))
def test_missing_cache_error_before_building(net: str, hub_dir: Path, no_network: None) -> None:
    with pytest.raises(FileNotFoundError) as info:
        LPIPSLoss(net)
    message = str(info.value)
    assert str(hub_dir / FILES[net]) in message
    assert f"https://download.pytorch.org/models/{FILES[net]}" in message
    assert "backbone_weights=" in message


def test_imagenet_reads_the_hub_cache(hub_dir: Path, no_network: None, srlib_log) -> None:
    reference = squeezenet1_1()  # random weights standing in for the ImageNet file
    hub_dir.mkdir(parents=True)
    torch.save(reference.state_dict(), hub_dir / FILES["squeeze"])
    loss = LPIPSLoss("squeeze")
    tv = reference.state_dict()
    for key, value in loss.lpips.net.state_dict().items():  # "sliceK.<index>.<rest>"
        torch.testing.assert_close(value, tv["features." + key.split(".", 1)[1]])
    assert not any(r.levelno >= logging.WARNING for r in srlib_log.records)
    x = torch.rand(1, 3, 32, 32)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)


def test_user_path(tmp_path: Path) -> None:
    reference = squeezenet1_1()
    path = tmp_path / "squeeze_features.pth"
    torch.save(reference.features.state_dict(), path)  # keys without the "features." prefix
    loss = LPIPSLoss("squeeze", backbone_weights=path)
    torch.testing.assert_close(loss.lpips.net.slice1[0].weight, reference.features[0].weight)
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        LPIPSLoss("squeeze", backbone_weights=tmp_path / "missing.pth")


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown LPIPS net 'alexnet'\. Did you mean 'alex'\?"):
        LPIPSLoss("alexnet", backbone_weights="random")
    with pytest.raises(ValueError, match="Did you mean 'random'"):
        LPIPSLoss("squeeze", backbone_weights="randm")
