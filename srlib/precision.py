"""One rule for reduced precision, shared by training and inference.

Reduced precision only pays where the device computes it natively; elsewhere it is emulated and
several times *slower* than float32 (bf16 on an AVX2-only CPU: 6-11x slower, measured). So:

- CUDA: bf16 where the GPU supports it, else fp16 (with a grad scaler in training);
- CPU: bf16 where the processor has AMX (``amx_bf16``) or AVX512-BF16 (``avx512_bf16``), else float32;
- anything else (MPS, unknown): float32.

:func:`native_reduced_dtype` is the rule; :func:`auto_precision` turns it into a Lightning precision
string and :func:`resolve_dtype` into the dtype inference runs in. Both log what they chose and why.
"""

from __future__ import annotations

import functools
import logging
import platform
from pathlib import Path

import torch

__all__ = ["auto_precision", "cpu_bf16_flags", "native_reduced_dtype", "resolve_dtype"]

log = logging.getLogger(__name__)

_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
_DTYPE_NAMES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "fp32": torch.float32,
    "float32": torch.float32,
}


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU feature flags that make bf16 native here (``amx_bf16``, ``avx512_bf16``); empty if none.

    Read from ``/proc/cpuinfo`` on Linux. On macOS with Apple silicon, ``hw.optional.arm.FEAT_BF16``
    is reported as ``arm_bf16``. Other systems report none (float32 is then the safe choice).
    """
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        try:
            text = cpuinfo.read_text(errors="ignore")
        except OSError:
            return ()
        for line in text.splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.partition(":")[2].split())
                return tuple(f for f in _CPU_BF16_FLAGS if f in flags)
        return ()
    if platform.system() == "Darwin":
        import subprocess

        try:
            out = subprocess.run(
                ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return ()
        return ("arm_bf16",) if out.stdout.strip() == "1" else ()
    return ()


def _device_type(device: str | torch.device | None) -> str:
    if device is None or str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device) == "gpu":  # Lightning's accelerator name
        return "cuda"
    return torch.device(device).type if not isinstance(device, torch.device) else device.type


def native_reduced_dtype(device: str | torch.device | None = "auto") -> tuple[torch.dtype | None, str]:
    """The reduced-precision dtype ``device`` computes natively, or ``None``, with the reason.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
            ``torch.device``, or a Lightning accelerator name (``"gpu"`` means CUDA).

    Returns:
        ``(dtype or None, reason)``.

    Example:
        >>> dtype, why = native_reduced_dtype("cpu")
        >>> dtype in (None, torch.bfloat16)
        True
    """
    kind = _device_type(device)
    if kind == "cuda":
        if not torch.cuda.is_available():
            return None, "CUDA was asked for but is not available"
        index = torch.device(device).index if str(device).startswith("cuda:") else None
        name = torch.cuda.get_device_name(index)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return torch.bfloat16, f"{name} computes bf16 natively"
        return torch.float16, f"{name} has no native bf16; fp16 is native"
    if kind == "cpu":
        flags = cpu_bf16_flags()
        if flags:
            return torch.bfloat16, f"the CPU has {'/'.join(flags)} (native bf16)"
        return None, "the CPU has neither AMX nor AVX512-BF16, so bf16 would be emulated and slower than fp32"
    return None, f"no reduced precision is assumed native on {kind!r}"


def auto_precision(accelerator: str = "auto") -> str:
    """Lightning precision string for ``accelerator``: ``bf16-mixed``, ``16-mixed`` or ``32-true``.

    Example:
        >>> auto_precision("cpu") in ("bf16-mixed", "32-true")
        True
    """
    dtype, why = native_reduced_dtype(accelerator)
    precision = {torch.bfloat16: "bf16-mixed", torch.float16: "16-mixed"}.get(dtype, "32-true")
    log.info("precision auto -> %s: %s.", precision, why)
    return precision


def resolve_dtype(dtype: str | torch.dtype | None, device: str | torch.device | None = "auto") -> torch.dtype:
    """The dtype inference runs in: ``"auto"`` follows :func:`native_reduced_dtype`; anything explicit wins.

    Args:
        dtype: ``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"`` (or their long names), a ``torch.dtype``,
            or ``None`` (float32).
        device: the device the model runs on.

    Raises:
        ValueError: an unknown dtype name.

    Example:
        >>> resolve_dtype("fp32")
        torch.float32
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype).lower()
    if key == "auto":
        native, why = native_reduced_dtype(device)
        chosen = native or torch.float32
        log.info("dtype auto -> %s: %s.", str(chosen).removeprefix("torch."), why)
        return chosen
    if key not in _DTYPE_NAMES:
        raise ValueError(f"Unknown dtype {dtype!r}; use one of auto, bf16, fp16, fp32.")
    return _DTYPE_NAMES[key]
