"""The precision rule: reduced precision only where the device computes it natively."""

from __future__ import annotations

import logging

import pytest
import torch

from srlib import precision
from srlib.precision import auto_precision, native_reduced_dtype, resolve_dtype


@pytest.fixture
def cpu_flags(monkeypatch):
    def set_flags(flags: tuple[str, ...]) -> None:
        monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)

    return set_flags


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(("amx_bf16", "avx512_bf16"), "bf16-mixed"), (("avx512_bf16",), "bf16-mixed"), ((), "32-true")],
)
def test_cpu_rule_follows_the_bf16_flags(cpu_flags, caplog, flags, expected) -> None:
    cpu_flags(flags)
    with caplog.at_level(logging.INFO, logger="srlib.precision"):
        assert auto_precision("cpu") == expected
    # The choice is logged with its reason.
    assert expected in caplog.text and ("native" in caplog.text or "emulated" in caplog.text)


def test_cuda_rule(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Test GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert auto_precision("gpu") == "16-mixed"
    assert native_reduced_dtype("cuda:0")[0] is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert auto_precision("cuda") == "bf16-mixed"
    assert auto_precision("auto") == "bf16-mixed"


def test_cuda_asked_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto_precision("cuda") == "32-true"


def test_this_machine_reads_its_flags() -> None:
    """On Linux the flags come from /proc/cpuinfo; whatever they are, the rule maps them consistently."""
    flags = precision.cpu_bf16_flags()
    assert (auto_precision("cpu") == "bf16-mixed") == bool(flags)


def test_resolve_dtype_auto_and_explicit(cpu_flags) -> None:
    cpu_flags(())
    assert resolve_dtype("auto", "cpu") is torch.float32
    cpu_flags(("amx_bf16",))
    assert resolve_dtype("auto", "cpu") is torch.bfloat16
    # An explicit choice always wins, whatever the hardware.
    assert resolve_dtype("fp32", "cpu") is torch.float32
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype("fp16") is torch.float16
    assert resolve_dtype(None) is torch.float32 and resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match="auto, bf16, fp16, fp32"):
        resolve_dtype("int8")


def test_upscale_auto_matches_the_rule(cpu_flags) -> None:
    import srlib

    net = srlib.create_model("vdsr", scale=2, depth=2, num_feat=8)
    x = torch.rand(1, 3, 16, 16)
    cpu_flags(())
    exact = srlib.upscale(x, net, dtype="fp32")
    assert torch.equal(srlib.upscale(x, net, dtype="auto"), exact)  # no bf16 here: fp32
    cpu_flags(("amx_bf16",))
    reduced = srlib.upscale(x, net, dtype="auto")
    assert not torch.equal(reduced, exact) and (reduced - exact).abs().max() < 0.05
