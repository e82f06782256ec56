"""``WeightedLoss``: a weighted sum of named content-loss terms, each reported separately for logging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from srlib.losses._checks import check_weight, did_you_mean
from srlib.losses._registry import create_loss, list_losses

__all__ = ["WeightedLoss"]


def _plain(value: Any) -> Any:
    """Plain dicts/lists from any mapping/sequence (e.g. the OmegaConf containers Hydra passes)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    return value


class WeightedLoss(nn.Module):
    """``sum(weight_t * loss_t(sr, hr))`` over named terms built with :func:`srlib.losses.create_loss`.

    Each key of ``terms`` is a label (used for logging); each value is
    ``{"name": <loss name>, "weight": <float, default 1.0>, **kwargs of that loss}``. ``name`` may be
    omitted when the label is itself a loss name (``{"l1": {"weight": 1.0}}``). Terms with weight 0 are
    skipped and not built (a zero-weight perceptual term needs no VGG weights).

    After each call, :attr:`last_terms` maps each label to its detached *weighted* contribution (they sum
    to the returned total); :class:`srlib.lit.SRModule` logs them as ``train/loss/<label>``.
    Frozen backbones inside the terms list no trainable parameters; build optimizers from the network only.

    Args:
        terms: label -> term spec, as above (plain dicts or OmegaConf containers from Hydra).

    Raises:
        ValueError: no terms, no term with weight > 0, a bad label or weight, or an unknown loss name or
            argument (with suggestions).
        FileNotFoundError: a perceptual term's backbone weights are missing.

    Shape:
        - sr, hr: ``(B, 3, H, W)`` in [0, 1].
        - output: ``()``.

    Example:
        >>> loss = WeightedLoss({"pixel": {"name": "l1", "weight": 1.0}, "mse": {"weight": 0.5}})
        >>> float(loss(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)))
        1.5
        >>> {k: float(v) for k, v in loss.last_terms.items()}
        {'pixel': 1.0, 'mse': 0.5}
    """

    def __init__(self, terms: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        if not isinstance(terms, Mapping) or not terms:
            raise ValueError(
                "WeightedLoss needs a non-empty mapping of label -> {'name': ..., 'weight': ...}, e.g. "
                f"{{'pixel': {{'name': 'l1', 'weight': 1.0}}}}; got {terms!r}."
            )
        self.losses = nn.ModuleDict()
        self.weights: dict[str, float] = {}
        for label, raw in _plain(terms).items():
            self._add_term(label, raw)
        if not self.weights:
            labels = ", ".join(_plain(terms))
            raise ValueError(f"Every term of WeightedLoss has weight 0 ({labels}); nothing to train on.")
        self.last_terms: dict[str, Tensor] = {}

    def _add_term(self, label: str, spec: Any) -> None:
        names = list_losses()
        if not label or "." in label:
            raise ValueError(f"Loss term label {label!r} must be a non-empty name without '.', e.g. 'pixel'.")
        if not isinstance(spec, dict):
            raise ValueError(
                f"Loss term {label!r} must be a mapping like {{'name': 'l1', 'weight': 1.0}}, got {spec!r}."
            )
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if name is None:
            if label not in names:
                raise ValueError(
                    f"Loss term {label!r} has no 'name' and {label!r} is not a loss name."
                    f"{did_you_mean(label, names)} Add 'name': one of {', '.join(names)}."
                )
            name = label
        weight = check_weight(kwargs.pop("weight", 1.0), f"The weight of loss term {label!r}")
        if weight == 0:
            return
        try:
            self.losses[label] = create_loss(str(name), **kwargs)
        except ValueError as err:
            raise ValueError(f"Loss term {label!r}: {err}") from err
        self.weights[label] = weight

    def forward_terms(self, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        """Each term's weighted value, with gradient.

        Shape:
            - sr, hr: ``(B, 3, H, W)``.
            - output: label -> ``()``.
        """
        return {label: self.weights[label] * loss(sr, hr) for label, loss in self.losses.items()}

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        terms = self.forward_terms(sr, hr)
        self.last_terms = {label: value.detach() for label, value in terms.items()}
        return torch.stack([value.float() for value in terms.values()]).sum()

    def extra_repr(self) -> str:
        return "weights={" + ", ".join(f"{k}: {w:g}" for k, w in self.weights.items()) + "}"
