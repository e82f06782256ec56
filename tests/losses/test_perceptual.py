from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from srlib.losses import VGGPerceptualLoss, vgg19_layer_indices

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
VGG19_FILE = "vgg19-dcbb9e9d.pth"


@pytest.fixture(scope="module")
def tv_features() -> nn.Sequential:
    """torchvision's own VGG19 feature stack (random weights), as ``vgg19().features`` builds it."""
    torch.manual_seed(1)
    return make_layers(cfgs["E"]).eval()


def random_loss(layers: dict[str, float], **kwargs: object) -> VGGPerceptualLoss:
    return VGGPerceptualLoss(layers, backbone_weights="random", **kwargs)  # type: ignore[arg-type]


def test_layer_index_map_matches_torchvision(tv_features: nn.Sequential) -> None:
    indices = vgg19_layer_indices()
    assert len(indices) == len(tv_features) == 37
    assert VGG19_Weights.IMAGENET1K_V1.url.endswith(VGG19_FILE)
    expected_type = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, index in indices.items():
        assert isinstance(tv_features[index], expected_type[name[:4]]), name
    assert indices["conv5_4"] == 34 and indices["relu5_4"] == 35 and indices["conv3_4"] == 16


def test_features_equal_truncated_torchvision_stack(tv_features: nn.Sequential) -> None:
    loss = random_loss({"conv5_4": 1.0, "relu5_4": 1.0})
    assert len(loss.features) == 36  # truncated after relu5_4
    loss.features.load_state_dict(tv_features[:36].state_dict())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        feats = loss.extract(x)
        norm = (x - MEAN) / STD
        torch.testing.assert_close(feats[35], tv_features[:36](norm.clone()))
        torch.testing.assert_close(feats[34], tv_features[:35](norm.clone()))


def test_loss_value_srgan_vgg54(tv_features: nn.Sequential) -> None:
    loss = random_loss({"relu5_4": 1.0}, criterion="mse")
    loss.features.load_state_dict(tv_features[:36].state_dict())
    sr, hr = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected = F.mse_loss(tv_features[:36]((sr - MEAN) / STD), tv_features[:36]((hr - MEAN) / STD))
    torch.testing.assert_close(loss(sr, hr), expected)


def test_weighted_sum_and_criteria() -> None:
    layers = {"conv1_2": 0.1, "conv2_2": 0.5}
    sr, hr = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    for criterion, fn in [
        ("l1", F.l1_loss),
        ("mse", F.mse_loss),
        ("fro", lambda a, b: torch.linalg.vector_norm(a - b)),
    ]:
        torch.manual_seed(0)
        loss = random_loss(layers, criterion=criterion)
        with torch.no_grad():
            fs, fh = loss.extract(sr), loss.extract(hr)
        expected = 0.1 * fn(fs[2], fh[2]) + 0.5 * fn(fs[7], fh[7])
        torch.testing.assert_close(loss(sr, hr), expected)


def test_after_relu_override() -> None:
    assert [i for _, i, _ in random_loss({"conv1_2": 1.0}).layers] == [2]
    assert [i for _, i, _ in random_loss({"conv1_2": 1.0}, after_relu=True).layers] == [3]
    assert [i for _, i, _ in random_loss({"relu1_2": 1.0}, after_relu=False).layers] == [2]
    assert [i for _, i, _ in random_loss({"pool1": 1.0}, after_relu=True).layers] == [4]


def test_conv_feature_is_not_overwritten_by_relu() -> None:
    loss = random_loss({"conv1_2": 1.0, "relu1_2": 1.0})
    with torch.no_grad():
        feats = loss.extract(torch.rand(1, 3, 16, 16))
    assert (feats[2] < 0).any()  # the conv output keeps its negative values
    torch.testing.assert_close(feats[3], feats[2].clamp_min(0))


def test_frozen_eval_and_no_trainable_parameters() -> None:
    loss = random_loss({"conv2_2": 1.0})
    parent = nn.ModuleDict({"net": nn.Conv2d(3, 3, 3), "loss": loss})
    parent.train()
    assert parent["net"].training
    assert not loss.features.training
    assert all(not m.training for m in loss.features.modules())
    assert len(list(loss.parameters())) > 0
    assert [p for p in loss.parameters() if p.requires_grad] == []


def test_gradient_flows_to_sr_only() -> None:
    loss = random_loss({"conv1_2": 1.0, "relu2_1": 1.0})
    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    hr = torch.rand(1, 3, 16, 16)
    loss(sr, hr).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_float32_under_autocast() -> None:
    loss = random_loss({"conv2_2": 1.0})
    sr, hr = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    reference = loss(sr, hr)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(sr.bfloat16(), hr.bfloat16())
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, loss(sr.bfloat16().float(), hr.bfloat16().float()))
    assert torch.isfinite(reference)


