"""Name registry of the content losses: ``create_loss("l1")``, ``list_losses()``."""

from __future__ import annotations

from typing import Any

from torch import nn

from srlib._registry import Registry, check_kwargs
from srlib.losses.lpips_loss import LPIPSLoss
from srlib.losses.perceptual import VGGPerceptualLoss
from srlib.losses.pixel import CharbonnierLoss, L1Loss, MSELoss

__all__ = ["create_loss", "list_losses"]

_LOSSES: Registry[type[nn.Module]] = Registry("loss", plural="losses")
for _name, _cls in (
    ("l1", L1Loss),
    ("mse", MSELoss),
    ("charbonnier", CharbonnierLoss),
    ("perceptual", VGGPerceptualLoss),
    ("lpips", LPIPSLoss),
):
    _LOSSES.register(_name, _cls)


def list_losses() -> list[str]:
    """Names accepted by :func:`create_loss` and by :class:`srlib.losses.WeightedLoss` terms.

    Example:
        >>> list_losses()
        ['charbonnier', 'l1', 'lpips', 'mse', 'perceptual']
    """
    return _LOSSES.names()


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
    cls = _LOSSES.lookup(name)
    check_kwargs(cls, kwargs, what=f"Loss {name!r} ({cls.__name__})", require=True)
    return cls(**kwargs)
