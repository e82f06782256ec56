"""Where the frozen backbones of the perceptual losses get their weights, without ever downloading.

``backbone_weights`` is one of:

- ``"imagenet"``: torchvision's ImageNet weights, read only from the local torch hub cache
  (``torch.hub.get_dir()/checkpoints/<file name of the torchvision URL>``, where torchvision itself
  would cache them). A missing file raises ``FileNotFoundError`` that says where to put it.
- a path (``str`` with a folder or a suffix, or ``os.PathLike``): a ``.pth``/``.pt`` state dict read with
  ``torch.load(weights_only=True)`` or a ``.safetensors`` file, with torchvision's key names
  (``features.N.weight``) or the same keys without the ``features.`` prefix.
- ``"random"``: random initialisation, for tests only (a WARNING is logged).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from srlib.losses._checks import did_you_mean

__all__ = [
    "BackboneWeights",
    "hub_cache_file",
    "load_features_into",
    "load_imagenet_state_dict",
    "load_state_dict_file",
    "resolve_backbone_weights",
    "warn_random",
]

log = logging.getLogger(__name__)

BackboneWeights = str | os.PathLike[str]
_KEYWORDS = ("imagenet", "random")


def hub_cache_file(url: str) -> Path:
    """The file torch hub caches ``url`` as: ``torch.hub.get_dir()/checkpoints/<basename of url>``.

    Example:
        >>> hub_cache_file("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth").name
        'vgg19-dcbb9e9d.pth'
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def resolve_backbone_weights(value: object, what: str) -> Literal["imagenet", "random"] | Path:
    """``"imagenet"``, ``"random"`` or the path that ``value`` names; ``ValueError`` for anything else.

    Example:
        >>> resolve_backbone_weights("random", "VGG19")
        'random'
        >>> resolve_backbone_weights("weights/vgg19.pth", "VGG19").name
        'vgg19.pth'
    """
    if isinstance(value, os.PathLike):
        return Path(value).expanduser()
    if isinstance(value, str):
        if value in _KEYWORDS:
            return value  # type: ignore[return-value]
        if "/" in value or os.sep in value or Path(value).suffix:
            return Path(value).expanduser()
    raise ValueError(
        f"Unknown backbone_weights {value!r} for the {what} backbone.{did_you_mean(str(value), _KEYWORDS)} "
        "Use 'imagenet' (torchvision's weights from the local torch hub cache), a path to a weights file "
        "such as '/path/to/file.pth', or 'random' (tests only)."
    )


def warn_random(what: str) -> None:
    """Log that a randomly initialised backbone makes the loss meaningless for real training."""
    log.warning(
        "%s backbone is randomly initialised (backbone_weights='random'): the loss is meaningless for "
        "real training; use it only for tests. Pass backbone_weights='imagenet' or a path to weights.",
        what,
    )


def load_state_dict_file(path: Path, what: str) -> dict[str, Tensor]:
    """Read a state dict (``.pth``/``.pt`` with ``weights_only=True``, or ``.safetensors``) on the CPU.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a plain state dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} backbone weights file {path} does not exist. Pass backbone_weights= the path of an "
            "existing state dict file (torchvision key names such as 'features.0.weight'), or 'imagenet'."
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError) as err:
        raise ValueError(
            f"Cannot read {what} backbone weights from {path}: {err}. Expected a plain state dict saved with "
            "torch.save(model.state_dict(), path) (loaded with weights_only=True) or a .safetensors file."
        ) from err
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(
            f"{path} is not a state dict of tensors (got {type(state).__name__}). Save the backbone with "
            "torch.save(model.state_dict(), path)."
        )
    log.info("Loaded %s backbone weights from %s", what, path)
    return {str(k): v for k, v in state.items()}


def load_imagenet_state_dict(url: str, what: str) -> dict[str, Tensor]:
    """torchvision's weights for ``url``, read from the torch hub cache only (never downloaded).

    Raises:
        FileNotFoundError: the cached file is absent; the message names the file, the URL and the
            ``backbone_weights=/path/to/file`` alternative.
    """
    path = hub_cache_file(url)
    if not path.is_file():
        name = path.name
        raise FileNotFoundError(
            f"{what} ImageNet weights are not in the torch hub cache: {path} does not exist, and srlib "
            f"never downloads them. On a machine with internet, fetch {url} and copy it to {path} (the "
            f"folder follows $TORCH_HOME, see torch.hub.get_dir()), or pass "
            f"backbone_weights='/path/to/{name}'. backbone_weights='random' is for tests only."
        )
    return load_state_dict_file(path, what)


def _features_only(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keys of torchvision's ``features`` stack without the ``features.`` prefix (all keys if none has it)."""
    prefixed = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    return prefixed or dict(state)


def load_features_into(
    module: nn.Module,
    state: Mapping[str, Tensor],
    origin: str,
    key_map: Callable[[str], str] = lambda key: key,
) -> None:
    """Copy a torchvision ``features`` state dict into ``module``.

    ``key_map`` turns each of ``module``'s state-dict keys into the matching torchvision key without the
    ``features.`` prefix (``"34.weight"``). Extra keys in ``state`` (deeper layers, the classifier) are
    ignored; a missing key or a shape mismatch raises ``ValueError`` naming ``origin``.
    """
    source = _features_only(state)
    new_state, problems = {}, []
    for key, target in module.state_dict().items():
        src = source.get(key_map(key))
        if src is None:
            problems.append(f"missing 'features.{key_map(key)}'")
        elif src.shape != target.shape:
            problems.append(
                f"'features.{key_map(key)}' has shape {tuple(src.shape)}, expected {tuple(target.shape)}"
            )
        else:
            new_state[key] = src
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(
            f"The backbone weights from {origin} do not fit the network: {shown}. Pass a state dict of the "
            "right torchvision architecture (keys 'features.N.weight' / 'features.N.bias', or without the "
            "'features.' prefix)."
        )
    module.load_state_dict(new_state)
