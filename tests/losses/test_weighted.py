from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from srlib.losses import (
    CharbonnierLoss,
    L1Loss,
    VGGPerceptualLoss,
    WeightedLoss,
    create_loss,
    list_losses,
)


def test_list_and_create() -> None:
    assert list_losses() == ["charbonnier", "l1", "lpips", "mse", "perceptual"]
    assert isinstance(create_loss("l1"), L1Loss)
    assert create_loss("charbonnier", eps=0.1).eps == 0.1
    loss = create_loss("perceptual", layer_weights={"conv1_1": 1.0}, backbone_weights="random")
    assert isinstance(loss, VGGPerceptualLoss)


def test_create_errors() -> None:
    pattern = r"Unknown loss 'charbonier'\. Did you mean 'charbonnier'\?.*'perceptual'"
    with pytest.raises(ValueError, match=pattern):
        create_loss("charbonier")
    pattern = r"unknown argument\(s\) \['epsilon'\]\. Valid arguments: \['eps'\]\. Did you mean 'eps'\?"
    with pytest.raises(ValueError, match=pattern):
        create_loss("charbonnier", epsilon=1e-3)
    with pytest.raises(ValueError, match="Valid arguments: none"):
        create_loss("l1", eps=1.0)
    with pytest.raises(ValueError, match=r"needs the argument.*layer_weights"):
        create_loss("perceptual", backbone_weights="random")


def test_total_and_terms() -> None:
    loss = WeightedLoss({"pixel": {"name": "l1", "weight": 1.0}, "mse": {"weight": 0.5}})
    sr = torch.rand(2, 3, 8, 8, requires_grad=True)
    hr = torch.rand(2, 3, 8, 8)
    total = loss(sr, hr)
    expected = F.l1_loss(sr, hr) + 0.5 * F.mse_loss(sr, hr)
    torch.testing.assert_close(total, expected)
    assert set(loss.last_terms) == {"pixel", "mse"}
    torch.testing.assert_close(loss.last_terms["pixel"], F.l1_loss(sr, hr).detach())
    torch.testing.assert_close(loss.last_terms["mse"], 0.5 * F.mse_loss(sr, hr).detach())
    assert all(not v.requires_grad for v in loss.last_terms.values())
    torch.testing.assert_close(sum(loss.last_terms.values()), total.detach())
    total.backward()
    assert sr.grad is not None


def test_forward_terms_keeps_graph() -> None:
    loss = WeightedLoss({"c": {"name": "charbonnier", "weight": 2.0, "eps": 0.5}})
    sr, hr = torch.zeros(1, 3, 4, 4, requires_grad=True), torch.zeros(1, 3, 4, 4)
    terms = loss.forward_terms(sr, hr)
    assert terms["c"].requires_grad
    assert float(terms["c"].detach()) == pytest.approx(1.0)
    assert isinstance(loss.losses["c"], CharbonnierLoss)


def test_zero_weight_terms_are_not_built(hub_dir: Path) -> None:
    # The perceptual term would need the (absent) ImageNet file; with weight 0 it is never built.
    loss = WeightedLoss(
        {
            "pixel": {"name": "l1", "weight": 1.0},
            "perceptual": {"name": "perceptual", "weight": 0, "layer_weights": {"conv5_4": 1.0}},
        }
    )
    assert list(loss.losses) == ["pixel"]
    loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    assert list(loss.last_terms) == ["pixel"]
    with pytest.raises(FileNotFoundError, match=r"vgg19-dcbb9e9d\.pth"):
        WeightedLoss({"perceptual": {"weight": 1.0, "layer_weights": {"conv5_4": 1.0}}})


def test_perceptual_term_is_frozen() -> None:
    loss = WeightedLoss(
        {
            "pixel": {"name": "l1", "weight": 1.0},
            "perceptual": {
                "name": "perceptual",
                "weight": 1.0,
                "layer_weights": {"conv2_2": 1.0},
                "backbone_weights": "random",
            },
        }
    )
    loss.train()
    assert not loss.losses["perceptual"].features.training
    assert [p for p in loss.parameters() if p.requires_grad] == []
    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss(sr, torch.rand(1, 3, 16, 16)).backward()
    assert sr.grad.abs().sum() > 0
    assert set(loss.last_terms) == {"pixel", "perceptual"}


def test_accepts_omegaconf_terms() -> None:
    terms = OmegaConf.create(
        {"p": {"name": "perceptual", "layer_weights": {"conv1_1": 1.0}, "backbone_weights": "random"}}
    )
    loss = WeightedLoss(terms)
    assert loss.losses["p"].layers == [("conv1_1", 0, 1.0)]
    assert loss.weights == {"p": 1.0}


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({}, "non-empty mapping"),
        ({"pixel": {"weight": 1.0}}, r"'pixel' has no 'name'.*Add 'name'"),
        ({"mes": {"weight": 1.0}}, r"Did you mean 'mse'\?"),
        ({"pixel": {"name": "charbonier"}}, r"Loss term 'pixel': Unknown loss 'charbonier'\. Did you mean"),
        ({"pixel": {"name": "charbonnier", "epsilon": 1.0}}, r"Did you mean 'eps'\?"),
        ({"pixel": {"name": "l1", "weight": -1.0}}, ">= 0"),
        ({"pixel": {"name": "l1", "weight": "one"}}, "finite number"),
        ({"pixel": {"name": "l1", "weight": 0.0}}, "Every term of WeightedLoss has weight 0"),
        ({"a.b": {"name": "l1"}}, "without '.'"),
        ({"pixel": "l1"}, "must be a mapping"),
    ],
)
def test_errors(terms: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeightedLoss(terms)
