"""Pretrained weights shipped with srlib: ``create_model(..., pretrained=True)`` and ``list_pretrained``.

The files live in ``srlib/weights/`` (see :mod:`srlib._package_weights`), each with a card giving the
recipe, command, data, machine and scores (``docs/pretrained.md`` shows them all). Loading is offline
and checks the file's SHA-256 against its card first. :func:`resolve_model` (what the CLIs' ``--model``
means) uses the shipped weights for a bare registered name when they exist for the asked scale.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from srlib._package_weights import PackagedWeights, PackagedWeightsError, find_packaged, list_packaged
from srlib.models._checkpoint import load_model, load_weights, model_from_state
from srlib.models._registry import create_model as build_model
from srlib.models._registry import get_model_entry, registered_name, split_name

__all__ = ["PackagedWeightsError", "create_model", "list_pretrained", "pretrained_entry", "resolve_model"]

log = logging.getLogger("srlib.models")
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")


def list_pretrained(arch: str | None = None) -> list[PackagedWeights]:
    """The SR weights that ship with srlib (of one architecture if given), with their cards.

    Each entry has ``arch``, ``scale``, ``tag`` and ``card`` (a dict: ``recipe``, ``stages`` with their
    commands, ``minutes``, ``machine``, and ``scores`` by test set with bicubic's beside them).

    Example:
        >>> [(entry.name, entry.card["scores"]["Set5"]["psnr"] > 30) for entry in list_pretrained("fsrcnn")]
        [('fsrcnn_x2', True), ('fsrcnn_x3', True), ('fsrcnn_x4', False)]
    """
    return list_packaged("sr", get_model_entry(arch).name if arch else None)


def pretrained_entry(
    name: str, *, scale: int | None = None, tag: str | bool | None = None
) -> PackagedWeights:
    """The shipped weights for ``name`` (``arch`` or ``arch.tag``) at ``scale`` (default: the arch's).

    Raises:
        PackagedWeightsError: none ship for that architecture, scale or tag (what does ship is listed).
    """
    entry = get_model_entry(name)  # an unknown name or tag raises here, with close matches
    wanted = tag if isinstance(tag, str) else split_name(name)[1]
    return find_packaged("sr", entry.name, scale=int(scale or entry.default_scale), tag=wanted)


def load_pretrained(entry: PackagedWeights) -> nn.Module:
    """The network of one shipped weight set (its shards merged), verified against its card."""
    state, metadata = entry.read()
    net = model_from_state(state, metadata, entry.files[0])
    if registered_name(net) != entry.arch or int(getattr(net, "scale", 0)) != entry.scale:
        raise PackagedWeightsError(
            f"the shipped file {entry.files[0]} holds {registered_name(net)} x{getattr(net, 'scale', '?')}, "
            f"but its card says {entry.arch} x{entry.scale}; reinstall srlib"
        )
    net.srlib_tag = entry.tag  # type: ignore[assignment]
    net.srlib_pretrained = entry.name  # type: ignore[assignment]
    return net


def create_model(name: str, *, pretrained: bool | str = False, **kwargs: Any) -> nn.Module:
    """Build a registered SR model, with srlib's shipped weights when ``pretrained``.

    Args:
        name: a name from :func:`srlib.list_models`, optionally with a weight tag (``"srvgg_compact.gan"``).
        pretrained: ``True`` loads the shipped weights for the scale (offline, from the package);
            a string names the weight tag (``pretrained="gan"``). :func:`list_pretrained` lists them.
        **kwargs: keyword arguments of the model class (``scale`` among them). With ``pretrained``, any
            argument besides ``scale`` must match the shipped network's.

    Raises:
        ValueError: unknown name, keyword or scale; ``PackagedWeightsError`` (a ``ValueError``) when no
            weights ship for that architecture/scale/tag, or the shipped file is missing or damaged.

    Example:
        >>> net = create_model("bicubic", scale=2)
        >>> tuple(net(torch.rand(1, 3, 8, 8)).shape)
        (1, 3, 16, 16)
    """
    if pretrained is False or pretrained is None:
        return build_model(name, **kwargs)
    entry = pretrained_entry(name, scale=kwargs.get("scale"), tag=pretrained)
    net = load_pretrained(entry)
    asked = {k: v for k, v in kwargs.items() if k != "scale"}
    if asked:
        _check_same_config(net, entry, asked)
    return net


def _check_same_config(net: nn.Module, entry: PackagedWeights, asked: dict[str, Any]) -> None:
    """``asked`` must describe the shipped network (same tensors and shapes)."""
    reference = build_model(entry.arch, scale=entry.scale, **asked)
    same = {k: tuple(v.shape) for k, v in reference.state_dict().items()} == {
        k: tuple(v.shape) for k, v in net.state_dict().items()
    }
    if not same:
        raise PackagedWeightsError(
            f"the pretrained {entry.arch} x{entry.scale} weights are for its shipped configuration, not "
            f"{asked}; drop those arguments, or pass pretrained=False to build it untrained"
        )


def _is_weight_file(model: str) -> bool:
    return Path(model).suffix in _WEIGHT_SUFFIXES or Path(model).is_file()


def resolve_model(
    model: str,
    *,
    scale: int | None = None,
    weights: str | None = None,
    pretrained: bool | str | None = None,
) -> nn.Module:
    """A registered name (optionally with ``weights``) or a weight file, for ``scale``.

    This is what the CLIs' ``--model NAME_OR_WEIGHTS [--weights FILE]`` means. A weight file keeps its
    own scale when ``scale`` is ``None``; another scale is an error unless the architecture's weights
    serve every scale (``any_scale_weights``: VDSR), which is then rebuilt at ``scale``. A bare name
    takes srlib's shipped weights for that scale when there are some (``pretrained=None``, the default;
    ``True``/a tag requires them, ``False`` never uses them), else it is built untrained.

    Raises:
        ValueError: weights for another scale, no shipped weights where required, or any loading
            problem (named).
    """
    if _is_weight_file(model):
        net = load_model(model)
        native = int(getattr(net, "scale", scale or 1))
        if scale is not None and native != int(scale):
            entry = get_model_entry(registered_name(net))
            if not entry.any_scale_weights:
                raise ValueError(
                    f"The weights in {model} are for x{native}; they cannot upscale x{scale} "
                    f"(use --scale {native}, with --outscale {scale} for another final size)."
                )
            log.info("%s: %s weights serve every scale; rebuilt for x%d", model, entry.name, scale)
            net = load_model(model, scale=scale)
    elif weights is None and pretrained is not False:
        net = _pretrained_or_untrained(model, scale, pretrained)
    else:
        net = build_model(model, **({"scale": scale} if scale is not None else {}))
    if weights is not None:
        load_weights(net, weights)
    return net.eval()


def _pretrained_or_untrained(model: str, scale: int | None, pretrained: bool | str | None) -> nn.Module:
    try:
        entry = pretrained_entry(model, scale=scale, tag=pretrained)
    except PackagedWeightsError:
        if pretrained is not None:
            raise
        return build_model(model, **({"scale": scale} if scale is not None else {}))
    log.info("%s x%d: srlib's pretrained weights %s", entry.arch, entry.scale, entry.name)
    return load_pretrained(entry)
