"""Network interpolation: one model whose weights lie between two trainings of the same network.

Real-ESRGAN's "denoise strength" blends ``realesr-general-x4v3`` with its weak-denoise twin this
way (Wang et al., ICCVW 2021; ``inference_realesrgan.py``, ``dni``); ESRGAN's paper (Sec. 3.4)
interpolates a PSNR-oriented and a GAN-trained generator to trade fidelity for texture.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from srlib.models._checkpoint import load_model

__all__ = ["blend_models"]


def _as_model(model: nn.Module | str | os.PathLike) -> nn.Module:
    return load_model(model) if isinstance(model, (str, os.PathLike)) else model


def blend_models(
    a: nn.Module | str | os.PathLike, b: nn.Module | str | os.PathLike, weight_b: float
) -> nn.Module:
    """``(1 - weight_b) * a + weight_b * b``, parameter by parameter, as a new model in eval mode.

    Args:
        a: a model or a weight file.
        b: a model or a weight file of the same architecture and configuration.
        weight_b: how much of ``b``, in [0, 1] (0 gives ``a``, 1 gives ``b``).

    Raises:
        ValueError: ``weight_b`` outside [0, 1], or networks that differ in architecture, keys or shapes.

    Example:
        >>> import srlib
        >>> a = srlib.create_model("srvgg_compact", num_conv=2, num_feat=8)
        >>> b = srlib.create_model("srvgg_compact", num_conv=2, num_feat=8)
        >>> mid = blend_models(a, b, 0.5)
        >>> torch.allclose(mid.body[0].weight, (a.body[0].weight + b.body[0].weight) / 2)
        True
    """
    weight_b = float(weight_b)
    if not 0.0 <= weight_b <= 1.0:
        raise ValueError(f"weight_b must be in [0, 1] (0 = the first model, 1 = the second), got {weight_b}.")
    name_a = str(a) if isinstance(a, (str, os.PathLike)) else "the first model"
    name_b = str(b) if isinstance(b, (str, os.PathLike)) else "the second model"
    net_a, net_b = _as_model(a), _as_model(b)
    arch_a = getattr(net_a, "srlib_arch", None) or type(net_a).__name__
    arch_b = getattr(net_b, "srlib_arch", None) or type(net_b).__name__
    config_a, config_b = getattr(net_a, "srlib_config", None), getattr(net_b, "srlib_config", None)
    if arch_a != arch_b or config_a != config_b:
        raise ValueError(
            f"Only two trainings of the same network can be blended: {name_a} is {arch_a}({config_a}) "
            f"but {name_b} is {arch_b}({config_b})."
        )
    state_a, state_b = net_a.state_dict(), net_b.state_dict()
    if state_a.keys() != state_b.keys() or any(state_a[k].shape != state_b[k].shape for k in state_a):
        raise ValueError(f"{name_a} and {name_b} have different tensors; they cannot be blended.")
    mixed = {}
    for key, value in state_a.items():
        if value.is_floating_point():
            mixed[key] = torch.lerp(value.float(), state_b[key].float(), weight_b).to(value.dtype)
        else:  # counters such as BatchNorm's num_batches_tracked
            mixed[key] = value.clone()
    out = copy.deepcopy(net_a)
    out.load_state_dict(mixed)
    return out.eval()
