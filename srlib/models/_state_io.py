"""State dicts on disk: read and write ``.safetensors`` and weights-only ``.pth`` files.

The leaf of ``srlib.models``: it knows tensors, files and header metadata, and nothing of the
registry or the architectures (it imports nothing else from srlib).

* :func:`read_header` reads a safetensors header (metadata, tensor names, shapes) without loading
  any tensor, so a file can be checked before anything is allocated.
* :func:`read_state_dict` reads the tensors; foreign ``.pth``/``.pt`` files only through
  ``torch.load(weights_only=True)``, with wrappers (``params_ema``, ``params``, ``state_dict``, ...)
  and prefixes (``module.``, ``_orig_mod.``) removed.
* :func:`write_state_dict` serialises tensors and string metadata into an open binary file.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open
from safetensors.torch import save as safetensors_bytes

__all__ = ["WeightFileError", "WeightHeader", "read_header", "read_state_dict", "write_state_dict"]

_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")
_PREFIXES = ("module.", "_orig_mod.", "net.", "model.")


class WeightFileError(ValueError):
    """A weight file that cannot be used as it is (corrupt, truncated, unsafe, inconsistent)."""


@dataclass(frozen=True)
class WeightHeader:
    """A safetensors header: string metadata and every tensor's shape, nothing loaded."""

    metadata: dict[str, str]
    shapes: dict[str, tuple[int, ...]]


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(
            f"Weight file {path} does not exist. Check the path, or train/download the weights first."
        )
    if path.stat().st_size == 0:
        raise WeightFileError(f"Weight file {path} is empty (0 bytes); re-download or re-export it.")


def _looks_safetensors(path: Path) -> bool:
    """A ``.safetensors`` name, or the format's first 8 bytes (little-endian header length)."""
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as f:
        head = f.read(8)
    return len(head) == 8 and int.from_bytes(head, "little") < path.stat().st_size and head[:2] != b"PK"


def _corrupt(path: Path, err: Exception) -> WeightFileError:
    return WeightFileError(
        f"Weight file {path} is not a readable safetensors file ({err}); it is probably truncated or "
        "corrupt. Re-download or re-export it."
    )


def read_header(path: str | os.PathLike) -> WeightHeader | None:
    """The safetensors header of ``path`` (``None`` for a ``.pth``-style file), no tensor loaded."""
    path = Path(path)
    _check_exists(path)
    if not _looks_safetensors(path):
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as err:
        if path.suffix == ".safetensors":
            raise _corrupt(path, err) from err
        return None
    return WeightHeader(metadata, shapes)


def read_state_dict(
    path: str | os.PathLike, header: WeightHeader | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a state dict (unwrapped, prefixes stripped) and its header metadata (``{}`` for ``.pth``).

    ``header``: the safetensors header already read by :func:`read_header` (not read again).
    """
    path = Path(path)
    header = header or read_header(path)
    if header is not None:
        try:
            return load_file(str(path)), header.metadata
        except (SafetensorError, OSError, ValueError) as err:
            raise _corrupt(path, err) from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" not in str(err).lower():
            raise WeightFileError(
                f"Weight file {path} could not be read (not a valid weights-only checkpoint); it is probably "
                "truncated or corrupt, or not a PyTorch checkpoint. Re-download or re-export it."
            ) from err
        raise WeightFileError(
            f"{path} contains pickled Python objects (for example a whole nn.Module), which srlib does "
            "not unpickle because that can run arbitrary code. In the project that made it, re-save "
            "only the weights: torch.save(model.state_dict(), 'weights.pth')."
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise WeightFileError(
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
        raise WeightFileError(
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


def write_state_dict(f: IO[bytes], state: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Serialise ``state`` with string ``metadata`` as safetensors into the open binary file ``f``.

    Every tensor is detached, moved to the CPU and cloned: safetensors refuses aliased storage
    (shared PReLU layers have some).
    """
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    f.write(safetensors_bytes(tensors, metadata=dict(metadata)))
