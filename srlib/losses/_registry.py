"""Name registry of the content losses: ``create_loss("l1")``, ``list_losses()``."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from srlib.losses._checks import did_you_mean, unknown_choice
from srlib.losses.lpips_loss import LPIPSLoss
from srlib.losses.perceptual import VGGPerceptualLoss
from srlib.losses.pixel import CharbonnierLoss, L1Loss, MSELoss

__all__ = ["create_loss", "list_losses"]

_LOSSES: dict[str, type[nn.Module]] = {
    "l1": L1Loss,
    "mse": MSELoss,
    "charbonnier": CharbonnierLoss,
    "perceptual": VGGPerceptualLoss,
    "lpips": LPIPSLoss,
}


def list_losses() -> list[str]:
    """Names accepted by :func:`create_loss` and by :class:`srlib.losses.WeightedLoss` terms.

    Example:
        >>> list_losses()
        ['charbonnier', 'l1', 'lpips', 'mse', 'perceptual']
    """
    return sorted(_LOSSES)


def create_loss(name: str, **kwargs: Any) -> nn.Module:
    """Build a content loss ``loss(sr, hr) -> scalar`` by name.

    Args:
        name: one of :func:`list_losses` (``l1``, ``mse``, ``charbonnier``, ``perceptual`` = VGG19,
            ``lpips``).
        **kwargs: arguments of that loss's class (e.g. ``layer_weights=`` for ``perceptual``).

    Returns:
        The loss module.

    Raises:
        ValueError: unknown name, unknown or missing keyword argument (with suggestions and the valid
            choices), or an invalid value.

    Shape:
        - sr, hr of the returned loss: ``(B, 3, H, W)`` in [0, 1].
        - output: ``()``.

    Example:
        >>> create_loss("charbonnier", eps=1e-6)
        CharbonnierLoss(eps=1e-06)
    """
    if name not in _LOSSES:
        raise unknown_choice("loss", name, list_losses())
    cls = _LOSSES[name]
    params = {
        p.name: p
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }
    for key in kwargs:
        if key not in params:
            valid = ", ".join(params) or "none"
            raise ValueError(
                f"Unknown argument {key!r} for loss {name!r} ({cls.__name__}).{did_you_mean(key, params)} "
                f"Valid arguments: {valid}."
            )
    missing = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise ValueError(f"Loss {name!r} ({cls.__name__}) needs the argument(s): {', '.join(missing)}.")
    return cls(**kwargs)
