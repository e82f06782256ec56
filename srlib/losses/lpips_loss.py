"""LPIPS (Zhang et al., 2018, https://arxiv.org/abs/1801.03924) as a training loss, never downloading.

Wraps ``lpips.LPIPS``. The package ships its calibrated linear layers (``lpips/weights/v0.1/*.pth``),
but its backbone (AlexNet, VGG16 or SqueezeNet 1.1) would come from torchvision's pretrained weights,
which torchvision downloads when they are not cached. Here the package always builds a randomly
initialised backbone and srlib loads the backbone weights itself: from the torch hub cache
(``backbone_weights="imagenet"``), from a file you name, or not at all (``"random"``, tests only).
"""

from __future__ import annotations

import warnings
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
from srlib.losses._checks import check_pair, unknown_choice

__all__ = ["LPIPS_NETS", "LPIPSLoss", "lpips_backbone_url"]

LPIPS_NETS = ("alex", "vgg", "squeeze")


def lpips_backbone_url(net: str) -> str:
    """URL of torchvision's ImageNet weights for LPIPS's ``net`` backbone (its file name is the cache name).

    Example:
        >>> lpips_backbone_url("alex").rsplit("/", 1)[-1]
        'alexnet-owt-7be5be79.pth'
    """
    from torchvision.models import AlexNet_Weights, SqueezeNet1_1_Weights, VGG16_Weights

    urls = {
        "alex": AlexNet_Weights.IMAGENET1K_V1.url,
        "vgg": VGG16_Weights.IMAGENET1K_V1.url,
        "squeeze": SqueezeNet1_1_Weights.IMAGENET1K_V1.url,
    }
    if net not in urls:
        raise unknown_choice("LPIPS net", net, LPIPS_NETS)
    return urls[net]


class LPIPSLoss(nn.Module):
    """LPIPS distance between ``sr`` and ``hr``, averaged over the batch.

    The whole LPIPS network (backbone and linear layers) is frozen (``requires_grad=False``) and stays in
    eval mode even when a parent module calls ``.train()``; build optimizers from the network's
    parameters only. It runs with autocast disabled, in float32 (unless the module was converted).

    Args:
        net: backbone, ``"alex"``, ``"vgg"`` (closer to a classic perceptual loss when optimised
            against, per the LPIPS authors) or ``"squeeze"``.
        backbone_weights: ``"imagenet"`` (torchvision's weights read from the local torch hub cache:
            ``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth`` or ``squeezenet1_1-b8a52dc0.pth`` under
            ``torch.hub.get_dir()/checkpoints``; never downloaded), a path to such a state dict, or
            ``"random"`` (tests only; logs a WARNING). The linear layers always come from the lpips package.

    Raises:
        ValueError: unknown ``net`` or ``backbone_weights``, or weights that do not fit.
        FileNotFoundError: the ImageNet backbone is not cached (checked before anything is built), or the
            given file does not exist.

    Shape:
        - sr, hr: ``(B, 3, H, W)`` RGB in [0, 1] (scaled to [-1, 1] inside).
        - output: ``()``.

    Example:
        >>> loss = LPIPSLoss("squeeze", backbone_weights="random")
        >>> x = torch.rand(1, 3, 32, 32)
        >>> float(loss(x, x))
        0.0
    """

    def __init__(self, net: str = "alex", *, backbone_weights: BackboneWeights = "imagenet") -> None:
        super().__init__()
        url = lpips_backbone_url(net)
        source = resolve_backbone_weights(backbone_weights, f"LPIPS {net}")
        state = None
        if source == "imagenet":
            state = load_imagenet_state_dict(url, f"LPIPS {net}")
        elif isinstance(source, Path):
            state = load_state_dict_file(source, f"LPIPS {net}")
        else:
            warn_random(f"LPIPS {net}")
        self.net_name = net
        self.backbone_weights = str(source)

        import lpips

        with warnings.catch_warnings():
            # lpips calls torchvision with the deprecated ``pretrained=`` argument.
            warnings.filterwarnings("ignore", message=".*deprecated since 0.13.*", category=UserWarning)
            self.lpips = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
        if state is not None:
            # lpips keys are "sliceK.<features index>.<rest>"; torchvision's are "features.<index>.<rest>".
            load_features_into(
                self.lpips.net, state, f"{source} (LPIPS {net})", key_map=lambda key: key.split(".", 1)[1]
            )
        self.lpips.requires_grad_(False)
        self.lpips.eval()

    def train(self, mode: bool = True) -> LPIPSLoss:
        """Set the mode of this module; the frozen LPIPS network always stays in eval mode."""
        super().train(mode)
        self.lpips.eval()
        return self

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        check_pair(sr, hr, "LPIPS loss", images=True)
        dtype = next(self.lpips.parameters()).dtype
        with torch.autocast(device_type=sr.device.type, enabled=False):
            return self.lpips(sr.to(dtype), hr.detach().to(dtype), normalize=True).mean()

    def extra_repr(self) -> str:
        return f"net={self.net_name!r}, backbone_weights={self.backbone_weights!r}"
