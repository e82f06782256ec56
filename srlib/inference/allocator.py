"""Keep freed memory for reuse: large frames' activations then cost no page faults.

glibc's ``malloc`` serves every block above its mmap threshold (32 MiB at most) with a fresh ``mmap``
and returns it to the system on ``free``. A 480p frame's 64-channel activation is 26-52 MB, so each
layer's output is a new mapping whose pages the kernel must fault in and zero. Measured on a 2-core
Intel Xeon with AMX (family 6 model 167), one MiniSRResNet 480p x2 frame took 3.69 s in fp32 and 1.46 s
in pure bf16 with glibc's defaults, and 2.42 s and 0.68 s with freed memory kept (run
``benchmarks/inference_throughput.py`` with and without ``SRLIB_KEEP_FREED_MEMORY=0`` to compare).
The same reason makes Intel's and PyTorch's CPU launchers (``torch.backends.xeon.run_cpu``) preload
jemalloc or tcmalloc; :func:`keep_freed_memory` gets the effect in-process, with glibc itself.

The cost: memory that was freed stays with the process (its RSS stays near its peak) instead of going
back to the system. Set ``SRLIB_KEEP_FREED_MEMORY=0`` to leave ``malloc`` as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
import threading

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP = (1 << 31) - 1  # the largest int mallopt takes: keep up to 2 GiB of free memory at the heap top
_ENV = "SRLIB_KEEP_FREED_MEMORY"

_lock = threading.Lock()
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks for reuse (no ``mmap`` per large block, no trimming); once per process.

    Called by :class:`srlib.inference.Upscaler` for CPU inference. Does nothing (and returns ``False``) off
    Linux/glibc, or when the environment variable ``SRLIB_KEEP_FREED_MEMORY`` is ``0``.

    Returns:
        Whether the setting is in effect.
    """
    global _done
    with _lock:
        if _done is None:
            _done = _apply()
        return _done


def _apply() -> bool:
    if os.environ.get(_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        log.info("%s=0: malloc keeps its defaults.", _ENV)
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _KEEP) == 1
    if ok:
        log.info("malloc keeps freed memory for reuse (no mmap per large block; %s=0 turns this off).", _ENV)
    return ok
