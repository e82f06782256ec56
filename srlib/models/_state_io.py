"""State dicts on disk: read and write ``.safetensors`` and weights-only ``.pth`` files.

The leaf of ``srlib.models``: it knows tensors, files and header metadata, and nothing of the
registry or the architectures (it imports nothing else from srlib).

* :func:`read_header` reads a safetensors header (metadata, tensor names, shapes) without loading
  any tensor, so a file can be checked before anything is allocated.
* :func:`read_state_dict` reads the tensors; foreign ``.pth``/``.pt`` files only through
  ``torch.load(weights_only=True)``, with wrappers (``params_ema``, ``params``, ``state_dict``, ...)
  and prefixes (``module.``, ``_orig_mod.``) removed.
* :func:`write_state_dict` serialises tensors and string metadata into an open binary file.
* :func:`check_finite` refuses weights holding NaN or infinite values (a diverged run's), unless the
  caller opts out (``allow_nonfinite=True``, or ``SRLIB_ALLOW_NONFINITE=1`` for the whole process).
* :func:`check_resume_checkpoint` checks a Lightning ``.ckpt`` before a run resumes from it.
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

__all__ = [
    "ALLOW_NONFINITE_ENV",
    "NonFiniteWeightsError",
    "WeightFileError",
    "WeightHeader",
    "allow_nonfinite",
    "check_finite",
    "check_resume_checkpoint",
    "read_header",
    "read_state_dict",
    "write_state_dict",
]

_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")
_PREFIXES = ("module.", "_orig_mod.", "net.", "model.")


#: Environment variable that lets every loader accept non-finite weights (``SRLIB_ALLOW_NONFINITE=1``).
ALLOW_NONFINITE_ENV = "SRLIB_ALLOW_NONFINITE"


class WeightFileError(ValueError):
    """A weight file that cannot be used as it is (corrupt, truncated, unsafe, inconsistent)."""


class NonFiniteWeightsError(WeightFileError):
    """Weights holding NaN or infinite values: a diverged run's, useless for upscaling."""


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


def allow_nonfinite(allow: bool | None = None) -> bool:
    """Whether non-finite weights are accepted: ``allow`` when given, else ``$SRLIB_ALLOW_NONFINITE``.

    The variable counts as set unless it is empty, ``0``, ``false``, ``no`` or ``off``.

    Example:
        >>> allow_nonfinite(True)
        True
    """
    if allow is not None:
        return bool(allow)
    return os.environ.get(ALLOW_NONFINITE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def check_finite(
    state: Mapping[str, torch.Tensor], source: str | os.PathLike, *, allow: bool | None = None
) -> None:
    """Refuse ``state`` when a floating-point tensor holds a NaN or an infinite value.

    One ``torch.isfinite(t).all()`` per floating tensor (counts are taken only for the error).

    Args:
        state: the tensors.
        source: the file they came from (``"state dict"`` for an in-memory one), named in the error.
        allow: ``True`` accepts them (experts: looking into a divergence); ``None`` reads
            ``SRLIB_ALLOW_NONFINITE`` (see :func:`allow_nonfinite`).

    Raises:
        NonFiniteWeightsError: naming the file, the first bad tensor, its counts and the fix.

    Example:
        >>> try:
        ...     check_finite({"w": torch.tensor([1.0, float("nan")])}, "w.safetensors")
        ... except NonFiniteWeightsError as err:
        ...     print(str(err)[:77])
        Weight file w.safetensors: tensor 'w' (shape (2,)) holds 1 NaN and 0 infinite
    """
    if allow_nonfinite(allow):
        return
    for key, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        if tensor.device.type == "meta" or bool(torch.isfinite(tensor).all()):
            continue
        nan, count = int(torch.isnan(tensor).sum()), tensor.numel()
        where = "the state dict" if str(source) == "state dict" else f"Weight file {source}"
        raise NonFiniteWeightsError(
            f"{where}: tensor {key!r} (shape {tuple(tensor.shape)}) holds {nan} NaN and "
            f"{count - nan - int(torch.isfinite(tensor).sum())} infinite of its {count} values; "
            "the training run that wrote it diverged (or the file is damaged), so it would upscale to "
            "nothing. Use weights from an earlier, finite step, or retrain with a lower learning rate. "
            f"To load them anyway (to study the divergence), pass allow_nonfinite=True or set "
            f"{ALLOW_NONFINITE_ENV}=1."
        )


#: Entries every Lightning checkpoint holds (``Trainer.save_checkpoint``), checked before a resume.
_LIGHTNING_KEYS = ("state_dict", "global_step", "pytorch-lightning_version")


def _not_resumable(path: Path, problem: str) -> ValueError:
    return ValueError(
        f"{path} is not a usable Lightning checkpoint ({problem}); delete it (or move it away) and "
        "resume from a good copy, or start a new run (without resume=true, or with a new output_dir)"
    )


def check_resume_checkpoint(path: str | os.PathLike) -> int:
    """Check that ``path`` is a Lightning ``.ckpt`` a run can resume from, without running its code.

    A checkpoint is a torch zip archive; the checks, in order: the file exists and is not empty; it is
    a zip archive (a raw pickle or a truncated file is not); every record's CRC matches (a damaged
    byte is found here, not as a confusing load error later); it has torch's ``data.pkl`` record;
    ``torch.load(..., weights_only=True, mmap=True)`` reads it (the restricted unpickler that Lightning's
    resume uses by default: it only rebuilds tensors and plain containers and never imports or calls
    anything, so an untrusted file executes no code; ``mmap`` leaves the tensors on disk); and it holds
    the entries Lightning writes (``state_dict``, ``global_step``, ``pytorch-lightning_version``).
    Returns the checkpoint's ``global_step`` (the step a resumed run continues from).

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: one line naming the file, what is wrong and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Resume checkpoint {path} does not exist; start a new run (without resume=true)."
        )
    if path.stat().st_size == 0:
        raise _not_resumable(path, "it is empty")
    if not zipfile.is_zipfile(path):
        raise _not_resumable(path, "not a torch zip archive: a raw pickle, or a truncated or damaged file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise _not_resumable(path, f"corrupt zip archive: {err}") from err
    if damaged is not None:
        raise _not_resumable(path, f"corrupt zip archive: the record {damaged} fails its CRC check")
    if not any(name.rpartition("/")[2] == "data.pkl" for name in names):
        raise _not_resumable(path, "a zip archive without torch's data.pkl record")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        what = (
            "it holds pickled Python objects that a weights-only load refuses"
            if "unsupported global" in str(err).lower()
            else "its data.pkl record cannot be read"
        )
        raise _not_resumable(path, what) from err
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        AttributeError,
        TypeError,
    ) as err:
        raise _not_resumable(path, f"torch cannot read it: {str(err).splitlines()[0][:200]}") from err
    if not isinstance(checkpoint, Mapping):
        raise _not_resumable(path, f"a torch file holding a {type(checkpoint).__name__}, not a checkpoint")
    missing = [key for key in _LIGHTNING_KEYS if key not in checkpoint]
    if missing:
        raise _not_resumable(path, f"a torch file without Lightning's {', '.join(missing)}")
    if not isinstance(checkpoint["state_dict"], Mapping) or not isinstance(checkpoint["global_step"], int):
        raise _not_resumable(path, "its state_dict or global_step has the wrong type")
    return int(checkpoint["global_step"])
