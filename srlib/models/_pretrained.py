"""Pretrained weights shipped with srlib: ``create_model(..., pretrained=True)`` and ``list_pretrained``.

The files live in ``srlib/weights/`` (see :mod:`srlib._package_weights`), each with a card giving the
recipe, command, data, machine and scores (``docs/pretrained.md`` shows them all). Loading is offline
and checks the file's SHA-256 against its card first. :func:`resolve_model` (what the CLIs' ``--model``
means) uses the shipped weights for a bare registered name when they exist for the asked scale, and
builds it untrained only when srlib ships none for that architecture/scale: a broken, missing or
duplicated card is an error, never random weights. :func:`resolve_init_weights` is what training's
``init_weights=NAME_OR_FILE`` means.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from srlib._package_weights import (
    NoPackagedWeightsError,
    PackagedWeights,
    PackagedWeightsError,
    find_packaged,
    list_packaged,
)
from srlib.models._checkpoint import load_model, load_weights, model_from_state
from srlib.models._registry import create_model as build_model
from srlib.models._registry import get_model_entry, registered_name, split_name

__all__ = [
    "NoPackagedWeightsError",
    "PackagedWeightsError",
    "create_model",
    "list_pretrained",
    "pretrained_entry",
    "resolve_init_weights",
    "resolve_model",
]

log = logging.getLogger("srlib.models")
#: File suffixes that name a weight file rather than a registered model (``--model`` of every CLI).
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")


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
        NoPackagedWeightsError: none ship for that architecture, scale or tag (what does ship is listed).
        PackagedWeightsError: a weight card is broken, missing or duplicated (named, with the fix).
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
    return Path(model).suffix in WEIGHT_SUFFIXES or Path(model).is_file()


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
    """Shipped weights, or (``pretrained=None`` and none ship for it) the untrained network.

    Only "srlib ships no weights for this architecture/scale/tag" builds it untrained: any problem with
    the cards or files (:class:`PackagedWeightsError`) propagates.
    """
    try:
        entry = pretrained_entry(model, scale=scale, tag=pretrained)
    except NoPackagedWeightsError:
        if pretrained is not None:
            raise
        net = build_model(model, **({"scale": scale} if scale is not None else {}))
        if any(True for _ in net.parameters()):
            log.info(
                "%s x%s: srlib ships no pretrained weights for it, so it is built untrained (random "
                "weights); pass --weights FILE (or a weight file as the model) for a trained one",
                model,
                getattr(net, "scale", scale),
            )
        return net
    log.info("%s x%d: srlib's pretrained weights %s", entry.arch, entry.scale, entry.name)
    return load_pretrained(entry)


def _shipped_specs() -> str:
    """What ships, by name: ``edsr_baseline x2, x3, x4; ...; srvgg_compact.gan x4``."""
    by_spec: dict[str, list[int]] = {}
    for entry in list_pretrained():
        spec = f"{entry.arch}.{entry.tag}" if entry.tag else entry.arch
        by_spec.setdefault(spec, []).append(int(entry.scale or 0))
    return "; ".join(
        f"{spec} {', '.join(f'x{s}' for s in sorted(scales))}" for spec, scales in sorted(by_spec.items())
    )


def resolve_init_weights(
    spec: str | os.PathLike, *, scale: int, allow_nonfinite: bool | None = None
) -> nn.Module:
    """The network ``init_weights=SPEC`` names: srlib's shipped weights by name, or a weight file.

    * a registered name, optionally with its weight tag (``"edsr_baseline"``, ``"srvgg_compact.gan"``)
      that has shipped weights at ``scale``: that shipped network (verified against its card);
    * an existing file (or anything that looks like a path: a ``/``, a weight suffix): the file, loaded
      by :func:`~srlib.models.load_model` as it is (its own scale: reusing x2 weights for x4 is the
      caller's choice, e.g. training's ``init_partial``). One shard of a shipped set is refused with
      the name to use instead.

    An existing file wins over a name spelled the same. The network is returned in eval mode.

    Args:
        spec: the name or the path.
        scale: the scale of the shipped weights wanted (a name only).
        allow_nonfinite: accept a file holding NaN/inf values (see :func:`~srlib.models.load_model`).

    Raises:
        ValueError: a path that does not exist, a name that is not registered, or a name without
            shipped weights at ``scale``; each says what ships by name and that a file path works too.
        PackagedWeightsError: a shipped card or file is broken (a ``ValueError``).

    Example:
        >>> net = resolve_init_weights("fsrcnn", scale=3)
        >>> net.srlib_pretrained, net.scale
        ('fsrcnn_x3', 3)
    """
    text = str(spec).strip()
    hint = f"shipped weights, by name: {_shipped_specs()}; or give a weights file path (.safetensors, .pth)"
    if not text:
        raise ValueError(f"init_weights is empty; {hint}.")
    path = Path(text).expanduser()
    if path.is_file():
        return load_model(path, allow_nonfinite=allow_nonfinite)
    if path.exists() or "/" in text or os.sep in text or path.suffix in WEIGHT_SUFFIXES:
        what = "is not a file" if path.exists() else "does not exist"
        raise ValueError(f"init_weights file {path} {what}; {hint}.")
    try:
        get_model_entry(text)
    except ValueError as err:
        raise ValueError(
            f"init_weights={text!r} is neither a weights file nor a model name ({err}); {hint}."
        ) from err
    try:
        entry = pretrained_entry(text, scale=int(scale))
    except NoPackagedWeightsError as err:
        raise ValueError(
            f"init_weights={text!r}: srlib ships no weights for {text} x{scale}; {hint}."
        ) from err
    log.info("init_weights=%s: srlib's pretrained %s (%s)", text, entry.name, entry.files[0].parent)
    return load_pretrained(entry)
