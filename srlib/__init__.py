"""srlib: image and video super-resolution on PyTorch Lightning.

Example:
    >>> import srlib
    >>> net = srlib.create_model("vdsr", scale=2)
    >>> srlib.model_info(net).params
    664704
"""

from __future__ import annotations

from srlib._lazy import lazy_exports
from srlib._version import __version__
from srlib.models import (
    ModelInfo,
    blend_models,
    create_model,
    list_models,
    list_pretrained,
    load_model,
    load_weights,
    model_info,
    register_model,
    save_model,
)

# Loaded on first use so `import srlib` stays light (Lightning is only needed for training).
_LAZY = {
    "SRModule": "srlib.lit",
    "SRGANModule": "srlib.lit",
    "auto_precision": "srlib.precision",
    "losses": "srlib.losses",
    "precision": "srlib.precision",
    "upscale": "srlib.upscale",  # the CLI module, callable as the function
    "data": "srlib.data",
    "degrade": "srlib.degrade",
    "metrics": "srlib.metrics",
    "models": "srlib.models",
    "lit": "srlib.lit",
    "inference": "srlib.inference",
    "upscale_video": "srlib.inference",
    "detect": "srlib.detect",
    "create_detector": "srlib.detect",
    "list_detectors": "srlib.detect",
    "load_detector": "srlib.detect",
    "save_detector": "srlib.detect",
    "DetectorModule": "srlib.detect",
}

__all__ = [
    "DetectorModule",
    "ModelInfo",
    "SRGANModule",
    "SRModule",
    "__version__",
    "auto_precision",
    "blend_models",
    "create_detector",
    "create_model",
    "list_detectors",
    "list_models",
    "list_pretrained",
    "load_detector",
    "load_model",
    "load_weights",
    "model_info",
    "register_model",
    "save_detector",
    "save_model",
    "upscale",
    "upscale_video",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
