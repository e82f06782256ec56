"""What running a model costs: parameters, fp32 size, FLOPs and frames/s; and which machine measured it."""

from __future__ import annotations

import os
import platform
import statistics
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn

from srlib.evaluation.results import ModelCost
from srlib.inference.engine import Upscaler
from srlib.inference.temporal import TemporalStream

__all__ = ["device_name", "measure_cost"]


def measure_cost(
    model: nn.Module | Upscaler,
    *,
    input_size: tuple[int, int] = (256, 144),
    warmup: int = 2,
    runs: int = 10,
    dtype: str | torch.dtype | None = "fp32",
    device: str | torch.device | None = None,
) -> ModelCost:
    """Parameters, fp32 size, FLOPs and median frames/s of ``model`` on one ``input_size`` input.

    A video model is measured per output frame in steady state: one window call (its window full)
    or one recurrent step.

    Args:
        model: a network (run through an :class:`~srlib.inference.Upscaler` with ``dtype`` and
            ``device``) or an Upscaler.
        input_size: ``(width, height)`` of the LR input.
        warmup: untimed runs first.
        runs: timed runs; ``0`` skips the timing (``fps`` is ``None``).
        dtype, device: as :class:`~srlib.inference.Upscaler` (ignored for an Upscaler).

    Example:
        >>> import srlib
        >>> cost = measure_cost(srlib.create_model("fsrcnn", scale=2), input_size=(16, 8), warmup=0, runs=2)
        >>> cost.params, cost.flops > 0, cost.fps > 0, cost.runs
        (12809, True, True, 2)
    """
    from torch.utils.flop_counter import FlopCounterMode

    up = model if isinstance(model, Upscaler) else Upscaler(model, device=device, dtype=dtype)
    net = up.model
    params = sum(p.numel() for p in net.parameters())
    size = sum(
        t.numel() * (4 if t.is_floating_point() else t.element_size()) for t in net.state_dict().values()
    )
    w, h = input_size
    x = torch.rand(1, 3, h, w)
    one_frame = partial(up, x)
    if up.flags.temporal:  # one output frame: a window call or a recurrent step, in steady state
        stream = TemporalStream(up, scene_cut=None)
        for _ in range(stream.delay):  # fill the window: these pushes return nothing yet
            stream.push(x)
        one_frame = partial(stream.push, x)
    with FlopCounterMode(display=False) as counter:
        one_frame()
    times = []
    for i in range(max(0, warmup) + max(0, runs)):
        start = time.perf_counter()
        one_frame()  # the output comes back on the CPU, so the time includes the device's work
        if i >= warmup:
            times.append(time.perf_counter() - start)
    fps = 1.0 / statistics.median(times) if times else None
    return ModelCost(params, size / 2**20, int(counter.get_total_flops()), (w, h), fps, len(times), warmup)


def _cpu_fields() -> dict[str, str]:
    """The first processor's block of ``/proc/cpuinfo`` (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="ignore").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in fields:
                fields[key.strip()] = value.strip()
            if not line.strip() and fields:
                break
    except OSError:
        pass
    return fields


def device_name(device: str | torch.device) -> str:
    """What ``device`` is: the GPU's name, or the CPU's model name with its family/model/stepping
    (VMs often report only a brand, e.g. "AMD EPYC"), logical CPU count and the flags that decide
    bf16 speed (AVX2 only: bf16 emulated; AVX512-BF16 or AMX: native)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    fields = _cpu_fields()
    name = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    ids = [f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if k in fields]
    flags = set(fields.get("flags", "").split())
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    extra = f" ({', '.join(ids)})" if ids else ""
    return f"{name}{extra}, {os.cpu_count()} logical CPUs, flags: {' '.join(simd) or 'no avx2/avx512/amx'}"
