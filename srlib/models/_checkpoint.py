"""Weights and the zoo: self-describing srlib files, foreign checkpoints, architecture detection.

* :func:`save_model` writes ``.safetensors`` whose header metadata names the architecture, its weight
  tag, its full keyword config, the scale and the srlib version, so :func:`load_model` alone
  rebuilds the model.
* :func:`load_model` checks that metadata before allocating anything: the network it describes is
  first built on the ``meta`` device (no memory) and its tensor shapes compared with the file's
  header, so a small file asking for a huge network is refused at once, naming the file.
* A checkpoint without srlib metadata is matched to an architecture by the registry entries'
  detectors, tried in their declared order (:func:`srlib.models._registry.detection_order`).
* Every loader refuses weights holding NaN or infinite values (a diverged run's), naming the file and
  the tensor; ``allow_nonfinite=True`` (or ``SRLIB_ALLOW_NONFINITE=1`` for the command lines) opts out.
* One shard of a sharded weight set (``NAME-00001-of-00002.safetensors``) is named as such, with how
  to load the whole set.

File reading and writing is :mod:`srlib.models._state_io`; this module adds what needs the registry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module

from srlib._fs import atomic_write
from srlib._version import __version__
from srlib.models._registry import (
    create_model,
    detection_order,
    get_model_entry,
    registered_name,
    split_name,
)
from srlib.models._state_io import (
    ALLOW_NONFINITE_ENV,
    NonFiniteWeightsError,
    WeightFileError,
    check_finite,
    check_resume_checkpoint,
    read_header,
    read_state_dict,
    write_state_dict,
)

__all__ = [
    "ALLOW_NONFINITE_ENV",
    "NonFiniteWeightsError",
    "WeightFileError",
    "check_resume_checkpoint",
    "detect_architecture",
    "load_checked",
    "load_discriminator_weights",
    "load_model",
    "load_state_dict",
    "load_weights",
    "model_from_state",
    "save_model",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"


def save_model(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    arch: str | None = None,
    kind: str | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s weights and config to a ``.safetensors`` file, atomically.

    The one srlib weight format, for every kind of network: the header names the kind (SR networks,
    the default, leave it out), the architecture, its weight tag, its full keyword config
    (``srlib_config``), the scale and the srlib version, so one call rebuilds the network
    (:func:`load_model`; ``srlib.load_detector`` for a detector).

    Args:
        model: a registered srlib model (built by ``create_model`` or its class), or a network of
            another registry (a detector) that says its ``srlib_kind`` and ``srlib_arch``.
        path: destination; ``.safetensors`` is appended when missing.
        metadata: extra string entries kept with the weights (for example ``frame_policy``, the JSON of
            the ``FramePairPolicy`` a video model was trained with); ``load_model`` returns them as
            ``model.srlib_file_metadata``.
        arch: the registered name (default: the model's own).
        kind: the kind of network (default: the model's ``srlib_kind``, else ``"sr"``).
        dtype: store floating-point tensors in this dtype (``torch.float16`` halves the file; the
            loaders cast them back to the network's).

    Returns:
        The path written.

    Example:
        >>> import tempfile, srlib
        >>> net = srlib.create_model("bicubic", scale=2)
        >>> out = save_model(net, tempfile.mkdtemp() + "/bicubic")
        >>> out.suffix
        '.safetensors'
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    kind = kind or getattr(model, "srlib_kind", "sr")
    if arch is None:
        arch = registered_name(model) if kind == "sr" else getattr(model, "srlib_arch", None)
    if not arch:
        raise ValueError(
            f"save_model: the {kind} network {type(model).__name__} has no registered name; pass "
            "arch=NAME (the name it is registered under)."
        )
    config = dict(getattr(model, "srlib_config", {}))
    core = {
        "format": "srlib",
        "srlib_format_version": FORMAT_VERSION,
        "arch": arch,
        "kwargs": json.dumps(config, sort_keys=True),
        "scale": str(getattr(model, "scale", config.get("scale", ""))),
        "srlib_version": __version__,
    }
    if kind != "sr":
        core["srlib_kind"] = kind
    tag = getattr(model, "srlib_tag", None)
    if tag:
        core["tag"] = tag
    extra = {str(k): str(v) for k, v in (metadata or {}).items() if k not in core}
    state = model.state_dict()
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return atomic_write(path, lambda f: write_state_dict(f, state, {**extra, **core}))


def load_state_dict(
    path: str | os.PathLike, *, allow_nonfinite: bool | None = None
) -> dict[str, torch.Tensor]:
    """Read a state dict (unwrapped, prefixes stripped) from ``.safetensors``/``.pth``/``.pt``.

    Args:
        path: the file.
        allow_nonfinite: ``True`` accepts tensors holding NaN/inf; ``None`` (default) refuses them
            unless ``SRLIB_ALLOW_NONFINITE=1`` is set.

    Raises:
        NonFiniteWeightsError: a tensor holds NaN or inf (named, with the file; a ``ValueError``).
    """
    state = read_state_dict(path)[0]
    check_finite(state, path, allow=allow_nonfinite)
    return state


def _state_of(
    weights: str | os.PathLike | Mapping[str, torch.Tensor], allow_nonfinite: bool | None
) -> dict[str, torch.Tensor]:
    """The tensors of a file or a state dict, refused when non-finite (unless allowed)."""
    if not isinstance(weights, Mapping):
        return load_state_dict(weights, allow_nonfinite=allow_nonfinite)
    state = dict(weights)
    check_finite(state, "state dict", allow=allow_nonfinite)
    return state


def load_weights(
    model: nn.Module,
    weights: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    allow_nonfinite: bool | None = None,
) -> nn.Module:
    """Load a file or state dict into an SR ``model``, mapping foreign key names first.

    ``allow_nonfinite``: see :func:`load_state_dict` (NaN/inf tensors are refused by default).

    Raises:
        ValueError: with every missing key, unexpected key and shape mismatch named (``strict``);
            ``NonFiniteWeightsError`` for NaN/inf values.
    """
    entry = get_model_entry(registered_name(model))
    return _load_into(
        model,
        weights,
        what=f"model {entry.name!r} ({type(model).__name__})",
        hint="Check the architecture and its arguments (scale, depth, channels) against the file.",
        strict=strict,
        allow_nonfinite=allow_nonfinite,
        key_map=entry.checkpoint_filter_fn,
    )


def load_discriminator_weights(
    model: nn.Module,
    weights: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    allow_nonfinite: bool | None = None,
) -> nn.Module:
    """Load a state dict or a ``.safetensors``/``.pth`` file (``params``/``params_ema`` wrappers and
    ``module.`` prefixes removed) into a discriminator.

    Raises:
        ValueError: naming missing keys, unexpected keys and shape mismatches; NaN/inf values
            (``NonFiniteWeightsError``, unless ``allow_nonfinite``).
    """
    return _load_into(
        model,
        weights,
        what=f"discriminator {type(model).__name__}",
        hint="Check the discriminator name and its arguments (num_feat, input_size) against the file.",
        strict=strict,
        allow_nonfinite=allow_nonfinite,
    )


def _load_into(
    model: nn.Module,
    weights: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    what: str,
    hint: str,
    strict: bool,
    allow_nonfinite: bool | None,
    key_map: Callable[[dict, nn.Module], dict] | None = None,
) -> nn.Module:
    """``weights``' tensors (refused when non-finite), keys mapped by ``key_map``, checked into ``model``."""
    state = _state_of(weights, allow_nonfinite)
    if key_map is not None:
        state = key_map(state, model)
    return load_checked(model, state, source=_source(weights), what=what, hint=hint, strict=strict)