def test_normalize_imagenet_off_feeds_raw_input() -> None:
    torch.manual_seed(0)
    raw = random_loss({"conv1_1": 1.0}, normalize_imagenet=False)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(raw.extract(x)[0], raw.features[0](x))


def test_unknown_layer_suggests_and_lists() -> None:
    pattern = r"Unknown VGG19 layer 'relu5_5'\. Did you mean 'relu5_4'\?.*conv1_1"
    with pytest.raises(ValueError, match=pattern):
        random_loss({"relu5_5": 1.0})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer_weights": {}}, "non-empty mapping"),
        ({"layer_weights": {"conv1_1": -1.0}}, ">= 0"),
        ({"layer_weights": {"conv1_1": 0.0}}, "Every layer weight is 0"),
        ({"layer_weights": {"conv1_1": 1.0}, "criterion": "l2"}, "Unknown perceptual criterion 'l2'"),
        ({"layer_weights": {"conv1_1": 1.0}, "backbone_weights": "imagnet"}, "Did you mean 'imagenet'"),
        ({"layer_weights": {"conv1_1": 1.0}, "backbone_weights": 3}, "Unknown backbone_weights 3"),
    ],
)
def test_invalid_arguments(kwargs: dict, message: str) -> None:
    kwargs.setdefault("backbone_weights", "random")
    with pytest.raises(ValueError, match=message):
        VGGPerceptualLoss(**kwargs)


def test_shape_checks() -> None:
    loss = random_loss({"conv1_1": 1.0})
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"RGB batches of shape \(B, 3, H, W\)"):
        loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_missing_cache_names_file_url_and_alternative(hub_dir: Path, no_network: None) -> None:
    expected = hub_dir / VGG19_FILE
    with pytest.raises(FileNotFoundError) as info:
        VGGPerceptualLoss({"relu5_4": 1.0})
    message = str(info.value)
    assert str(expected) in message
    assert VGG19_Weights.IMAGENET1K_V1.url in message
    assert "backbone_weights='/path/to/vgg19-dcbb9e9d.pth'" in message


def test_imagenet_reads_the_hub_cache(hub_dir: Path, no_network: None, srlib_log) -> None:
    source = make_layers(cfgs["E"])
    state = {f"features.{k}": v for k, v in source[:3].state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full vgg19 file has more keys: ignored
    hub_dir.mkdir(parents=True)
    torch.save(state, hub_dir / VGG19_FILE)
    loss = VGGPerceptualLoss({"conv1_2": 1.0})
    torch.testing.assert_close(loss.features[2].weight, source[2].weight)
    assert not any(r.levelno >= logging.WARNING for r in srlib_log.records)


def test_user_path_full_vgg19_state_dict(tmp_path: Path, tv_features: nn.Sequential) -> None:
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in tv_features.state_dict().items()}, path)
    loss = VGGPerceptualLoss({"relu5_4": 1.0}, backbone_weights=str(path))
    for key, value in loss.features.state_dict().items():
        torch.testing.assert_close(value, tv_features.state_dict()[key])
    assert [p for p in loss.parameters() if p.requires_grad] == []


def test_user_path_without_prefix(tmp_path: Path) -> None:
    source = make_layers(cfgs["E"])[:8]
    path = tmp_path / "vgg19_features.pth"
    torch.save(source.state_dict(), path)
    loss = VGGPerceptualLoss({"conv2_2": 1.0}, backbone_weights=path)
    torch.testing.assert_close(loss.features[7].weight, source[7].weight)


def test_user_path_missing_or_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "vgg19.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        VGGPerceptualLoss({"conv1_1": 1.0}, backbone_weights=str(missing))
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, wrong)
    with pytest.raises(ValueError, match=r"features\.0\.weight' has shape \(8, 3, 3, 3\)"):
        VGGPerceptualLoss({"conv1_1": 1.0}, backbone_weights=wrong)
    with pytest.raises(ValueError, match=r"missing 'features\.2\.weight'"):
        VGGPerceptualLoss({"conv1_2": 1.0}, backbone_weights=wrong)
    not_a_state_dict = tmp_path / "list.pth"
    torch.save([1, 2], not_a_state_dict)
    with pytest.raises(ValueError, match="not a state dict"):
        VGGPerceptualLoss({"conv1_1": 1.0}, backbone_weights=not_a_state_dict)


def test_random_logs_a_warning(srlib_log) -> None:
    random_loss({"conv1_1": 1.0})
    warnings = [r for r in srlib_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "meaningless for real training" in warnings[0].getMessage()
