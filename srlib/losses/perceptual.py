"""VGG19 perceptual loss (SRGAN's VGG54, ESRGAN/Real-ESRGAN's weighted conv features).

The feature stack is torchvision's ``vgg19().features`` (same layers and indices, so torchvision and
BasicSR checkpoints load), truncated after the deepest layer the loss needs. Layers are named after the
VGG paper: ``convB_I`` (the I-th conv of block B), ``reluB_I`` (its ReLU), ``poolB``::

    conv1_1=0 relu1_1=1 conv1_2=2 relu1_2=3 pool1=4 conv2_1=5 ... conv5_4=34 relu5_4=35 pool5=36

A ``conv`` name means the conv output *before* its ReLU (what BasicSR's ``PerceptualLoss`` uses for
Real-ESRGAN); a ``relu`` name the output after it (SRGAN's ``relu5_4``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from srlib.losses._backbone import (
    BackboneWeights,
    load_features_into,
    load_imagenet_state_dict,
    load_state_dict_file,
    resolve_backbone_weights,
    warn_random,
)
from srlib.losses._checks import check_pair, check_weight, did_you_mean, unknown_choice

__all__ = ["VGGPerceptualLoss", "vgg19_layer_indices"]

log = logging.getLogger(__name__)

_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convs) of VGG19's five blocks
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CRITERIA = ("l1", "mse", "fro")


def vgg19_layer_indices() -> dict[str, int]:
    """Index of every named layer in torchvision's ``vgg19().features``.

    Returns:
        ``{"conv1_1": 0, "relu1_1": 1, "conv1_2": 2, ..., "relu5_4": 35, "pool5": 36}``.

    Example:
        >>> idx = vgg19_layer_indices()
        >>> idx["conv1_2"], idx["pool1"], idx["conv5_4"], idx["relu5_4"]
        (2, 4, 34, 35)
    """
    names: dict[str, int] = {}
    index = 0
    for block, (_, convs) in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
        names[f"pool{block}"] = index
        index += 1
    return names


def _vgg19_features(last: int) -> nn.Sequential:
    """torchvision's VGG19 feature layers ``0..last`` (non-inplace ReLUs), torchvision's random init."""
    layers: list[nn.Module] = []
    in_channels = 3
    for channels, convs in _BLOCKS:
        for _ in range(convs):
            conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            # Not inplace: a conv output kept as a feature must not be overwritten by the next ReLU.
            layers += [conv, nn.ReLU(inplace=False)]
            in_channels = channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        if len(layers) > last:
            break
    return nn.Sequential(*layers[: last + 1])


def _criterion(kind: str, a: Tensor, b: Tensor) -> Tensor:
    diff = a - b
    if kind == "l1":
        return diff.abs().mean()
    if kind == "mse":
        return diff.square().mean()
    return torch.linalg.vector_norm(diff)  # "fro": BasicSR's torch.norm(x - gt, p="fro"), not averaged


class VGGPerceptualLoss(nn.Module):
    """Weighted distance between VGG19 features of ``sr`` and ``hr``.

    SRGAN: ``VGGPerceptualLoss({"relu5_4": 1.0}, criterion="mse")`` (used with weight 0.006).
    ESRGAN / Real-ESRGAN: ``VGGPerceptualLoss({"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0,
    "conv4_4": 1.0, "conv5_4": 1.0}, criterion="l1")``.

    The backbone is frozen: every parameter has ``requires_grad=False`` and it stays in eval mode even
    when a parent module calls ``.train()``. Its parameters still appear in ``loss.parameters()`` (and in a
    parent LightningModule's state dict), so build optimizers from the network's parameters only, never
    from a module that contains this loss. Features are computed with autocast disabled, in the
    backbone's dtype (float32 unless the module was converted), whatever the training precision.
    ``hr`` features are computed without gradient.

    Args:
        layer_weights: layer name -> weight, e.g. ``{"relu5_4": 1.0}``. Names: ``conv1_1`` .. ``conv5_4``,
            ``relu1_1`` .. ``relu5_4``, ``pool1`` .. ``pool5`` (see :func:`vgg19_layer_indices`).
            Zero-weight layers are skipped.
        after_relu: ``None`` (default) takes each layer as named: ``conv`` before its ReLU, ``relu`` after
            it. ``True`` takes every conv/relu layer after its ReLU, ``False`` every one before it.
        criterion: ``"l1"`` (mean absolute), ``"mse"`` (mean squared) or ``"fro"`` (Frobenius norm of the
            whole feature difference, not averaged, as in BasicSR).
        normalize_imagenet: normalise the [0, 1] RGB input with ImageNet mean/std (as the backbone was
            trained); ``False`` feeds [0, 1] unchanged.
        backbone_weights: ``"imagenet"`` (torchvision's VGG19 weights from the local torch hub cache,
            ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``, never downloaded), a path to a vgg19
            state dict (``features.N.weight`` keys, with or without the prefix), or ``"random"`` (tests
            only; logs a WARNING).

    Raises:
        ValueError: unknown layer name (with a suggestion), criterion or ``backbone_weights``; bad weights.
        FileNotFoundError: the ImageNet weights are not cached, or the given file does not exist.

    Shape:
        - sr, hr: ``(B, 3, H, W)`` RGB in [0, 1].
        - output: ``()``.

    Example:
        >>> loss = VGGPerceptualLoss({"conv1_2": 1.0}, backbone_weights="random")
        >>> sr = torch.rand(1, 3, 16, 16, requires_grad=True)
        >>> loss(sr, torch.rand(1, 3, 16, 16)).shape
        torch.Size([])
        >>> [p for p in loss.parameters() if p.requires_grad]
        []
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float],
        *,
        after_relu: bool | None = None,
        criterion: str = "l1",
        normalize_imagenet: bool = True,
        backbone_weights: BackboneWeights = "imagenet",
    ) -> None:
        super().__init__()
        if criterion not in _CRITERIA:
            raise unknown_choice("perceptual criterion", criterion, _CRITERIA)
        if after_relu not in (None, True, False):
            raise ValueError(f"after_relu must be None, True or False, got {after_relu!r}.")
        self.layers = self._resolve_layers(layer_weights, after_relu)
        self.criterion = criterion
        self.after_relu = after_relu
        self.normalize_imagenet = bool(normalize_imagenet)
        source = resolve_backbone_weights(backbone_weights, "VGG19")
        state = None
        if source == "imagenet":
            from torchvision.models import VGG19_Weights

            state = load_imagenet_state_dict(VGG19_Weights.IMAGENET1K_V1.url, "VGG19")
        elif isinstance(source, Path):
            state = load_state_dict_file(source, "VGG19")
        else:
            warn_random("VGG19 perceptual loss")
        self.backbone_weights = str(source)

        self.features = _vgg19_features(max(index for _, index, _ in self.layers))
        if state is not None:
            load_features_into(self.features, state, f"{source} (VGG19)")
        self.features.requires_grad_(False)
        self.features.eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _resolve_layers(
        layer_weights: Mapping[str, float], after_relu: bool | None
    ) -> list[tuple[str, int, float]]:
        indices = vgg19_layer_indices()
        if not isinstance(layer_weights, Mapping) or not layer_weights:
            raise ValueError(
                "layer_weights must be a non-empty mapping of VGG19 layer name -> weight, e.g. "
                f"{{'relu5_4': 1.0}}; got {layer_weights!r}."
            )
        layers = []
        for name, weight in layer_weights.items():
            if name not in indices:
                raise ValueError(
                    f"Unknown VGG19 layer {name!r}.{did_you_mean(str(name), indices)} "
                    f"Valid names: {', '.join(indices)}."
                )
            weight = check_weight(weight, f"The weight of VGG19 layer {name!r}")
            if weight == 0:
                continue
            index = indices[name]
            if after_relu is True and name.startswith("conv"):
                index += 1
            elif after_relu is False and name.startswith("relu"):
                index -= 1
            layers.append((str(name), index, weight))
        if not layers:
            raise ValueError(
                f"Every layer weight is 0 in {dict(layer_weights)}; give at least one a weight > 0."
            )
        return layers

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        """Set the mode of this module; the frozen backbone always stays in eval mode."""
        super().train(mode)
        self.features.eval()
        return self

    def extract(self, x: Tensor) -> dict[int, Tensor]:
        """Features of ``x`` (RGB in [0, 1]) at the needed layer indices (no autocast, backbone dtype).

        Shape:
            - x: ``(B, 3, H, W)``.
            - output: index -> ``(B, C_l, H_l, W_l)``.
        """
        wanted = {index for _, index, _ in self.layers}
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.to(self.features[0].weight.dtype)
            if self.normalize_imagenet:
                x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
            out = {}
            for index, layer in enumerate(self.features):
                x = layer(x)
                if index in wanted:
                    out[index] = x
        return out

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        check_pair(sr, hr, "VGG perceptual loss", images=True)
        sr_features = self.extract(sr)
        with torch.no_grad():
            hr_features = self.extract(hr.detach())
        with torch.autocast(device_type=sr.device.type, enabled=False):
            terms = [
                w * _criterion(self.criterion, sr_features[i], hr_features[i]) for _, i, w in self.layers
            ]
        return torch.stack(terms).sum()

    def extra_repr(self) -> str:
        layers = ", ".join(f"{name}->{index}: {weight:g}" for name, index, weight in self.layers)
        return (
            f"layers={{{layers}}}, criterion={self.criterion!r}, "
            f"normalize_imagenet={self.normalize_imagenet}, "
            f"backbone_weights={self.backbone_weights!r}"
        )