def _source(weights: object) -> str:
    return "state dict" if isinstance(weights, Mapping) else str(weights)


def _shape_problems(
    own: Mapping[str, tuple[int, ...]], theirs: Mapping[str, tuple[int, ...]]
) -> tuple[list[str], list[str], list[str]]:
    """Missing keys, unexpected keys and shape mismatches of ``theirs`` against ``own``."""
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    mismatched = [
        f"{k}: file {tuple(theirs[k])} vs model {tuple(own[k])}"
        for k in own
        if k in theirs and tuple(theirs[k]) != tuple(own[k])
    ]
    return missing, unexpected, mismatched


def _misfit_message(
    source: str, what: str, hint: str, problems: tuple[list[str], list[str], list[str]]
) -> str:
    missing, unexpected, mismatched = problems
    lines = [f"Weights from {source} do not fit {what}:"]
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected)):
        if items:
            more = " ..." if len(items) > 12 else ""
            lines.append(f"  {label} ({len(items)}): {', '.join(items[:12])}{more}")
    if mismatched:
        lines.append(f"  shape mismatches ({len(mismatched)}): {'; '.join(mismatched[:8])}")
    lines.append(f"  {hint}")
    return "\n".join(lines)


def load_checked(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    what: str,
    hint: str,
    strict: bool = True,
) -> nn.Module:
    """``model.load_state_dict`` that names every missing/unexpected key and shape mismatch.

    Shape mismatches always raise; missing/unexpected keys raise when ``strict``.
    """
    own = model.state_dict()
    problems = _shape_problems(
        {k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in state.items()}
    )
    missing, unexpected, mismatched = problems
    if mismatched or (strict and (missing or unexpected)):
        raise ValueError(_misfit_message(source, what, hint, problems))
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)
    return model


