"""Lightning modules, callbacks and the precision rule for training."""

from srlib.lit.callbacks import AtomicCheckpointIO, ExportWeights, GeneratorEMA, LastCheckpoint
from srlib.lit.sr_module import SRModule
from srlib.precision import auto_precision

__all__ = [
    "AtomicCheckpointIO",
    "ExportWeights",
    "GeneratorEMA",
    "LastCheckpoint",
    "SRGANModule",
    "SRModule",
    "auto_precision",
]


def __getattr__(name: str):
    if name == "SRGANModule":  # imports srlib.losses (torchvision, lpips) only when used
        from srlib.lit.srgan_module import SRGANModule

        return SRGANModule
    raise AttributeError(f"module 'srlib.lit' has no attribute {name!r}")
