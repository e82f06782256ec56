"""keep_freed_memory: applied once by CPU Upscalers, and SRLIB_KEEP_FREED_MEMORY=0 leaves malloc alone."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
import torch, srlib, srlib.inference
from srlib.inference import allocator
up = srlib.inference.Upscaler(srlib.create_model("bicubic", scale=2), dtype="fp32")
up(torch.rand(1, 3, 8, 8))
print("kept", allocator.keep_freed_memory(), allocator.keep_freed_memory())
"""


def _probe(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SRLIB_KEEP_FREED_MEMORY"}
    if env_value is not None:
        env["SRLIB_KEEP_FREED_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="a glibc setting (Linux only)"
)
def test_cpu_upscaler_keeps_freed_memory_once_and_says_so() -> None:
    out = _probe(None)
    assert "kept True True" in out
    assert out.count("malloc keeps freed memory for reuse") == 1


def test_the_environment_variable_turns_it_off() -> None:
    out = _probe("0")
    assert "kept False False" in out
    assert "SRLIB_KEEP_FREED_MEMORY=0: malloc keeps its defaults." in out