def detect_architecture(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]]:
    """Find the registered architecture a foreign state dict belongs to.

    Detectors run in the registry's declared order (``detect_before``), never import order.

    Returns:
        ``(name, kwargs)`` inferred from key names and tensor shapes.
    """
    for entry in detection_order():
        kwargs = entry.detector(state)  # type: ignore[misc]
        if kwargs is not None:
            return entry.name, kwargs
    sample = ", ".join(list(state)[:6])
    raise ValueError(
        f"Could not recognise the architecture of this checkpoint (first keys: {sample}). "
        "Build the model yourself with srlib.create_model(NAME, ...) and load it with "
        "srlib.load_weights(model, path)."
    )


# --- srlib metadata: validated before anything is allocated -----------------------------------------


#: ``build(arch, kwargs) -> network``: how the owner of a kind of network builds one of its names.
Build = Callable[[str, dict[str, Any]], nn.Module]

#: Where the files of each kind go, named when a file reaches the loader of another kind.
_LOADERS = {"sr": "srlib.load_model(path)", "detector": "srlib.load_detector(path)"}
_KIND_NAMES = {"sr": "super-resolution"}

#: The entries of the format itself; the others come back as ``model.srlib_file_metadata``.
_CORE_KEYS = (
    "format",
    "srlib_format_version",
    "srlib_kind",
    "arch",
    "kwargs",
    "scale",
    "srlib_version",
    "tag",
)


def _kind_of(metadata: Mapping[str, str]) -> str | None:
    """The kind of network an srlib file holds (``"sr"``, ``"detector"``), ``None`` for a foreign file.

    Detector files written before detectors shared the format carry ``srlib_kind`` and no ``format``
    entry; their other entries (``arch``, ``kwargs``) are the same, so they are read as format 1.
    """
    if metadata.get("format") == "srlib" or metadata.get("srlib_kind"):
        return metadata.get("srlib_kind", "sr")
    return None


def _check_kind(path: Path, metadata: Mapping[str, str], kind: str) -> None:
    """Refuse a file that holds no srlib network of ``kind``, naming the loader its own kind goes to."""
    found = _kind_of(metadata)
    if found == kind or (found is None and kind == "sr"):  # foreign SR checkpoints are recognised by keys
        return
    if found is None:
        raise WeightFileError(
            f"Weight file {path} is not an srlib {kind} weight file (its metadata names no {kind} "
            f"architecture): a foreign checkpoint, or weights of another program; {_LOADERS['sr']} "
            "recognises foreign super-resolution checkpoints."
        )
    loader = _LOADERS.get(found, f"the loader of {found} networks")
    raise WeightFileError(
        f"Weight file {path} holds a {_KIND_NAMES.get(found, found)} network ({metadata.get('arch', '?')}), "
        f"not a {_KIND_NAMES.get(kind, kind)} one; load it with {loader}."
    )


