"""Input checks shared by the losses: did-you-mean suggestions and ``(sr, hr)`` pair validation."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

from torch import Tensor

__all__ = ["check_pair", "check_weight", "did_you_mean", "unknown_choice"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` sentence for the closest choice, or ``""`` when none is close.

    Example:
        >>> did_you_mean("charbonier", ["l1", "charbonnier"])
        " Did you mean 'charbonnier'?"
    """
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_choice(what: str, word: object, choices: Iterable[str]) -> ValueError:
    """The ``ValueError`` for an unknown name: the name, a suggestion and every valid choice.

    Example:
        >>> str(unknown_choice("GAN loss kind", "hinj", ["hinge", "lsgan"]))
        "Unknown GAN loss kind 'hinj'. Did you mean 'hinge'? Valid choices: 'hinge', 'lsgan'."
    """
    choices = list(choices)
    valid = ", ".join(repr(c) for c in choices)
    return ValueError(f"Unknown {what} {word!r}.{did_you_mean(str(word), choices)} Valid choices: {valid}.")


def check_pair(sr: Tensor, hr: Tensor, what: str, *, images: bool = False) -> None:
    """Raise ``ValueError`` unless ``sr`` and ``hr`` are tensors of one shape (``(B, 3, H, W)``: ``images``).

    Example:
        >>> import torch
        >>> check_pair(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), "l1 loss", images=True)
    """
    if not isinstance(sr, Tensor) or not isinstance(hr, Tensor):
        kinds = f"{type(sr).__name__} and {type(hr).__name__}"
        raise ValueError(f"{what}: sr and hr must be torch tensors, got {kinds}.")
    if sr.shape != hr.shape:
        raise ValueError(
            f"{what}: sr and hr must have the same shape, got sr {tuple(sr.shape)} and hr {tuple(hr.shape)}. "
            "The network output must be exactly scale x the LR input; crop hr (or pad the LR input) "
            "so they match."
        )
    if images and (sr.ndim != 4 or sr.shape[1] != 3):
        raise ValueError(
            f"{what}: expects RGB batches of shape (B, 3, H, W) in [0, 1], got {tuple(sr.shape)}. "
            "Convert grayscale/Y images to RGB (repeat the channel) before this loss."
        )


def check_weight(value: object, what: str) -> float:
    """``value`` as a float if it is a finite number >= 0, else ``ValueError`` naming ``what``.

    Example:
        >>> check_weight(1, "the weight of term 'pixel'")
        1.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}.")
    return float(value)
