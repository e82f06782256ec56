"""Layers the zoo shares, drop-in for their ``torch.nn`` namesakes (same parameters and state-dict keys)."""

from __future__ import annotations

from torch import Tensor, nn

from srlib.ops.activation import prelu

__all__ = ["PReLU"]


class PReLU(nn.PReLU):
    """:class:`torch.nn.PReLU`, fast in bf16 at any channel count (:func:`srlib.ops.activation.prelu`)."""

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)