def _srlib_config(path: Path, metadata: Mapping[str, str], kind: str = "sr") -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` from srlib header metadata; any problem is one error naming the file.

    The name is checked against the zoo for SR files; the builder of another kind checks its own.
    """

    def bad(problem: str) -> WeightFileError:
        return WeightFileError(
            f"Weight file {path} has srlib metadata that cannot be used: {problem}. The file was not "
            "written by this srlib's save_model, or it was edited; re-export it with srlib.save_model."
        )

    _check_kind(path, metadata, kind)
    version = metadata.get("srlib_format_version", FORMAT_VERSION)
    if not version.isdigit():
        raise bad(f"srlib_format_version {version!r} is not a number")
    if int(version) > int(FORMAT_VERSION):
        raise WeightFileError(
            f"Weight file {path} uses srlib file format {version}, newer than this srlib's "
            f"({FORMAT_VERSION}); upgrade srlib (`pip install -U srlib`) to read it."
        )
    for key in ("arch", "kwargs"):
        if not metadata.get(key):
            raise bad(f"the {key!r} entry is missing or empty")
    name = metadata["arch"]
    if kind == "sr":
        if metadata.get("tag"):
            name = f"{split_name(name)[0]}.{metadata['tag']}"
        try:
            get_model_entry(name)
        except ValueError as err:
            raise bad(str(err)) from err
    try:
        kwargs = json.loads(metadata["kwargs"])
    except json.JSONDecodeError as err:
        raise bad(f"'kwargs' is not valid JSON ({err})") from err
    if not isinstance(kwargs, dict):
        raise bad(f"'kwargs' must be a JSON object, got {type(kwargs).__name__}")
    scale = metadata.get("scale", "")
    if scale:
        if not scale.isdigit():
            raise bad(f"'scale' must be a whole number, got {scale!r}")
        if "scale" in kwargs and kwargs["scale"] != int(scale):
            raise bad(f"'scale' says {scale} but 'kwargs' says {kwargs['scale']!r}")
    return name, kwargs


def _zoo_build(name: str, kwargs: dict[str, Any]) -> nn.Module:
    return create_model(name, **kwargs)


class _TooBigError(Exception):
    """Raised inside a meta-device build that registers more than its file could ever hold."""


@contextlib.contextmanager
def _bounded_build(max_params: int, max_modules: int) -> Iterator[None]:
    """Abort a network's construction as soon as it registers more parameters/modules than allowed."""
    counts = {"params": 0, "modules": 0}

    def on_param(module: nn.Module, name: str, param: Any) -> None:
        counts["params"] += 1
        if counts["params"] > max_params:
            raise _TooBigError(f"more than {max_params} parameter tensors")

    def on_module(module: nn.Module, name: str, sub: Any) -> None:
        counts["modules"] += 1
        if counts["modules"] > max_modules:
            raise _TooBigError(f"more than {max_modules} layers")

    handles = [
        nn_module.register_module_parameter_registration_hook(on_param),
        nn_module.register_module_module_registration_hook(on_module),
    ]
    try:
        with torch.device("meta"):
            yield
    finally:
        for handle in handles:
            handle.remove()


def _check_against_header(
    path: Path, name: str, kwargs: dict[str, Any], shapes: Mapping[str, tuple[int, ...]], build: Build
) -> None:
    """Build ``name(**kwargs)`` on the meta device and compare its tensor shapes with the file's."""
    try:
        with _bounded_build(max_params=2 * len(shapes) + 64, max_modules=8 * len(shapes) + 256):
            meta = build(name, kwargs)
    except _TooBigError as err:
        raise WeightFileError(
            f"Weight file {path} asks for {name}({_short(kwargs)}), a network with {err}, but holds only "
            f"{len(shapes)} tensors: its metadata does not match its contents. Re-export the file."
        ) from err
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise WeightFileError(
            f"Weight file {path}: its metadata asks for {name}({_short(kwargs)}), which cannot be "
            f"built ({err}). Re-export the file with srlib.save_model."
        ) from err
    own = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    problems = _shape_problems(own, shapes)
    if any(problems):
        raise WeightFileError(
            _misfit_message(
                str(path),
                f"the {name}({_short(kwargs)}) its own metadata describes",
                "The metadata does not match the tensors: the file is damaged or was edited.",
                problems,
            )
        )


def _short(kwargs: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in sorted(kwargs.items()))
    return text if len(text) < 200 else text[:197] + "..."


def load_model(
    path: str | os.PathLike,
    *,
    allow_nonfinite: bool | None = None,
    kind: str = "sr",
    build: Build | None = None,
    **overrides: Any,
) -> nn.Module:
    """Rebuild a model from a weight file alone, in eval mode.

    srlib files carry their config, which is checked against the tensors' shapes before anything is
    allocated; foreign checkpoints are recognised by their keys. ``overrides`` replace config entries
    (for example ``scale=3`` for a multi-scale VDSR checkpoint). Weights holding NaN or infinite
    values are refused unless ``allow_nonfinite=True`` (or ``SRLIB_ALLOW_NONFINITE=1``).

    Args:
        kind: the kind of network the file must hold: ``"sr"`` (the zoo) or the kind of another
            registry, whose owner passes ``build`` (``srlib.load_detector`` does, for detectors).
        build: ``build(arch, kwargs) -> network`` for a kind other than ``"sr"``.

    Raises:
        FileNotFoundError: no such file.
        WeightFileError: a corrupt file, or metadata that is missing, malformed or inconsistent; a
            file of another kind; one shard of a sharded set; ``NonFiniteWeightsError`` for NaN/inf.

    Example:
        >>> import tempfile, srlib
        >>> path = srlib.save_model(srlib.create_model("vdsr", scale=3), tempfile.mkdtemp() + "/v")
        >>> load_model(path).scale
        3
    """
    if (kind == "sr") != (build is None):
        raise ValueError(
            f"load_model(kind={kind!r}) needs build= for a kind other than 'sr' (and only then)."
        )
    path = Path(path)
    header = read_header(path)
    metadata = header.metadata if header is not None else {}
    if header is not None and _kind_of(metadata) is not None:
        name, kwargs = _srlib_config(path, metadata, kind)
        kwargs = {**kwargs, **overrides}
        try:
            _check_against_header(path, name, kwargs, header.shapes, build or _zoo_build)
        except WeightFileError as err:
            shard = _shard_error(path)
            if shard is not None:
                raise shard from err
            raise
        state = read_state_dict(path, header)[0]
        log.debug("srlib checkpoint %s: %s %s (srlib %s)", path, name, kwargs, metadata.get("srlib_version"))
    else:
        _check_kind(path, metadata, kind)
        state = read_state_dict(path, header)[0]
        name, detected = detect_architecture(state)
        kwargs = {**detected, **overrides}
        log.info("Recognised %s as %r with %s", path, name, detected)
    check_finite(state, path, allow=allow_nonfinite)
    return _build_loaded(name, kwargs, state, metadata, source=path, build=build)


_SHARD_NAME = re.compile(r"^(?P<name>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.safetensors$")


def _shard_error(path: Path) -> WeightFileError | None:
    """The error for one shard of a sharded weight set (``NAME-00001-of-00002.safetensors``), if it is one.

    The set's card (``NAME.json`` beside it, as in ``srlib/weights``) names the architecture, scale
    and tag when it is there.
    """
    match = _SHARD_NAME.match(path.name)
    if match is None or int(match["count"]) < 2:
        return None
    name, index, count = match["name"], int(match["index"]), int(match["count"])
    head = f"Weight file {path} is shard {index} of {count} of the weight set {name}, not a whole network"
    try:
        card = json.loads((path.parent / f"{name}.json").read_text(encoding="utf-8"))
        arch, scale, tag = str(card["arch"]), int(card["scale"]), card.get("tag")
    except (OSError, ValueError, KeyError, TypeError):
        return WeightFileError(
            f"{head}; load all {count} shards together (their tensors merged), not one of them."
        )
    spec = f"{arch}.{tag}" if tag else arch
    pretrained = repr(tag) if tag else "True"
    return WeightFileError(
        f"{head}: srlib's shipped {spec} x{scale}. Use it by name: init_weights={spec} (training), "
        f"--model {spec} --scale {scale} (command lines), or "
        f"srlib.create_model({arch!r}, scale={scale}, pretrained={pretrained})."
    )


def _build_loaded(
    name: str,
    kwargs: dict[str, Any],
    state: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str],
    *,
    source: str | os.PathLike,
    build: Build | None,
) -> nn.Module:
    """The network ``name(**kwargs)`` with ``state`` (already checked finite) loaded strictly."""
    if build is None:
        model = create_model(name, **kwargs)
        load_weights(model, state, strict=True, allow_nonfinite=True)
    else:
        model = load_checked(
            build(name, kwargs),
            state,
            source=str(source),
            what=f"{metadata.get('srlib_kind', 'network')} {name!r}",
            hint="The file's metadata does not match its tensors: the file is damaged or was edited.",
        )
    model.srlib_file_metadata = {k: v for k, v in metadata.items() if k not in _CORE_KEYS}  # type: ignore[assignment]
    return model.eval()


def model_from_state(
    state: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str],
    source: str | os.PathLike,
    *,
    allow_nonfinite: bool | None = None,
    kind: str = "sr",
    build: Build | None = None,
) -> nn.Module:
    """What :func:`load_model` gives for an srlib file, from tensors and metadata already read.

    For weights stored in several shards (``srlib/weights``), merged by the caller; ``source`` names
    them in errors. ``kind`` and ``build``: as for :func:`load_model`.

    Raises:
        WeightFileError: metadata that is missing, malformed or inconsistent; tensors that do not fit;
            ``NonFiniteWeightsError`` for NaN/inf values (unless ``allow_nonfinite``).
    """
    name, kwargs = _srlib_config(Path(source), metadata, kind)
    check_finite(state, source, allow=allow_nonfinite)
    return _build_loaded(name, kwargs, state, metadata, source=source, build=build)
