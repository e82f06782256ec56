"""The Hydra loss recipes build the losses they describe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from srlib.losses import WeightedLoss

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "loss"
NAMES = ["l1", "mse", "charbonnier", "l1_perceptual", "mse_vgg54", "lpips"]


def load(name: str, *, offline: bool = True):
    cfg = OmegaConf.load(RECIPES / f"{name}.yaml")
    for term in cfg.terms.values():
        if offline and "backbone_weights" in term:
            term.backbone_weights = "random"
        if offline and term.get("name") == "lpips":
            term.net = "squeeze"  # same code path as the recipe's vgg, without building VGG16's classifier
    return cfg


def test_every_recipe_is_tested() -> None:
    assert sorted(p.stem for p in RECIPES.glob("*.yaml")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_recipe_builds_and_runs(name: str) -> None:
    loss = instantiate(load(name))
    assert isinstance(loss, WeightedLoss)
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    total = loss(sr, torch.rand(1, 3, 32, 32))
    assert total.shape == () and torch.isfinite(total)
    total.backward()
    assert sr.grad is not None
    assert [p for p in loss.parameters() if p.requires_grad] == []


def test_perceptual_recipes_match_the_papers() -> None:
    real_esrgan = instantiate(load("l1_perceptual"))
    assert real_esrgan.weights == {"pixel": 1.0, "perceptual": 1.0}
    vgg = real_esrgan.losses["perceptual"]
    assert [(n, i) for n, i, _ in vgg.layers] == [
        ("conv1_2", 2),
        ("conv2_2", 7),
        ("conv3_4", 16),
        ("conv4_4", 25),
        ("conv5_4", 34),
    ]
    assert [w for _, _, w in vgg.layers] == [0.1, 0.1, 1.0, 1.0, 1.0] and vgg.criterion == "l1"

    srgan = instantiate(load("mse_vgg54"))
    assert srgan.weights == {"pixel": 1.0, "perceptual": 0.006}
    assert srgan.losses["perceptual"].layers == [("relu5_4", 35, 1.0)]
    assert srgan.losses["perceptual"].criterion == "mse"


@pytest.mark.parametrize("name", ["l1_perceptual", "mse_vgg54", "lpips"])
def test_recipes_ask_for_imagenet_weights(name: str, hub_dir: Path, no_network: None) -> None:
    raw = OmegaConf.load(RECIPES / f"{name}.yaml")
    assert [t.backbone_weights for t in raw.terms.values() if "backbone_weights" in t] == ["imagenet"]
    with pytest.raises(Exception) as info:
        instantiate(raw)
    error = info.value if isinstance(info.value, FileNotFoundError) else info.value.__cause__
    assert isinstance(error, FileNotFoundError)
    assert str(hub_dir) in str(error)
