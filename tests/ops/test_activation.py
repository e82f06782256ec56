"""The lane-aligned PReLU is F.prelu, bit for bit, in every layout, dtype and channel count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srlib.models._layers import PReLU
from srlib.ops.activation import prelu


@pytest.mark.parametrize("channels", [1, 3, 12, 32, 56, 64, 100])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_prelu_equals_torch_prelu_bit_for_bit(channels: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(channels)
    x = torch.randn(2, channels, 9, 16, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    weight = (torch.rand(channels, generator=g) * 2 - 0.5).to(dtype)  # slopes below 0 and above 1 too
    got = prelu(x, weight)
    assert got.dtype == dtype and got.shape == x.shape
    assert torch.equal(got, F.prelu(x, weight))
    assert torch.equal(prelu(x.contiguous(), weight), F.prelu(x.contiguous(), weight))  # NCHW
    assert torch.equal(prelu(x, weight[:1]), F.prelu(x, weight[:1]))  # one shared slope


def test_prelu_takes_the_aligned_view_and_keeps_channels_last(monkeypatch) -> None:
    import srlib.ops.activation as activation

    seen: list[tuple[int, ...]] = []
    real = F.prelu

    def spy(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        seen.append((*x.shape, w.numel()))
        return real(x, w)

    monkeypatch.setattr(activation.F, "prelu", spy)
    x = torch.randn(1, 12, 8, 8, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    out = prelu(x, torch.full((12,), 0.25, dtype=torch.bfloat16))
    assert seen == [(8, 96, 96)]  # 64 pixels as 8 rows of 8 pixels x 12 channels, slopes repeated 8x
    assert out.is_contiguous(memory_format=torch.channels_last)
    seen.clear()
    prelu(x.float(), torch.full((12,), 0.25))  # fp32 is fast already: the plain call
    assert seen == [(1, 12, 8, 8, 12)]
    monkeypatch.undo()
    # Pixel count not a multiple of the view's row length (8 pixels for 12 channels): the plain kernel.
    odd = torch.randn(1, 12, 3, 5, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    w = torch.rand(12, dtype=torch.bfloat16)
    assert torch.equal(prelu(odd, w), F.prelu(odd, w))


def test_prelu_layer_trains_like_torch_prelu() -> None:
    torch.manual_seed(0)
    ours, ref = PReLU(12), torch.nn.PReLU(12)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 12, 8, 8).contiguous(memory_format=torch.channels_last)
    outs = []
    for layer in (ours, ref):
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(xi.bfloat16())
        y.float().square().sum().backward()
        outs.append((y.detach(), xi.grad, layer.weight.grad))
    (y, x_grad, w_grad), (y_ref, x_grad_ref, w_grad_ref) = outs
    assert torch.equal(y, y_ref) and torch.equal(x_grad, x_grad_ref)
    # The slopes' gradient sums 256 bf16 products per channel, in another order: bf16-close.
    torch.testing.assert_close(w_grad, w_grad_ref, rtol=1e-2, atol=1e-2 * w_grad_ref.abs().max().item())
