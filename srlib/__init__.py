"""srlib: image and video super-resolution on PyTorch Lightning.

Example:
    >>> import srlib
    >>> net = srlib.create_model("vdsr", scale=2)
    >>> srlib.model_info(net).params
    664704
"""

from srlib._version import __version__
from srlib.models import (
    ModelInfo,
    create_model,
    list_models,
    load_model,
    load_weights,
    model_info,
    register_model,
    save_model,
)

__all__ = [
    "ModelInfo",
    "__version__",
    "create_model",
    "list_models",
    "load_model",
    "load_weights",
    "model_info",
    "register_model",
    "save_model",
]
