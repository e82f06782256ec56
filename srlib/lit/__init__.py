"""Lightning modules and callbacks."""

from srlib.lit.callbacks import ExportWeights
from srlib.lit.sr_module import SRModule

__all__ = ["ExportWeights", "SRModule"]
