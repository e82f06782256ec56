"""On-device degradations (HR → LR) applied per batch, after the batch reaches its device.

Every degradation is an ``nn.Module`` called as ``lr, hr = degradation(hr)`` on float [0, 1] tensors.
"""

from srlib.degrade.bicubic import BicubicDegradation, BicubicDegradationConfig, quantize_8bit

__all__ = ["BicubicDegradation", "BicubicDegradationConfig", "quantize_8bit"]
