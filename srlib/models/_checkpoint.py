"""Weights on disk: srlib's self-describing safetensors files and foreign checkpoints.

* :func:`save_model` writes ``.safetensors`` whose header metadata names the architecture, its full
  keyword config, the scale and the srlib version, so :func:`load_model` alone rebuilds the model.
* Foreign ``.pth``/``.pt`` files are read with ``torch.load(weights_only=True)`` only; wrappers
  (``params_ema``, ``params``, ``state_dict``, ``model``) and prefixes (``module.``, ``_orig_mod.``)
  are removed, then the model file's ``checkpoint_filter_fn`` maps upstream key names.
* A checkpoint without srlib metadata is matched to an architecture by the detectors that model
  files register with :func:`register_detector` (key names and tensor shapes).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from srlib._version import __version__
from srlib.models._registry import create_model, get_model_entry, registered_name

__all__ = [
    "load_model",
    "load_state_dict",
    "load_weights",
    "register_detector",
    "resolve_model",
    "save_model",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")
_PREFIXES = ("module.", "_orig_mod.", "net.", "model.")

Detector = Callable[[Mapping[str, torch.Tensor]], "dict[str, Any] | None"]
_DETECTORS: list[tuple[str, Detector]] = []


def register_detector(name: str, *, first: bool = False) -> Callable[[Detector], Detector]:
    """Register ``fn(state_dict) -> kwargs | None`` recognising checkpoints of model ``name``.

    A detector returns the keyword arguments (inferred from tensor shapes) when the keys are its
    architecture's, else ``None``. ``first=True`` puts it ahead of the others, for an architecture
    whose keys are a superset of another's.
    """

    def wrap(fn: Detector) -> Detector:
        if first:
            _DETECTORS.insert(0, (name, fn))
        else:
            _DETECTORS.append((name, fn))
        return fn

    return wrap


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model``'s weights and config to a ``.safetensors`` file, atomically.

    Args:
        model: a registered srlib model (built by ``create_model`` or its class).
        path: destination; ``.safetensors`` is appended when missing.

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
    arch = registered_name(model)
    config = dict(getattr(model, "srlib_config", {}))
    metadata = {
        "format": "srlib",
        "srlib_format_version": FORMAT_VERSION,
        "arch": arch,
        "kwargs": json.dumps(config, sort_keys=True),
        "scale": str(getattr(model, "scale", config.get("scale", ""))),
        "srlib_version": __version__,
    }
    # Clone every tensor: safetensors refuses aliased storage (shared PReLU layers have some).
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a state dict and header metadata from ``.safetensors`` or a weights-only ``.pth``."""
    if not path.is_file():
        raise FileNotFoundError(
            f"Weight file {path} does not exist. Check the path, or train/download the weights first."
        )
    if path.stat().st_size == 0:
        raise ValueError(f"Weight file {path} is empty (0 bytes); re-download or re-export it.")
    with path.open("rb") as f:
        head = f.read(8)
    looks_safetensors = path.suffix == ".safetensors" or (
        len(head) == 8 and int.from_bytes(head, "little") < path.stat().st_size and head[:2] != b"PK"
    )
    if looks_safetensors:
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
            return load_file(str(path)), metadata
        except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as err:
            if path.suffix == ".safetensors":
                raise ValueError(
                    f"Weight file {path} is not a readable safetensors file ({err}); it is probably "
                    "truncated or corrupt. Re-download or re-export it."
                ) from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" not in str(err).lower():
            raise ValueError(
                f"Weight file {path} could not be read (not a valid weights-only checkpoint); it is probably "
                "truncated or corrupt, or not a PyTorch checkpoint. Re-download or re-export it."
            ) from err
        raise ValueError(
            f"{path} contains pickled Python objects (for example a whole nn.Module), which srlib does "
            "not unpickle because that can run arbitrary code. In the project that made it, re-save "
            "only the weights: torch.save(model.state_dict(), 'weights.pth')."
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise ValueError(
            f"Weight file {path} could not be read ({err}); it is probably truncated or corrupt. "
            "Re-download or re-export it."
        ) from err
    return _unwrap(obj, path), {}


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, Mapping) and not _is_state_dict(obj):
            for key in _WRAPPER_KEYS:
                if key in obj and isinstance(obj[key], Mapping):
                    obj = obj[key]
                    break
            else:
                break
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        keys = list(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise ValueError(
            f"{path} holds no state dict of tensors (top level: {keys}). srlib looks for one at the top "
            f"level or under one of {list(_WRAPPER_KEYS)}."
        )
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in _PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _is_state_dict(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict (unwrapped, prefixes stripped) from ``.safetensors``/``.pth``/``.pt``."""
    return _read_checkpoint(Path(path))[0]


def load_weights(
    model: nn.Module, weights: str | os.PathLike | Mapping[str, torch.Tensor], *, strict: bool = True
) -> nn.Module:
    """Load a file or state dict into ``model``, mapping foreign key names first.

    Raises:
        ValueError: with every missing key, unexpected key and shape mismatch named (``strict``).
    """
    state = dict(weights) if isinstance(weights, Mapping) else load_state_dict(weights)
    source = "state dict" if isinstance(weights, Mapping) else str(weights)
    entry = get_model_entry(registered_name(model))
    if entry.checkpoint_filter_fn is not None:
        state = entry.checkpoint_filter_fn(state, model)
    return load_checked(
        model,
        state,
        source=source,
        what=f"model {entry.name!r} ({type(model).__name__})",
        hint="Check the architecture and its arguments (scale, depth, channels) against the file.",
        strict=strict,
    )


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
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if mismatched or (strict and (missing or unexpected)):
        lines = [f"Weights from {source} do not fit {what}:"]
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected)):
            if items:
                more = " ..." if len(items) > 12 else ""
                lines.append(f"  {label} ({len(items)}): {', '.join(items[:12])}{more}")
        if mismatched:
            lines.append(f"  shape mismatches ({len(mismatched)}): {'; '.join(mismatched[:8])}")
        lines.append(f"  {hint}")
        raise ValueError("\n".join(lines))
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)
    return model


def detect_architecture(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]]:
    """Find the registered architecture a foreign state dict belongs to.

    Returns:
        ``(name, kwargs)`` inferred from key names and tensor shapes.
    """
    import srlib.models  # noqa: F401 - registers the detectors

    for name, detect in _DETECTORS:
        kwargs = detect(state)
        if kwargs is not None:
            return name, kwargs
    sample = ", ".join(list(state)[:6])
    raise ValueError(
        f"Could not recognise the architecture of this checkpoint (first keys: {sample}). "
        "Build the model yourself with srlib.create_model(NAME, ...) and load it with "
        "srlib.load_weights(model, path)."
    )


def load_model(path: str | os.PathLike, **overrides: Any) -> nn.Module:
    """Rebuild a model from a weight file alone, in eval mode.

    srlib files carry their config; foreign checkpoints are recognised by their keys. ``overrides``
    replace config entries (for example ``scale=3`` for a multi-scale VDSR checkpoint).

    Example:
        >>> import tempfile, srlib
        >>> path = srlib.save_model(srlib.create_model("vdsr", scale=3), tempfile.mkdtemp() + "/v")
        >>> load_model(path).scale
        3
    """
    path = Path(path)
    state, metadata = _read_checkpoint(path)
    if metadata.get("format") == "srlib":
        arch = metadata["arch"]
        kwargs = json.loads(metadata.get("kwargs", "{}"))
        log.debug("srlib checkpoint %s: %s %s (srlib %s)", path, arch, kwargs, metadata.get("srlib_version"))
    else:
        arch, kwargs = detect_architecture(state)
        log.info("Recognised %s as %r with %s", path, arch, kwargs)
    model = create_model(arch, **{**kwargs, **overrides})
    load_weights(model, state, strict=True)
    return model.eval()


def resolve_model(model: str, *, scale: int, weights: str | None = None) -> nn.Module:
    """A registered name (optionally with ``weights``) or a weight file, built for ``scale``.

    This is what the CLIs' ``--model NAME_OR_WEIGHTS [--weights FILE]`` means.
    """
    if Path(model).suffix in (".safetensors", ".pth", ".pt", ".ckpt") or Path(model).is_file():
        net = load_model(model)
        native = int(getattr(net, "scale", scale))
        if native != int(scale):
            # Multi-scale architectures (VDSR) rebuild for the requested scale; others cannot.
            try:
                net = load_model(model, scale=scale)
            except ValueError as err:
                raise ValueError(
                    f"The weights in {model} are for x{native} and do not fit x{scale}; use --scale {native}."
                ) from err
    else:
        net = create_model(model, scale=scale)
    if weights is not None:
        load_weights(net, weights)
    return net.eval()
