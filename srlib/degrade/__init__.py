"""On-device degradations (HR → LR) applied per batch, after the batch reaches its device.

Every degradation is an ``nn.Module`` called as ``lr, hr = degradation(hr)`` on float [0, 1] tensors.
Following kornia, there are three tiers:

- functional ops on batches with per-sample parameters (:mod:`srlib.degrade.functional`,
  :mod:`srlib.degrade.kernels`);
- random parameter generators and the parameter records they return (:mod:`srlib.degrade.params`);
- modules that draw parameters, apply them and keep them for replay (:class:`RealESRGANDegradation`,
  :class:`FirstOrderDegradation` and its presets), configured by typed dataclasses.
"""

from srlib.degrade.base import RandomDegradation
from srlib.degrade.bicubic import BicubicDegradation, BicubicDegradationConfig, quantize_8bit
from srlib.degrade.config import (
    BlurConfig,
    ClipConfig,
    JPEGConfig,
    NoiseConfig,
    ResizeConfig,
    USMConfig,
    build_config,
)
from srlib.degrade.functional import (
    add_gaussian_noise,
    add_poisson_noise,
    blur,
    jpeg_compress,
    resize,
    usm_sharpen,
)
from srlib.degrade.kernels import KERNEL_TYPES, mixed_kernels, sinc_kernels
from srlib.degrade.params import (
    JPEGGenerator,
    JPEGParams,
    KernelGenerator,
    KernelParams,
    NoiseGenerator,
    NoiseParams,
    ResizeGenerator,
    ResizeParams,
    SincGenerator,
)
from srlib.degrade.presets import (
    BicubicJPEGDegradation,
    BicubicNoiseDegradation,
    FirstOrderConfig,
    FirstOrderDegradation,
    FirstOrderParams,
    VideoDegradation,
)
from srlib.degrade.realesrgan import RealESRGANConfig, RealESRGANDegradation, RealESRGANParams

__all__ = [
    "KERNEL_TYPES",
    "BicubicDegradation",
    "BicubicDegradationConfig",
    "BicubicJPEGDegradation",
    "BicubicNoiseDegradation",
    "BlurConfig",
    "ClipConfig",
    "FirstOrderConfig",
    "FirstOrderDegradation",
    "FirstOrderParams",
    "JPEGConfig",
    "JPEGGenerator",
    "JPEGParams",
    "KernelGenerator",
    "KernelParams",
    "NoiseConfig",
    "NoiseGenerator",
    "NoiseParams",
    "RandomDegradation",
    "RealESRGANConfig",
    "RealESRGANDegradation",
    "RealESRGANParams",
    "ResizeConfig",
    "ResizeGenerator",
    "ResizeParams",
    "SincGenerator",
    "USMConfig",
    "VideoDegradation",
    "add_gaussian_noise",
    "add_poisson_noise",
    "blur",
    "build_config",
    "jpeg_compress",
    "mixed_kernels",
    "quantize_8bit",
    "resize",
    "sinc_kernels",
    "usm_sharpen",
]
